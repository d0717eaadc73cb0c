"""Airflow 3.3's own example DAGs, unchanged, parse here and each run ends as it does in Airflow
(issue 12's done-when).

The wheels of ``apache-airflow-core`` and ``apache-airflow-providers-standard`` are fetched with
``pip download`` into the build folder (cached there, never committed: their code is not ours).
Their ``example_dags`` go into a temporary DAG folder, and each DAG runs with ``dags test`` in
its own process, as a user would type it. The few that need what we do not have are listed in
``EXCLUDED`` with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WHEELS = ROOT / "build" / "airflow-wheels"
REQUIREMENTS = ("apache-airflow-core==3.3.2", "apache-airflow-providers-standard==1.21.0")
LOGICAL_DATE = "2022-01-01"

# Files that cannot parse here, and why (what Airflow has that we do not).
EXCLUDED_FILES = {
    "example_kubernetes_executor.py": "runs tasks in Kubernetes pods (the Kubernetes executor)",
    "example_local_kubernetes_executor.py": "runs tasks in Kubernetes pods (the Kubernetes executor)",
    "example_hitl_operator.py": "human-in-the-loop operators wait for a person's answer in Airflow's UI",
    "example_dag_decorator.py": "calls an HTTP service with httpx (no network in tests)",
    "tutorial_objectstorage.py": "reads from a public HTTP API and object storage (no network in tests)",
    "example_retry_policy.py": "Airflow 3.3's retry policies are not supported yet, and it calls an external API",
    "example_task_state_store.py": "Airflow 3.3's task state store is not supported yet",
    "example_task_state_store_async.py": "Airflow 3.3's task state store is not supported yet",
    "example_task_state_store_mapped.py": "Airflow 3.3's task state store is not supported yet",
    "example_asset_state_store.py": "Airflow 3.3's asset state store is not supported yet",
    "example_asset_partition.py": "Airflow 3.3's partitioned assets are not supported yet",
    "example_asset_allow_teams.py": "multi-team deployments (asset access control per team) are not supported",
    "example_asset_with_watchers.py": "event-driven scheduling needs Airflow's triggerer (asset watchers)",
    "example_custom_weight.py": "a priority-weight strategy from an Airflow plugin (plugins are not supported)",
    "example_workday_timetable.py": "a timetable from an Airflow plugin (plugins are not supported)",
}

# DAGs that parse but are not run here, and why (they do not end on their own in Airflow either).
NOT_RUN = {
    "example_external_task": "waits for a run of child_dag that only a scheduler starts (dags test runs one DAG)",
    "example_external_task_marker_child": (
        "child_task2 waits for a task group the parent does not have, until its 600 s timeout"
    ),
}

# The state each DAG's run ends in, in Airflow, when it is not success; and the conf it is given
# (what the file's docstring tells the user to pass).
EXPECTED_STATE = {"example_failed_dag": "failed"}
CONF = {
    "example_passing_params_via_test_command": {"foo": "bar"},
    "example_params_ui_tutorial": {"required_field": "Ada Lovelace"},
}

# Producers first: their consumers read the events they write (read_asset_event_from_classic
# indexes the last one).
FIRST = [
    "asset_with_extra_by_yield",
    "asset_with_extra_by_context",
    "asset_with_extra_from_classic_operator",
    "example_external_task_marker_parent",
]


def _wheels() -> list[Path]:
    """The two wheels, downloaded once into the build folder."""
    WHEELS.mkdir(parents=True, exist_ok=True)
    found = [
        next(WHEELS.glob(f"{req.split('==')[0].replace('-', '_')}-{req.split('==')[1]}-*.whl"), None)
        for req in REQUIREMENTS
    ]
    if all(found):
        return found  # type: ignore[return-value]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(WHEELS), *REQUIREMENTS],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot download Airflow's wheels (no package registry?): {result.stderr.strip()[-500:]}")
    return _wheels()


def _extract(folder: Path) -> list[str]:
    """Put the example DAG files (top level, plus their sql/ folders) into ``folder``; return the file names."""
    names = []
    for wheel in _wheels():
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                parts = member.split("/")
                if "example_dags" not in parts or member.endswith("/"):
                    continue
                relative = parts[parts.index("example_dags") + 1 :]
                if len(relative) == 1 and relative[0].endswith(".py") and relative[0] != "__init__.py":
                    names.append(relative[0])
                elif relative[0] != "sql":
                    continue  # plugins/ and libs/ are Airflow's plugin folder and package, not DAG files
                target = folder.joinpath(*relative)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(member))
    return sorted(names)


def _manage(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.mark.skipif("DATABASE_URL" in os.environ, reason="about DAG files, not the database: run on SQLite only")
def test_airflows_example_dags_parse_and_run_to_their_airflow_outcome(tmp_path):
    folder = tmp_path / "dags"
    folder.mkdir()
    files = _extract(folder)
    assert len(files) > 60, files
    for name in EXCLUDED_FILES:
        assert name in files, f"{name} is excluded but is not an example any more"
        (folder / name).unlink()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DAGS_FOLDER": str(folder),
        "LOGS_FOLDER": str(tmp_path / "logs"),
        "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings",
    }
    env.pop("TEST_DATABASE_PATH", None)
    assert _manage("migrate", "-v0", env=env).returncode == 0

    errors = _manage("dags", "list-import-errors", "-o", "json", env=env)
    assert errors.returncode == 0, errors.stderr
    assert json.loads(errors.stdout) == [], "example DAG files with import errors"
    listed = _manage("dags", "list", "-o", "json", env=env)
    dag_ids = sorted(d["dag_id"] for d in json.loads(listed.stdout))
    assert len(dag_ids) > 60, dag_ids

    def run(dag_id: str) -> tuple[str, str, str]:
        args = ["dags", "test", dag_id, LOGICAL_DATE]
        if dag_id in CONF:
            args += ["--conf", json.dumps(CONF[dag_id])]
        result = _manage(*args, env=env)
        last = (result.stdout.strip().splitlines() or [""])[-1] + (result.stderr.strip().splitlines() or [""])[-1]
        state = "success" if result.returncode == 0 else "failed"
        return (
            dag_id,
            state,
            result.stdout[-3000:] + result.stderr[-3000:] if state != EXPECTED_STATE.get(dag_id, "success") else last,
        )

    outcomes = {}
    for dag_id in FIRST:
        outcomes[dag_id] = run(dag_id)
    assert set(NOT_RUN) <= set(dag_ids)
    rest = [d for d in dag_ids if d not in FIRST and d not in NOT_RUN]
    with ThreadPoolExecutor(max_workers=3) as pool:
        for dag_id, state, detail in pool.map(run, rest):
            outcomes[dag_id] = (dag_id, state, detail)
    wrong = {
        dag_id: detail for dag_id, state, detail in outcomes.values() if state != EXPECTED_STATE.get(dag_id, "success")
    }
    assert not wrong, "\n\n".join(f"== {dag_id}\n{detail}" for dag_id, detail in wrong.items())

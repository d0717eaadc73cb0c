"""Airflow's own Python client (``apache-airflow-client``) against a live server, with a real
scheduler and a real RQ worker as subprocesses sharing the test database and a real Redis.

Only the client's API classes talk to the server (the token comes from ``POST /auth/token`` with
urllib, as Airflow's docs show): list DAGs with filters and paging, pause and unpause one,
trigger a run with a conf and a logical date, poll it to success, read its task instances, a
task's log and its XComs; a task that fails on its first try, cleared and run again to success;
mark a run failed; read the import error of a broken file, the event log, health and version.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import airflow_client.client as ac
import pytest
from airflow_client.client.api import (
    dag_api,
    dag_run_api,
    event_log_api,
    import_error_api,
    monitor_api,
    task_api,
    task_instance_api,
    version_api,
    x_com_api,
)

from dags_app.sdk.airflow_compat import AIRFLOW_VERSION
from tests.conftest import PASSWORD
from tests.runs_app.test_processes import Cluster, cluster  # noqa: F401 - the fixture

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TIMEOUT = 30.0  # seconds for a run to finish; a few are enough on an idle machine
LOGICAL_DATE = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)

E2E_DAG = """
import datetime
from dags_app.sdk import DAG, BashOperator, PythonOperator


def push(dag_run, **context):
    return {{"rows": dag_run.conf["rows"], "doubled": dag_run.conf["rows"] * 2}}


with DAG("{dag_id}", schedule=None, start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
         tags=["api", "e2e"]) as dag:
    pushed = PythonOperator(task_id="push", python_callable=push)
    echo = BashOperator(task_id="echo", bash_command="echo rows={{{{ dag_run.conf['rows'] }}}} on {{{{ ds }}}}")
    pushed >> echo
"""
# Fails while the marker file is missing (and makes it), so its second try succeeds.
FLAKY_DAG = """
import datetime
from dags_app.sdk import DAG, BashOperator

with DAG("api_flaky", schedule=None, start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
         tags=["e2e"]) as dag:
    BashOperator(
        task_id="flaky",
        bash_command=(
            "if [ -e {marker} ]; then echo second time lucky; else touch {marker}; echo first fails; exit 1; fi"
        ),
    )
"""
BROKEN_DAG = """
from dags_app.sdk import DAG

with DAG("api_broken", schedule=None) as dag:
    raise RuntimeError("this DAG file is broken on purpose")
"""


@pytest.fixture
def server(cluster: Cluster, live_server, dag_file, sync, admin_user, tmp_path: Path) -> Iterator[str]:  # noqa: F811
    """The DAG files synced, a scheduler and a worker running; yields the live server's URL."""
    dag_file("api_e2e.py", E2E_DAG.format(dag_id="api_e2e"))
    dag_file("api_e2e_other.py", E2E_DAG.format(dag_id="api_e2e_other"))
    dag_file("api_flaky.py", FLAKY_DAG.format(marker=tmp_path / "flaky-ran-once"))
    dag_file("broken.py", BROKEN_DAG)
    report = sync()
    assert report.import_errors == 1, report
    cluster.scheduler()
    cluster.worker()
    yield live_server.url


def _token(url: str, username: str, password: str) -> str:
    """``POST /auth/token``, as Airflow's docs do it with curl."""
    request = urllib.request.Request(
        f"{url}/auth/token",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return json.load(response)["access_token"]


def _poll(processes: Cluster, read: Callable[[], Any], done: Callable[[Any], bool], what: str) -> Any:
    """Call ``read`` until ``done(result)``; fail (with the processes' logs) after TIMEOUT."""
    holder: dict[str, Any] = {}

    def condition() -> bool:
        holder["value"] = read()
        return done(holder["value"])

    processes.wait_for(condition, what, timeout=TIMEOUT)
    return holder["value"]


def test_airflows_client_drives_dags_runs_tasks_logs_and_xcoms(server, cluster):  # noqa: F811
    started = time.monotonic()
    token = _token(server, "alice", PASSWORD)
    with ac.ApiClient(ac.Configuration(host=server, access_token=token)) as client:
        dags = dag_api.DAGApi(client)
        runs = dag_run_api.DagRunApi(client)
        tis = task_instance_api.TaskInstanceApi(client)
        xcoms = x_com_api.XComApi(client)

        # -- DAGs: filters and paging, pause and unpause --------------------------------------------
        listed = dags.get_dags(dag_id_pattern="api_e2e", limit=1, offset=1, order_by=["dag_id"])
        assert ([d.dag_id for d in listed.dags], listed.total_entries) == (["api_e2e_other"], 2)
        assert [d.dag_id for d in dags.get_dags(tags=["e2e"], order_by=["-dag_id"]).dags] == [
            "api_flaky",
            "api_e2e_other",
            "api_e2e",
        ]
        assert {d.dag_id for d in dags.get_dags(paused=True).dags} >= {"api_e2e", "api_flaky"}
        assert dags.patch_dag("api_e2e", ac.DAGPatchBody(is_paused=False)).is_paused is False
        assert dags.patch_dag("api_e2e", ac.DAGPatchBody(is_paused=True)).is_paused is True
        assert dags.patch_dag("api_e2e", ac.DAGPatchBody(is_paused=False)).is_paused is False
        assert "api_e2e" not in {d.dag_id for d in dags.get_dags(paused=True).dags}
        assert dags.get_dag_details("api_e2e").tags[0].name == "api"
        assert [t.task_id for t in task_api.TaskApi(client).get_tasks("api_e2e").tasks] == ["echo", "push"]

        # -- trigger with a conf and a logical date, poll to success ------------------------------------
        triggered = runs.trigger_dag_run(
            "api_e2e",
            ac.TriggerDAGRunPostBody(dag_run_id="from_the_client", logical_date=LOGICAL_DATE, conf={"rows": 21}),
        )
        assert (triggered.dag_run_id, triggered.conf, triggered.logical_date) == (
            "from_the_client",
            {"rows": 21},
            LOGICAL_DATE,
        )
        run = _poll(
            cluster,
            lambda: runs.get_dag_run("api_e2e", "from_the_client"),
            lambda r: r.state in ("success", "failed"),
            "the triggered run to finish",
        )
        assert run.state == "success"
        assert run.run_type == "manual"

        # -- its task instances, a log, XComs ------------------------------------------------------------
        instances = tis.get_task_instances("api_e2e", "from_the_client", order_by=["task_id"])
        assert [(ti.task_id, ti.state, ti.try_number) for ti in instances.task_instances] == [
            ("echo", "success", 1),
            ("push", "success", 1),
        ]
        log = tis.get_log("api_e2e", "from_the_client", "echo", 1, full_content=True)
        lines = [line.event for line in log.content.actual_instance]
        assert any(line.endswith("rows=21 on 2025-06-01") for line in lines), lines
        entries = xcoms.get_xcom_entries("api_e2e", "from_the_client", "push")
        assert [(x.key, x.task_id) for x in entries.xcom_entries] == [("return_value", "push")]
        # (the client's positional order here is dag_id, task_id, dag_run_id, xcom_key)
        value = xcoms.get_xcom_entry(
            dag_id="api_e2e", dag_run_id="from_the_client", task_id="push", xcom_key="return_value"
        )
        assert value.actual_instance.value == {"rows": 21, "doubled": 42}

        # -- mark the run failed ----------------------------------------------------------------------------
        marked = runs.patch_dag_run("api_e2e", "from_the_client", ac.DAGRunPatchBody(state="failed"))
        assert marked.state == "failed"
        assert runs.get_dag_run("api_e2e", "from_the_client").state == "failed"
        assert runs.get_dag_runs("~", state=["failed"]).total_entries == 1

        # -- a task that fails once: clear it, and it runs again to success ---------------------------------
        dags.patch_dag("api_flaky", ac.DAGPatchBody(is_paused=False))
        runs.trigger_dag_run("api_flaky", ac.TriggerDAGRunPostBody(dag_run_id="flaky_run", logical_date=None))
        failed = _poll(
            cluster,
            lambda: runs.get_dag_run("api_flaky", "flaky_run"),
            lambda r: r.state in ("success", "failed"),
            "the flaky run to fail",
        )
        assert failed.state == "failed"
        assert tis.get_task_instance("api_flaky", "flaky_run", "flaky").state == "failed"
        cleared = tis.post_clear_task_instances(
            "api_flaky", ac.ClearTaskInstancesBody(dry_run=False, dag_run_id="flaky_run", only_failed=True)
        )
        assert [ti.task_id for ti in cleared.task_instances] == ["flaky"]
        again = _poll(
            cluster,
            lambda: tis.get_task_instance("api_flaky", "flaky_run", "flaky"),
            lambda ti: ti.state in ("success", "failed") and ti.try_number == 2,
            "the cleared task to run again",
        )
        assert (again.state, again.try_number) == ("success", 2)
        second = tis.get_log("api_flaky", "flaky_run", "flaky", 2, full_content=True)
        assert any(line.event.endswith("second time lucky") for line in second.content.actual_instance)
        finished = _poll(
            cluster,
            lambda: runs.get_dag_run("api_flaky", "flaky_run"),
            lambda r: r.state in ("success", "failed"),
            "the cleared run to finish",
        )
        assert finished.state == "success"

        # -- import errors, event log, health, version ------------------------------------------------------
        errors = import_error_api.ImportErrorApi(client).get_import_errors()
        assert [e.filename for e in errors.import_errors] == ["broken.py"]
        assert "broken on purpose" in errors.import_errors[0].stack_trace
        events = event_log_api.EventLogApi(client).get_event_logs(dag_id="api_e2e", order_by=["id"])
        assert [e.event for e in events.event_logs][:4] == ["unpause", "pause", "unpause", "trigger"]
        health = monitor_api.MonitorApi(client).get_health()
        assert (health.metadatabase.status, health.scheduler.status) == ("healthy", "healthy")
        assert version_api.VersionApi(client).get_version().version == AIRFLOW_VERSION

    # -- a refused call is the client's ApiException with Airflow's status ----------------------------
    with (
        ac.ApiClient(ac.Configuration(host=server, access_token="not-a-token")) as anonymous,
        pytest.raises(ac.exceptions.UnauthorizedException),
    ):
        dag_api.DAGApi(anonymous).get_dags()
    assert time.monotonic() - started < 60

"""The DAG folder parser (dags_app/dagbag.py): listing files, importing them in child processes."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from dags_app.dagbag import DagFileProcessorPool, import_dag_file, list_dag_files

pytestmark = pytest.mark.no_database

GOOD_DAG = """
import datetime
from dags_app.sdk import DAG, EmptyOperator

with DAG("{dag_id}", start_date=datetime.datetime(2024, 1, 1), schedule="@daily") as dag:
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
"""


def _parse(paths: list[Path], *, timeout: float = 5.0) -> dict[str, object]:
    """Parse ``paths`` in a pool; return the FileResults by file name."""
    with DagFileProcessorPool(processes=2, timeout=timeout) as pool:
        return {Path(r.path).name: r for r in pool.parse(paths)}


def test_list_dag_files_returns_python_files_sorted(dag_file, dags_folder):
    dag_file("b.py", GOOD_DAG.format(dag_id="b"))
    dag_file("a.py", GOOD_DAG.format(dag_id="a"))
    dag_file("sub/c.py", GOOD_DAG.format(dag_id="c"))
    (dags_folder / "notes.txt").write_text("dag")

    assert [p.relative_to(dags_folder).as_posix() for p in list_dag_files(dags_folder)] == ["a.py", "b.py", "sub/c.py"]


def test_list_dag_files_skips_files_that_never_mention_dag(dag_file, dags_folder):
    dag_file("helper.py", "def add(x, y):\n    return x + y\n")
    dag_file("real.py", GOOD_DAG.format(dag_id="real"))

    assert [p.name for p in list_dag_files(dags_folder)] == ["real.py"]


def test_list_dag_files_skips_paths_matching_an_airflowignore_regex(dag_file, dags_folder):
    dag_file("keep.py", GOOD_DAG.format(dag_id="keep"))
    dag_file("scratch_one.py", GOOD_DAG.format(dag_id="scratch_one"))
    dag_file("vendor/lib.py", GOOD_DAG.format(dag_id="lib"))
    (dags_folder / ".airflowignore").write_text("# comments are ignored\nscratch_.*\n^vendor/\n")

    assert [p.name for p in list_dag_files(dags_folder)] == ["keep.py"]


def test_list_dag_files_skips_hidden_files_and_pycache(dag_file, dags_folder):
    dag_file(".hidden.py", GOOD_DAG.format(dag_id="hidden"))
    dag_file("__pycache__/cached.py", GOOD_DAG.format(dag_id="cached"))
    dag_file("shown.py", GOOD_DAG.format(dag_id="shown"))

    assert [p.name for p in list_dag_files(dags_folder)] == ["shown.py"]


def test_list_dag_files_of_a_missing_folder_is_empty(tmp_path):
    assert list_dag_files(tmp_path / "nowhere") == []


def test_import_dag_file_returns_the_serialized_dags(dag_file):
    path = dag_file("good.py", GOOD_DAG.format(dag_id="good"))

    result = import_dag_file(str(path))

    assert result.error is None
    assert [d["dag_id"] for d in result.dags] == ["good"]
    assert result.dags[0]["fileloc"] == str(path)


def test_import_dag_file_reports_a_syntax_error_with_its_traceback(dag_file):
    path = dag_file("broken.py", "from dags_app.sdk import DAG\nwith DAG('x' as dag:\n    pass\n")

    result = import_dag_file(str(path))

    assert result.dags == []
    assert result.error.startswith("SyntaxError")
    assert "broken.py" in result.traceback


def test_import_dag_file_leaves_no_module_behind_in_sys_modules(dag_file):
    path = dag_file("good.py", GOOD_DAG.format(dag_id="good"))
    before = set(sys.modules)

    import_dag_file(str(path))

    assert not [name for name in set(sys.modules) - before if name.startswith("unusual_prefix_")]


def test_pool_reports_a_file_that_raises_as_an_error(dag_file):
    path = dag_file("raises.py", "# dag\nraise RuntimeError('boom at import')\n")

    result = _parse([path])["raises.py"]

    assert result.error == "RuntimeError: boom at import"
    assert "raises.py" in result.traceback


def test_pool_cuts_off_a_file_that_hangs_at_import(dag_file):
    hang = dag_file("hang.py", "# dag\nimport time\ntime.sleep(600)\n")
    good = dag_file("good.py", GOOD_DAG.format(dag_id="good"))

    results = _parse([hang, good], timeout=1.0)

    assert results["hang.py"].error == (f"DagFileProcessor timeout: importing {hang} took longer than 1 seconds")
    assert [d["dag_id"] for d in results["good.py"].dags] == ["good"]


def test_pool_reports_a_file_that_calls_os_exit_and_goes_on(dag_file):
    exits = dag_file("exits.py", "# dag\nimport os\nos._exit(3)\n")
    good = dag_file("good.py", GOOD_DAG.format(dag_id="good"))

    results = _parse([exits, good])

    assert results["exits.py"].error == "The process importing this file exited unexpectedly (exit code 3)"
    assert [d["dag_id"] for d in results["good.py"].dags] == ["good"]


def test_pool_survives_more_failing_files_than_it_has_processes(dag_file):
    paths = [dag_file(f"exit_{i}.py", "# dag\nimport os\nos._exit(1)\n") for i in range(4)]
    paths.append(dag_file("good.py", GOOD_DAG.format(dag_id="good")))

    results = _parse(paths)

    assert sorted(results) == ["exit_0.py", "exit_1.py", "exit_2.py", "exit_3.py", "good.py"]
    assert [d["dag_id"] for d in results["good.py"].dags] == ["good"]


def test_pool_keeps_a_dag_files_prints_off_the_parents_stdout(dag_file, capfd):
    path = dag_file(
        "noisy.py",
        GOOD_DAG.format(dag_id="noisy") + "print('NOISE-FROM-DAG-FILE')\nimport os\nos.write(1, b'RAW-NOISE')\n",
    )

    result = _parse([path])["noisy.py"]

    captured = capfd.readouterr()
    assert result.error is None
    assert "NOISE-FROM-DAG-FILE" not in captured.out
    assert "RAW-NOISE" not in captured.out


def test_pool_runs_the_import_in_another_process(dag_file, tmp_path):
    marker = tmp_path / "pid.txt"
    path = dag_file(
        "pid.py", GOOD_DAG.format(dag_id="pid") + f"open({str(marker)!r}, 'w').write(str(__import__('os').getpid()))\n"
    )

    _parse([path])

    assert int(marker.read_text()) != os.getpid()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "from dags_app.sdk import DAG, EmptyOperator\n"
            "with DAG('cyclic', schedule=None) as dag:\n"
            "    a = EmptyOperator(task_id='a')\n"
            "    b = EmptyOperator(task_id='b')\n"
            "    a >> b >> a\n",
            r"Cycle detected in DAG: cyclic",
        ),
        (
            "from dags_app.sdk import DAG, EmptyOperator\n"
            "with DAG('dupes', schedule=None) as dag:\n"
            "    EmptyOperator(task_id='a')\n"
            "    EmptyOperator(task_id='a')\n",
            r"Task id 'a' has already been added to the DAG 'dupes'",
        ),
        (
            "from dags_app.sdk import DAG\ndag = DAG('bad_schedule', schedule='every tuesday-ish')\n",
            r"Invalid schedule for DAG 'bad_schedule'",
        ),
    ],
    ids=["cycle", "duplicate-task-id", "invalid-schedule"],
)
def test_import_dag_file_reports_an_invalid_dag_naming_it(dag_file, source, message):
    path = dag_file("invalid.py", source)

    result = import_dag_file(str(path))

    assert result.dags == []
    assert re.search(message, result.error or ""), result.error

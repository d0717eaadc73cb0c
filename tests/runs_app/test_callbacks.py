"""Task callbacks (on_execute/on_success/on_failure/on_retry/on_skipped_callback).

Each runs exactly once per event, in a child that imports the DAG file after the try's state is
committed (on_execute_callback: in the task's own child, before ``execute``); an error in a
callback goes to that try's log and changes nothing.
"""

from __future__ import annotations

import pytest

from dags_app.models import DagImportError
from runs_app.states import DagRunState, TaskInstanceState
from tests.runs_app.test_runner import executes_tasks, log_of, run_dag, ti_of

# A callback that appends one line per call: "<callback> <task_id> <state> try=<n> <extra>".
CALLBACKS = """\
    import pathlib

    MARKS = pathlib.Path({marks!r})

    def mark(name):
        def callback(context):
            ti = context["ti"]
            extra = str(context.get("exception") or "")
            with MARKS.open("a") as out:
                out.write(f"{{name}} {{ti.task_id}} {{ti.state}} try={{ti.try_number}} {{extra}}".rstrip() + "\\n")
        callback.__qualname__ = name
        return callback

    callbacks = dict(
        on_execute_callback=mark("execute"),
        on_success_callback=mark("success"),
        on_failure_callback=mark("failure"),
        on_retry_callback=mark("retry"),
        on_skipped_callback=mark("skipped"),
    )
"""


def marks(path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@executes_tasks
def test_success_calls_execute_then_success_callback_once_with_the_committed_state(write_dag, tmp_path):
    path = tmp_path / "marks"
    write_dag(
        "cb_success",
        CALLBACKS.format(marks=str(path))
        + """\
    PythonOperator(task_id="work", python_callable=lambda: 42, **callbacks)
""",
    )

    run, final = run_dag("cb_success")

    assert final == DagRunState.SUCCESS
    assert marks(path) == ["execute work running try=1", "success work success try=1"]
    assert "Running on_success_callback" in log_of(run, "work")


@executes_tasks
def test_a_retry_then_a_final_failure_call_the_retry_and_the_failure_callback_once_each(write_dag, tmp_path):
    path = tmp_path / "marks"
    write_dag(
        "cb_failure",
        CALLBACKS.format(marks=str(path))
        + """\
    def broken():
        raise ValueError("the source table is empty")

    PythonOperator(
        task_id="load", python_callable=broken, retries=1, retry_delay=datetime.timedelta(0), **callbacks
    )
""",
    )

    _, final = run_dag("cb_failure")

    assert final == DagRunState.FAILED
    assert marks(path) == [
        "execute load running try=1",
        "retry load up_for_retry try=1 ValueError: the source table is empty",
        "execute load running try=2",
        "failure load failed try=2 ValueError: the source table is empty",
    ]


@executes_tasks
def test_a_skip_raised_by_the_task_calls_the_skipped_callback(write_dag, tmp_path):
    path = tmp_path / "marks"
    write_dag(
        "cb_skip",
        CALLBACKS.format(marks=str(path))
        + """\
    from dags_app.sdk import AirflowSkipException

    def nothing():
        raise AirflowSkipException("no new files")

    PythonOperator(task_id="maybe", python_callable=nothing, **callbacks) >> PythonOperator(
        task_id="after", python_callable=lambda: 1, **callbacks
    )
""",
    )

    _, final = run_dag("cb_skip")

    assert final == DagRunState.SUCCESS
    # "after" is skipped by the scheduler, never run: Airflow calls no callback for it either.
    assert marks(path) == ["execute maybe running try=1", "skipped maybe skipped try=1"]


@executes_tasks
def test_a_list_of_callbacks_runs_each_and_a_raising_one_is_logged_without_changing_the_state(write_dag, tmp_path):
    path = tmp_path / "marks"
    write_dag(
        "cb_list",
        CALLBACKS.format(marks=str(path))
        + """\
    def explode(context):
        raise RuntimeError("the alerting webhook is down")

    PythonOperator(
        task_id="work", python_callable=lambda: 1, on_success_callback=[explode, mark("success"), mark("again")]
    )
""",
    )

    run, final = run_dag("cb_list")

    assert final == DagRunState.SUCCESS
    assert ti_of(run, "work").state == TaskInstanceState.SUCCESS
    assert marks(path) == ["success work success try=1", "again work success try=1"]
    log = log_of(run, "work")
    assert "Error when executing on_success_callback" in log
    assert "RuntimeError: the alerting webhook is down" in log


@executes_tasks
def test_a_callback_that_hangs_is_killed_after_the_callback_timeout(write_dag, tmp_path, settings):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "CALLBACK_TIMEOUT": 1.0}
    write_dag(
        "cb_hang",
        """\
    import time

    PythonOperator(task_id="work", python_callable=lambda: 1, on_success_callback=lambda context: time.sleep(60))
""",
    )

    run, final = run_dag("cb_hang")

    assert final == DagRunState.SUCCESS
    assert "Callback timed out after 1 seconds (ORCHESTRATOR_CALLBACK_TIMEOUT)" in log_of(run, "work")


@executes_tasks
def test_an_error_on_execute_callback_does_not_stop_the_task(write_dag):
    write_dag(
        "cb_exec_error",
        """\
    def explode(context):
        raise RuntimeError("cannot announce the start")

    PythonOperator(task_id="work", python_callable=lambda: 7, on_execute_callback=explode)
""",
    )

    run, final = run_dag("cb_exec_error")

    assert final == DagRunState.SUCCESS
    assert "Error when executing on_execute_callback" in log_of(run, "work")


@pytest.mark.django_db
def test_a_callback_that_is_not_callable_is_an_import_error(dag_file, sync):
    dag_file(
        "cb_bad.py",
        """\
import datetime
from dags_app.sdk import DAG, EmptyOperator

with DAG("cb_bad", schedule=None, start_date=datetime.datetime(2022, 1, 1)):
    EmptyOperator(task_id="t", on_failure_callback="page the on-call")
""",
    )

    report = sync()

    assert report.import_errors == 1
    error = DagImportError.objects.get()
    assert "on_failure_callback of 't' must be a callable or a list of callables" in error.stacktrace


@pytest.mark.django_db
def test_the_serialized_task_lists_the_callbacks_it_defines(dag_file, sync):
    from dags_app.models import DagModel

    dag_file(
        "cb_listed.py",
        """\
import datetime
from dags_app.sdk import DAG, EmptyOperator

def alert(context):
    pass

with DAG("cb_listed", schedule=None, start_date=datetime.datetime(2022, 1, 1)):
    EmptyOperator(task_id="t", on_failure_callback=alert, on_retry_callback=[alert])
    EmptyOperator(task_id="plain")
""",
    )
    sync()

    dag = DagModel.objects.get(dag_id="cb_listed")
    assert dag.get_task("t")["callbacks"] == ["on_failure_callback", "on_retry_callback"]
    assert dag.get_task("plain")["callbacks"] == []

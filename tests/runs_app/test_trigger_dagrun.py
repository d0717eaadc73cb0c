"""TriggerDagRunOperator: a task starts a run of another DAG through the trigger service."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from dags_app.models import DagImportError, DagModel
from dags_app.sdk import DAG, TriggerDagRunOperator
from runs_app.models import AuditLog, DagRun, TaskInstance, XCom
from runs_app.services import dag_trigger
from runs_app.states import DagRunState, TaskInstanceState
from tests.runs_app.test_runner import executes_tasks, run_dag

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
TARGET = """
import datetime
from dags_app.sdk import DAG, BashOperator
with DAG("target", schedule=None, start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)):
    BashOperator(task_id="echo", bash_command="echo {{ dag_run.conf.get('who') }}")
"""


def controller(**options) -> str:
    args = "".join(f", {k}={v!r}" for k, v in options.items())
    return f"""
import datetime
from dags_app.sdk import DAG, TriggerDagRunOperator
with DAG("controller", schedule=None, start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)):
    TriggerDagRunOperator(
        task_id="trigger",
        trigger_dag_id="target",
        conf={{"who": "{{{{ ds }}}}"}},
        logical_date="{{{{ logical_date }}}}"{args},
    )
"""


def write(dag_file, sync, **options) -> None:
    dag_file("target.py", TARGET)
    dag_file("controller.py", controller(**options))
    assert sync().import_errors == 0, DagImportError.objects.values_list("stacktrace", flat=True)


@executes_tasks
def test_the_task_triggers_a_run_of_the_other_dag_with_its_conf_and_logical_date(dag_file, sync):
    write(dag_file, sync)
    run, final = run_dag("controller", logical_date=START)
    assert final == DagRunState.SUCCESS
    target = DagRun.objects.get(dag__dag_id="target")
    assert target.conf == {"who": "2024-01-01"}
    assert target.logical_date == START
    assert target.run_type == "manual" and target.triggered_by == "controller.trigger"
    pushed = dict(XCom.objects.filter(dag_run=run, task_id="trigger").values_list("key", "value"))
    assert pushed == {"trigger_run_id": target.run_id, "trigger_logical_date_iso": START.isoformat()}
    assert AuditLog.objects.filter(event="trigger", dag_id="target", source="task").count() == 1


@executes_tasks
def test_an_existing_run_fails_the_task_unless_skipped_or_reset(dag_file, sync):
    write(dag_file, sync)
    dag_trigger(dag=DagModel.objects.get(dag_id="target"), now=timezone.now(), logical_date=START)
    run, final = run_dag("controller", logical_date=START)
    assert final == DagRunState.FAILED
    log = TaskInstance.objects.get(dag_run=run, task_id="trigger").log_path().read_text()
    assert "DagRunAlreadyExists" in log

    write(dag_file, sync, skip_when_already_exists=True)
    run, final = run_dag("controller", logical_date=START + dt.timedelta(days=1))
    assert final == DagRunState.SUCCESS  # a new date: triggered
    run, final = run_dag("controller", logical_date=START + dt.timedelta(days=2))
    assert final == DagRunState.SUCCESS

    write(dag_file, sync, skip_when_already_exists=True)
    DagRun.objects.filter(dag__dag_id="controller").delete()
    run, _ = run_dag("controller", logical_date=START)
    assert TaskInstance.objects.get(dag_run=run, task_id="trigger").state == TaskInstanceState.SKIPPED

    write(dag_file, sync, reset_dag_run=True)
    target = DagRun.objects.get(dag__dag_id="target", logical_date=START)
    TaskInstance.objects.filter(dag_run=target).update(state=TaskInstanceState.FAILED)
    DagRun.objects.filter(dag__dag_id="controller").delete()
    run, final = run_dag("controller", logical_date=START)
    assert final == DagRunState.SUCCESS
    assert set(TaskInstance.objects.filter(dag_run=target).values_list("state", flat=True)) == {TaskInstanceState.NONE}


@executes_tasks
def test_an_unknown_or_paused_dag_fails_the_task_with_the_reason(dag_file, sync):
    write(dag_file, sync, fail_when_dag_is_paused=True)
    run, final = run_dag("controller", logical_date=START)
    assert final == DagRunState.FAILED
    assert "Dag target is paused" in TaskInstance.objects.get(dag_run=run, task_id="trigger").log_path().read_text()
    dag_file("controller.py", controller().replace('trigger_dag_id="target"', 'trigger_dag_id="nope"'))
    sync()
    run, final = run_dag("controller", logical_date=START + dt.timedelta(days=1))
    log = TaskInstance.objects.get(dag_run=run, task_id="trigger").log_path().read_text()
    assert "Dag id nope not found" in log


def test_deferrable_and_overlapping_states_are_accepted_as_in_airflow():
    with DAG("d", start_date=START, schedule=None):
        # No triggerer: a deferrable trigger waits in its worker; failed_states are checked first.
        assert TriggerDagRunOperator(task_id="t", trigger_dag_id="x", deferrable=True).deferrable
        both = TriggerDagRunOperator(task_id="u", trigger_dag_id="x", allowed_states=["success", "failed"])
        assert both.failed_states == ["failed"] and "failed" in both.allowed_states

"""No single bad row stops the scheduler: a run or DAG that raises is parked, the rest move on."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.conf import settings

from dags_app.models import DagModel
from runs_app.models import DagRun, TaskInstance
from runs_app.scheduler import tick
from runs_app.scheduling import InlineExecutor
from runs_app.services import dag_trigger
from runs_app.states import DagRunState, TaskInstanceState
from runs_app.tries import task_instance_claim
from tests.runs_app.helpers import NOW, finish, states

pytestmark = pytest.mark.django_db

SECOND = dt.timedelta(seconds=1)
CHAIN = "    BashOperator(task_id='a', bash_command='true') >> BashOperator(task_id='b', bash_command='true')\n"


def break_task(dag: DagModel, task_id: str) -> None:
    """Give a task of the stored DAG a trigger rule no code knows (as a corrupt or future row would)."""
    serialized = dag.serialized
    for task in serialized["tasks"]:
        if task["task_id"] == task_id:
            task["trigger_rule"] = "no_such_rule"
    DagModel.objects.filter(pk=dag.pk).update(serialized=serialized)


def started_run(make_dag, dag_id: str) -> DagRun:
    dag = make_dag(dag_id, body=CHAIN, schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    run.refresh_from_db()
    assert run.state == DagRunState.RUNNING
    return run


def test_a_raising_run_does_not_keep_the_tick_from_repairing_a_zombie_and_finishing_a_third_run(make_dag, caplog):
    zombie_run = started_run(make_dag, "zombie")
    done_run = started_run(make_dag, "done")
    bad = make_dag("bad", body=CHAIN, schedule="None")
    bad_run = dag_trigger(dag=bad, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    # The zombie: claimed at NOW, then its worker went silent.
    zombie_ti = TaskInstance.objects.get(dag_run=zombie_run, task_id="a")
    assert task_instance_claim(ti_id=zombie_ti.pk, try_number=zombie_ti.try_number, now=NOW) is not None
    # The third run: both tasks done, the run's finish left to the scheduler.
    executor = InlineExecutor()
    finish(TaskInstance.objects.get(dag_run=done_run, task_id="a"), TaskInstanceState.SUCCESS, executor=executor)
    finish(TaskInstance.objects.get(dag_run=done_run, task_id="b"), TaskInstanceState.SUCCESS, executor=executor)
    DagRun.objects.filter(pk=done_run.pk).update(state=DagRunState.RUNNING, end_date=None)
    break_task(bad, "b")
    later = NOW + dt.timedelta(seconds=settings.ORCHESTRATOR["ZOMBIE_THRESHOLD"]) + SECOND

    with caplog.at_level(logging.ERROR, logger="runs_app.scheduler"):
        report = tick(now=later, executor=InlineExecutor())

    assert report.zombies == 1
    assert TaskInstance.objects.get(pk=zombie_ti.pk).state == TaskInstanceState.FAILED
    done_run.refresh_from_db()
    assert done_run.state == DagRunState.SUCCESS
    bad_run.refresh_from_db()
    assert bad_run.state == DagRunState.RUNNING  # parked, not failed: a fix lets it go on
    assert "ValueError" in bad_run.scheduling_error and "no_such_rule" in bad_run.scheduling_error
    assert bad_run.scheduling_failures == 1
    assert bad_run.scheduling_retry_at == later + dt.timedelta(seconds=settings.ORCHESTRATOR["SCHEDULING_BACKOFF"])
    assert any("scheduling run bad" in r.getMessage() for r in caplog.records)


def test_a_parked_run_waits_out_its_back_off_which_doubles_then_resumes_once_fixed(make_dag):
    bad = make_dag("bad", body=CHAIN, schedule="None")
    run = dag_trigger(dag=bad, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    break_task(bad, "b")
    backoff = dt.timedelta(seconds=settings.ORCHESTRATOR["SCHEDULING_BACKOFF"])

    tick(now=NOW, executor=InlineExecutor())
    tick(now=NOW + backoff - SECOND, executor=InlineExecutor())  # parked: not tried
    run.refresh_from_db()
    assert run.scheduling_failures == 1
    tick(now=NOW + backoff, executor=InlineExecutor())
    run.refresh_from_db()
    assert run.scheduling_failures == 2
    assert run.scheduling_retry_at == NOW + backoff + 2 * backoff

    # The DAG file is fixed (a reparse writes the good serialized DAG back).
    good = bad.serialized
    for task in good["tasks"]:
        task["trigger_rule"] = "all_success"
    DagModel.objects.filter(pk=bad.pk).update(serialized=good)
    executor = InlineExecutor()
    finish(TaskInstance.objects.get(dag_run=run, task_id="a"), TaskInstanceState.SUCCESS, executor=executor)
    tick(now=NOW + 3 * backoff, executor=executor)

    run.refresh_from_db()
    assert (run.scheduling_error, run.scheduling_failures, run.scheduling_retry_at) == ("", 0, None)
    assert states(run)["b"] == TaskInstanceState.QUEUED


def test_a_worker_s_outcome_is_recorded_even_when_its_run_cannot_be_scheduled(make_dag):
    bad = make_dag("bad", body=CHAIN, schedule="None")
    run = dag_trigger(dag=bad, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    break_task(bad, "b")

    ti = finish(TaskInstance.objects.get(dag_run=run, task_id="a"), TaskInstanceState.SUCCESS)

    assert ti.state == TaskInstanceState.SUCCESS


def test_a_dag_whose_next_run_cannot_be_computed_is_parked_and_other_dags_get_their_runs(make_dag):
    make_dag("good", dag_args=", catchup=True")
    bad = make_dag("bad", dag_args=", catchup=True")
    serialized = bad.serialized
    serialized["timetable"] = {"type": "no_such_timetable"}
    DagModel.objects.filter(pk=bad.pk).update(serialized=serialized)

    report = tick(now=NOW, executor=InlineExecutor())

    assert report.runs_created >= 1
    assert DagRun.objects.filter(dag__dag_id="good").count() == 5
    bad.refresh_from_db()
    assert bad.scheduling_failures == 1 and bad.scheduling_error
    # The runs made before the failure are rolled back with the DAG's savepoint: none half-made.
    assert DagRun.objects.filter(dag=bad).count() == 0


def test_a_dagrun_timeout_fails_the_run_and_skips_its_unfinished_tasks(make_dag):
    dag = make_dag("slow", body=CHAIN, schedule="None", dag_args=", dagrun_timeout=datetime.timedelta(minutes=5)")
    run = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    ti = TaskInstance.objects.get(dag_run=run, task_id="a")
    assert task_instance_claim(ti_id=ti.pk, try_number=ti.try_number, now=NOW) is not None

    tick(now=NOW + dt.timedelta(minutes=5), executor=InlineExecutor())
    run.refresh_from_db()
    assert run.state == DagRunState.RUNNING
    report = tick(now=NOW + dt.timedelta(minutes=5) + SECOND, executor=InlineExecutor())

    run.refresh_from_db()
    assert run.state == DagRunState.FAILED and report.runs_finished == 1
    assert states(run) == {"a": TaskInstanceState.SKIPPED, "b": TaskInstanceState.SKIPPED}


# -- tries nobody picks up -----------------------------------------------------------------------


def test_a_try_queued_too_long_is_enqueued_again_then_failed_with_its_reason(make_dag, settings):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "TASK_QUEUED_TIMEOUT": 60.0, "TASK_QUEUED_RETRIES": 2}
    dag = make_dag("stuck", body="    BashOperator(task_id='t', bash_command='true')\n", schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    ti = TaskInstance.objects.get(dag_run=run, task_id="t")
    minute = dt.timedelta(seconds=60)

    executor = InlineExecutor()
    tick(now=NOW + minute, executor=executor)  # not yet: exactly the timeout
    assert executor.queued == []
    tick(now=NOW + minute + SECOND, executor=executor)
    assert executor.queued == [(ti.pk, 1)]
    ti.refresh_from_db()
    assert (ti.state, ti.queued_requeues, ti.queued_at) == (TaskInstanceState.QUEUED, 1, NOW + minute + SECOND)
    tick(now=NOW + 2 * minute + 2 * SECOND, executor=executor)
    ti.refresh_from_db()
    assert ti.queued_requeues == 2
    tick(now=NOW + 3 * minute + 3 * SECOND, executor=executor)

    ti.refresh_from_db()
    assert ti.state == TaskInstanceState.FAILED
    assert "no worker picked it up" in ti.log_path().read_text()
    run.refresh_from_db()
    assert run.state == DagRunState.FAILED


def test_a_try_claimed_just_before_its_queued_timeout_is_left_to_its_worker(make_dag, settings):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "TASK_QUEUED_TIMEOUT": 60.0, "TASK_QUEUED_RETRIES": 0}
    dag = make_dag("stuck", body="    BashOperator(task_id='t', bash_command='true')\n", schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    ti = TaskInstance.objects.get(dag_run=run, task_id="t")
    assert task_instance_claim(ti_id=ti.pk, try_number=1, now=NOW + dt.timedelta(seconds=59)) is not None

    tick(now=NOW + dt.timedelta(seconds=61), executor=InlineExecutor())

    assert TaskInstance.objects.get(pk=ti.pk).state == TaskInstanceState.RUNNING

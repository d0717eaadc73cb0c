"""The scheduler step (runs_app.scheduler.tick) driven with a chosen clock.

Tasks are handed to an ``InlineExecutor`` (which only records the queued tries), and tries are
ended through the worker's recording path (``helpers.finish``), so no test here forks a task.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dags_app.models import DagModel
from runs_app.models import DagRun, Pool, TaskInstance
from runs_app.scheduler import tick
from runs_app.scheduling import Capacity, InlineExecutor
from runs_app.services import dag_run_create, dag_set_paused, dag_trigger
from runs_app.states import DagRunState, DagRunType, TaskInstanceState
from tests.runs_app.helpers import DAY, NOW, dag_source, finish, states

pytestmark = pytest.mark.django_db

BASH = "    BashOperator(task_id='t', bash_command='true')\n"


def ti_of(run: DagRun, task_id: str) -> TaskInstance:
    return TaskInstance.objects.get(dag_run=run, task_id=task_id)


def queued_task_ids(executor: InlineExecutor) -> list[str]:
    names = dict(TaskInstance.objects.values_list("pk", "task_id"))
    return [names[ti_id] for ti_id, _ in executor.queued]


# -- creating runs -------------------------------------------------------------------------------


def test_tick_creates_one_run_per_complete_day_since_start_date_with_catchup(make_dag):
    dag = make_dag("daily", dag_args=", catchup=True")

    report = tick(now=NOW, executor=InlineExecutor())

    assert report.runs_created == 5
    runs = DagRun.objects.filter(dag=dag).order_by("logical_date")
    assert [(r.logical_date, r.data_interval_start, r.data_interval_end, r.run_type) for r in runs] == [
        (NOW - days * DAY, NOW - days * DAY, NOW - (days - 1) * DAY, DagRunType.SCHEDULED) for days in range(5, 0, -1)
    ]
    assert runs[0].run_id == "scheduled__2024-03-05T00:00:00+00:00"


def test_tick_sets_the_next_run_to_the_interval_not_complete_yet(make_dag):
    make_dag("daily", dag_args=", catchup=True")

    tick(now=NOW, executor=InlineExecutor())

    dag = DagModel.objects.get(dag_id="daily")
    assert (dag.next_dagrun, dag.next_dagrun_data_interval_end, dag.next_dagrun_create_after) == (
        NOW,
        NOW + DAY,
        NOW + DAY,
    )


def test_second_tick_at_the_same_time_creates_no_more_runs(make_dag):
    make_dag("daily", dag_args=", catchup=True")
    tick(now=NOW, executor=InlineExecutor())

    report = tick(now=NOW, executor=InlineExecutor())

    assert report.runs_created == 0
    assert DagRun.objects.count() == 5


def test_restarted_scheduler_that_lost_its_bookkeeping_creates_no_duplicate_run(make_dag):
    dag = make_dag("daily", dag_args=", catchup=True")
    first = {f: getattr(dag, f) for f in ("next_dagrun", "next_dagrun_data_interval_start")}
    tick(now=NOW, executor=InlineExecutor())
    # As if a scheduler had created the runs but died before it stored where to continue.
    DagModel.objects.filter(pk=dag.pk).update(
        next_dagrun=first["next_dagrun"],
        next_dagrun_data_interval_start=first["next_dagrun_data_interval_start"],
        next_dagrun_data_interval_end=first["next_dagrun_data_interval_start"] + DAY,
        next_dagrun_create_after=first["next_dagrun_data_interval_start"] + DAY,
    )

    report = tick(now=NOW, executor=InlineExecutor())

    assert report.runs_created == 0
    assert DagRun.objects.count() == 5
    assert DagModel.objects.get(pk=dag.pk).next_dagrun == NOW


def test_tick_next_day_creates_the_one_new_run(make_dag):
    dag = make_dag("daily", dag_args=", catchup=True")
    tick(now=NOW, executor=InlineExecutor())

    report = tick(now=NOW + DAY, executor=InlineExecutor())

    assert report.runs_created == 1
    assert DagRun.objects.filter(dag=dag).latest("logical_date").logical_date == NOW


def test_tick_without_catchup_creates_only_the_latest_complete_interval(make_dag):
    dag = make_dag("daily", dag_args=", catchup=False")

    report = tick(now=NOW, executor=InlineExecutor())

    assert report.runs_created == 1
    run = DagRun.objects.get(dag=dag)
    assert (run.logical_date, run.data_interval_start, run.data_interval_end) == (NOW - DAY, NOW - DAY, NOW)


def test_tick_without_catchup_after_a_long_pause_creates_only_the_latest_interval(make_dag):
    dag = make_dag("daily", dag_args=", catchup=False", paused=True, now=NOW - 3 * DAY)
    dag_set_paused(dag=dag, is_paused=False)

    report = tick(now=NOW, executor=InlineExecutor())

    assert report.runs_created == 1
    assert DagRun.objects.get(dag=dag).logical_date == NOW - DAY


def test_tick_creates_no_run_of_a_paused_dag(make_dag):
    dag = make_dag("daily", dag_args=", catchup=True", paused=True)

    report = tick(now=NOW, executor=InlineExecutor())

    assert report.runs_created == 0
    assert DagRun.objects.filter(dag=dag).exists() is False


def test_max_active_runs_holds_back_the_next_run_until_the_active_one_finishes(make_dag):
    dag = make_dag("daily", body=BASH, dag_args=", catchup=True, max_active_runs=1")
    first = tick(now=NOW, executor=InlineExecutor())
    again = tick(now=NOW, executor=InlineExecutor())
    assert (first.runs_created, again.runs_created) == (1, 0)
    run = DagRun.objects.get(dag=dag)
    assert run.state == DagRunState.RUNNING

    finish(ti_of(run, "t"), TaskInstanceState.SUCCESS)
    report = tick(now=NOW, executor=InlineExecutor())

    run.refresh_from_db()
    assert run.state == DagRunState.SUCCESS
    assert report.runs_created == 1
    assert list(DagRun.objects.filter(dag=dag).order_by("logical_date").values_list("logical_date", flat=True)) == [
        NOW - 5 * DAY,
        NOW - 4 * DAY,
    ]


def test_tick_creates_no_run_whose_interval_starts_after_the_dag_end_date(make_dag):
    end = NOW - 3 * DAY
    dag = make_dag(
        "ending", dag_args=f", catchup=True, end_date=datetime.datetime({end.year}, {end.month}, {end.day}, tzinfo=UTC)"
    )

    tick(now=NOW, executor=InlineExecutor())

    assert list(DagRun.objects.filter(dag=dag).order_by("logical_date").values_list("logical_date", flat=True)) == [
        NOW - 5 * DAY,
        NOW - 4 * DAY,
        NOW - 3 * DAY,
    ]
    assert DagModel.objects.get(pk=dag.pk).next_dagrun is None


def test_tick_creates_the_run_of_a_once_dag_only_once(make_dag):
    dag = make_dag("once", schedule="'@once'")

    first = tick(now=NOW, executor=InlineExecutor())
    later = tick(now=NOW + 10 * DAY, executor=InlineExecutor())

    assert (first.runs_created, later.runs_created) == (1, 0)
    assert DagRun.objects.get(dag=dag).logical_date == NOW - 5 * DAY


def test_tick_creates_no_run_of_a_dag_whose_file_was_removed(make_dag, dags_folder):
    dag = make_dag("daily", dag_args=", catchup=True")
    (dags_folder / "daily.py").unlink()

    report = tick(now=NOW, executor=InlineExecutor())

    assert report.runs_created == 0
    assert DagModel.objects.get(pk=dag.pk).is_active is False


def test_tick_keeps_a_manual_run_queued_while_max_active_runs_are_running(make_dag):
    dag = make_dag("single", body=BASH, schedule="None", dag_args=", max_active_runs=1")
    first = dag_trigger(dag=dag, now=NOW - DAY)
    second = dag_trigger(dag=dag, now=NOW)

    tick(now=NOW, executor=InlineExecutor())

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, second.state) == (DagRunState.RUNNING, DagRunState.QUEUED)


# -- starting runs -------------------------------------------------------------------------------


def test_manual_run_of_a_paused_dag_stays_queued(make_dag):
    dag = make_dag("manual", body=BASH, schedule="None", paused=True)
    run = dag_trigger(dag=dag, now=NOW)

    report = tick(now=NOW, executor=InlineExecutor())

    run.refresh_from_db()
    assert run.state == DagRunState.QUEUED
    assert report.runs_started == 0
    assert states(run) == {"t": TaskInstanceState.NONE}


def test_manual_run_of_a_paused_dag_starts_once_the_dag_is_unpaused(make_dag):
    dag = make_dag("manual", body=BASH, schedule="None", paused=True)
    run = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    dag_set_paused(dag=dag, is_paused=False)
    executor = InlineExecutor()

    report = tick(now=NOW + dt.timedelta(seconds=5), executor=executor)

    run.refresh_from_db()
    assert report.runs_started == 1
    assert (run.state, run.start_date) == (DagRunState.RUNNING, NOW + dt.timedelta(seconds=5))
    assert queued_task_ids(executor) == ["t"]


# -- scheduling task instances ------------------------------------------------------------------


def test_empty_operator_tasks_finish_without_a_worker(make_dag):
    dag = make_dag("empty", schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    executor = InlineExecutor()

    report = tick(now=NOW, executor=executor)

    run.refresh_from_db()
    assert executor.queued == []
    assert states(run) == {"a": TaskInstanceState.SUCCESS, "b": TaskInstanceState.SUCCESS}
    assert ti_of(run, "a").try_number == 1
    assert run.state == DagRunState.SUCCESS
    assert report.runs_finished == 1


def test_tick_queues_only_tasks_whose_upstream_succeeded(make_dag):
    body = "    BashOperator(task_id='a', bash_command='true') >> BashOperator(task_id='b', bash_command='true')\n"
    dag = make_dag("chain", body=body, schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    executor = InlineExecutor()

    tick(now=NOW, executor=executor)

    assert queued_task_ids(executor) == ["a"]
    assert states(run) == {"a": TaskInstanceState.QUEUED, "b": TaskInstanceState.NONE}
    assert ti_of(run, "a").try_number == 1


def test_run_succeeds_when_every_leaf_succeeded_or_was_skipped(make_dag):
    body = (
        "    a = BashOperator(task_id='a', bash_command='true')\n"
        "    a >> [BashOperator(task_id='b', bash_command='true'), BashOperator(task_id='c', bash_command='true')]\n"
    )
    dag = make_dag("leaves", body=body, schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    TaskInstance.objects.filter(dag_run=run, task_id__in=["a", "b"]).update(state=TaskInstanceState.SUCCESS)
    TaskInstance.objects.filter(dag_run=run, task_id="c").update(state=TaskInstanceState.SKIPPED)

    report = tick(now=NOW, executor=InlineExecutor())

    run.refresh_from_db()
    assert (run.state, run.end_date) == (DagRunState.SUCCESS, NOW)
    assert report.runs_finished == 1


def test_run_fails_when_a_leaf_failed(make_dag):
    body = (
        "    a = BashOperator(task_id='a', bash_command='true')\n"
        "    a >> [BashOperator(task_id='b', bash_command='true'), BashOperator(task_id='c', bash_command='true')]\n"
    )
    dag = make_dag("leaves", body=body, schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    TaskInstance.objects.filter(dag_run=run, task_id__in=["a", "b"]).update(state=TaskInstanceState.SUCCESS)
    TaskInstance.objects.filter(dag_run=run, task_id="c").update(state=TaskInstanceState.FAILED)

    tick(now=NOW, executor=InlineExecutor())

    run.refresh_from_db()
    assert run.state == DagRunState.FAILED


def test_run_keeps_running_while_a_task_is_unfinished(make_dag):
    body = (
        "    a = BashOperator(task_id='a', bash_command='true')\n"
        "    a >> [BashOperator(task_id='b', bash_command='true'), BashOperator(task_id='c', bash_command='true')]\n"
    )
    dag = make_dag("leaves", body=body, schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    TaskInstance.objects.filter(dag_run=run, task_id__in=["a", "b"]).update(state=TaskInstanceState.SUCCESS)
    TaskInstance.objects.filter(dag_run=run, task_id="c").update(state=TaskInstanceState.RUNNING)

    report = tick(now=NOW, executor=InlineExecutor())

    run.refresh_from_db()
    assert run.state == DagRunState.RUNNING
    assert report.runs_finished == 0


def test_failed_task_makes_its_downstream_upstream_failed_and_the_run_fail(make_dag):
    body = "    BashOperator(task_id='a', bash_command='true') >> BashOperator(task_id='b', bash_command='true')\n"
    dag = make_dag("chain", body=body, schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    TaskInstance.objects.filter(dag_run=run, task_id="a").update(state=TaskInstanceState.FAILED)

    tick(now=NOW, executor=InlineExecutor())

    run.refresh_from_db()
    assert states(run) == {"a": TaskInstanceState.FAILED, "b": TaskInstanceState.UPSTREAM_FAILED}
    assert run.state == DagRunState.FAILED


def test_tick_queues_a_retry_only_once_its_retry_delay_has_passed(make_dag):
    body = "    BashOperator(task_id='t', bash_command='false', retries=2, retry_delay=datetime.timedelta(minutes=5))\n"
    dag = make_dag("retry", body=body, schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    failed = finish(ti_of(run, "t"), TaskInstanceState.FAILED)
    assert (failed.state, failed.next_retry_at) == (TaskInstanceState.UP_FOR_RETRY, NOW + dt.timedelta(minutes=5))

    early = InlineExecutor()
    tick(now=NOW + dt.timedelta(minutes=4), executor=early)
    due = InlineExecutor()
    tick(now=NOW + dt.timedelta(minutes=5), executor=due)

    ti = ti_of(run, "t")
    assert early.queued == []
    assert due.queued == [(ti.pk, 2)]
    assert (ti.state, ti.try_number) == (TaskInstanceState.QUEUED, 2)


def test_task_added_to_the_dag_during_a_run_gets_an_instance_and_the_run_finishes(make_dag, dag_file, sync):
    two = "    BashOperator(task_id='a', bash_command='true') >> BashOperator(task_id='c', bash_command='true')\n"
    three = (
        "    a = BashOperator(task_id='a', bash_command='true')\n"
        "    a >> BashOperator(task_id='b', bash_command='true') >> BashOperator(task_id='c', bash_command='true')\n"
    )
    dag = make_dag("growing", body=two, schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    dag_file("growing.py", dag_source("growing", body=three, schedule="None"))
    sync(now=NOW)
    finish(ti_of(run, "a"), TaskInstanceState.SUCCESS)
    executor = InlineExecutor()

    tick(now=NOW, executor=executor)

    assert states(run) == {"a": TaskInstanceState.SUCCESS, "b": TaskInstanceState.QUEUED, "c": TaskInstanceState.NONE}
    finish(ti_of(run, "b"), TaskInstanceState.SUCCESS)
    finish(ti_of(run, "c"), TaskInstanceState.SUCCESS)
    run.refresh_from_db()
    assert run.state == DagRunState.SUCCESS


def test_a_task_removed_from_the_dag_becomes_removed_in_open_runs_and_does_not_block_them(make_dag, dag_file, sync):
    """Airflow's verify_integrity: a running (or waiting) instance of a task that left the DAG file is
    ``removed``, the running try is stopped (its row changed), and the run finishes without it;
    the task coming back restores its instance to ``none``."""
    three = (
        "    a = BashOperator(task_id='a', bash_command='true')\n"
        "    a >> [BashOperator(task_id='slow', bash_command='sleep 60'),\n"
        "          BashOperator(task_id='c', bash_command='true')]\n"
    )
    two = "    BashOperator(task_id='a', bash_command='true') >> BashOperator(task_id='c', bash_command='true')\n"
    dag = make_dag("shrinking", body=three, schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    other = dag_trigger(dag=dag, now=NOW + DAY)
    tick(now=NOW, executor=InlineExecutor())
    finish(ti_of(run, "a"), TaskInstanceState.SUCCESS)
    TaskInstance.objects.filter(dag_run=run, task_id="slow").update(state=TaskInstanceState.RUNNING)
    dag_file("shrinking.py", dag_source("shrinking", body=two, schedule="None"))
    sync(now=NOW)

    tick(now=NOW, executor=InlineExecutor())

    assert states(run)["slow"] == TaskInstanceState.REMOVED
    assert states(other)["slow"] == TaskInstanceState.REMOVED
    finish(ti_of(run, "c"), TaskInstanceState.SUCCESS)
    run.refresh_from_db()
    assert run.state == DagRunState.SUCCESS  # the removed task does not hold it open
    # A task that comes back: its removed instance in an open run is reset and runs again.
    dag_file("shrinking.py", dag_source("shrinking", body=three, schedule="None"))
    sync(now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    assert states(other)["slow"] == TaskInstanceState.NONE
    assert states(run)["slow"] == TaskInstanceState.REMOVED  # a finished run is history


THREE_WEIGHTED = (
    "    BashOperator(task_id='low', bash_command='true', priority_weight=1{extra})\n"
    "    BashOperator(task_id='high', bash_command='true', priority_weight=10{extra})\n"
    "    BashOperator(task_id='mid', bash_command='true', priority_weight=5{extra})\n"
)


def test_tick_queues_ready_tasks_highest_priority_weight_first(make_dag):
    dag = make_dag("weights", body=THREE_WEIGHTED.format(extra=""), schedule="None")
    dag_trigger(dag=dag, now=NOW)
    executor = InlineExecutor()

    tick(now=NOW, executor=executor)

    assert queued_task_ids(executor) == ["high", "mid", "low"]


def test_tick_queues_no_more_than_max_active_tasks(make_dag):
    dag = make_dag("weights", body=THREE_WEIGHTED.format(extra=""), schedule="None", dag_args=", max_active_tasks=2")
    run = dag_trigger(dag=dag, now=NOW)
    executor = InlineExecutor()

    tick(now=NOW, executor=executor)

    assert queued_task_ids(executor) == ["high", "mid"]
    assert ti_of(run, "low").state == TaskInstanceState.SCHEDULED


def test_tick_queues_the_waiting_task_once_a_slot_of_max_active_tasks_frees(make_dag):
    dag = make_dag("weights", body=THREE_WEIGHTED.format(extra=""), schedule="None", dag_args=", max_active_tasks=2")
    run = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    finish(ti_of(run, "high"), TaskInstanceState.SUCCESS)
    executor = InlineExecutor()

    tick(now=NOW, executor=executor)

    assert queued_task_ids(executor) == ["low"]


def test_tick_queues_no_more_than_the_pool_has_slots(make_dag):
    Pool.objects.create(name="single", slots=1)
    dag = make_dag("pooled", body=THREE_WEIGHTED.format(extra=", pool='single'"), schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    executor = InlineExecutor()

    tick(now=NOW, executor=executor)

    assert queued_task_ids(executor) == ["high"]
    assert states(run) == {
        "high": TaskInstanceState.QUEUED,
        "mid": TaskInstanceState.SCHEDULED,
        "low": TaskInstanceState.SCHEDULED,
    }


def test_a_task_takes_its_pool_slots_from_the_pool(make_dag):
    Pool.objects.create(name="pair", slots=2)
    body = (
        "    BashOperator(task_id='wide', bash_command='true', pool='pair', pool_slots=2, priority_weight=5)\n"
        "    BashOperator(task_id='narrow', bash_command='true', pool='pair', pool_slots=1)\n"
    )
    dag = make_dag("slotted", body=body, schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    executor = InlineExecutor()

    tick(now=NOW, executor=executor)

    # wide goes first (priority) and fills both slots: narrow waits although one task runs.
    assert queued_task_ids(executor) == ["wide"]
    assert states(run)["narrow"] == TaskInstanceState.SCHEDULED


def test_tick_gives_a_freed_pool_slot_to_the_next_highest_priority_task(make_dag):
    Pool.objects.create(name="single", slots=1)
    dag = make_dag("pooled", body=THREE_WEIGHTED.format(extra=", pool='single'"), schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    finish(ti_of(run, "high"), TaskInstanceState.SUCCESS)
    executor = InlineExecutor()

    tick(now=NOW, executor=executor)

    assert queued_task_ids(executor) == ["mid"]


def test_pool_is_shared_across_runs_and_dags(make_dag):
    Pool.objects.create(name="single", slots=1)
    one = make_dag("one", body=BASH.replace("'true'", "'true', pool='single'"), schedule="None")
    two = make_dag("two", body=BASH.replace("'true'", "'true', pool='single'"), schedule="None")
    dag_trigger(dag=one, now=NOW)
    dag_trigger(dag=two, now=NOW)
    executor = InlineExecutor()

    tick(now=NOW, executor=executor)

    assert len(executor.queued) == 1
    assert TaskInstance.objects.filter(state=TaskInstanceState.SCHEDULED).count() == 1


def test_tick_queues_no_more_instances_of_a_task_than_max_active_tis_per_dag(make_dag):
    body = "    BashOperator(task_id='t', bash_command='true', max_active_tis_per_dag=1)\n"
    dag = make_dag("limited", body=body, schedule="None")
    dag_trigger(dag=dag, now=NOW - DAY)
    dag_trigger(dag=dag, now=NOW)
    executor = InlineExecutor()

    tick(now=NOW, executor=executor)

    assert len(executor.queued) == 1
    assert TaskInstance.objects.filter(state=TaskInstanceState.SCHEDULED).count() == 1


def test_max_active_tis_per_dagrun_counts_a_task_s_instances_in_one_run_only(make_dag):
    """Per run, not per DAG: two runs each queue their instance under a limit of 1. (A run has more
    than one instance of a task only with mapping; the count is kept per run and task.)"""
    body = "    BashOperator(task_id='t', bash_command='true', max_active_tis_per_dagrun=1)\n"
    dag = make_dag("per_run", body=body, schedule="None")
    first = dag_trigger(dag=dag, now=NOW - DAY)
    dag_trigger(dag=dag, now=NOW)
    executor = InlineExecutor()

    tick(now=NOW, executor=executor)

    assert len(executor.queued) == 2
    capacity = Capacity.load()
    ti = ti_of(first, "t")
    assert capacity.run_task_used[(first.pk, "t")] == 1
    task = {"max_active_tis_per_dagrun": 1}
    assert "max_active_tis_per_dagrun" in capacity.take(ti=ti, dag=dag, task=task)
    assert capacity.take(ti=ti, dag=dag, task={"max_active_tis_per_dagrun": 2}) is None


def test_upstream_task_outranks_its_downstream_by_default_weight_rule(make_dag):
    body = (
        "    BashOperator(task_id='alone', bash_command='true')\n"
        "    BashOperator(task_id='head', bash_command='true') >> BashOperator(task_id='tail', bash_command='true')\n"
    )
    dag = make_dag("ranked", body=body, schedule="None", dag_args=", max_active_tasks=1")
    run = dag_trigger(dag=dag, now=NOW)
    executor = InlineExecutor()

    tick(now=NOW, executor=executor)

    # Airflow's default weight rule "downstream": head weighs 2 (itself and tail), alone 1.
    assert queued_task_ids(executor) == ["head"]
    assert ti_of(run, "head").priority_weight == 2


# -- query budget --------------------------------------------------------------------------------

# Queries of one tick over running runs that have nothing to change; it must not grow with rows.
# 14 statements (folder sync 3, due DAGs 1, asset events waiting for a DAG 1, queued runs 1,
# running runs with their task instances and capacity 4, zombies 1, tries stuck in queued 1, DAG
# callbacks to hand out 1, task callbacks the repair owes 1) plus
# the savepoints of the test's own transaction. Runs share one savepoint: a per-run savepoint
# only when one of them raises.
TICK_QUERY_BUDGET = 22


def _add_running_runs(dag: DagModel, count: int) -> None:
    """Create ``count`` running manual runs whose task ``a`` is running (fresh heartbeat), ``b`` waiting."""
    start = DagRun.objects.filter(dag=dag).count()
    for i in range(start, start + count):
        run = dag_run_create(dag=dag, logical_date=NOW - i * dt.timedelta(hours=1), run_type=DagRunType.MANUAL, now=NOW)
        DagRun.objects.filter(pk=run.pk).update(state=DagRunState.RUNNING, start_date=NOW)
        TaskInstance.objects.filter(dag_run=run, task_id="a").update(
            state=TaskInstanceState.RUNNING, try_number=1, start_date=NOW, last_heartbeat=NOW
        )


def test_one_tick_costs_the_same_queries_for_2_and_for_20_running_runs(make_dag, django_assert_max_num_queries):
    body = "    BashOperator(task_id='a', bash_command='true') >> BashOperator(task_id='b', bash_command='true')\n"
    dag = make_dag("busy", body=body, schedule="None")
    later = NOW + dt.timedelta(minutes=1)
    _add_running_runs(dag, 2)
    tick(now=later, executor=InlineExecutor())  # warm up: the same work as the measured ticks
    with CaptureQueriesContext(connection) as two:
        report_two = tick(now=later, executor=InlineExecutor())
    _add_running_runs(dag, 18)
    with CaptureQueriesContext(connection) as twenty:
        report_twenty = tick(now=later, executor=InlineExecutor())

    assert DagRun.objects.filter(state=DagRunState.RUNNING).count() == 20
    assert report_two.did_work is False
    assert report_twenty.did_work is False
    assert len(twenty) == len(two)
    with django_assert_max_num_queries(TICK_QUERY_BUDGET):
        tick(now=later, executor=InlineExecutor())


# -- depends_on_past and wait_for_downstream -----------------------------------------------------


PAST_BODY = (
    "    a = BashOperator(task_id='a', bash_command='true', depends_on_past=True)\n"
    "    b = BashOperator(task_id='b', bash_command='true')\n"
    "    w = BashOperator(task_id='w', bash_command='true', wait_for_downstream=True)\n"
    "    a >> b\n"
    "    w >> BashOperator(task_id='after_w', bash_command='true')\n"
)


def test_depends_on_past_waits_for_the_previous_run_s_instance_to_succeed_or_be_skipped(make_dag):
    dag = make_dag("past", body=PAST_BODY, schedule="None", dag_args=", max_active_runs=3")
    first = dag_trigger(dag=dag, now=NOW - DAY)
    second = dag_trigger(dag=dag, now=NOW)
    executor = InlineExecutor()

    tick(now=NOW, executor=executor)

    # The first run never waits; the second waits for the first's a (depends_on_past) and for
    # the first's w and its downstream (wait_for_downstream implies depends_on_past).
    assert sorted(queued_task_ids(executor)) == ["a", "w"]
    assert states(second)["a"] == states(second)["w"] == TaskInstanceState.NONE
    finish(ti_of(first, "a"), TaskInstanceState.FAILED, retry=False)
    finish(ti_of(first, "w"), TaskInstanceState.SUCCESS)
    executor = InlineExecutor()
    tick(now=NOW, executor=executor)
    assert "a" not in queued_task_ids(executor)
    assert states(second)["a"] == TaskInstanceState.NONE  # the previous a failed: still waiting
    assert states(second)["w"] == TaskInstanceState.NONE  # the previous after_w is not done yet
    finish(ti_of(first, "after_w"), TaskInstanceState.SKIPPED)
    executor = InlineExecutor()
    tick(now=NOW, executor=executor)
    assert queued_task_ids(executor) == ["w"]
    # Marking the previous a success lets the second run's a go.
    TaskInstance.objects.filter(pk=ti_of(first, "a").pk).update(state=TaskInstanceState.SUCCESS)
    executor = InlineExecutor()
    tick(now=NOW, executor=executor)
    assert queued_task_ids(executor) == ["a"]


def test_the_task_panel_says_it_waits_for_the_past(make_dag, client, viewer_user):
    from django.urls import reverse

    dag = make_dag("past_panel", body=PAST_BODY, schedule="None")
    first = dag_trigger(dag=dag, now=NOW - DAY)
    second = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    finish(ti_of(first, "a"), TaskInstanceState.FAILED, retry=False)
    tick(now=NOW, executor=InlineExecutor())
    client.force_login(viewer_user)
    page = client.get(reverse("runs:task-instance", args=["past_panel", second.run_id, "a"])).content.decode()
    assert "depends_on_past is set: the previous run&#x27;s a is failed" in page


# -- fail_stop / fail_fast -----------------------------------------------------------------------

FAIL_STOP_BODY = (
    "    first = BashOperator(task_id='first', bash_command='true')\n"
    "    long = BashOperator(task_id='long', bash_command='sleep 60')\n"
    "    retrying = BashOperator(task_id='retrying', bash_command='true', retries=2)\n"
    "    first >> [BashOperator(task_id='breaks', bash_command='false'), long, retrying]\n"
    "    later = BashOperator(task_id='later', bash_command='true')\n"
    "    first >> later >> BashOperator(task_id='last', bash_command='true')\n"
)


@pytest.mark.parametrize("option", ["fail_stop", "fail_fast"])
def test_a_failure_in_a_fail_stop_dag_fails_running_tasks_and_skips_the_rest(make_dag, option):
    dag = make_dag("stopper", body=FAIL_STOP_BODY, schedule="None", dag_args=f", {option}=True")
    run = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    finish(ti_of(run, "first"), TaskInstanceState.SUCCESS)
    claim = ti_of(run, "long")
    TaskInstance.objects.filter(pk=claim.pk).update(state=TaskInstanceState.RUNNING)
    finish(ti_of(run, "retrying"), TaskInstanceState.FAILED)  # a try with retries left: not the end
    assert states(run)["retrying"] == TaskInstanceState.UP_FOR_RETRY

    finish(ti_of(run, "breaks"), TaskInstanceState.FAILED, retry=False)

    assert states(run) == {
        "first": TaskInstanceState.SUCCESS,
        "breaks": TaskInstanceState.FAILED,
        "long": TaskInstanceState.FAILED,  # was running: its process stops at its next heartbeat
        "retrying": TaskInstanceState.SKIPPED,
        "later": TaskInstanceState.SKIPPED,
        "last": TaskInstanceState.SKIPPED,
    }
    run.refresh_from_db()
    assert run.state == DagRunState.FAILED


def test_without_fail_stop_a_failure_leaves_the_other_branches_running(make_dag):
    dag = make_dag("no_stopper", body=FAIL_STOP_BODY, schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    finish(ti_of(run, "first"), TaskInstanceState.SUCCESS)
    finish(ti_of(run, "breaks"), TaskInstanceState.FAILED, retry=False)
    assert states(run)["long"] == TaskInstanceState.QUEUED
    assert states(run)["later"] == TaskInstanceState.QUEUED


def test_a_fail_stop_dag_with_another_trigger_rule_is_an_import_error(dag_file, sync):
    body = (
        "    a = BashOperator(task_id='a', bash_command='true')\n"
        "    a >> BashOperator(task_id='cleanup', bash_command='true', trigger_rule='all_done')\n"
    )
    dag_file("bad_stop.py", dag_source("bad_stop", body=body, schedule="None", dag_args=", fail_stop=True"))
    report = sync(now=NOW)
    assert report.import_errors == 1
    from dags_app.models import DagImportError

    error = DagImportError.objects.get()
    assert "fail_stop: its tasks can only have the all_success trigger rule; these do not: cleanup" in error.stacktrace


def test_a_task_new_to_the_dag_waits_for_the_past_only_without_ignore_first_depends_on_past(make_dag, dag_file, sync):
    old = "    EmptyOperator(task_id='old')\n"
    dag = make_dag("past_new", body=old, schedule="None", dag_args=", max_active_runs=3")
    first = dag_trigger(dag=dag, now=NOW - DAY)
    tick(now=NOW - DAY, executor=InlineExecutor())
    first.refresh_from_db()
    assert first.state == DagRunState.SUCCESS
    body = old + (
        "    BashOperator(task_id='new_ignoring', bash_command='true', depends_on_past=True)\n"
        "    BashOperator(task_id='new_strict', bash_command='true', depends_on_past=True,"
        " ignore_first_depends_on_past=False)\n"
    )
    dag_file("past_new.py", dag_source("past_new", body=body, schedule="None", dag_args=", max_active_runs=3"))
    assert sync().import_errors == 0
    second = dag_trigger(dag=dag, now=NOW)
    executor = InlineExecutor()

    tick(now=NOW, reparse=False, executor=executor)

    # The previous run has no instance of either task: Airflow lets the first go (default True)
    # and keeps the other waiting for a previous instance that will never run.
    assert queued_task_ids(executor) == ["new_ignoring"]
    assert states(second)["new_strict"] == TaskInstanceState.NONE


def test_a_task_whose_own_start_date_is_after_the_logical_date_gets_no_instance(make_dag):
    body = (
        "    EmptyOperator(task_id='always')\n"
        "    EmptyOperator(task_id='later', start_date=datetime.datetime(2030, 1, 1, tzinfo=UTC))\n"
        "    EmptyOperator(task_id='retired', end_date=datetime.datetime(2000, 1, 1, tzinfo=UTC))\n"
    )
    dag = make_dag("windowed", body=body, schedule="None")
    run = dag_trigger(dag=dag, now=NOW)

    assert set(states(run)) == {"always"}
    tick(now=NOW, executor=InlineExecutor())  # verify_integrity does not add them either
    run.refresh_from_db()
    assert set(states(run)) == {"always"}
    assert run.state == DagRunState.SUCCESS

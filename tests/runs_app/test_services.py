"""The actions (runs_app.services): trigger, clear, mark, set run state, backfill, run, pause, delete.

Tests that execute tasks use ``transaction=True`` (the task runs in a forked child with its own
database connection); the others end tries through the worker's recording path (``finish``).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from dags_app.errors import ServiceError
from dags_app.models import DagModel
from runs_app.models import AuditLog, DagRun, TaskInstance
from runs_app.runner import dag_run_execute_inline
from runs_app.scheduler import tick
from runs_app.scheduling import InlineExecutor, job_id_for
from runs_app.services import (
    dag_backfill,
    dag_delete,
    dag_run_create,
    dag_run_set_state,
    dag_set_paused,
    dag_trigger,
    task_instance_run,
    task_instances_clear,
    task_instances_set_state,
)
from runs_app.states import AuditEvent, DagRunState, DagRunType, TaskInstanceState
from runs_app.tries import task_instance_claim
from tests.runs_app.helpers import DAY, NOW, dag_source, drain, finish, states

S = TaskInstanceState

CHAIN = (
    "    a = BashOperator(task_id='a', bash_command='true')\n"
    "    b = BashOperator(task_id='b', bash_command='true')\n"
    "    c = BashOperator(task_id='c', bash_command='true')\n"
    "    a >> b >> c\n"
)


def ti_of(run: DagRun, task_id: str) -> TaskInstance:
    return TaskInstance.objects.select_related("dag_run", "dag_run__dag").get(dag_run=run, task_id=task_id)


def tries(run: DagRun) -> dict[str, int]:
    return dict(TaskInstance.objects.filter(dag_run=run).values_list("task_id", "try_number"))


def started_run(dag: DagModel, *, now: dt.datetime = NOW) -> DagRun:
    """Trigger a manual run of ``dag`` and let one tick start it and queue its first tasks."""
    run = dag_trigger(dag=dag, now=now)
    tick(now=now, executor=InlineExecutor())
    run.refresh_from_db()
    return run


def chain_run_finished(make_dag, *, fail: str | None = None) -> DagRun:
    """Run a >> b >> c to its end through the recording path, ``fail`` (if given) failing."""
    run = started_run(make_dag("chain", body=CHAIN, schedule="None"))
    for task_id in ("a", "b", "c"):
        ti = ti_of(run, task_id)
        if ti.state != S.QUEUED:
            break
        finish(ti, S.FAILED if task_id == fail else S.SUCCESS)
    run.refresh_from_db()
    return run


# -- trigger -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_trigger_creates_a_queued_manual_run_with_its_conf(make_dag):
    dag = make_dag("manual", body=CHAIN, schedule="None")

    run = dag_trigger(dag=dag, now=NOW, logical_date=NOW - DAY, conf={"table": "orders"})

    assert (run.state, run.run_type, run.logical_date, run.conf, run.queued_at) == (
        DagRunState.QUEUED,
        DagRunType.MANUAL,
        NOW - DAY,
        {"table": "orders"},
        NOW,
    )
    assert run.run_id == "manual__2024-03-09T00:00:00+00:00"
    assert states(run) == {"a": S.NONE, "b": S.NONE, "c": S.NONE}


@pytest.mark.django_db
def test_trigger_twice_at_the_same_logical_date_fails(make_dag):
    dag = make_dag("manual", body=CHAIN, schedule="None")
    dag_trigger(dag=dag, now=NOW)

    with pytest.raises(ServiceError, match=r"^A DAG Run already exists for DAG manual at 2024-03-10T00:00:00\+00:00"):
        dag_trigger(dag=dag, now=NOW)


@pytest.mark.django_db
def test_trigger_refuses_a_conf_that_is_not_an_object(make_dag):
    dag = make_dag("manual", body=CHAIN, schedule="None")

    with pytest.raises(ServiceError, match=r"^The conf must be a JSON object, like .*, not a list$"):
        dag_trigger(dag=dag, now=NOW, conf=["a"])


# -- clear ---------------------------------------------------------------------------------------

FIXABLE = """\
    def needs_flag():
        import pathlib
        if not pathlib.Path({flag!r}).exists():
            raise RuntimeError("the flag file is missing")

    PythonOperator(task_id="a", python_callable=needs_flag) >> BashOperator(task_id="b", bash_command="echo b ran")
"""


@pytest.fixture
def failed_fixable_run(dag_file, sync, tmp_path):
    """Return a failed run of a >> b (``a`` failed: its flag file is missing) and that flag file's path."""
    flag = tmp_path / "flag"
    dag_file("fixable.py", dag_source("fixable", body=FIXABLE.format(flag=str(flag)), schedule="None"))
    sync()
    dag = DagModel.objects.get(dag_id="fixable")
    dag_set_paused(dag=dag, is_paused=False)
    run = dag_trigger(dag=dag, now=timezone.now())
    assert dag_run_execute_inline(run=run) == DagRunState.FAILED
    assert states(run) == {"a": S.FAILED, "b": S.UPSTREAM_FAILED}
    return run, flag


@pytest.mark.django_db(transaction=True)
def test_clearing_a_failed_task_with_downstream_reopens_the_run_and_queues_its_next_try(failed_fixable_run):
    run, _ = failed_fixable_run
    executor = InlineExecutor()

    cleared = task_instances_clear(tis=[ti_of(run, "a")], downstream=True, now=timezone.now(), executor=executor)

    run.refresh_from_db()
    assert cleared == 2
    assert (run.state, run.end_date) == (DagRunState.RUNNING, None)
    assert states(run) == {"a": S.QUEUED, "b": S.NONE}
    assert executor.queued == [(ti_of(run, "a").pk, 2)]


@pytest.mark.django_db(transaction=True)
def test_cleared_tasks_run_again_and_the_run_succeeds(failed_fixable_run):
    run, flag = failed_fixable_run
    flag.write_text("fixed")
    executor = InlineExecutor()
    task_instances_clear(tis=[ti_of(run, "a")], downstream=True, now=timezone.now(), executor=executor)

    drain(executor)

    run.refresh_from_db()
    assert states(run) == {"a": S.SUCCESS, "b": S.SUCCESS}
    assert tries(run) == {"a": 2, "b": 1}
    assert run.state == DagRunState.SUCCESS
    assert "b ran" in ti_of(run, "b").log_path(1).read_text()


@pytest.mark.django_db
def test_clear_gives_the_task_its_retries_again(make_dag):
    body = "    BashOperator(task_id='t', bash_command='false', retries=1, retry_delay=datetime.timedelta(0))\n"
    run = started_run(make_dag("retrying", body=body, schedule="None"))
    finish(ti_of(run, "t"), S.FAILED)
    tick(now=NOW, executor=InlineExecutor())
    finish(ti_of(run, "t"), S.FAILED)
    assert (ti_of(run, "t").state, ti_of(run, "t").try_number) == (S.FAILED, 2)

    task_instances_clear(tis=[ti_of(run, "t")], now=NOW, executor=InlineExecutor())

    ti = ti_of(run, "t")
    assert (ti.state, ti.try_number, ti.max_tries) == (S.QUEUED, 3, 3)


@pytest.mark.django_db
def test_clear_only_failed_leaves_successful_tasks_alone(make_dag):
    body = (
        "    BashOperator(task_id='ok', bash_command='true')\n    BashOperator(task_id='broken', bash_command='true')\n"
    )
    run = started_run(make_dag("pair", body=body, schedule="None"))
    finish(ti_of(run, "ok"), S.SUCCESS)
    finish(ti_of(run, "broken"), S.FAILED)
    run.refresh_from_db()
    assert run.state == DagRunState.FAILED

    cleared = task_instances_clear(
        tis=TaskInstance.objects.filter(dag_run=run), only_failed=True, now=NOW, executor=InlineExecutor()
    )

    assert cleared == 1
    assert states(run) == {"ok": S.SUCCESS, "broken": S.QUEUED}
    assert tries(run) == {"ok": 1, "broken": 2}


@pytest.mark.django_db
def test_clear_with_upstream_resets_the_upstream_tasks_too(make_dag):
    run = chain_run_finished(make_dag)
    assert run.state == DagRunState.SUCCESS

    cleared = task_instances_clear(tis=[ti_of(run, "c")], upstream=True, now=NOW, executor=InlineExecutor())

    run.refresh_from_db()
    assert cleared == 3
    assert states(run) == {"a": S.QUEUED, "b": S.NONE, "c": S.NONE}
    assert run.state == DagRunState.RUNNING


@pytest.mark.django_db
def test_clear_without_relatives_resets_only_the_task(make_dag):
    run = chain_run_finished(make_dag)

    cleared = task_instances_clear(tis=[ti_of(run, "b")], now=NOW, executor=InlineExecutor())

    assert cleared == 1
    assert states(run) == {"a": S.SUCCESS, "b": S.QUEUED, "c": S.SUCCESS}


@pytest.mark.django_db
def test_clearing_a_run_of_a_paused_dag_queues_the_run(make_dag):
    run = chain_run_finished(make_dag)
    dag_set_paused(dag=run.dag, is_paused=True)

    task_instances_clear(tis=[ti_of(run, "c")], now=NOW, executor=InlineExecutor())

    run.refresh_from_db()
    assert run.state == DagRunState.QUEUED
    assert ti_of(run, "c").state == S.NONE


# -- mark success / failed -----------------------------------------------------------------------

SEED = """\
    BashOperator(task_id="runme", bash_command="exit 1") >> BashOperator(
        task_id="run_this_last", bash_command="echo the last task ran"
    )
"""


@pytest.mark.django_db(transaction=True)
def test_marking_a_failed_task_success_lets_its_upstream_failed_downstream_run(dag_file, sync):
    dag_file("seed.py", dag_source("seed", body=SEED, schedule="None"))
    sync()
    dag = DagModel.objects.get(dag_id="seed")
    dag_set_paused(dag=dag, is_paused=False)
    run = dag_trigger(dag=dag, now=timezone.now())
    assert dag_run_execute_inline(run=run) == DagRunState.FAILED
    assert states(run) == {"runme": S.FAILED, "run_this_last": S.UPSTREAM_FAILED}
    executor = InlineExecutor()

    task_instances_set_state(tis=[ti_of(run, "runme")], state=S.SUCCESS, now=timezone.now(), executor=executor)
    assert states(run) == {"runme": S.SUCCESS, "run_this_last": S.QUEUED}
    drain(executor)

    run.refresh_from_db()
    assert states(run) == {"runme": S.SUCCESS, "run_this_last": S.SUCCESS}
    assert "the last task ran" in ti_of(run, "run_this_last").log_path().read_text()
    assert run.state == DagRunState.SUCCESS


@pytest.mark.django_db
def test_marking_a_task_failed_makes_its_downstream_upstream_failed(make_dag):
    run = started_run(make_dag("chain", body=CHAIN, schedule="None"))

    changed = task_instances_set_state(tis=[ti_of(run, "a")], state=S.FAILED, now=NOW, executor=InlineExecutor())

    run.refresh_from_db()
    assert changed == 1
    assert states(run) == {"a": S.FAILED, "b": S.UPSTREAM_FAILED, "c": S.UPSTREAM_FAILED}
    assert run.state == DagRunState.FAILED


@pytest.mark.django_db
def test_marking_success_with_downstream_marks_every_downstream_task(make_dag):
    run = started_run(make_dag("chain", body=CHAIN, schedule="None"))

    changed = task_instances_set_state(
        tis=[ti_of(run, "b")], state=S.SUCCESS, downstream=True, now=NOW, executor=InlineExecutor()
    )

    assert changed == 2
    assert states(run) == {"a": S.QUEUED, "b": S.SUCCESS, "c": S.SUCCESS}


@pytest.mark.django_db
def test_tasks_can_only_be_marked_success_or_failed(make_dag):
    run = started_run(make_dag("chain", body=CHAIN, schedule="None"))

    with pytest.raises(ServiceError, match=r"^Tasks can only be marked success or failed, not skipped$"):
        task_instances_set_state(tis=[ti_of(run, "a")], state=S.SKIPPED, now=NOW)


# -- run state -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_marking_a_run_success_marks_every_task_success(make_dag):
    run = started_run(make_dag("chain", body=CHAIN, schedule="None"))

    dag_run_set_state(run=run, state=DagRunState.SUCCESS, now=NOW)

    run.refresh_from_db()
    assert (run.state, run.end_date) == (DagRunState.SUCCESS, NOW)
    assert states(run) == {"a": S.SUCCESS, "b": S.SUCCESS, "c": S.SUCCESS}


PAIR_AND_NEXT = (
    "    a = BashOperator(task_id='a', bash_command='true')\n"
    "    b = BashOperator(task_id='b', bash_command='true')\n"
    "    [a, b] >> BashOperator(task_id='c', bash_command='true')\n"
)


@pytest.mark.django_db
def test_marking_a_run_failed_fails_running_tasks_and_skips_the_unfinished_rest(make_dag):
    run = started_run(make_dag("pair", body=PAIR_AND_NEXT, schedule="None"))
    a = ti_of(run, "a")
    assert task_instance_claim(ti_id=a.pk, try_number=a.try_number, now=NOW) is not None
    assert states(run) == {"a": S.RUNNING, "b": S.QUEUED, "c": S.NONE}

    dag_run_set_state(run=run, state=DagRunState.FAILED, now=NOW)

    run.refresh_from_db()
    assert run.state == DagRunState.FAILED
    # As Airflow's set_dag_run_state_to_failed: a queued try never started, so it is skipped.
    assert states(run) == {"a": S.FAILED, "b": S.SKIPPED, "c": S.SKIPPED}


@pytest.mark.django_db
def test_marking_a_run_failed_keeps_finished_tasks_as_they_are(make_dag):
    run = started_run(make_dag("chain", body=CHAIN, schedule="None"))
    finish(ti_of(run, "a"), S.SUCCESS)

    dag_run_set_state(run=run, state=DagRunState.FAILED, now=NOW)

    assert states(run) == {"a": S.SUCCESS, "b": S.SKIPPED, "c": S.SKIPPED}


@pytest.mark.django_db
def test_queued_try_of_a_run_marked_failed_cannot_be_claimed(make_dag):
    run = started_run(make_dag("chain", body=CHAIN, schedule="None"))
    a = ti_of(run, "a")

    dag_run_set_state(run=run, state=DagRunState.FAILED, now=NOW)

    assert task_instance_claim(ti_id=a.pk, try_number=a.try_number, now=NOW) is None


@pytest.mark.django_db
def test_marked_run_stays_finished_at_the_next_tick(make_dag):
    run = started_run(make_dag("chain", body=CHAIN, schedule="None"))
    dag_run_set_state(run=run, state=DagRunState.FAILED, now=NOW)

    report = tick(now=NOW, executor=InlineExecutor())

    run.refresh_from_db()
    assert run.state == DagRunState.FAILED
    assert report.tasks_queued == 0


# -- backfill ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_backfill_creates_one_backfill_run_per_day_of_the_range(make_dag):
    dag = make_dag("daily", body=CHAIN, paused=True)

    runs = dag_backfill(dag=dag, start=NOW - 30 * DAY, end=NOW - 28 * DAY, now=NOW)

    assert [(r.logical_date, r.data_interval_end, r.run_type, r.state) for r in runs] == [
        (NOW - days * DAY, NOW - (days - 1) * DAY, DagRunType.BACKFILL, DagRunState.QUEUED) for days in (30, 29, 28)
    ]
    assert runs[0].run_id == "backfill__2024-02-09T00:00:00+00:00"


@pytest.mark.django_db
def test_backfill_skips_the_dates_that_have_a_run(make_dag):
    dag = make_dag("daily", body=CHAIN, paused=True)
    dag_run_create(dag=dag, logical_date=NOW - 29 * DAY, run_type=DagRunType.SCHEDULED, now=NOW)

    runs = dag_backfill(dag=dag, start=NOW - 30 * DAY, end=NOW - 28 * DAY, now=NOW)

    assert [r.logical_date for r in runs] == [NOW - 30 * DAY, NOW - 28 * DAY]
    assert DagRun.objects.filter(dag=dag).count() == 3


@pytest.mark.django_db
def test_tick_starts_backfill_runs_of_a_paused_dag(make_dag):
    dag = make_dag("daily", body=CHAIN, paused=True)
    runs = dag_backfill(dag=dag, start=NOW - 30 * DAY, end=NOW - 28 * DAY, now=NOW)
    executor = InlineExecutor()

    report = tick(now=NOW, executor=executor)

    assert report.runs_started == 3
    assert report.runs_created == 0
    assert set(DagRun.objects.filter(pk__in=[r.pk for r in runs]).values_list("state", flat=True)) == {
        DagRunState.RUNNING
    }
    assert len(executor.queued) == 3


@pytest.mark.django_db
def test_backfill_of_an_unscheduled_dag_fails(make_dag):
    dag = make_dag("manual", body=CHAIN, schedule="None")

    with pytest.raises(ServiceError, match=r"^DAG manual has no periodic schedule"):
        dag_backfill(dag=dag, start=NOW - 3 * DAY, end=NOW, now=NOW)


@pytest.mark.django_db
def test_backfill_with_the_end_before_the_start_fails(make_dag):
    dag = make_dag("daily", body=CHAIN)

    with pytest.raises(ServiceError, match=r"^The end date .* is before the start date"):
        dag_backfill(dag=dag, start=NOW, end=NOW - DAY, now=NOW)


# -- run a task instance -------------------------------------------------------------------------


@pytest.mark.django_db
def test_task_instance_run_queues_the_next_try_of_a_finished_task(make_dag):
    run = chain_run_finished(make_dag)

    task_instance_run(ti=ti_of(run, "b"), now=NOW + DAY)

    ti = ti_of(run, "b")
    run.refresh_from_db()
    assert (ti.state, ti.try_number, ti.queued_at) == (S.QUEUED, 2, NOW + DAY)
    assert ti.rq_job_id == job_id_for(ti.pk, 2)
    assert run.state == DagRunState.RUNNING
    assert states(run)["c"] == S.SUCCESS


@pytest.mark.django_db
def test_task_instance_run_enqueues_the_try_to_redis(make_dag, redis_url, django_capture_on_commit_callbacks):
    import redis

    run = chain_run_finished(make_dag)

    with django_capture_on_commit_callbacks(execute=True):
        task_instance_run(ti=ti_of(run, "b"), now=NOW + DAY)

    ti = ti_of(run, "b")
    assert redis.Redis.from_url(redis_url).exists(f"rq:job:{job_id_for(ti.pk, 2)}") == 1


@pytest.mark.django_db
def test_task_instance_run_refuses_a_task_already_queued(make_dag):
    run = started_run(make_dag("chain", body=CHAIN, schedule="None"))

    with pytest.raises(ServiceError, match=r"^Task instance a is already queued$"):
        task_instance_run(ti=ti_of(run, "a"), now=NOW)


@pytest.mark.django_db
def test_task_instance_run_honouring_dependencies_refuses_a_task_whose_upstream_failed(make_dag):
    run = chain_run_finished(make_dag, fail="a")

    with pytest.raises(ServiceError, match=r"^Dependencies not met for b: Trigger rule 'all_success'"):
        task_instance_run(ti=ti_of(run, "b"), now=NOW, ignore_dependencies=False)


# -- audit log -----------------------------------------------------------------------------------


def last_audit() -> AuditLog:
    return AuditLog.objects.order_by("-pk").first()


@pytest.mark.django_db
def test_trigger_writes_an_audit_row_with_who_and_what(make_dag, admin_user):
    dag = make_dag("manual", body=CHAIN, schedule="None")

    run = dag_trigger(dag=dag, now=NOW, conf={"x": 1}, user=admin_user, source="web")

    row = last_audit()
    assert (row.event, row.username, row.user, row.source, row.dag_id, row.run_id) == (
        AuditEvent.TRIGGER,
        "alice",
        admin_user,
        "web",
        "manual",
        run.run_id,
    )
    assert row.extra == {"conf": {"x": 1}, "logical_date": "2024-03-10T00:00:00+00:00"}


@pytest.mark.django_db
def test_clear_writes_an_audit_row(make_dag, admin_user):
    run = chain_run_finished(make_dag)

    task_instances_clear(tis=[ti_of(run, "b")], downstream=True, now=NOW, user=admin_user, executor=InlineExecutor())

    row = last_audit()
    assert (row.event, row.username, row.dag_id, row.run_id, row.task_id) == (
        AuditEvent.CLEAR,
        "alice",
        "chain",
        run.run_id,
        "b,c",
    )
    assert row.extra == {"upstream": False, "downstream": True, "only_failed": False}


@pytest.mark.django_db
@pytest.mark.parametrize(("state", "event"), [(S.SUCCESS, AuditEvent.MARK_SUCCESS), (S.FAILED, AuditEvent.MARK_FAILED)])
def test_marking_tasks_writes_an_audit_row(make_dag, admin_user, state, event):
    run = started_run(make_dag("chain", body=CHAIN, schedule="None"))

    task_instances_set_state(tis=[ti_of(run, "a")], state=state, now=NOW, user=admin_user, executor=InlineExecutor())

    row = last_audit()
    assert (row.event, row.username, row.dag_id, row.run_id, row.task_id) == (event, "alice", "chain", run.run_id, "a")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("state", "event"), [(DagRunState.SUCCESS, AuditEvent.MARK_SUCCESS), (DagRunState.FAILED, AuditEvent.MARK_FAILED)]
)
def test_marking_a_run_writes_an_audit_row(make_dag, admin_user, state, event):
    run = started_run(make_dag("chain", body=CHAIN, schedule="None"))

    dag_run_set_state(run=run, state=state, now=NOW, user=admin_user)

    row = last_audit()
    assert (row.event, row.username, row.dag_id, row.run_id, row.task_id) == (event, "alice", "chain", run.run_id, "")


@pytest.mark.django_db
def test_backfill_writes_an_audit_row_listing_its_runs(make_dag, admin_user):
    dag = make_dag("daily", body=CHAIN, paused=True)

    runs = dag_backfill(dag=dag, start=NOW - 30 * DAY, end=NOW - 29 * DAY, now=NOW, user=admin_user)

    row = last_audit()
    assert (row.event, row.username, row.dag_id) == (AuditEvent.BACKFILL, "alice", "daily")
    assert row.extra["runs"] == [r.run_id for r in runs]


@pytest.mark.django_db
def test_task_instance_run_writes_an_audit_row(make_dag, admin_user):
    run = chain_run_finished(make_dag)

    task_instance_run(ti=ti_of(run, "b"), now=NOW, user=admin_user)

    row = last_audit()
    assert (row.event, row.username, row.dag_id, row.run_id, row.task_id) == (
        AuditEvent.RUN,
        "alice",
        "chain",
        run.run_id,
        "b",
    )


@pytest.mark.django_db
def test_pause_and_unpause_write_audit_rows(make_dag, admin_user):
    dag = make_dag("daily", body=CHAIN, paused=True)

    dag_set_paused(dag=dag, is_paused=False, user=admin_user)
    dag_set_paused(dag=dag, is_paused=True, user=admin_user)

    assert list(AuditLog.objects.order_by("pk").values_list("event", "username", "dag_id")) == [
        (AuditEvent.UNPAUSE, "alice", "daily"),
        (AuditEvent.PAUSE, "alice", "daily"),
    ]


@pytest.mark.django_db
def test_pausing_a_paused_dag_changes_nothing_and_writes_no_audit_row(make_dag):
    dag = make_dag("daily", body=CHAIN, paused=True)

    changed = dag_set_paused(dag=dag, is_paused=True)

    assert changed is False
    assert AuditLog.objects.exists() is False


@pytest.mark.django_db
def test_delete_removes_the_dags_runs_and_writes_an_audit_row(make_dag, admin_user):
    run = chain_run_finished(make_dag)

    dag_delete(dag_id="chain", user=admin_user)

    assert DagRun.objects.filter(pk=run.pk).exists() is False
    assert TaskInstance.objects.exists() is False
    row = last_audit()
    assert (row.event, row.username, row.dag_id) == (AuditEvent.DELETE, "alice", "chain")

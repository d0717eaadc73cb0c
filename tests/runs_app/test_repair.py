"""The scheduler's repairs: zombie task instances, and queued tries whose RQ job is gone."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings

from runs_app.models import DagRun, TaskInstance
from runs_app.scheduler import QUEUED_GRACE_SECONDS, tick
from runs_app.scheduling import InlineExecutor, enqueue_now, job_id_for
from runs_app.services import dag_trigger
from runs_app.states import DagRunState, TaskInstanceState
from runs_app.tries import task_instance_claim
from tests.runs_app.helpers import NOW, finish

pytestmark = pytest.mark.django_db

SECOND = dt.timedelta(seconds=1)


def zombie_threshold() -> dt.timedelta:
    return dt.timedelta(seconds=settings.ORCHESTRATOR["ZOMBIE_THRESHOLD"])


def running_ti(make_dag, *, task_args: str = "") -> TaskInstance:
    """Return the task instance of a fresh run, claimed by a worker at ``NOW`` (its last heartbeat)."""
    dag = make_dag(
        "work", body=f"    BashOperator(task_id='t', bash_command='sleep 600'{task_args})\n", schedule="None"
    )
    dag_trigger(dag=dag, now=NOW)
    executor = InlineExecutor()
    tick(now=NOW, executor=executor)
    [(ti_id, try_number)] = executor.queued
    ti = task_instance_claim(ti_id=ti_id, try_number=try_number, now=NOW)
    assert ti is not None
    return ti


def queued_ti(make_dag) -> TaskInstance:
    """Return the task instance of a fresh run, queued at ``NOW`` without anything sent to Redis."""
    dag = make_dag("work", body="    BashOperator(task_id='t', bash_command='true')\n", schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    ti = TaskInstance.objects.get(dag_run=run, task_id="t")
    assert (ti.state, ti.try_number, ti.queued_at) == (TaskInstanceState.QUEUED, 1, NOW)
    return ti


# -- zombies -------------------------------------------------------------------------------------


def test_running_task_with_a_recent_heartbeat_is_left_alone(make_dag):
    ti = running_ti(make_dag, task_args=", retries=1")

    report = tick(now=NOW + zombie_threshold() - SECOND, executor=InlineExecutor())

    ti.refresh_from_db()
    assert report.zombies == 0
    assert ti.state == TaskInstanceState.RUNNING


def test_zombie_with_retries_left_is_put_up_for_retry(make_dag):
    ti = running_ti(make_dag, task_args=", retries=1, retry_delay=datetime.timedelta(minutes=1)")
    later = NOW + zombie_threshold() + SECOND

    report = tick(now=later, executor=InlineExecutor())

    ti.refresh_from_db()
    assert report.zombies == 1
    assert (ti.state, ti.try_number, ti.end_date) == (TaskInstanceState.UP_FOR_RETRY, 1, later)
    assert ti.next_retry_at == later + dt.timedelta(minutes=1)


def test_zombie_without_retries_left_fails_and_so_does_its_run(make_dag):
    ti = running_ti(make_dag)

    report = tick(now=NOW + zombie_threshold() + SECOND, executor=InlineExecutor())

    ti.refresh_from_db()
    assert report.zombies == 1
    assert ti.state == TaskInstanceState.FAILED
    assert DagRun.objects.get(pk=ti.dag_run_id).state == DagRunState.FAILED


def test_zombie_gets_a_line_in_its_try_log(make_dag):
    ti = running_ti(make_dag)

    tick(now=NOW + zombie_threshold() + SECOND, executor=InlineExecutor())

    text = ti.log_path(1).read_text()
    assert "ERROR - Detected zombie: work.t try 1 on " in text
    assert f"sent no heartbeat since {NOW.isoformat()}" in text


def test_zombie_threshold_comes_from_the_settings(make_dag, settings):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "ZOMBIE_THRESHOLD": 30.0}
    ti = running_ti(make_dag)

    report = tick(now=NOW + 31 * SECOND, executor=InlineExecutor())

    ti.refresh_from_db()
    assert report.zombies == 1
    assert ti.state == TaskInstanceState.FAILED


def test_retried_zombie_runs_again_and_the_run_finishes(make_dag):
    ti = running_ti(make_dag, task_args=", retries=1, retry_delay=datetime.timedelta(minutes=1)")
    found = NOW + zombie_threshold() + SECOND
    tick(now=found, executor=InlineExecutor())
    executor = InlineExecutor()

    tick(now=found + dt.timedelta(minutes=1), executor=executor)
    assert executor.queued == [(ti.pk, 2)]
    finish(ti, TaskInstanceState.SUCCESS, now=found + dt.timedelta(minutes=2))

    ti.refresh_from_db()
    assert (ti.state, ti.try_number) == (TaskInstanceState.SUCCESS, 2)
    assert DagRun.objects.get(pk=ti.dag_run_id).state == DagRunState.SUCCESS


def test_late_outcome_of_a_zombie_try_is_not_recorded(make_dag):
    from runs_app.tries import Outcome, task_instance_record_outcome

    ti = running_ti(make_dag, task_args=", retries=1, retry_delay=datetime.timedelta(minutes=1)")
    tick(now=NOW + zombie_threshold() + SECOND, executor=InlineExecutor())

    # The worker was only slow, not dead: its result arrives after the repair.
    result = task_instance_record_outcome(
        ti=ti, outcome=Outcome(state=TaskInstanceState.SUCCESS), now=NOW + zombie_threshold() + 2 * SECOND
    )

    assert result is None
    ti.refresh_from_db()
    assert ti.state == TaskInstanceState.UP_FOR_RETRY


# -- queued tries lost by Redis ------------------------------------------------------------------


def test_tick_enqueues_again_a_queued_try_whose_rq_job_is_gone(make_dag, redis_url):
    import redis

    ti = queued_ti(make_dag)
    client = redis.Redis.from_url(redis_url)
    key = f"rq:job:{job_id_for(ti.pk, 1)}"
    assert client.exists(key) == 0

    report = tick(now=NOW + dt.timedelta(seconds=QUEUED_GRACE_SECONDS + 1))

    assert report.requeued == 1
    assert client.exists(key) == 1
    assert client.lrange("rq:queue:default", 0, -1) == [job_id_for(ti.pk, 1).encode()]
    ti.refresh_from_db()
    assert (ti.state, ti.try_number) == (TaskInstanceState.QUEUED, 1)


def test_tick_leaves_a_queued_try_alone_within_the_grace_period(make_dag, redis_url):
    import redis

    ti = queued_ti(make_dag)

    report = tick(now=NOW + dt.timedelta(seconds=QUEUED_GRACE_SECONDS - 1))

    assert report.requeued == 0
    assert redis.Redis.from_url(redis_url).exists(f"rq:job:{job_id_for(ti.pk, 1)}") == 0


def test_tick_does_not_enqueue_a_queued_try_whose_job_is_in_redis(make_dag, redis_url):
    import redis

    ti = queued_ti(make_dag)
    assert enqueue_now(ti_id=ti.pk, try_number=1, queue="default", execution_timeout=None) is True

    report = tick(now=NOW + dt.timedelta(seconds=QUEUED_GRACE_SECONDS + 1))

    assert report.requeued == 0
    assert redis.Redis.from_url(redis_url).llen("rq:queue:default") == 1


def test_tick_enqueues_again_a_queued_try_whose_rq_job_failed_before_claiming(make_dag, redis_url):
    import redis

    ti = queued_ti(make_dag)
    assert enqueue_now(ti_id=ti.pk, try_number=1, queue="default", execution_timeout=None) is True
    client = redis.Redis.from_url(redis_url)
    key = f"rq:job:{job_id_for(ti.pk, 1)}"
    # The job died in RQ (e.g. the worker could not load it) and lingers for its failure_ttl.
    client.lpop("rq:queue:default")
    client.hset(key, "status", "failed")

    report = tick(now=NOW + dt.timedelta(seconds=QUEUED_GRACE_SECONDS + 1))

    assert report.requeued == 1
    assert client.hget(key, "status") == b"queued"
    assert client.lrange("rq:queue:default", 0, -1) == [job_id_for(ti.pk, 1).encode()]


@pytest.mark.parametrize(("execution_timeout", "expected"), [(None, 7 * 24 * 3600), (30.0, 30)])
def test_every_job_has_a_finite_rq_timeout_above_the_task_s_own(
    make_dag, redis_url, settings, execution_timeout, expected
):
    from rq.job import Job

    from runs_app.scheduling import RQ_TIMEOUT_MARGIN, rq_queue

    ti = queued_ti(make_dag)
    assert enqueue_now(ti_id=ti.pk, try_number=1, queue="default", execution_timeout=execution_timeout)

    queue = rq_queue("default")
    job = Job.fetch(job_id_for(ti.pk, 1), connection=queue.connection, serializer=queue.serializer)
    # ... and above the time its callbacks may take after it.
    assert job.timeout == int(expected + settings.ORCHESTRATOR["CALLBACK_TIMEOUT"] + RQ_TIMEOUT_MARGIN)


def test_a_stuck_try_is_enqueued_again_at_the_front_of_its_queue(make_dag, redis_url, settings):
    import redis

    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "TASK_QUEUED_TIMEOUT": 60.0, "TASK_QUEUED_RETRIES": 1}
    ti = queued_ti(make_dag)
    assert enqueue_now(ti_id=ti.pk, try_number=1, queue="default", execution_timeout=None)
    client = redis.Redis.from_url(redis_url)
    client.lpush("rq:queue:default", "someone-else-s-job")  # ahead of ours

    tick(now=NOW + dt.timedelta(seconds=61))

    assert client.lrange("rq:queue:default", 0, -1) == [job_id_for(ti.pk, 1).encode(), b"someone-else-s-job"]
    ti.refresh_from_db()
    assert (ti.state, ti.queued_requeues) == (TaskInstanceState.QUEUED, 1)

"""Scheduling one DAG run: evaluate its task instances, queue the ready ones, finish the run.

``dag_run_schedule`` is the one place where task instances move forward. The scheduler's tick
calls it for every running run; a worker calls it right after a task ends (fast follow), so a
chain never waits for a tick; ``dags test`` calls it with an inline executor.

Every transition is a conditional update that names the state (and try) it expects and checks
the row count: zero rows means another process got there first, which is a normal outcome.
Queued task instances are handed to the executor in ``transaction.on_commit``, so a worker never
receives a job whose row it cannot see yet, and a rolled-back transaction enqueues nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Count, Sum

from dags_app.models import DagModel
from runs_app import transitions
from runs_app.deps import DepStatus, count_upstream, evaluate_trigger_rule, needs_past, past_reason
from runs_app.models import DagRun, Pool, TaskInstance
from runs_app.states import (
    TI_FAILED_LIKE,
    TI_FINISHED,
    TI_RUNNING_OR_QUEUED,
    TI_SUCCESS_LIKE,
    DagRunState,
    TaskInstanceState,
    TaskStates,
)

log = logging.getLogger(__name__)

# Errors that mean the database is unavailable (SQLite locked, PostgreSQL restarting), not that a
# row is bad: they end the scheduler's tick, whose loop retries, instead of parking a run.
OUTAGE_ERRORS = (OperationalError, InterfaceError)

EMPTY_OPERATOR_CLASS = "dags_app.sdk.operators.EmptyOperator"
TASK_RUNNER = "runs_app.jobs.run_task_instance"
DAG_CALLBACK_RUNNER = "runs_app.jobs.run_dag_callbacks"
TASK_CALLBACK_RUNNER = "runs_app.jobs.run_task_callbacks"
# RQ's own job timeout sits this far above a task's execution_timeout, so that our supervisor,
# not RQ, ends a task that runs too long.
RQ_TIMEOUT_MARGIN = 300


def job_id_for(ti_id: int, try_number: int) -> str:
    return f"ti-{ti_id}-try-{try_number}"


def callback_job_id_for(run_id: int) -> str:
    return f"dagrun-{run_id}-callbacks"


def task_callback_job_id_for(request_id: int) -> str:
    return f"ti-callbacks-{request_id}"


class Executor(Protocol):
    """Where queued tries go. ``queue`` is called inside the transaction that marks the try queued:
    an executor must act only once that commits (``transaction.on_commit``), or a worker may claim
    a try whose queued state it cannot see yet."""

    def queue(self, *, ti_id: int, try_number: int, queue: str, execution_timeout: float | None) -> None: ...

    def queue_dag_callbacks(self, *, run_id: int) -> None:
        """Hand a finished run's pending DAG callback to a worker (also only once committed)."""
        ...

    def queue_task_callbacks(self, *, request_id: int) -> None:
        """Hand the callbacks owed by a try the repair ended to a worker (also only once committed)."""
        ...


_redis_connections: dict[tuple[int, str], Any] = {}


def redis_connection() -> Any:
    """Return this process's Redis connection for the configured ``REDIS_URL`` (one per process)."""
    from redis import Redis

    key = (os.getpid(), settings.REDIS_URL)
    conn = _redis_connections.get(key)
    if conn is None:
        conn = _redis_connections[key] = Redis.from_url(settings.REDIS_URL)
    return conn


# (REDIS_URL, monotonic time of the check) -> whether Redis answered; kept BROKER_CHECK_TTL s.
_broker_checks: dict[str, tuple[float, bool]] = {}
BROKER_CHECK_TTL = 2.0


def broker_is_healthy() -> bool:
    """Return whether Redis answers a PING within 0.25 s (for the UI's banner; cached 2 s per process).

    A page must not hang on a broker that is down or wedged: the check uses its own short timeouts.
    """
    from redis import Redis, RedisError

    url = settings.REDIS_URL
    checked = _broker_checks.get(url)
    now = time.monotonic()
    if checked is not None and now - checked[0] < BROKER_CHECK_TTL:
        return checked[1]
    client = Redis.from_url(url, socket_connect_timeout=0.25, socket_timeout=0.25)
    try:
        healthy = bool(client.ping())
    except (RedisError, OSError):
        healthy = False
    finally:
        client.close()
    _broker_checks[url] = (now, healthy)
    return healthy


def rq_queue(name: str) -> Any:
    """Return django-rq's configured queue ``name`` (``RQ_QUEUES``: JSON serializer, our job class)
    on this process's Redis connection, enqueueing at once (callers already wait for the commit).

    Raises KeyError for a queue that is not configured.
    """
    import django_rq

    return django_rq.get_queue(name, connection=redis_connection(), commit_mode="auto")


def rq_job_timeout(execution_timeout: float | None) -> int:
    """RQ's timeout for a task's job: above its ``execution_timeout`` (our supervisor ends the task
    first), else ``MAX_TASK_RUNTIME``, plus the time its callbacks may take after it. Never
    unlimited, so a wedged job frees its worker one day."""
    limit = execution_timeout if execution_timeout else settings.ORCHESTRATOR["MAX_TASK_RUNTIME"]
    return int(limit + settings.ORCHESTRATOR["CALLBACK_TIMEOUT"] + RQ_TIMEOUT_MARGIN)


def rq_job_statuses(job_ids: list[str]) -> list[str | None]:
    """Return each job's RQ status (None for a job Redis does not have), in one round trip."""
    from rq.job import Job

    queue = rq_queue(next(iter(settings.RQ_QUEUES)))
    jobs = Job.fetch_many(job_ids, connection=queue.connection, serializer=queue.serializer)
    statuses: list[str | None] = []
    for job in jobs:
        status = job.get_status(refresh=False) if job is not None else None
        statuses.append(getattr(status, "value", status) if status else None)
    return statuses


def rq_job_delete(job_id: str) -> None:
    """Forget a dead job so the same id can be enqueued again."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    queue = rq_queue(next(iter(settings.RQ_QUEUES)))
    with contextlib.suppress(NoSuchJobError):
        Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer).delete()


class RQExecutor:
    """Enqueue to RQ once the transaction that queued the task instance commits."""

    def queue(self, *, ti_id: int, try_number: int, queue: str, execution_timeout: float | None) -> None:
        transaction.on_commit(
            lambda: enqueue_now(ti_id=ti_id, try_number=try_number, queue=queue, execution_timeout=execution_timeout)
        )

    def queue_dag_callbacks(self, *, run_id: int) -> None:
        transaction.on_commit(lambda: enqueue_dag_callbacks_now(run_id=run_id))

    def queue_task_callbacks(self, *, request_id: int) -> None:
        transaction.on_commit(lambda: enqueue_task_callbacks_now(request_id=request_id))


def _log_enqueue_error(exc: Exception, what: str, consequence: str) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        # Redis is down: one line, no traceback; the repair enqueues it again once Redis is back.
        log.error("enqueue: Redis unavailable, %s %s: %s", what, consequence, exc)
    else:
        log.exception("enqueue: could not enqueue %s", what)


def _enqueue_callbacks_job(func: str, arg: int, *, job_id: str, what: str) -> bool:
    """Push a callbacks job; False (logged) if Redis failed. A job lost here is handed out again
    by the scheduler (its ``queued_at`` grows old)."""
    try:
        rq_queue(next(iter(settings.RQ_QUEUES))).enqueue_call(
            func,
            args=(arg,),
            job_id=job_id,
            timeout=int(settings.ORCHESTRATOR["CALLBACK_TIMEOUT"] + RQ_TIMEOUT_MARGIN),
            result_ttl=0,
            failure_ttl=24 * 3600,
            description=what,
        )
    except Exception as exc:
        _log_enqueue_error(exc, what, "stay pending")
        return False
    return True


def enqueue_dag_callbacks_now(*, run_id: int) -> bool:
    """Push the job that calls run ``run_id``'s pending DAG callback."""
    return _enqueue_callbacks_job(
        DAG_CALLBACK_RUNNER, run_id, job_id=callback_job_id_for(run_id), what=f"DAG callbacks of run {run_id}"
    )


def enqueue_task_callbacks_now(*, request_id: int) -> bool:
    """Push the job that calls the callbacks owed by task callback request ``request_id``."""
    return _enqueue_callbacks_job(
        TASK_CALLBACK_RUNNER,
        request_id,
        job_id=task_callback_job_id_for(request_id),
        what=f"task callbacks of request {request_id}",
    )


def enqueue_now(
    *, ti_id: int, try_number: int, queue: str, execution_timeout: float | None, at_front: bool = False
) -> bool:
    """Push the job of one try to RQ; return False (and log) if Redis refused or failed.

    A job that is lost here is found by the scheduler's repair, which enqueues it again.
    """
    timeout = rq_job_timeout(execution_timeout)
    try:
        rq_queue(queue).enqueue_call(
            TASK_RUNNER,
            args=(ti_id, try_number),
            job_id=job_id_for(ti_id, try_number),
            timeout=timeout,
            result_ttl=0,  # the metastore holds the outcome; RQ need not store it
            failure_ttl=24 * 3600,
            description=f"task instance {ti_id} try {try_number}",
            at_front=at_front,
        )
    except Exception as exc:
        _log_enqueue_error(exc, f"task instance {ti_id} try {try_number}", "stays queued")
        return False
    return True


@dataclass
class InlineExecutor:
    """Collect queued tries instead of enqueueing them (``dags test``, tests)."""

    queued: list[tuple[int, int]] = field(default_factory=list)
    callbacks: list[int] = field(default_factory=list)
    task_callbacks: list[int] = field(default_factory=list)

    def queue(self, *, ti_id: int, try_number: int, queue: str, execution_timeout: float | None) -> None:
        self.queued.append((ti_id, try_number))

    def queue_dag_callbacks(self, *, run_id: int) -> None:
        self.callbacks.append(run_id)

    def queue_task_callbacks(self, *, request_id: int) -> None:
        self.task_callbacks.append(request_id)


@dataclass
class Capacity:
    """Free slots right now: per DAG (``max_active_tasks``), per pool, per task (``max_active_tis_per_dag``)
    and per task in one run (``max_active_tis_per_dagrun``, which counts with mapped instances)."""

    dag_used: Counter = field(default_factory=Counter)
    task_used: Counter = field(default_factory=Counter)
    run_task_used: Counter = field(default_factory=Counter)
    pool_used: Counter = field(default_factory=Counter)
    pool_slots: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Capacity:
        """Count the queued and running task instances (two queries, whatever the number of rows)."""
        capacity = cls()
        pools = Pool.objects.values_list("name", "slots")
        if connection.features.has_select_for_update and connection.in_atomic_block:
            # The critical section (as Airflow's scheduler has): lock the pool rows first, so
            # schedulers and fast follows that queue at the same time take turns, and each counts
            # the slots the one before it took. Without it, three schedulers on PostgreSQL put 5
            # tasks in a 3-slot pool (tests/runs_app/test_processes.py).
            pools = pools.select_for_update().order_by("pk")
        capacity.pool_slots = dict(list(pools))
        rows = (
            TaskInstance.objects.filter(state__in=TI_RUNNING_OR_QUEUED)
            .values("dag_id", "dag_run_id", "task_id", "pool")
            .annotate(n=Count("id"), slots=Sum("pool_slots"))
        )
        for row in rows:
            capacity.dag_used[row["dag_id"]] += row["n"]
            capacity.task_used[(row["dag_id"], row["task_id"])] += row["n"]
            capacity.run_task_used[(row["dag_run_id"], row["task_id"])] += row["n"]
            capacity.pool_used[row["pool"]] += row["slots"] or 0
        return capacity

    def take(self, *, ti: TaskInstance, dag: DagModel, task: dict[str, Any]) -> str | None:
        """Reserve slots for ``ti``; return None when done, or the reason it must wait."""
        if self.dag_used[dag.pk] >= dag.max_active_tasks:
            return f"The DAG already has {dag.max_active_tasks} running or queued tasks (max_active_tasks)"
        limit = task.get("max_active_tis_per_dag")
        if limit is not None and self.task_used[(dag.pk, ti.task_id)] >= limit:
            return f"The task already has {limit} running or queued instances (max_active_tis_per_dag)"
        per_run = task.get("max_active_tis_per_dagrun")
        if per_run is not None and self.run_task_used[(ti.dag_run_id, ti.task_id)] >= per_run:
            return f"The task already has {per_run} running or queued instances in this run (max_active_tis_per_dagrun)"
        slots = self.pool_slots.get(ti.pool)
        if slots is None:
            return f"Pool '{ti.pool}' does not exist"
        if slots >= 0 and self.pool_used[ti.pool] + ti.pool_slots > slots:
            return f"Not enough free slots in pool '{ti.pool}' ({slots - self.pool_used[ti.pool]} free)"
        self.dag_used[dag.pk] += 1
        self.task_used[(dag.pk, ti.task_id)] += 1
        self.run_task_used[(ti.dag_run_id, ti.task_id)] += 1
        self.pool_used[ti.pool] += ti.pool_slots
        return None


@dataclass
class RunSchedule:
    """What one call of ``dag_run_schedule`` did."""

    queued: int = 0
    changed: int = 0
    finished: str | None = None


def task_instance_queue(*, ti: TaskInstance, task: dict[str, Any], now: dt.datetime, executor: Executor) -> bool:
    """Start the next try of ``ti``: ``queued`` with ``try_number + 1`` (a rescheduled sensor: the
    same try), then hand it to the executor.

    Returns False when another process changed the row first.
    """
    if ti.state == TaskInstanceState.UP_FOR_RESCHEDULE:
        # A sensor's next poke: the same try again (Airflow does not count reschedules as tries).
        if not transitions.ti_queue_reschedule(ti, now=now, job_id=job_id_for(ti.pk, ti.try_number)):
            return False
    elif not transitions.ti_queue(ti, now=now, job_id=job_id_for(ti.pk, ti.try_number + 1)):
        return False
    executor.queue(
        ti_id=ti.pk, try_number=ti.try_number, queue=ti.queue, execution_timeout=task.get("execution_timeout")
    )
    return True


def run_final_state(tasks: list[dict[str, Any]], states: dict[str, str]) -> DagRunState | None:
    """Return the state a run ends in, or None while any task instance is unfinished.

    The run succeeds when every leaf task succeeded or was skipped, and fails otherwise. As in
    Airflow, a teardown task does not count (unless ``on_failure_fail_dagrun``): the tasks
    before it stand in its place.
    """
    if any(states.get(t["task_id"]) not in TI_FINISHED for t in tasks if t["task_id"] in states):
        return None
    by_id = {t["task_id"]: t for t in tasks}
    leaf_ids: set[str] = set()
    stack = [t["task_id"] for t in tasks if not t["downstream_task_ids"]]
    seen: set[str] = set()
    while stack:
        task_id = stack.pop()
        if task_id in seen or task_id not in by_id:
            continue
        seen.add(task_id)
        task = by_id[task_id]
        if task.get("is_teardown") and not task.get("on_failure_fail_dagrun"):
            stack.extend(u for u in task["upstream_task_ids"] if not by_id.get(u, {}).get("is_setup"))
        else:
            leaf_ids.add(task_id)
    if not leaf_ids:  # only setups and teardowns: they are the leaves
        leaf_ids = {t["task_id"] for t in tasks if not t["downstream_task_ids"]}
    leaves = [states.get(t) for t in leaf_ids if t in states]
    if any(state in TI_FAILED_LIKE for state in leaves):
        return DagRunState.FAILED
    if all(state in TI_SUCCESS_LIKE for state in leaves):
        return DagRunState.SUCCESS
    return DagRunState.FAILED


def dag_run_finish(*, run: DagRun, state: DagRunState, now: dt.datetime) -> bool:
    """End a running run in ``state``; return False if it was not running."""
    finished = transitions.run_finish(run, state=state, now=now)
    if finished:
        log.info("run: %s %s finished: %s", run.dag.dag_id, run.run_id, state)
    return finished


def previous_run_states(run: DagRun, tasks: list[dict[str, Any]]) -> dict[str, str] | None:
    """Return the task states of the run before ``run`` (by logical date) for ``tasks`` and their
    direct downstream tasks, or None when ``run`` is the DAG's first run. Two queries."""
    previous = (
        DagRun.objects.filter(dag_id=run.dag_id, logical_date__lt=run.logical_date)
        .order_by("-logical_date")
        .values_list("pk", flat=True)
        .first()
    )
    if previous is None:
        return None
    wanted = {t["task_id"] for t in tasks} | {d for t in tasks for d in t.get("downstream_task_ids", [])}
    return TaskStates.from_rows(
        TaskInstance.objects.filter(dag_run_id=previous, task_id__in=wanted).values_list(
            "task_id", "map_index", "state"
        )
    )


def _needs_expansion(instances: list[TaskInstance]) -> bool:
    """Whether a mapped task's instances are to be made (again): it has not been expanded yet, or
    every instance waits to start (after a clear: the number of values may have changed)."""
    waiting = (TaskInstanceState.NONE, TaskInstanceState.SCHEDULED)
    if any(ti.map_index < 0 for ti in instances):
        return any(ti.map_index < 0 and ti.state in waiting for ti in instances)
    live = [ti for ti in instances if ti.state != TaskInstanceState.REMOVED]
    return all(ti.state in waiting for ti in live)


def _upstream_in_mapped_group(task: dict[str, Any], task_map: dict[str, dict[str, Any]]) -> list[str]:
    """The upstream tasks of ``task`` in the same mapped task group as it (none outside one)."""
    group = task.get("mapped_group")
    if not group:
        return []
    return [u for u in task["upstream_task_ids"] if task_map.get(u, {}).get("mapped_group") == group]


def _expansion_status(task: dict[str, Any], in_group: list[str], states: TaskStates) -> DepStatus:
    """May a mapped task be expanded now? Its trigger rule over its upstream tasks; in a mapped
    task group, the upstream tasks in the group need only be expanded (each instance then waits
    for its own), and one that ended unexpanded (skipped, upstream_failed) decides as usual."""
    rule, upstream = task["trigger_rule"], task["upstream_task_ids"]
    if not in_group:
        return evaluate_trigger_rule(rule, count_upstream(upstream, states, task.get("setup_upstream", ())))
    unexpanded = [u for u in in_group if u not in states.mapped]
    if any(states.get(u) not in TI_FINISHED for u in unexpanded):
        return DepStatus(ready=False, reason="Upstream tasks in its mapped task group are not expanded yet")
    if unexpanded:
        return evaluate_trigger_rule(rule, count_upstream(upstream, states, task.get("setup_upstream", ())))
    return evaluate_trigger_rule(
        rule, count_upstream([u for u in upstream if u not in in_group], states, task.get("setup_upstream", ()))
    )


def _instance_status(task: dict[str, Any], in_group: list[str], states: TaskStates, map_index: int) -> DepStatus:
    """The trigger rule of instance ``map_index`` of a task in a mapped task group: its upstream
    outside the group in whole, the ones inside at the same map index."""
    upstream = task["upstream_task_ids"]
    local = {u: states.mapped.get(u, {}).get(map_index, states.get(u)) for u in in_group}
    counts = count_upstream(
        [u for u in upstream if u not in in_group], states, task.get("setup_upstream", ())
    ) + count_upstream(in_group, local, task.get("setup_upstream", ()))
    return evaluate_trigger_rule(task["trigger_rule"], counts)


def _expand(
    *, run: DagRun, task: dict[str, Any], instances: list[TaskInstance], now: dt.datetime
) -> list[TaskInstance]:
    """Make a ready mapped task's instances; a value that cannot be mapped over turns its waiting
    instances ``upstream_failed`` (Airflow fails the upstream task when it pushes such a value)."""
    from runs_app.mapping import MappingError, mapped_length

    try:
        length = mapped_length(run, task)
    except MappingError as exc:
        log.warning("run: %s %s: cannot expand mapped task %s: %s", run.dag.dag_id, run.run_id, task["task_id"], exc)
        for ti in instances:
            if ti.state in (TaskInstanceState.NONE, TaskInstanceState.SCHEDULED):
                transitions.ti_decide(ti, state=TaskInstanceState.UPSTREAM_FAILED, now=now)
        return instances
    expanded = transitions.ti_expand(run=run, task_id=task["task_id"], length=length, now=now)
    log.info("run: %s %s: mapped task %s expanded to %s instances", run.dag.dag_id, run.run_id, task["task_id"], length)
    return expanded


def dag_run_schedule(
    *,
    run: DagRun,
    now: dt.datetime,
    executor: Executor | None = None,
    capacity: Capacity | None = None,
    tis: list[TaskInstance] | None = None,
    only: set[str] | None = None,
) -> RunSchedule:
    """Move a running DAG run forward at ``now``.

    1. Evaluate each unfinished task instance in topological order against its trigger rule:
       take ``skipped``/``upstream_failed`` when the rule can no longer be met (this cascades in
       the same pass), finish ready EmptyOperator tasks at once.
    2. Queue the ready ones (and retries whose time has come) by priority while the DAG's
       ``max_active_tasks``, the pools and ``max_active_tis_per_dag`` leave room; the rest
       wait as ``scheduled``.
    3. Finish the run when every task instance is finished.

    ``only`` limits steps 1 and 2 to these tasks and to the tasks downstream of any that changed
    state (a worker's fast follow passes the finished task's direct downstream tasks): then only
    those rows and their upstream rows are read, and step 3 asks the database whether anything
    is unfinished. The caller holds a transaction (ideally with the run's row locked).
    Returns counts.
    """
    executor = executor or RQExecutor()
    result = RunSchedule()
    if run.state != DagRunState.RUNNING:
        return result
    dag = run.dag
    tasks = dag.tasks
    task_map = {t["task_id"]: t for t in tasks}
    if only is not None:
        wanted = set(only)
        for task_id in only:
            wanted.update(task_map.get(task_id, {}).get("upstream_task_ids", []))
        tis = list(run.task_instances.filter(task_id__in=wanted))
    elif tis is None:
        tis = list(run.task_instances.all())
    by_task: dict[str, list[TaskInstance]] = {}
    for ti in sorted(tis, key=lambda t: t.map_index):
        by_task.setdefault(ti.task_id, []).append(ti)
    states = TaskStates.from_rows((ti.task_id, ti.map_index, ti.state) for ti in tis)
    pending = set(only) if only is not None else None
    ready: list[tuple[TaskInstance, dict[str, Any]]] = []
    for task in tasks:
        task_id = task["task_id"]
        if pending is not None:
            if task_id not in pending:
                continue
            missing = [u for u in [task_id, *task["upstream_task_ids"]] if u not in by_task]
            if missing:
                # A state change cascaded past what was read: read the rows it now needs.
                for extra in run.task_instances.filter(task_id__in=missing).order_by("map_index"):
                    by_task.setdefault(extra.task_id, []).append(extra)
                    states.set(extra.task_id, extra.map_index, extra.state)
        instances = by_task.get(task_id)
        if not instances:
            continue
        status = None
        in_group = _upstream_in_mapped_group(task, task_map)
        if task.get("is_mapped") and _needs_expansion(instances):
            status = _expansion_status(task, in_group, states)
            if status.ready:
                instances = by_task[task_id] = _expand(run=run, task=task, instances=instances, now=now)
                for ti in instances:
                    states.set(ti.task_id, ti.map_index, ti.state)
                result.changed += 1
                if pending is not None:
                    pending.update(task["downstream_task_ids"])
        changed = False
        for ti in instances:
            if ti.state in (TaskInstanceState.UP_FOR_RETRY, TaskInstanceState.UP_FOR_RESCHEDULE):
                if ti.next_retry_at is None or ti.next_retry_at <= now:
                    ready.append((ti, task))
                continue
            if ti.state not in (TaskInstanceState.NONE, TaskInstanceState.SCHEDULED):
                continue
            if in_group and ti.map_index >= 0:
                # In a mapped task group, instance i follows instance i of its upstream in the group.
                status = _instance_status(task, in_group, states, ti.map_index)
            elif status is None:
                status = evaluate_trigger_rule(
                    task["trigger_rule"],
                    count_upstream(task["upstream_task_ids"], states, task.get("setup_upstream", ())),
                )
            if status.new_state is not None:
                if transitions.ti_decide(ti, state=status.new_state, now=now):
                    states.set(ti.task_id, ti.map_index, status.new_state)
                    changed = True
            elif status.ready:
                if task.get("operator_class") == EMPTY_OPERATOR_CLASS:
                    if transitions.ti_finish_without_worker(ti, now=now):
                        states.set(ti.task_id, ti.map_index, TaskInstanceState.SUCCESS)
                        changed = True
                else:
                    ready.append((ti, task))
        if changed:
            result.changed += 1
            if pending is not None:
                pending.update(task["downstream_task_ids"])

    past = [task for _, task in ready if needs_past(task)]
    if past:
        # depends_on_past / wait_for_downstream: read the previous run once for all of them.
        previous = previous_run_states(run, past)
        ready = [(ti, task) for ti, task in ready if past_reason(task, previous) is None]

    if ready:
        capacity = capacity or Capacity.load()
        ready.sort(key=lambda pair: (-pair[0].priority_weight, pair[0].task_id, pair[0].map_index))
        for ti, task in ready:
            waiting = capacity.take(ti=ti, dag=dag, task=task)
            if waiting is None:
                if task_instance_queue(ti=ti, task=task, now=now, executor=executor):
                    states.set(ti.task_id, ti.map_index, TaskInstanceState.QUEUED)
                    result.queued += 1
            elif ti.state == TaskInstanceState.NONE and transitions.ti_wait_for_slot(ti):
                states.set(ti.task_id, ti.map_index, TaskInstanceState.SCHEDULED)

    if only is not None:
        # Only part of the run was read: ask the database whether anything is left to do.
        if run.task_instances.exclude(state__in=TI_FINISHED).exclude(task_id__in=list(states)).exists() or any(
            state not in TI_FINISHED for state in states.values()
        ):
            return result
        states = TaskStates.from_rows(run.task_instances.values_list("task_id", "map_index", "state"))
    final = run_final_state(tasks, states)
    if final is not None and run.marked_state:
        final = DagRunState(run.marked_state)  # a user's mark, kept while the teardowns ran
    if final is not None and dag_run_finish(run=run, state=final, now=now):
        result.finished = final
    return result


def dag_run_schedule_locked(
    *,
    run_id: int,
    now: dt.datetime,
    executor: Executor | None = None,
    before: Callable[[DagRun], Any] | None = None,
    only: set[str] | None = None,
) -> RunSchedule:
    """Lock the run's row, call ``before(run)`` (e.g. a task's final state), then schedule the run.

    Locking serialises the fast follows of tasks of one run on PostgreSQL: without it, two tasks
    ending together could each miss the other's success and neither queue their common
    downstream task. (On SQLite the IMMEDIATE transaction serialises writers already.)
    """
    with transaction.atomic():
        run = DagRun.objects.select_for_update().select_related("dag").get(pk=run_id)
        if before is not None:
            before(run)
        try:
            with transaction.atomic():
                return dag_run_schedule(run=run, now=now, executor=executor, only=only)
        except OUTAGE_ERRORS:
            raise
        except Exception:
            # A run that cannot be scheduled must not lose the write made in ``before`` (a
            # try's outcome): the scheduler's pass records the error and parks the run.
            log.exception("run: fast follow of %s %s failed; the scheduler takes over", run.dag.dag_id, run.run_id)
            return RunSchedule()

"""The scheduler step: ``tick(now=...)`` does one pass; the ``scheduler`` command loops over it.

Phases, in order:

1. reparse the DAG files that changed (in child processes, with a timeout), when ``reparse``;
2. create the DAG runs that are due (each unpaused DAG's next data interval has ended), within
   ``max_active_runs``, with their task instances; advance the DAG's next run; and the
   asset-triggered runs of DAGs whose asset condition holds over the events queued for them;
3. start queued runs (manual, backfill, cleared) while ``max_active_runs`` allows;
4. schedule every running run: ``dagrun_timeout``, trigger rules, retries whose time has come,
   queueing within ``max_active_tasks`` / pools / priority, finishing runs
   (``scheduling.dag_run_schedule``);
5. repair: fail or retry ``running`` task instances whose heartbeat stopped (zombies), enqueue
   again ``queued`` ones whose RQ job is gone, and re-queue then fail tries that stayed queued
   longer than ``TASK_QUEUED_TIMEOUT``;
6. hand the DAG callbacks of finished runs (``on_success_callback``/``on_failure_callback``),
   and the task callbacks owed by the tries the repair ended, to the workers, again if Redis
   lost their job.

Each phase is a function taking ``now`` and returning counts; no phase reads the clock or sleeps,
so tests drive the scheduler with a chosen ``now``. Several schedulers may run at once: rows are
taken with ``select_for_update(skip_locked=True)`` where the database supports it, and every
transition is a conditional update (``transitions.py``), so no run is created twice and no try is
enqueued twice.

No single row stops the pass: each DAG (phase 2) and each run (phase 4) is handled in its own
savepoint. One that raises is rolled back to its savepoint, logged, given a visible
``scheduling_error`` and parked with a doubling back-off (``SCHEDULING_BACKOFF``) while every
other DAG and run keeps moving; it is unparked when it schedules cleanly. Each phase is guarded
too, so a phase that fails does not keep the repair from running. Database outages (SQLite
locked, PostgreSQL restarting) are not a row's fault: they end the tick, and the command's loop
logs one line and tries again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q

from dags_app.errors import ServiceError
from dags_app.models import DagModel
from dags_app.services import SyncReport, compute_next_dagrun, dag_folder_sync
from dags_app.timetables import DataInterval
from runs_app import transitions
from runs_app.assets import anything_queued, asset_triggered_run_create
from runs_app.assets import load_due as asset_runs_due
from runs_app.models import DagRun, TaskCallbackRequest, TaskInstance
from runs_app.scheduling import (
    OUTAGE_ERRORS,
    Capacity,
    Executor,
    RQExecutor,
    callback_job_id_for,
    dag_run_schedule,
    enqueue_now,
    job_id_for,
    rq_job_delete,
    rq_job_statuses,
    task_callback_job_id_for,
)
from runs_app.services import dag_run_create, task_instances_create, tasks_of_run
from runs_app.states import DAG_RUN_UNFINISHED, TI_UNFINISHED, DagRunState, DagRunType, TaskInstanceState
from runs_app.tries import Outcome, append_log, task_instance_record_outcome

log = logging.getLogger(__name__)

# A queued task instance gets this long to reach Redis before the repair looks for its job.
QUEUED_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class TickReport:
    """Counts of what one tick did."""

    parsed_files: int = 0
    import_errors: int = 0
    runs_created: int = 0
    runs_started: int = 0
    tasks_queued: int = 0
    state_changes: int = 0
    runs_finished: int = 0
    zombies: int = 0
    requeued: int = 0
    dag_callbacks: int = 0
    task_callbacks: int = 0

    @property
    def did_work(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


def _locked(qs):
    """Lock the selected rows, skipping rows another scheduler holds (no-op on SQLite)."""
    if connection.features.has_select_for_update_skip_locked:
        return qs.select_for_update(skip_locked=True)
    return qs


# -- isolation: one bad DAG or run is parked, never the whole pass ----------------------------------

T = TypeVar("T")


def _backoff(failures: int) -> dt.timedelta:
    """How long a DAG or run that failed to schedule ``failures`` times in a row stays parked."""
    base = settings.ORCHESTRATOR["SCHEDULING_BACKOFF"]
    return dt.timedelta(seconds=min(base * 2 ** max(0, failures - 1), settings.ORCHESTRATOR["SCHEDULING_BACKOFF_MAX"]))


def _not_parked(now: dt.datetime) -> Q:
    return Q(scheduling_retry_at__isnull=True) | Q(scheduling_retry_at__lte=now)


def _park(model: type, obj: Any, *, what: str, exc: Exception, now: dt.datetime) -> None:
    """Record why ``obj`` could not be scheduled and park it (not a state change: its state stays)."""
    failures = obj.scheduling_failures + 1
    retry_at = now + _backoff(failures)
    error = f"{type(exc).__name__}: {exc}"
    log.error(
        "tick: scheduling %s failed (%d in a row), parked until %s: %s",
        what,
        failures,
        retry_at.isoformat(),
        error,
        exc_info=exc,
    )
    model.objects.filter(pk=obj.pk).update(
        scheduling_error=f"{now.isoformat()} {error}"[:10_000],
        scheduling_failures=F("scheduling_failures") + 1,
        scheduling_retry_at=retry_at,
    )


def _unpark(model: type, obj: Any) -> None:
    if obj.scheduling_failures or obj.scheduling_error:
        model.objects.filter(pk=obj.pk).update(scheduling_error="", scheduling_failures=0, scheduling_retry_at=None)


def _isolated(model: type, obj: Any, *, what: str, now: dt.datetime, step: Callable[[], T]) -> T | None:
    """Run ``step()`` in a savepoint; park ``obj`` if it raises (a database outage propagates)."""
    try:
        with transaction.atomic():
            result = step()
    except OUTAGE_ERRORS:
        raise
    except Exception as exc:
        _park(model, obj, what=what, exc=exc, now=now)
        return None
    _unpark(model, obj)
    return result


class _RowFailed(Exception):
    def __init__(self, row: Any, exc: Exception) -> None:
        super().__init__(str(exc))
        self.row, self.exc = row, exc


@dataclass
class _Buffered:
    """Holds the tries a pass queues until the pass commits: a pass that is rolled back and run
    again must not hand the executor tries whose ``queued`` state was undone."""

    executor: Executor | None
    calls: list[dict[str, Any]] = field(default_factory=list)

    def queue(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)

    def flush(self) -> None:
        executor = self.executor or RQExecutor()
        for kwargs in self.calls:
            executor.queue(**kwargs)
        self.calls.clear()


def _isolated_pass(
    model: type,
    *,
    load: Callable[[], tuple[list[Any], Any]],
    step: Callable[[Any, Any, Executor], T],
    what: Callable[[Any], str],
    now: dt.datetime,
    executor: Executor | None = None,
) -> list[T]:
    """Call ``step(row, context, executor)`` for every row ``load()`` returns, in one transaction.

    The usual case costs no statement per row: all rows share the pass's transaction. When one
    row raises, the pass is rolled back, that row is parked, and the pass is run again with every
    row in its own savepoint (``_isolated``), so the other rows move on in the same tick.
    """
    buffered = _Buffered(executor)
    try:
        with transaction.atomic():
            rows, context = load()
            results = []
            for row in rows:
                try:
                    results.append(step(row, context, buffered))
                except OUTAGE_ERRORS:
                    raise
                except Exception as exc:
                    raise _RowFailed(row, exc) from exc
            healed = [row.pk for row in rows if row.scheduling_failures or row.scheduling_error]
            if healed:
                model.objects.filter(pk__in=healed).update(
                    scheduling_error="", scheduling_failures=0, scheduling_retry_at=None
                )
    except _RowFailed as failed:
        buffered.calls.clear()
        _park(model, failed.row, what=what(failed.row), exc=failed.exc, now=now)
    else:
        buffered.flush()
        return results
    with transaction.atomic():
        rows, context = load()  # the parked row is left out now
        results = []
        for row in rows:
            result = _isolated(model, row, what=what(row), now=now, step=lambda row=row: step(row, context, buffered))
            if result is not None:
                results.append(result)
    buffered.flush()
    return results


# -- phases ------------------------------------------------------------------------------------------


def _phase_reparse(*, now: dt.datetime) -> SyncReport:
    return dag_folder_sync(now=now)


def _active_run_counts(dag_ids: list[int]) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for dag_id in DagRun.objects.filter(dag_id__in=dag_ids, state__in=DAG_RUN_UNFINISHED).values_list(
        "dag_id", flat=True
    ):
        counts[dag_id] += 1
    return counts


def _create_due_runs(dag: DagModel, *, now: dt.datetime, active: dict[int, int]) -> int:
    """Create ``dag``'s due scheduled runs and store its next run; return how many were created."""
    serialized = dag.serialized
    created = 0
    if not serialized.get("catchup", True) and dag.next_dagrun_data_interval_start is not None:
        # Without catchup only the latest complete interval runs: recompute from now, as the DAG
        # may have been paused (or the scheduler down) for several intervals: that is the first
        # run a DAG without catchup would get now (it replaces the pending run only if later).
        latest = compute_next_dagrun(serialized, last_automated_data_interval=None, now=now)
        if latest["next_dagrun"] is not None and latest["next_dagrun"] > dag.next_dagrun:
            for name, value in latest.items():
                setattr(dag, name, value)
    while (
        dag.next_dagrun is not None
        and dag.next_dagrun_create_after is not None
        and dag.next_dagrun_create_after <= now
        and active[dag.pk] < dag.max_active_runs
    ):
        try:
            with transaction.atomic():
                dag_run_create(
                    dag=dag,
                    logical_date=dag.next_dagrun,
                    run_type=DagRunType.SCHEDULED,
                    now=now,
                    data_interval=(dag.next_dagrun_data_interval_start, dag.next_dagrun_data_interval_end),
                    triggered_by="scheduler",
                )
            created += 1
            active[dag.pk] += 1
        except (IntegrityError, ServiceError) as exc:
            # The run exists already (another scheduler, a manual run at that date): move on.
            log.info("tick: no new run of %s at %s: %s", dag.dag_id, dag.next_dagrun, exc)
        following = compute_next_dagrun(
            serialized,
            last_automated_data_interval=DataInterval(
                start=dag.next_dagrun_data_interval_start, end=dag.next_dagrun_data_interval_end
            ),
            now=now,
        )
        for name, value in following.items():
            setattr(dag, name, value)
    DagModel.objects.filter(pk=dag.pk).update(
        next_dagrun=dag.next_dagrun,
        next_dagrun_data_interval_start=dag.next_dagrun_data_interval_start,
        next_dagrun_data_interval_end=dag.next_dagrun_data_interval_end,
        next_dagrun_create_after=dag.next_dagrun_create_after,
    )
    return created


def _phase_create_runs(*, now: dt.datetime) -> int:
    """Create the due scheduled runs of every unpaused DAG; return how many were created."""

    def load() -> tuple[list[DagModel], dict[int, int]]:
        dags = list(
            _locked(
                DagModel.objects.filter(is_active=True, is_paused=False, next_dagrun_create_after__lte=now).filter(
                    _not_parked(now)
                )
            ).order_by("next_dagrun_create_after")
        )
        return dags, _active_run_counts([d.pk for d in dags])

    created = _isolated_pass(
        DagModel,
        load=load,
        step=lambda dag, active, _: _create_due_runs(dag, now=now, active=active),
        what=lambda dag: f"DAG {dag.dag_id}",
        now=now,
    )
    return sum(created)


def _phase_asset_runs(*, now: dt.datetime) -> int:
    """Create an asset-triggered run for each unpaused DAG whose asset condition now holds."""
    if not anything_queued():
        return 0

    def load() -> tuple[list[DagModel], dict[int, dict[int, dt.datetime]]]:
        return asset_runs_due(now)

    created = _isolated_pass(
        DagModel,
        load=load,
        step=lambda dag, queue, _: asset_triggered_run_create(dag, queue[dag.pk], now=now) is not None,
        what=lambda dag: f"DAG {dag.dag_id} (asset-triggered run)",
        now=now,
    )
    return sum(created)


def _phase_start_runs(*, now: dt.datetime) -> int:
    """Move queued runs to running, oldest logical date first, within each DAG's ``max_active_runs``.

    Runs of paused DAGs wait, except backfills (asked for explicitly, as in Airflow).
    """
    started = 0
    with transaction.atomic():
        queued = list(
            _locked(DagRun.objects.filter(state=DagRunState.QUEUED, dag__is_active=True))
            .select_related("dag")
            .order_by("logical_date")
        )
        if not queued:
            return 0
        running: dict[int, int] = defaultdict(int)
        for dag_id in DagRun.objects.filter(
            state=DagRunState.RUNNING, dag_id__in={r.dag_id for r in queued}
        ).values_list("dag_id", flat=True):
            running[dag_id] += 1
        for run in queued:
            if run.dag.is_paused and run.run_type != DagRunType.BACKFILL:
                continue
            if running[run.dag_id] >= run.dag.max_active_runs:
                continue
            if transitions.run_start(run, now=now):
                running[run.dag_id] += 1
                started += 1
    return started


def _run_timed_out(run: DagRun, now: dt.datetime) -> bool:
    timeout = run.dag.serialized.get("dagrun_timeout")
    return bool(timeout) and run.start_date is not None and now - run.start_date > dt.timedelta(seconds=timeout)


def _verify_integrity(run: DagRun, tis: list[TaskInstance], *, now: dt.datetime) -> bool:
    """Match the run's task instances to the DAG as last parsed (Airflow's verify_integrity); return
    whether any row changed. In memory when nothing changed: no query per run.

    - a task added to the DAG gets its instance (else its downstream tasks would wait forever);
    - a task removed from the DAG has its unfinished instance ``removed``, so it no longer holds
      the run open;
    - a task that comes back has its ``removed`` instance reset to ``none``.
    """
    task_ids = {task["task_id"] for task in tasks_of_run(run)}
    have = {ti.task_id for ti in tis}
    missing = task_ids - have
    gone = {ti.task_id for ti in tis if ti.task_id not in task_ids and ti.state in TI_UNFINISHED}
    back = {ti.task_id for ti in tis if ti.task_id in task_ids and ti.state == TaskInstanceState.REMOVED}
    if missing:
        task_instances_create(dag_run=run, task_ids=missing)
    if gone and transitions.tis_remove(run=run, task_ids=gone, now=now):
        log.warning("tick: run %s %s: tasks %s left the DAG; removed", run.dag.dag_id, run.run_id, sorted(gone))
    if back:
        transitions.tis_restore(run=run, task_ids=back)
    return bool(missing or gone or back)


def _schedule_one_run(
    run: DagRun, tis: list[TaskInstance], *, now: dt.datetime, executor: Executor | None, capacity: Capacity
) -> tuple[int, int, int]:
    if _run_timed_out(run, now):
        if transitions.run_time_out(run, now=now):
            log.warning("tick: run %s %s timed out (dagrun_timeout); it failed", run.dag.dag_id, run.run_id)
            return 0, 1, 1
        return 0, 0, 0
    if _verify_integrity(run, tis, now=now):
        tis = list(run.task_instances.all())
    result = dag_run_schedule(run=run, now=now, executor=executor, capacity=capacity, tis=tis)
    return result.queued, result.changed, 1 if result.finished else 0


def _phase_schedule_runs(*, now: dt.datetime, executor: Executor | None = None) -> tuple[int, int, int]:
    """Schedule every running run (isolated from each other); return (queued, state changes, finished)."""

    def load() -> tuple[list[DagRun], tuple[dict[int, list[TaskInstance]], Capacity | None]]:
        runs = list(
            _locked(DagRun.objects.filter(state=DagRunState.RUNNING).filter(_not_parked(now))).select_related("dag")
        )
        if not runs:
            return [], ({}, None)
        # One query for every task instance of every running run, grouped here.
        by_run: dict[int, list[TaskInstance]] = defaultdict(list)
        for ti in TaskInstance.objects.filter(dag_run__in=[r.pk for r in runs]):
            by_run[ti.dag_run_id].append(ti)
        return runs, (by_run, Capacity.load())

    def step(run: DagRun, context: Any, buffered: Executor) -> tuple[int, int, int]:
        by_run, capacity = context
        return _schedule_one_run(run, by_run[run.pk], now=now, executor=buffered, capacity=capacity)

    results = _isolated_pass(
        DagRun, load=load, step=step, what=lambda run: f"run {run.dag.dag_id} {run.run_id}", now=now, executor=executor
    )
    return (sum(r[0] for r in results), sum(r[1] for r in results), sum(r[2] for r in results))


def _fail_try(ti: TaskInstance, *, message: str, now: dt.datetime, executor: Executor | None, expected) -> bool:
    """Record a try the repair gave up on as failed (retried if it has tries left); log why."""
    append_log(ti.log_path(), f"ERROR - {message}")
    outcome = Outcome(state=TaskInstanceState.FAILED, error=message)
    # No worker is left to call the try's callbacks: they are owed, and handed to one by a tick.
    recorded = task_instance_record_outcome(
        ti=ti, outcome=outcome, now=now, executor=executor, expected=expected, owe_callbacks=True
    )
    if recorded is not None:
        log.warning("tick: %s", message)
    return recorded is not None


def _each_guarded(rows: list[T], what: Callable[[T], str], step: Callable[[T], bool]) -> int:
    """Call ``step(row)`` for each row; a row that raises is logged and skipped. Return the Trues."""
    count = 0
    for row in rows:
        try:
            count += 1 if step(row) else 0
        except OUTAGE_ERRORS:
            raise
        except Exception:
            log.exception("tick: repair of %s failed; the next tick tries again", what(row))
    return count


def _describe(ti: TaskInstance) -> str:
    return f"{ti.dag_run.dag.dag_id}.{ti.task_id} try {ti.try_number}"


def _phase_zombies(*, now: dt.datetime, executor: Executor | None = None) -> int:
    """Fail (or retry) running task instances whose heartbeat is older than the zombie threshold."""
    threshold = dt.timedelta(seconds=settings.ORCHESTRATOR["ZOMBIE_THRESHOLD"])
    zombies = list(
        TaskInstance.objects.filter(state=TaskInstanceState.RUNNING, last_heartbeat__lt=now - threshold)
        .select_related("dag_run", "dag_run__dag")
        .order_by("pk")
    )

    def repair(ti: TaskInstance) -> bool:
        message = (
            f"Detected zombie: {_describe(ti)} on {ti.hostname or '?'} "
            f"sent no heartbeat since {ti.last_heartbeat.isoformat()}"
        )
        return _fail_try(ti, message=message, now=now, executor=executor, expected=(TaskInstanceState.RUNNING,))

    return _each_guarded(zombies, _describe, repair)


# RQ job statuses after which a job will never run again although its key may linger
# (a failed job's key lives for failure_ttl).
_DEAD_JOB_STATUSES = {"failed", "stopped", "canceled", "finished"}


def _phase_requeue_lost(*, now: dt.datetime) -> int:
    """Enqueue again the queued tries whose RQ job is gone or dead (Redis lost it, never got it, or
    the job failed before it could claim its row)."""
    cutoff = now - dt.timedelta(seconds=QUEUED_GRACE_SECONDS)
    queued = list(
        TaskInstance.objects.filter(state=TaskInstanceState.QUEUED, queued_at__lt=cutoff).values_list(
            "pk", "try_number", "queue"
        )
    )
    if not queued:
        return 0
    try:
        statuses = rq_job_statuses([job_id_for(pk, try_number) for pk, try_number, _ in queued])
    except Exception as exc:
        log.error("tick: cannot reach Redis to check queued jobs: %s", exc)
        return 0
    lost = [row for row, status in zip(queued, statuses, strict=True) if status is None or status in _DEAD_JOB_STATUSES]
    if not lost:
        return 0
    # A worker may have taken one meanwhile: only rows still queued at the same try are re-sent.
    still = set(
        TaskInstance.objects.filter(pk__in=[pk for pk, _, _ in lost], state=TaskInstanceState.QUEUED).values_list(
            "pk", "try_number"
        )
    )
    requeued = 0
    for pk, try_number, queue in lost:
        if (pk, try_number) not in still:
            continue
        log.warning("tick: job of task instance %s try %s is gone from Redis; enqueueing it again", pk, try_number)
        try:
            rq_job_delete(job_id_for(pk, try_number))
        except Exception as exc:
            log.error("tick: cannot delete the dead job of task instance %s: %s", pk, exc)
            continue
        if enqueue_now(ti_id=pk, try_number=try_number, queue=queue, execution_timeout=None):
            requeued += 1
    return requeued


def _phase_queued_timeout(*, now: dt.datetime, executor: Executor | None = None) -> int:
    """Tries queued longer than ``TASK_QUEUED_TIMEOUT``: enqueue again (``TASK_QUEUED_RETRIES``
    times, at the queue's front), then fail them with the reason in their log (Airflow's
    ``task_queued_timeout``). Returns how many were re-queued or failed."""
    timeout = settings.ORCHESTRATOR["TASK_QUEUED_TIMEOUT"]
    if not timeout:
        return 0
    stuck = list(
        TaskInstance.objects.filter(state=TaskInstanceState.QUEUED, queued_at__lt=now - dt.timedelta(seconds=timeout))
        .select_related("dag_run", "dag_run__dag")
        .order_by("pk")
    )
    retries = settings.ORCHESTRATOR["TASK_QUEUED_RETRIES"]

    def handle(ti: TaskInstance) -> bool:
        if ti.queued_requeues < retries:
            if not transitions.ti_requeue_stuck(ti_id=ti.pk, try_number=ti.try_number, now=now):
                return False
            job_id = job_id_for(ti.pk, ti.try_number)
            message = f"{_describe(ti)} was queued for more than {timeout:g} s; enqueueing it again"
            append_log(ti.log_path(), message)
            log.warning("tick: %s", message)
            if executor is not None:
                executor.queue(ti_id=ti.pk, try_number=ti.try_number, queue=ti.queue, execution_timeout=None)
            else:
                rq_job_delete(job_id)
                enqueue_now(
                    ti_id=ti.pk, try_number=ti.try_number, queue=ti.queue, execution_timeout=None, at_front=True
                )
            return True
        message = (
            f"{_describe(ti)} stayed queued for more than {timeout:g} s after being enqueued "
            f"{ti.queued_requeues + 1} times (task_queued_timeout): no worker picked it up"
        )
        if executor is None:
            rq_job_delete(job_id_for(ti.pk, ti.try_number))
        return _fail_try(ti, message=message, now=now, executor=executor, expected=(TaskInstanceState.QUEUED,))

    return _each_guarded(stuck, _describe, handle)


# A DAG callback handed to a worker this long ago and still pending: its job is looked for in
# Redis, and handed out again if Redis lost it.
CALLBACK_REDELIVERY_SECONDS = 60.0


def _hand_out_callbacks(
    pending: list[tuple[int, dt.datetime | None]],
    *,
    job_id: Callable[[int], str],
    handed_out: Callable[[list[int]], Any],
    queue: Callable[[Executor, int], None],
    what: str,
    executor: Executor | None,
) -> int:
    """Hand pending callbacks (rows of (pk, when handed out)) to the workers: the ones never
    handed out, and the old ones whose job is gone from Redis (with a test executor, every old
    one). The old ones whose job still waits only have their time renewed."""
    due = [pk for pk, queued_at in pending if queued_at is None]
    old = [pk for pk, queued_at in pending if queued_at is not None]
    if old and executor is None:
        try:
            statuses = rq_job_statuses([job_id(pk) for pk in old])
        except Exception as exc:
            log.error("tick: cannot reach Redis to check %s jobs: %s", what, exc)
            statuses = [""] * len(old)
        waiting = []
        for pk, status in zip(old, statuses, strict=True):
            if status is None or status in _DEAD_JOB_STATUSES:
                log.warning("tick: the %s job %s is gone from Redis; handing it out again", what, job_id(pk))
                with contextlib.suppress(Exception):
                    rq_job_delete(job_id(pk))
                due.append(pk)
            else:
                waiting.append(pk)
        if waiting:
            handed_out(waiting)  # still waiting for a worker
    else:
        due += old
    if not due:
        return 0
    executor = executor or RQExecutor()
    with transaction.atomic():
        handed_out(due)
        for pk in due:
            queue(executor, pk)
    return len(due)


def _phase_dag_callbacks(*, now: dt.datetime, executor: Executor | None = None) -> int:
    """Hand the pending DAG callbacks of finished runs to the workers (a worker takes each once).

    A run's callback is pending from the transaction that finished it; it is handed out once,
    and again only when its job is gone from Redis (checked after CALLBACK_REDELIVERY_SECONDS;
    with a test executor, simply after that time)."""
    stale = now - dt.timedelta(seconds=CALLBACK_REDELIVERY_SECONDS)
    pending = list(
        DagRun.objects.exclude(callback_pending="")
        .filter(Q(callback_queued_at__isnull=True) | Q(callback_queued_at__lt=stale))
        .order_by("end_date")
        .values_list("pk", "callback_queued_at")[:500]
    )
    if not pending:
        return 0
    return _hand_out_callbacks(
        pending,
        job_id=callback_job_id_for,
        handed_out=lambda pks: transitions.run_callbacks_handed_out(pks, now=now),
        queue=lambda ex, pk: ex.queue_dag_callbacks(run_id=pk),
        what="DAG callback",
        executor=executor,
    )


def _phase_task_callbacks(*, now: dt.datetime, executor: Executor | None = None) -> int:
    """Hand the task callbacks owed by tries the repair ended (zombies, tries stuck in queued) to
    the workers, as the DAG callbacks are (Airflow sends these to its DAG processor)."""
    stale = now - dt.timedelta(seconds=CALLBACK_REDELIVERY_SECONDS)
    pending = list(
        TaskCallbackRequest.objects.filter(Q(queued_at__isnull=True) | Q(queued_at__lt=stale))
        .order_by("pk")
        .values_list("pk", "queued_at")[:500]
    )
    if not pending:
        return 0
    return _hand_out_callbacks(
        pending,
        job_id=task_callback_job_id_for,
        handed_out=lambda pks: transitions.ti_callbacks_handed_out(pks, now=now),
        queue=lambda ex, pk: ex.queue_task_callbacks(request_id=pk),
        what="task callback",
        executor=executor,
    )


def tick(*, now: dt.datetime, reparse: bool = True, executor: Executor | None = None) -> TickReport:
    """Run one scheduler pass at ``now`` and return what it did (phases in the module docstring).

    A phase that fails (other than by a database outage, which ends the tick) is logged and the
    next phases still run: the repair must not depend on every run scheduling cleanly.
    """

    def guarded(name: str, call: Callable[[], T], default: T) -> T:
        try:
            return call()
        except OUTAGE_ERRORS:
            raise
        except Exception:
            log.exception("tick: phase %s failed; the other phases go on", name)
            return default

    sync = guarded("reparse", lambda: _phase_reparse(now=now), SyncReport()) if reparse else SyncReport()
    runs_created = guarded("create_runs", lambda: _phase_create_runs(now=now), 0)
    runs_created += guarded("asset_runs", lambda: _phase_asset_runs(now=now), 0)
    runs_started = guarded("start_runs", lambda: _phase_start_runs(now=now), 0)
    queued, changed, finished = guarded(
        "schedule_runs", lambda: _phase_schedule_runs(now=now, executor=executor), (0, 0, 0)
    )
    zombies = guarded("zombies", lambda: _phase_zombies(now=now, executor=executor), 0)
    requeued = guarded("requeue_lost", lambda: _phase_requeue_lost(now=now), 0) if executor is None else 0
    requeued += guarded("queued_timeout", lambda: _phase_queued_timeout(now=now, executor=executor), 0)
    dag_callbacks = guarded("dag_callbacks", lambda: _phase_dag_callbacks(now=now, executor=executor), 0)
    task_callbacks = guarded("task_callbacks", lambda: _phase_task_callbacks(now=now, executor=executor), 0)
    return TickReport(
        parsed_files=sync.parsed,
        import_errors=sync.import_errors,
        runs_created=runs_created,
        runs_started=runs_started,
        tasks_queued=queued,
        state_changes=changed,
        runs_finished=finished,
        zombies=zombies,
        requeued=requeued,
        dag_callbacks=dag_callbacks,
        task_callbacks=task_callbacks,
    )

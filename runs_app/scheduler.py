"""The scheduler step: ``tick(now=...)`` does one pass; the ``scheduler`` command loops over it.

Phases, in order:

1. reparse the DAG files that changed (in child processes, with a timeout), when ``reparse``;
2. create the DAG runs that are due (each unpaused DAG's next data interval has ended), within
   ``max_active_runs``, with their task instances; advance the DAG's next run;
3. start queued runs (manual, backfill, cleared) while ``max_active_runs`` allows;
4. schedule every running run: trigger rules, retries whose time has come, queueing within
   ``max_active_tasks`` / pools / priority, finishing runs (``scheduling.dag_run_schedule``);
5. repair: fail or retry ``running`` task instances whose heartbeat stopped (zombies), and
   enqueue again ``queued`` ones whose RQ job is gone.

Each phase is a function taking ``now`` and returning counts; no phase reads the clock or sleeps,
so tests drive the scheduler with a chosen ``now``. Several schedulers may run at once: rows are
taken with ``select_for_update(skip_locked=True)`` where the database supports it, and every
transition is a conditional update, so no run is created twice and no try is enqueued twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections import defaultdict
from dataclasses import dataclass, fields

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from dags_app.models import DagModel
from dags_app.services import SyncReport, compute_next_dagrun, dag_folder_sync
from dags_app.timetables import DataInterval
from runs_app.models import DagRun, Job, TaskInstance
from runs_app.runner import Outcome, append_log, task_instance_record_outcome
from runs_app.scheduling import Capacity, Executor, dag_run_schedule, enqueue_now, job_id_for, redis_connection
from runs_app.services import dag_run_create, task_instances_create
from runs_app.states import DAG_RUN_UNFINISHED, DagRunState, DagRunType, JobType, TaskInstanceState

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

    @property
    def did_work(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


def _locked(qs):
    """Lock the selected rows, skipping rows another scheduler holds (no-op on SQLite)."""
    if connection.features.has_select_for_update_skip_locked:
        return qs.select_for_update(skip_locked=True)
    return qs


def _phase_reparse(*, now: dt.datetime) -> SyncReport:
    return dag_folder_sync(now=now)


def _active_run_counts(dag_ids: list[int]) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for dag_id in DagRun.objects.filter(dag_id__in=dag_ids, state__in=DAG_RUN_UNFINISHED).values_list(
        "dag_id", flat=True
    ):
        counts[dag_id] += 1
    return counts


def _phase_create_runs(*, now: dt.datetime) -> int:
    """Create the due scheduled runs of every unpaused DAG; return how many were created."""
    created = 0
    with transaction.atomic():
        dags = list(
            _locked(
                DagModel.objects.filter(is_active=True, is_paused=False, next_dagrun_create_after__lte=now)
            ).order_by("next_dagrun_create_after")
        )
        active = _active_run_counts([d.pk for d in dags])
        for dag in dags:
            serialized = dag.serialized
            if not serialized.get("catchup", True) and dag.next_dagrun_data_interval_start is not None:
                # Without catchup only the latest complete interval runs: recompute from now, as
                # the DAG may have been paused (or the scheduler down) for several intervals.
                start = dag.next_dagrun_data_interval_start
                latest = compute_next_dagrun(
                    serialized, last_automated_data_interval=DataInterval(start=start, end=start), now=now
                )
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
                except IntegrityError:
                    log.info("tick: run of %s at %s exists already", dag.dag_id, dag.next_dagrun)
                except Exception as exc:  # the run exists (ServiceError) or the DAG is broken
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
            updated = DagRun.objects.filter(pk=run.pk, state=DagRunState.QUEUED).update(
                state=DagRunState.RUNNING, start_date=now, end_date=None
            )
            if updated:
                running[run.dag_id] += 1
                started += 1
    return started


def _phase_schedule_runs(*, now: dt.datetime, executor: Executor | None = None) -> tuple[int, int, int]:
    """Schedule every running run; return (tasks queued, state changes, runs finished)."""
    queued = changed = finished = 0
    with transaction.atomic():
        runs = list(_locked(DagRun.objects.filter(state=DagRunState.RUNNING)).select_related("dag"))
        if not runs:
            return 0, 0, 0
        # One query for every task instance of every running run, grouped here.
        by_run: dict[int, list[TaskInstance]] = defaultdict(list)
        for ti in TaskInstance.objects.filter(dag_run__in=[r.pk for r in runs]):
            by_run[ti.dag_run_id].append(ti)
        capacity = Capacity.load()
        for run in runs:
            tis = by_run[run.pk]
            missing = set(run.dag.task_ids) - {ti.task_id for ti in tis}
            if missing:
                # The DAG gained tasks since the run was created: without their instances, the
                # tasks downstream of them would wait forever (Airflow's verify_integrity).
                task_instances_create(dag_run=run, task_ids=missing)
                tis = list(run.task_instances.all())
            result = dag_run_schedule(run=run, now=now, executor=executor, capacity=capacity, tis=tis)
            queued += result.queued
            changed += result.changed
            finished += 1 if result.finished else 0
    return queued, changed, finished


def _phase_zombies(*, now: dt.datetime, executor: Executor | None = None) -> int:
    """Fail (or retry) running task instances whose heartbeat is older than the zombie threshold."""
    threshold = dt.timedelta(seconds=settings.ORCHESTRATOR["ZOMBIE_THRESHOLD"])
    zombies = list(
        TaskInstance.objects.filter(state=TaskInstanceState.RUNNING, last_heartbeat__lt=now - threshold)
        .select_related("dag_run", "dag_run__dag")
        .order_by("pk")
    )
    count = 0
    for ti in zombies:
        message = (
            f"Detected zombie: {ti.dag_run.dag.dag_id}.{ti.task_id} try {ti.try_number} on {ti.hostname or '?'} "
            f"sent no heartbeat since {ti.last_heartbeat.isoformat()}"
        )
        append_log(ti.log_path(), f"ERROR - {message}")
        outcome = Outcome(state=TaskInstanceState.FAILED, error=message)
        if task_instance_record_outcome(ti=ti, outcome=outcome, now=now, executor=executor) is not None:
            log.warning("tick: %s", message)
            count += 1
    return count


# RQ job statuses after which a job will never run again although its key may linger
# (a failed job's key lives for failure_ttl).
_DEAD_JOB_STATUSES = {b"failed", b"stopped", b"canceled", b"finished"}


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
        redis = redis_connection()
        with redis.pipeline(transaction=False) as pipe:
            for pk, try_number, _ in queued:
                pipe.hget(f"rq:job:{job_id_for(pk, try_number)}", "status")
            statuses = pipe.execute()
    except Exception:
        log.exception("tick: cannot reach Redis to check queued jobs")
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
            redis.delete(f"rq:job:{job_id_for(pk, try_number)}")
        except Exception:
            log.exception("tick: cannot delete the dead job of task instance %s", pk)
            continue
        if enqueue_now(ti_id=pk, try_number=try_number, queue=queue, execution_timeout=None):
            requeued += 1
    return requeued


def tick(*, now: dt.datetime, reparse: bool = True, executor: Executor | None = None) -> TickReport:
    """Run one scheduler pass at ``now`` and return what it did (phases in the module docstring)."""
    sync = _phase_reparse(now=now) if reparse else SyncReport()
    runs_created = _phase_create_runs(now=now)
    runs_started = _phase_start_runs(now=now)
    queued, changed, finished = _phase_schedule_runs(now=now, executor=executor)
    zombies = _phase_zombies(now=now, executor=executor)
    requeued = _phase_requeue_lost(now=now) if executor is None else 0
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
    )


def job_start(*, job_type: JobType, now: dt.datetime) -> Job:
    """Record a running scheduler or worker process."""
    return Job.objects.create(
        job_type=job_type, hostname=socket.gethostname(), pid=os.getpid(), start_date=now, latest_heartbeat=now
    )


def job_heartbeat(*, job: Job, now: dt.datetime) -> None:
    Job.objects.filter(pk=job.pk).update(latest_heartbeat=now)
    job.latest_heartbeat = now


def job_end(*, job: Job, now: dt.datetime) -> None:
    Job.objects.filter(pk=job.pk).update(latest_heartbeat=now, end_date=now)


def scheduler_is_healthy(*, now: dt.datetime) -> bool:
    """Return True if some scheduler sent a heartbeat within the health threshold."""
    threshold = dt.timedelta(seconds=settings.ORCHESTRATOR["SCHEDULER_HEALTH_THRESHOLD"])
    return Job.objects.filter(
        job_type=JobType.SCHEDULER, end_date__isnull=True, latest_heartbeat__gte=now - threshold
    ).exists()

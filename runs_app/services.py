"""The actions on DAGs and runs, one code path for the CLI, the web views, the admin and any API.

Each service takes keyword-only arguments, does its writes in one transaction, records an
``AuditLog`` row, and raises ``ServiceError`` (with a message fit to show a user) when the
request cannot be done.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import socket
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from dags_app.errors import Conflict, NotFound, ServiceError
from dags_app.models import DagFile, DagModel
from dags_app.sdk.validation import validate_key
from dags_app.timetables import TimeRestriction, timetable_from_dict
from runs_app import transitions
from runs_app.conf import validate_conf
from runs_app.models import AuditLog, Connection, DagRun, Job, Pool, TaskInstance, Variable, XCom
from runs_app.params import params_check
from runs_app.scheduling import Executor, RQExecutor, dag_run_schedule_locked, task_instance_queue
from runs_app.states import (
    TI_FINISHED,
    AuditEvent,
    DagRunState,
    DagRunType,
    JobType,
    TaskInstanceState,
)

log = logging.getLogger(__name__)


def audit_log_record(
    *,
    event: AuditEvent,
    user: AbstractBaseUser | None,
    source: str,
    dag_id: str = "",
    run_id: str = "",
    task_id: str = "",
    extra: dict[str, Any] | None = None,
) -> AuditLog:
    """Record who did ``event`` to which DAG, run or task."""
    real_user = user if user is not None and user.is_authenticated else None
    return AuditLog.objects.create(
        event=event,
        user=real_user,
        username=real_user.get_username() if real_user else (getattr(user, "username", "") or ""),
        source=source,
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        extra=extra or {},
    )


def pool_ensure_default() -> Pool:
    """Return the default pool, creating it with the configured number of slots."""
    pool, _ = Pool.objects.get_or_create(
        name=Pool.DEFAULT_POOL_NAME,
        defaults={"slots": settings.ORCHESTRATOR["DEFAULT_POOL_SLOTS"], "description": "Default pool"},
    )
    return pool


def tasks_of_run(dag_run: DagRun) -> list[dict[str, Any]]:
    """The DAG's tasks that take part in ``dag_run``: as Airflow's ``verify_integrity``, a task
    whose own ``start_date`` is after the run's logical date, or whose own ``end_date`` is before
    it, gets no instance (except in a backfill). Only dates a task sets beyond its DAG's count: a
    run triggered before the DAG's own start_date still gets every task (Airflow would create an
    empty run)."""
    tasks = dag_run.dag.tasks
    if dag_run.run_type == DagRunType.BACKFILL or dag_run.logical_date is None:
        return tasks
    serialized = dag_run.dag.serialized or {}
    dag_start, dag_end = serialized.get("start_date"), serialized.get("end_date")
    when = dag_run.logical_date

    def in_window(task: dict[str, Any]) -> bool:
        start, end = task.get("start_date"), task.get("end_date")
        if start is not None and start != dag_start and dt.datetime.fromisoformat(start) > when:
            return False
        return not (end is not None and end != dag_end and dt.datetime.fromisoformat(end) < when)

    return [task for task in tasks if in_window(task)]


def task_instances_create(*, dag_run: DagRun, task_ids: Iterable[str] | None = None) -> list[TaskInstance]:
    """Create one task instance (state ``none``) per task of the run's DAG, or per task of ``task_ids``.

    With ``task_ids`` (tasks added to the DAG after the run was created, as Airflow's
    ``verify_integrity`` adds them), instances another scheduler created meanwhile are left as
    they are, and the returned objects carry no primary key.
    """
    tasks = tasks_of_run(dag_run)
    if task_ids is not None:
        wanted = set(task_ids)
        tasks = [task for task in tasks if task["task_id"] in wanted]
    return TaskInstance.objects.bulk_create(
        [
            TaskInstance(
                dag_run=dag_run,
                dag=dag_run.dag,
                task_id=task["task_id"],
                max_tries=task.get("retries", 0),
                operator=task.get("operator", ""),
                queue=task.get("queue") or "default",
                pool=task.get("pool") or Pool.DEFAULT_POOL_NAME,
                pool_slots=task.get("pool_slots", 1),
                priority_weight=task.get("priority_weight_total", task.get("priority_weight", 1)),
            )
            for task in tasks
        ],
        ignore_conflicts=task_ids is not None,
    )


def default_run_id(run_type: DagRunType, logical_date: dt.datetime) -> str:
    """Airflow's run id for a run not given one: ``<type>__<logical date ISO>``."""
    return f"{run_type.value}__{logical_date.isoformat()}"


def dag_run_create(
    *,
    dag: DagModel,
    logical_date: dt.datetime,
    run_type: DagRunType,
    now: dt.datetime,
    conf: dict[str, Any] | None = None,
    run_id: str | None = None,
    data_interval: tuple[dt.datetime, dt.datetime] | None = None,
    triggered_by: str = "",
    triggering_user_name: str = "",
) -> DagRun:
    """Create a queued DAG run with its task instances.

    Raises ServiceError when a run with the same logical date or run id exists.
    """
    run_id = run_id or default_run_id(run_type, logical_date)
    validate_key("run_id", run_id)
    if data_interval is None:
        try:
            interval = timetable_from_dict(dag.serialized["timetable"]).infer_manual_data_interval(
                run_after=logical_date
            )
        except OverflowError:  # a cron's interval around a date near year 9999
            raise ServiceError(f"Logical date {logical_date.isoformat()} is out of range") from None
        data_interval = (interval.start, interval.end)
    try:
        with transaction.atomic():
            run = DagRun.objects.create(
                dag=dag,
                run_id=run_id,
                logical_date=logical_date,
                data_interval_start=data_interval[0],
                data_interval_end=data_interval[1],
                run_type=run_type,
                conf=conf or {},  # state: queued (the model's default)
                queued_at=now,
                triggered_by=triggered_by,
                triggering_user_name=triggering_user_name[:150],
                dag_version_id=dag.latest_version_id,
            )
            task_instances_create(dag_run=run)
    except IntegrityError:
        raise Conflict(
            f"A DAG Run already exists for DAG {dag.dag_id} at {logical_date.isoformat()} or with run id {run_id}"
        ) from None
    return run


def dag_trigger(
    *,
    dag: DagModel,
    now: dt.datetime,
    logical_date: dt.datetime | None = None,
    conf: dict[str, Any] | None = None,
    run_id: str | None = None,
    user: AbstractBaseUser | None = None,
    source: str = "cli",
) -> DagRun:
    """Create a manual run of ``dag`` (default logical date: now) and record who asked.

    Raises ServiceError for an inactive DAG, a conf that is not a JSON object, params that do not
    fit their schema (the DAG's defaults merged with the conf), a bad run id or a run that already
    exists.
    """
    if not dag.is_active:
        raise ServiceError(f"DAG {dag.dag_id} is not active: its file no longer defines it")
    if conf is not None:
        validate_conf(conf)
    params_check(dag.serialized, conf or {})
    if run_id is not None:
        try:
            validate_key("run_id", run_id)
        except (TypeError, ValueError) as exc:
            raise ServiceError(str(exc)) from None
    logical_date = logical_date or now
    with transaction.atomic():
        run = dag_run_create(
            dag=dag,
            logical_date=logical_date,
            run_type=DagRunType.MANUAL,
            now=now,
            conf=conf,
            run_id=run_id,
            triggered_by=source,
            triggering_user_name=getattr(user, "username", "") or "",
        )
        audit_log_record(
            event=AuditEvent.TRIGGER,
            user=user,
            source=source,
            dag_id=dag.dag_id,
            run_id=run.run_id,
            extra={"conf": conf or {}, "logical_date": logical_date.isoformat()},
        )
    return run


def dag_trigger_from_task(
    *,
    dag_id: str,
    run_id: str | None,
    logical_date: dt.datetime | None,
    conf: dict[str, Any] | None,
    reset: bool,
    fail_when_paused: bool,
    triggered_by: str,
) -> tuple[str, str]:
    """What ``TriggerDagRunOperator`` does: trigger ``dag_id`` through ``dag_trigger`` (or, with
    ``reset``, clear the existing run at that date or id so it runs again). Returns (run id,
    logical date ISO). Raises the SDK's DagNotFound / DagRunAlreadyExists, or AirflowException."""
    from django.utils import timezone

    from dags_app.sdk.exceptions import AirflowException
    from dags_app.sdk.trigger_dagrun import DagNotFound, DagRunAlreadyExists

    dag = DagModel.objects.filter(dag_id=dag_id).first()
    if dag is None:
        raise DagNotFound(f"Dag id {dag_id} not found in DagModel")
    if fail_when_paused and dag.is_paused:
        raise AirflowException(f"Dag {dag_id} is paused")
    now = timezone.now()
    when = logical_date or now
    wanted_id = run_id or default_run_id(DagRunType.MANUAL, when)
    existing = DagRun.objects.filter(dag=dag).filter(Q(run_id=wanted_id) | Q(logical_date=when)).first()
    if existing is not None:
        if not reset:
            raise DagRunAlreadyExists(
                f"A DAG Run already exists for DAG {dag_id} at {when.isoformat()} or with run id {wanted_id}"
            )
        task_instances_clear(tis=existing.task_instances.all(), now=now, source="task")
        return existing.run_id, existing.logical_date.isoformat()
    try:
        run = dag_trigger(dag=dag, now=now, logical_date=when, conf=conf, run_id=wanted_id, source="task")
    except ServiceError as exc:
        raise AirflowException(str(exc)) from None
    DagRun.objects.filter(pk=run.pk).update(triggered_by=triggered_by[:150])
    return run.run_id, run.logical_date.isoformat()


def dag_set_paused(
    *, dag: DagModel, is_paused: bool, user: AbstractBaseUser | None = None, source: str = "cli"
) -> bool:
    """Pause or unpause ``dag``; return True if its state changed."""
    with transaction.atomic():
        changed = DagModel.objects.filter(pk=dag.pk).exclude(is_paused=is_paused).update(is_paused=is_paused)
        dag.is_paused = is_paused
        if changed:
            audit_log_record(
                event=AuditEvent.PAUSE if is_paused else AuditEvent.UNPAUSE,
                user=user,
                source=source,
                dag_id=dag.dag_id,
            )
    return bool(changed)


def dag_delete(*, dag_id: str, user: AbstractBaseUser | None = None, source: str = "cli") -> int:
    """Delete a DAG's metadata: its runs, task instances, XComs, tags and logs; return rows deleted.

    The DAG comes back at the next parse if its file still defines it (as in Airflow).
    Raises NotFound for an unknown DAG.
    """
    dag = DagModel.objects.filter(dag_id=dag_id).first()
    if dag is None:
        raise NotFound(f"Dag id {dag_id} not found")
    with transaction.atomic():
        deleted, _ = DagModel.objects.filter(pk=dag.pk).delete()
        # Forget the file's parse bookkeeping so the next sync re-imports it.
        DagFile.objects.filter(path=dag.fileloc).delete()
        audit_log_record(event=AuditEvent.DELETE, user=user, source=source, dag_id=dag_id)
    logs = (settings.LOGS_FOLDER / f"dag_id={dag_id}").resolve()
    if logs.is_relative_to(settings.LOGS_FOLDER.resolve()) and logs.is_dir():
        shutil.rmtree(logs, ignore_errors=True)
    return deleted


# -- clear, mark, run, backfill ------------------------------------------------------------------


def dag_run_delete(*, run: DagRun, user: AbstractBaseUser | None = None, source: str = "cli") -> None:
    """Delete a run with its task instances, XComs and logs' rows (Airflow's Delete Dag Run). A try
    still running finds its row gone and records nothing."""
    with transaction.atomic():
        DagRun.objects.filter(pk=run.pk).delete()
        audit_log_record(event=AuditEvent.DELETE, user=user, source=source, dag_id=run.dag.dag_id, run_id=run.run_id)


def task_ids_related(dag: DagModel, task_ids: set[str], *, upstream: bool, downstream: bool) -> set[str]:
    """Return ``task_ids`` plus, if asked, every task up- or downstream of them (transitively)."""
    tasks = {t["task_id"]: t for t in dag.tasks}
    result = set(task_ids)
    for direction, wanted in (("upstream_task_ids", upstream), ("downstream_task_ids", downstream)):
        if not wanted:
            continue
        stack = list(task_ids)
        while stack:
            for other in tasks.get(stack.pop(), {}).get(direction, []):
                if other not in result:
                    result.add(other)
                    stack.append(other)
    return result


def setups_and_teardowns(dag: DagModel, task_ids: set[str]) -> set[str]:
    """The setup tasks upstream of ``task_ids`` and those setups' teardowns: what a clear of
    ``task_ids`` clears too, as in Airflow ("if you clear a task, its setups and teardowns will be
    cleared")."""
    tasks = {t["task_id"]: t for t in dag.tasks}
    if not any(t.get("is_setup") for t in tasks.values()):
        return set()
    upstream = task_ids_related(dag, task_ids, upstream=True, downstream=False)
    setups = {t for t in upstream if tasks.get(t, {}).get("is_setup")}
    teardowns = {d for s in setups for d in tasks[s]["downstream_task_ids"] if tasks.get(d, {}).get("is_teardown")}
    return setups | teardowns


def _expand(
    tis: Iterable[TaskInstance], *, upstream: bool, downstream: bool
) -> dict[int, tuple[DagRun, set[str], dict[str, set[int]]]]:
    """Group task instances by run, with their relatives added; return {run pk: (run, task ids,
    map indexes)}. A mapped task of which only some instances were given is acted on for those
    instances only (``map indexes``: {task_id: indexes}); its relatives always in whole."""
    if isinstance(tis, QuerySet):
        tis = tis.select_related("dag_run", "dag_run__dag")
    by_run: dict[int, tuple[DagRun, set[str], dict[str, set[int]], set[str]]] = {}
    for ti in tis:
        run = ti.dag_run
        _, ids, indexes, whole = by_run.setdefault(run.pk, (run, set(), {}, set()))
        ids.add(ti.task_id)
        if ti.map_index >= 0:
            indexes.setdefault(ti.task_id, set()).add(ti.map_index)
        else:
            whole.add(ti.task_id)
    result = {}
    for pk, (run, ids, indexes, whole) in by_run.items():
        related = task_ids_related(run.dag, ids, upstream=upstream, downstream=downstream)
        # A task also reached as a relative of another selected task is acted on whole.
        partial = {
            t: i
            for t, i in indexes.items()
            if t not in whole
            and t not in task_ids_related(run.dag, ids - {t}, upstream=upstream, downstream=downstream)
        }
        # In a mapped task group, the relatives of instance i in the same group are their
        # instance i (as Airflow clears and marks a mapped group's instance).
        groups = {t["task_id"]: t.get("mapped_group") for t in run.dag.tasks}
        for task_id, chosen in list(partial.items()):
            group = groups.get(task_id)
            if not group:
                continue
            for other in related - ids:
                if groups.get(other) == group:
                    partial.setdefault(other, set()).update(chosen)
        result[pk] = (run, related, partial)
    return result


def _reopen_and_schedule(*, run: DagRun, now: dt.datetime, executor: Executor | None) -> None:
    """Put a run whose task instances changed back to work: running (or queued if paused), then schedule.

    The reopen is conditional on the run's state in the database (not this process's copy),
    so a run another process reopened or finished meanwhile is left as it is.
    """
    if run.task_instances.exclude(state__in=TI_FINISHED).exists():
        paused = run.dag.is_paused and run.run_type != DagRunType.BACKFILL
        transitions.run_reopen(run, target=DagRunState.QUEUED if paused else DagRunState.RUNNING, now=now)
    dag_run_schedule_locked(run_id=run.pk, now=now, executor=executor)


def task_instances_clear(
    *,
    tis: Iterable[TaskInstance],
    now: dt.datetime,
    upstream: bool = False,
    downstream: bool = False,
    only_failed: bool = False,
    user: AbstractBaseUser | None = None,
    source: str = "cli",
    executor: Executor | None = None,
) -> int:
    """Clear task instances (and, if asked, their up/downstream) so they run again; return how many.

    As in Airflow: each cleared instance goes back to ``none`` keeping its try count, gets its
    task's retries again (``max_tries``), a running one is stopped by its worker at the next
    heartbeat, and a finished run returns to running (queued while its DAG is paused).
    """
    cleared = 0
    for run, task_ids, map_indexes in _expand(
        tis,
        upstream=upstream,
        downstream=downstream,
    ).values():
        retries = {t["task_id"]: t.get("retries", 0) for t in run.dag.tasks}
        task_ids = task_ids | setups_and_teardowns(run.dag, task_ids)
        with transaction.atomic():
            cleared += transitions.tis_clear(
                run=run, task_ids=task_ids, retries=retries, only_failed=only_failed, map_indexes=map_indexes
            )
            audit_log_record(
                event=AuditEvent.CLEAR,
                user=user,
                source=source,
                dag_id=run.dag.dag_id,
                run_id=run.run_id,
                task_id=",".join(sorted(task_ids)),
                extra={"upstream": upstream, "downstream": downstream, "only_failed": only_failed},
            )
        _reopen_and_schedule(run=run, now=now, executor=executor)
    return cleared


def task_instances_set_state(
    *,
    tis: Iterable[TaskInstance],
    state: TaskInstanceState,
    now: dt.datetime,
    upstream: bool = False,
    downstream: bool = False,
    user: AbstractBaseUser | None = None,
    source: str = "cli",
    executor: Executor | None = None,
) -> int:
    """Mark task instances (and, if asked, their up/downstream) success or failed; return how many.

    Marking success lets the ``upstream_failed`` (and by it ``skipped``) tasks downstream be
    evaluated again, so they run, as the seed shows; marking failed lets downstream tasks become
    ``upstream_failed``. The run is reopened if needed and scheduled at once. A try that is
    running is stopped by its worker at its next heartbeat, and the state set here stays.
    """
    if state not in (TaskInstanceState.SUCCESS, TaskInstanceState.FAILED):
        raise ServiceError(f"Tasks can only be marked success or failed, not {state}")
    changed = 0
    event = AuditEvent.MARK_SUCCESS if state == TaskInstanceState.SUCCESS else AuditEvent.MARK_FAILED
    for run, task_ids, map_indexes in _expand(
        tis,
        upstream=upstream,
        downstream=downstream,
    ).values():
        with transaction.atomic():
            changed += transitions.tis_mark(run=run, task_ids=task_ids, state=state, now=now, map_indexes=map_indexes)
            if state == TaskInstanceState.SUCCESS:
                below = task_ids_related(run.dag, task_ids, upstream=False, downstream=True) - task_ids
                transitions.tis_reevaluate(run=run, task_ids=below)
            audit_log_record(
                event=event,
                user=user,
                source=source,
                dag_id=run.dag.dag_id,
                run_id=run.run_id,
                task_id=",".join(sorted(task_ids)),
                extra={"upstream": upstream, "downstream": downstream},
            )
        _reopen_and_schedule(run=run, now=now, executor=executor)
    return changed


def task_instances_mark_plan(
    *, tis: Iterable[TaskInstance], state: TaskInstanceState, upstream: bool = False, downstream: bool = False
) -> list[TaskInstance]:
    """The task instances ``task_instances_set_state`` would change (not in ``state`` yet), in
    the order of their runs and tasks: the dry run of a mark."""
    planned: list[TaskInstance] = []
    for run, task_ids, map_indexes in _expand(tis, upstream=upstream, downstream=downstream).values():
        rows = transitions.task_instances_of(run, task_ids, map_indexes).exclude(state=state)
        planned += rows.select_related("dag_run", "dag_run__dag").order_by("task_id", "map_index")
    return planned


def dag_run_mark_plan(run: DagRun, *, state: str) -> dict[str, tuple[str, str]]:
    """What marking ``run`` ``state`` would change: {task_id: (state now, state after)}."""
    return transitions.run_mark_plan(run, state=state)


def dag_run_set_state(
    *,
    run: DagRun,
    state: DagRunState,
    now: dt.datetime,
    user: AbstractBaseUser | None = None,
    source: str = "cli",
) -> int:
    """Mark a whole run success (every task not succeeded: success) or failed (running tries failed,
    every other unfinished one skipped, queued included: it never started); return how many task
    instances changed. ``transitions.run_mark_plan`` says beforehand what will change."""
    if state not in (DagRunState.SUCCESS, DagRunState.FAILED):
        raise ServiceError(f"A DAG run can only be marked success or failed, not {state}")
    with transaction.atomic():
        changed = transitions.run_mark(run, state=state, now=now)
        audit_log_record(
            event=AuditEvent.MARK_SUCCESS if state == DagRunState.SUCCESS else AuditEvent.MARK_FAILED,
            user=user,
            source=source,
            dag_id=run.dag.dag_id,
            run_id=run.run_id,
        )
    return changed


def dag_runs_clear(
    *,
    runs: Iterable[DagRun],
    now: dt.datetime,
    only_failed: bool = False,
    user: AbstractBaseUser | None = None,
    source: str = "cli",
) -> int:
    """Clear every task instance (or only the failed ones) of ``runs`` so they run again; return
    how many (the admin's and the Browse page's bulk clear)."""
    return task_instances_clear(
        tis=TaskInstance.objects.filter(dag_run__in=[run.pk for run in runs]),
        now=now,
        only_failed=only_failed,
        user=user,
        source=source,
    )


def dag_runs_set_state(
    *,
    runs: Iterable[DagRun],
    state: DagRunState,
    now: dt.datetime,
    user: AbstractBaseUser | None = None,
    source: str = "cli",
) -> tuple[int, list[str]]:
    """Mark each of ``runs`` ``state`` (``dag_run_set_state``); return how many were marked and
    one "run_id: reason" per run that could not be, so one bad run does not stop the others."""
    done, errors = 0, []
    for run in runs:
        try:
            dag_run_set_state(run=run, state=state, now=now, user=user, source=source)
            done += 1
        except ServiceError as exc:
            errors.append(f"{run.run_id}: {exc}")
    return done, errors


def dag_backfill(
    *,
    dag: DagModel,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    conf: dict[str, Any] | None = None,
    user: AbstractBaseUser | None = None,
    source: str = "cli",
) -> list[DagRun]:
    """Create backfill runs for every scheduled logical date in [start, end]; return them.

    Dates that already have a run are left as they are (clear them to run them again). The
    scheduler and workers execute backfill runs like any other, also while the DAG is paused.
    Raises ServiceError when the DAG has no schedule or the range is empty.
    """
    if end < start:
        raise ServiceError(f"The end date {end.isoformat()} is before the start date {start.isoformat()}")
    timetable = timetable_from_dict(dag.serialized["timetable"])
    if not timetable.periodic:
        raise ServiceError(f"DAG {dag.dag_id} has no periodic schedule ({dag.schedule}); trigger it instead")
    restriction = TimeRestriction(earliest=start, latest=end, catchup=True)
    infos = []
    last = None
    while True:
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction, now=now)
        if info is None or info.logical_date > end:
            break
        infos.append(info)
        last = info.data_interval
        if len(infos) > 10_000:
            raise ServiceError("The date range covers more than 10,000 runs; narrow it")
    existing = set(
        DagRun.objects.filter(dag=dag, logical_date__in=[i.logical_date for i in infos]).values_list(
            "logical_date", flat=True
        )
    )
    runs = []
    with transaction.atomic():
        for info in infos:
            if info.logical_date in existing:
                continue
            runs.append(
                dag_run_create(
                    dag=dag,
                    logical_date=info.logical_date,
                    run_type=DagRunType.BACKFILL,
                    now=now,
                    conf=conf,
                    data_interval=(info.data_interval.start, info.data_interval.end),
                    triggered_by=source,
                    triggering_user_name=getattr(user, "username", "") or "",
                )
            )
        audit_log_record(
            event=AuditEvent.BACKFILL,
            user=user,
            source=source,
            dag_id=dag.dag_id,
            extra={"start": start.isoformat(), "end": end.isoformat(), "runs": [r.run_id for r in runs]},
        )
    return runs


def task_instance_run(
    *,
    ti: TaskInstance,
    now: dt.datetime,
    ignore_dependencies: bool = True,
    executor: Executor | None = None,
    user: AbstractBaseUser | None = None,
    source: str = "cli",
) -> TaskInstance:
    """Queue the next try of one task instance now (the UI's "Run", ``tasks run``), even if finished.

    Raises ServiceError when the run is not running/finished, or when dependencies are not met
    and ``ignore_dependencies`` is False.
    """
    from runs_app.deps import count_upstream, evaluate_trigger_rule

    run = ti.dag_run
    task = run.dag.get_task(ti.task_id)
    if task is None:
        raise ServiceError(f"Task {ti.task_id} is no longer in DAG {run.dag.dag_id}")
    if ti.state in (TaskInstanceState.QUEUED, TaskInstanceState.RUNNING):
        raise ServiceError(f"Task instance {ti.task_id} is already {ti.state}")
    if not ignore_dependencies:
        states = dict(run.task_instances.values_list("task_id", "state"))
        status = evaluate_trigger_rule(
            task["trigger_rule"], count_upstream(task["upstream_task_ids"], states, task.get("setup_upstream", ()))
        )
        if not status.ready:
            raise ServiceError(f"Dependencies not met for {ti.task_id}: {status.reason}")
    with transaction.atomic():
        if run.state != DagRunState.RUNNING:
            transitions.run_reopen(run, target=DagRunState.RUNNING, now=now, from_queued=True)
        # Not a state change: the try gets its task's retries again, as after a clear.
        TaskInstance.objects.filter(pk=ti.pk).update(
            max_tries=max(ti.max_tries, ti.try_number + task.get("retries", 0))
        )
        ti.refresh_from_db()
        if not task_instance_queue(ti=ti, task=task, now=now, executor=executor or RQExecutor()):
            raise ServiceError(f"Task instance {ti.task_id} changed meanwhile; try again")
        audit_log_record(
            event=AuditEvent.RUN, user=user, source=source, dag_id=run.dag.dag_id, run_id=run.run_id, task_id=ti.task_id
        )
    return ti


# -- scheduler and worker processes ------------------------------------------------------------------


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


# -- variables ------------------------------------------------------------------------------------


def _variable_key(key: str) -> str:
    try:
        return validate_key("variable key", key)
    except (TypeError, ValueError) as exc:
        raise ServiceError(str(exc)) from None


def variable_get(key: str) -> str | None:
    """The stored value of variable ``key`` (None if there is none); environment overrides are
    the SDK's business (``Variable.get``), not the metastore's."""
    return Variable.objects.filter(key=key).values_list("val", flat=True).first()


def xcom_set(
    *, ti: TaskInstance, key: str, value: Any, create: bool, user: AbstractBaseUser | None = None, source: str = "cli"
) -> XCom:
    """Add (``create``: refused if the key exists) or change (refused if it does not) the XCom
    ``key`` of ``ti``: a JSON value, as a task's own ``xcom_push`` stores it."""
    if not key or len(key) > XCom._meta.get_field("key").max_length:
        raise ServiceError(f"An XCom key is 1 to {XCom._meta.get_field('key').max_length} characters")
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ServiceError(f"The XCom value is not JSON: {exc}") from exc
    run = ti.dag_run
    with transaction.atomic():
        existing = XCom.objects.select_for_update().filter(task_instance=ti, key=key).first()
        if create and existing is not None:
            raise Conflict(f"The XCom with key: `{key}` with mentioned task instance already exists.")
        if not create and existing is None:
            raise NotFound(f"The XCom with key: `{key}` with mentioned task instance doesn't exist.")
        if existing is None:
            xcom = XCom.objects.create(
                task_instance=ti, dag_run=run, task_id=ti.task_id, map_index=ti.map_index, key=key, value=value
            )
        else:
            existing.value = value
            existing.save(update_fields=["value", "timestamp"])
            xcom = existing
        audit_log_record(
            event=AuditEvent.XCOM_SET,
            user=user,
            source=source,
            dag_id=run.dag.dag_id,
            run_id=run.run_id,
            task_id=ti.task_id,
            extra={"key": key, "map_index": ti.map_index, "created": existing is None},
        )
    return xcom


def xcom_delete(*, xcom: XCom, user: AbstractBaseUser | None = None, source: str = "cli") -> None:
    """Delete one XCom (a user's repair: a task downstream then pulls nothing for its key)."""
    run = xcom.dag_run
    with transaction.atomic():
        XCom.objects.filter(pk=xcom.pk).delete()
        audit_log_record(
            event=AuditEvent.XCOM_DELETE,
            user=user,
            source=source,
            dag_id=run.dag.dag_id,
            run_id=run.run_id,
            task_id=xcom.task_id,
            extra={"key": xcom.key, "map_index": xcom.map_index},
        )


def variable_set(
    *,
    key: str,
    value: str,
    description: str | None = None,
    user: AbstractBaseUser | None = None,
    source: str = "cli",
) -> Variable:
    """Create or update variable ``key`` (its description is kept unless one is given)."""
    key = _variable_key(key)
    if not isinstance(value, str):
        raise ServiceError(f"The value of variable {key} must be text, not {type(value).__name__}")
    defaults: dict[str, Any] = {"val": value}
    if description is not None:
        defaults["description"] = description
    with transaction.atomic():
        variable, created = Variable.objects.update_or_create(key=key, defaults=defaults)
        audit_log_record(
            event=AuditEvent.VARIABLE_SET, user=user, source=source, extra={"key": key, "created": created}
        )
    return variable


def variable_delete(*, key: str, user: AbstractBaseUser | None = None, source: str = "cli") -> int:
    """Delete variable ``key``; return how many rows went (0 or 1)."""
    with transaction.atomic():
        deleted, _ = Variable.objects.filter(key=key).delete()
        if deleted:
            audit_log_record(event=AuditEvent.VARIABLE_DELETE, user=user, source=source, extra={"key": key})
    return deleted


VARIABLE_IMPORT_ACTIONS = ("overwrite", "fail", "skip")


def variables_import(
    *, data: Any, action_on_existing_key: str = "overwrite", user: AbstractBaseUser | None = None, source: str = "cli"
) -> dict[str, int]:
    """Import ``{key: value}`` (a value that is not text is stored as its JSON, as Airflow does;
    ``{"value": ..., "description": ...}`` sets both). All or nothing: one bad key, or an existing
    key with ``fail``, imports none. Returns counts of created, updated and skipped keys."""
    if not isinstance(data, dict):
        raise ServiceError("A variables file must hold one JSON object of key: value pairs")
    if action_on_existing_key not in VARIABLE_IMPORT_ACTIONS:
        raise ServiceError(f"action_on_existing_key must be one of {', '.join(VARIABLE_IMPORT_ACTIONS)}")
    rows = {}
    for key, raw in data.items():
        description = None
        if isinstance(raw, dict) and set(raw) <= {"value", "description"} and "value" in raw:
            raw, description = raw["value"], raw.get("description")
        rows[_variable_key(key)] = (raw if isinstance(raw, str) else json.dumps(raw, indent=2), description)
    counts = {"created": 0, "updated": 0, "skipped": 0}
    with transaction.atomic():
        existing = set(Variable.objects.filter(key__in=list(rows)).values_list("key", flat=True))
        if existing and action_on_existing_key == "fail":
            raise ServiceError(f"Failed. These keys exist already: {', '.join(sorted(existing))}")
        for key, (value, description) in rows.items():
            if key in existing and action_on_existing_key == "skip":
                counts["skipped"] += 1
                continue
            variable_set(key=key, value=value, description=description, user=user, source=source)
            counts["updated" if key in existing else "created"] += 1
    return counts


def variables_export() -> dict[str, Any]:
    """Every variable as ``{key: value}``, a JSON value decoded (so an export imports back as it was)."""
    result: dict[str, Any] = {}
    for key, value in Variable.objects.order_by("key").values_list("key", "val"):
        try:
            result[key] = json.loads(value)
        except ValueError:
            result[key] = value
    return result


# -- connections ----------------------------------------------------------------------------------

CONNECTION_FIELDS = ("conn_type", "description", "host", "schema", "login", "password", "port", "extra")


def connection_fields_check(conn_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Check a connection's fields: a type, a port that is a number, an extra that is a JSON object."""
    unknown = set(fields) - set(CONNECTION_FIELDS)
    if unknown:
        raise ServiceError(f"Connection {conn_id}: unknown field(s) {', '.join(sorted(unknown))}")
    clean = {name: fields.get(name) for name in CONNECTION_FIELDS}
    if not clean["conn_type"]:
        raise ServiceError(f"Connection {conn_id}: a connection type is required (--conn-type or a URI)")
    port = clean["port"]
    if port in ("", None):
        clean["port"] = None
    else:
        try:
            clean["port"] = int(port)
        except (TypeError, ValueError):
            raise ServiceError(f"Connection {conn_id}: the port must be a number, not {port!r}") from None
        if not 0 < clean["port"] < 65536:
            raise ServiceError(f"Connection {conn_id}: the port must be between 1 and 65535")
    extra = clean["extra"]
    if isinstance(extra, dict):
        extra = json.dumps(extra)
    if extra:
        try:
            decoded = json.loads(extra)
        except ValueError as exc:
            raise ServiceError(f"Connection {conn_id}: the extra is not valid JSON: {exc}") from None
        if not isinstance(decoded, dict):
            raise ServiceError(f"Connection {conn_id}: the extra must be a JSON object")
    clean["extra"] = extra or ""
    for name in ("conn_type", "description", "host", "schema", "login", "password"):
        clean[name] = str(clean[name] or "")
    return clean


def connection_set(
    *,
    conn_id: str,
    fields: dict[str, Any],
    replace: bool = False,
    user: AbstractBaseUser | None = None,
    source: str = "cli",
) -> Connection:
    """Create connection ``conn_id`` (or, with ``replace``, overwrite it) from ``fields``; the
    password and extra are encrypted before they reach the database."""
    from runs_app.crypto import encrypt

    try:
        conn_id = validate_key("connection id", conn_id)
    except (TypeError, ValueError) as exc:
        raise ServiceError(str(exc)) from None
    clean = connection_fields_check(conn_id, fields)
    values = {
        "conn_type": clean["conn_type"],
        "description": clean["description"],
        "host": clean["host"],
        "schema": clean["schema"],
        "login": clean["login"],
        "port": clean["port"],
        "encrypted_password": encrypt(clean["password"]),
        "encrypted_extra": encrypt(clean["extra"]),
    }
    with transaction.atomic():
        exists = Connection.objects.filter(conn_id=conn_id).exists()
        if exists and not replace:
            raise Conflict(f"A connection with `conn_id`={conn_id} already exists.")
        connection, _ = Connection.objects.update_or_create(conn_id=conn_id, defaults=values)
        audit_log_record(
            event=AuditEvent.CONNECTION_SET, user=user, source=source, extra={"conn_id": conn_id, "created": not exists}
        )
    return connection


# Airflow's default connections that the operators here use (``airflow connections
# create-default-connections`` makes these among many for providers not shipped here).
DEFAULT_CONNECTIONS: dict[str, dict[str, Any]] = {
    "fs_default": {"conn_type": "fs", "extra": '{"path": "/"}'},
    "http_default": {"conn_type": "http", "host": "https://www.httpbin.org/"},
    "smtp_default": {"conn_type": "smtp", "host": "localhost", "port": 25},
    "sqlite_default": {"conn_type": "sqlite", "host": "/tmp/sqlite_default.db"},
    "postgres_default": {"conn_type": "postgres", "host": "localhost", "login": "postgres", "schema": "airflow"},
}


def connections_create_defaults(*, user: AbstractBaseUser | None = None, source: str = "cli") -> list[str]:
    """Create the default connections that do not exist yet (an existing one is left as it is);
    return the ids created."""
    existing = set(Connection.objects.filter(conn_id__in=DEFAULT_CONNECTIONS).values_list("conn_id", flat=True))
    created = []
    for conn_id, fields in DEFAULT_CONNECTIONS.items():
        if conn_id not in existing:
            connection_set(conn_id=conn_id, fields=dict(fields), user=user, source=source)
            created.append(conn_id)
    return created


def connection_delete(*, conn_id: str, user: AbstractBaseUser | None = None, source: str = "cli") -> int:
    with transaction.atomic():
        deleted, _ = Connection.objects.filter(conn_id=conn_id).delete()
        if deleted:
            audit_log_record(event=AuditEvent.CONNECTION_DELETE, user=user, source=source, extra={"conn_id": conn_id})
    return deleted


def connection_fields(connection: Connection) -> dict[str, Any]:
    """A stored connection's fields, its secrets decrypted (for DAG code and exports only)."""
    return {
        "conn_type": connection.conn_type,
        "description": connection.description,
        "host": connection.host,
        "schema": connection.schema,
        "login": connection.login,
        "password": connection.password,
        "port": connection.port,
        "extra": connection.extra,
    }


def connection_get(conn_id: str) -> dict[str, Any] | None:
    """The fields of connection ``conn_id`` for ``BaseHook.get_connection`` (None if unknown)."""
    connection = Connection.objects.filter(conn_id=conn_id).first()
    return None if connection is None else connection_fields(connection)


def connections_import(
    *, data: Any, overwrite: bool = False, user: AbstractBaseUser | None = None, source: str = "cli"
) -> dict[str, int]:
    """Import ``{conn_id: {field: value}}`` or ``{conn_id: "uri"}``: all or nothing. An existing id
    is skipped unless ``overwrite``. Returns counts of imported and skipped connections."""
    from dags_app.sdk.connection import parse_uri
    from dags_app.sdk.exceptions import AirflowException

    if not isinstance(data, dict):
        raise ServiceError("A connections file must hold one JSON object of conn_id: connection pairs")
    parsed: dict[str, dict[str, Any]] = {}
    for conn_id, value in data.items():
        if isinstance(value, str):
            try:
                value = parse_uri(value)
            except AirflowException as exc:
                raise ServiceError(f"Connection {conn_id}: {exc}") from None
        if not isinstance(value, dict):
            raise ServiceError(f"Connection {conn_id}: expected an object of fields or a URI")
        parsed[conn_id] = {k: v for k, v in value.items() if k != "conn_id"}
    counts = {"imported": 0, "skipped": 0}
    with transaction.atomic():
        existing = set(Connection.objects.filter(conn_id__in=list(parsed)).values_list("conn_id", flat=True))
        for conn_id, fields in parsed.items():
            if conn_id in existing and not overwrite:
                counts["skipped"] += 1
                continue
            connection_set(conn_id=conn_id, fields=fields, replace=True, user=user, source=source)
            counts["imported"] += 1
    return counts


def connections_export() -> dict[str, dict[str, Any]]:
    """Every connection's fields, secrets in clear (an export is for moving them elsewhere)."""
    result = {}
    for connection in Connection.objects.order_by("conn_id"):
        fields = connection_fields(connection)
        fields["extra"] = json.loads(fields["extra"]) if fields["extra"] else None
        result[connection.conn_id] = fields
    return result


def fernet_key_rotate() -> int:
    """Encrypt every stored secret again with the first FERNET_KEY; return how many rows."""
    from runs_app.crypto import rotate

    count = 0
    with transaction.atomic():
        for connection in Connection.objects.select_for_update().order_by("pk"):
            Connection.objects.filter(pk=connection.pk).update(
                encrypted_password=rotate(connection.encrypted_password),
                encrypted_extra=rotate(connection.encrypted_extra),
            )
            count += 1
    return count


# -- pools ----------------------------------------------------------------------------------------


def pool_set(*, name: str, slots: Any, description: str = "") -> Pool:
    """Create or update pool ``name`` with ``slots`` (-1: unlimited) and ``description``."""
    try:
        name = validate_key("pool name", name)
    except (TypeError, ValueError) as exc:
        raise ServiceError(str(exc)) from None
    limit = Pool._meta.get_field("name").max_length
    if len(name) > limit:
        raise ServiceError(f"Pool name {name[:40]}... is longer than {limit} characters")
    try:
        slots = int(slots)
    except (TypeError, ValueError):
        raise ServiceError(f"Pool {name}: slots must be a whole number, not {slots!r}") from None
    if slots < -1:
        raise ServiceError(f"Pool {name}: slots must be -1 (unlimited) or more")
    pool, _ = Pool.objects.update_or_create(name=name, defaults={"slots": slots, "description": description or ""})
    return pool


def pool_delete(*, name: str) -> None:
    if name == Pool.DEFAULT_POOL_NAME:
        raise ServiceError("default_pool cannot be deleted")
    if not Pool.objects.filter(name=name).delete()[0]:
        raise NotFound(f"Pool {name} does not exist")


def pools_import(*, data: Any) -> int:
    """Import ``{name: {"slots": n, "description": "..."}}``, all or nothing; return how many."""
    if not isinstance(data, dict):
        raise ServiceError("A pools file must hold one JSON object of name: {slots, description}")
    with transaction.atomic():
        for name, fields in data.items():
            if not isinstance(fields, dict) or "slots" not in fields:
                raise ServiceError(f"Pool {name}: expected an object with slots (and a description)")
            pool_set(name=name, slots=fields["slots"], description=fields.get("description") or "")
    return len(data)


def pools_export() -> dict[str, dict[str, Any]]:
    return {
        name: {"slots": slots, "description": description}
        for name, slots, description in Pool.objects.order_by("name").values_list("name", "slots", "description")
    }

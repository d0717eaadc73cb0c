"""The actions on DAGs and runs, one code path for the CLI, the web views, the admin and any API.

Each service takes keyword-only arguments, does its writes in one transaction, records an
``AuditLog`` row, and raises ``ServiceError`` (with a message fit to show a user) when the
request cannot be done.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from dags_app.errors import NotFound, ServiceError
from dags_app.models import DagFile, DagModel
from dags_app.sdk.validation import validate_key
from dags_app.timetables import timetable_from_dict
from runs_app.models import AuditLog, DagRun, Pool, TaskInstance
from runs_app.states import AuditEvent, DagRunState, DagRunType

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


def task_instances_create(*, dag_run: DagRun) -> list[TaskInstance]:
    """Create one task instance (state ``none``) per task of the run's DAG."""
    tasks = dag_run.dag.tasks
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
        ]
    )


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
) -> DagRun:
    """Create a queued DAG run with its task instances.

    Raises ServiceError when a run with the same logical date or run id exists.
    """
    run_id = run_id or f"{run_type.value}__{logical_date.isoformat()}"
    validate_key("run_id", run_id)
    if data_interval is None:
        interval = timetable_from_dict(dag.serialized["timetable"]).infer_manual_data_interval(run_after=logical_date)
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
                state=DagRunState.QUEUED,
                conf=conf or {},
                queued_at=now,
                triggered_by=triggered_by,
            )
            task_instances_create(dag_run=run)
    except IntegrityError:
        raise ServiceError(
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

    Raises ServiceError for an inactive DAG, a conf that is not a JSON object, a bad run id or a
    run that already exists.
    """
    if not dag.is_active:
        raise ServiceError(f"DAG {dag.dag_id} is not active: its file no longer defines it")
    if conf is not None and not isinstance(conf, dict):
        raise ServiceError("conf must be a JSON object")
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
            triggered_by=getattr(user, "username", "") or source,
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

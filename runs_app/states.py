"""Lifecycle states of DAG runs and task instances, as Airflow names them.

Every state comparison in the project goes through these enums and the named sets below;
no other module spells a state as a loose string.
"""

from django.db import models


class DagRunState(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCESS = "success", "success"
    FAILED = "failed", "failed"


class DagRunType(models.TextChoices):
    SCHEDULED = "scheduled", "scheduled"
    MANUAL = "manual", "manual"
    BACKFILL = "backfill", "backfill"


class TaskInstanceState(models.TextChoices):
    NONE = "none", "none"
    SCHEDULED = "scheduled", "scheduled"
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCESS = "success", "success"
    FAILED = "failed", "failed"
    UP_FOR_RETRY = "up_for_retry", "up for retry"
    # A sensor in mode="reschedule" that has not met its condition: its worker slot is free and
    # the scheduler queues the same try again at its next poke time (``next_retry_at``).
    UP_FOR_RESCHEDULE = "up_for_reschedule", "up for reschedule"
    UPSTREAM_FAILED = "upstream_failed", "upstream failed"
    SKIPPED = "skipped", "skipped"
    REMOVED = "removed", "removed"


DAG_RUN_FINISHED = frozenset({DagRunState.SUCCESS, DagRunState.FAILED})
DAG_RUN_UNFINISHED = frozenset({DagRunState.QUEUED, DagRunState.RUNNING})

TI_FINISHED = frozenset(
    {
        TaskInstanceState.SUCCESS,
        TaskInstanceState.FAILED,
        TaskInstanceState.SKIPPED,
        TaskInstanceState.UPSTREAM_FAILED,
        TaskInstanceState.REMOVED,
    }
)
TI_UNFINISHED = frozenset(
    {
        TaskInstanceState.NONE,
        TaskInstanceState.SCHEDULED,
        TaskInstanceState.QUEUED,
        TaskInstanceState.RUNNING,
        TaskInstanceState.UP_FOR_RETRY,
        TaskInstanceState.UP_FOR_RESCHEDULE,
    }
)
# States in which a task instance holds a worker slot (max_active_tasks, pools).
TI_RUNNING_OR_QUEUED = frozenset({TaskInstanceState.QUEUED, TaskInstanceState.RUNNING})
# Leaf states that let a DAG run finish as success.
TI_SUCCESS_LIKE = frozenset({TaskInstanceState.SUCCESS, TaskInstanceState.SKIPPED})
TI_FAILED_LIKE = frozenset({TaskInstanceState.FAILED, TaskInstanceState.UPSTREAM_FAILED})


class JobType(models.TextChoices):
    SCHEDULER = "scheduler", "scheduler"
    WORKER = "worker", "worker"


class AuditEvent(models.TextChoices):
    TRIGGER = "trigger", "trigger"
    CLEAR = "clear", "clear"
    MARK_SUCCESS = "mark_success", "mark success"
    MARK_FAILED = "mark_failed", "mark failed"
    PAUSE = "pause", "pause"
    UNPAUSE = "unpause", "unpause"
    DELETE = "delete", "delete"
    BACKFILL = "backfill", "backfill"
    RUN = "run", "run"

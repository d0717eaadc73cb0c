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
    ASSET_TRIGGERED = "asset_triggered", "asset_triggered"


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
    VARIABLE_SET = "variable_set", "variable set"
    VARIABLE_DELETE = "variable_delete", "variable delete"
    CONNECTION_SET = "connection_set", "connection set"
    CONNECTION_DELETE = "connection_delete", "connection delete"
    XCOM_SET = "xcom_set", "xcom set"
    XCOM_DELETE = "xcom_delete", "xcom delete"


# One state for a mapped task from its instances' states: while any instance is unfinished, the
# most pressing unfinished state (the task still holds its run open); then the worst finished one.
_UNFINISHED_PRIORITY = (
    TaskInstanceState.UP_FOR_RETRY,
    TaskInstanceState.UP_FOR_RESCHEDULE,
    TaskInstanceState.RUNNING,
    TaskInstanceState.QUEUED,
    TaskInstanceState.SCHEDULED,
    TaskInstanceState.NONE,
)
_FINISHED_PRIORITY = (
    TaskInstanceState.FAILED,
    TaskInstanceState.UPSTREAM_FAILED,
    TaskInstanceState.SUCCESS,
    TaskInstanceState.SKIPPED,
    TaskInstanceState.REMOVED,
)


def aggregate_state(states: list[str]) -> str:
    """Return the state a mapped task shows (and counts as) from its instances' states."""
    present = set(states)
    for state in (*_UNFINISHED_PRIORITY, *_FINISHED_PRIORITY):
        if state in present:
            return state
    return TaskInstanceState.NONE


class TaskStates(dict):
    """{task_id: state} of one run, where a mapped task's state is ``aggregate_state`` of its
    instances; ``mapped`` keeps {task_id: {map_index: state}} so trigger rules count each instance
    (as Airflow's do). A plain dict works wherever no task is mapped."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.mapped: dict[str, dict[int, str]] = {}

    @classmethod
    def from_rows(cls, rows) -> "TaskStates":
        """Build from (task_id, map_index, state) rows."""
        states = cls()
        for task_id, map_index, state in rows:
            states.set(task_id, map_index, state)
        return states

    def set(self, task_id: str, map_index: int, state: str) -> None:
        if map_index < 0:
            self.mapped.pop(task_id, None)
            self[task_id] = state
            return
        instances = self.mapped.setdefault(task_id, {})
        instances[map_index] = state
        self[task_id] = aggregate_state(list(instances.values()))

    def instance_states(self, task_id: str) -> list[str] | None:
        """Every instance's state of a mapped task, or None when ``task_id`` has one instance."""
        instances = self.mapped.get(task_id)
        return list(instances.values()) if instances is not None else None

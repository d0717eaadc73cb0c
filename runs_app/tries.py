"""The metastore side of one try: claim it, record how it ended (retry or not), fast-follow.

The worker's runner (``runner.py``) calls these around the supervised child; the scheduler's
repair calls ``task_instance_record_outcome`` for zombies and tries stuck in ``queued``. The state
changes themselves are in ``transitions.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from runs_app import transitions
from runs_app.assets import asset_events_record
from runs_app.models import DagRun, TaskInstance, XCom
from runs_app.scheduling import Executor, RunSchedule, dag_run_schedule_locked
from runs_app.states import TaskInstanceState

log = logging.getLogger(__name__)

MAX_RETRY_DELAY_SECONDS = 24 * 3600

# The callback each recorded state calls (Airflow's names).
CALLBACK_FOR_STATE = {
    TaskInstanceState.SUCCESS: "on_success_callback",
    TaskInstanceState.FAILED: "on_failure_callback",
    TaskInstanceState.UP_FOR_RETRY: "on_retry_callback",
    TaskInstanceState.SKIPPED: "on_skipped_callback",
}


def alert_email_wanted(task: dict[str, Any], state: str) -> bool:
    """Whether a try that ended as ``state`` sends Airflow's alert email: the task names an
    ``email`` and its ``email_on_failure``/``email_on_retry`` (both on by default) asks for it."""
    wanted = {
        TaskInstanceState.FAILED: task.get("email_on_failure", True),
        TaskInstanceState.UP_FOR_RETRY: task.get("email_on_retry", True),
    }
    return bool(task.get("email")) and bool(wanted.get(state))


def callbacks_owed(task: dict[str, Any], state: str) -> bool:
    """Whether a try that ended as ``state`` has a task callback (the serialized task lists the
    ones its DAG file defines) or an alert email to send."""
    name = CALLBACK_FOR_STATE.get(state)
    return bool(name and name in (task.get("callbacks") or [])) or alert_email_wanted(task, state)


def append_log(log_path: Path | None, message: str) -> None:
    """Append one line in the task logging's format to a try's log (stdout when ``log_path`` is None)."""
    level = "INFO"
    if message.startswith("ERROR - "):
        level, message = "ERROR", message[len("ERROR - ") :]
    now = timezone.now()
    # The same timestamp format as the task's own logging lines (runner.LOG_FORMAT).
    line = f"[{now:%Y-%m-%d %H:%M:%S},{now.microsecond // 1000:03d}] {{runner.py}} {level} - {message}\n"
    if log_path is None:
        sys.stdout.write(line)
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as handle:
        handle.write(line)


@dataclass
class Outcome:
    """How one try ended, as the supervisor (or the repair) records it."""

    state: str
    retry: bool = True
    error: str = ""
    skip: list[str] = field(default_factory=list)
    rendered: dict[str, Any] = field(default_factory=dict)
    # key -> value the try pushed to XCom; written with its state, in one transaction.
    xcoms: dict[str, Any] = field(default_factory=dict)
    superseded: bool = False
    # up_for_reschedule: when the sensor pokes next (ISO 8601).
    reschedule_at: str = ""
    # A mapped instance's name from its task's map_index_template.
    rendered_map_index: str = ""
    # success: the asset events of the task's outlets ({name, uri, group, extra, event_extra, alias?}).
    asset_events: list[dict[str, Any]] = field(default_factory=list)


def next_retry_at(*, ti: TaskInstance, task: dict[str, Any], ended: dt.datetime) -> dt.datetime:
    """Return when the failed try ``ti.try_number`` may be retried (Airflow's formula).

    With ``retry_exponential_backoff`` the delay doubles with each try, with a deterministic
    jitter per task instance and try, capped by ``max_retry_delay``.
    """
    delay = float(task.get("retry_delay") or 0.0)
    if task.get("retry_exponential_backoff"):
        min_backoff = max(1, math.ceil(delay * (2 ** (ti.try_number - 1))))
        seed = f"{ti.dag_run.dag.dag_id}#{ti.task_id}#{ti.dag_run.logical_date}#{ti.try_number}"
        jitter = int(hashlib.sha1(seed.encode()).hexdigest(), 16) % min_backoff
        delay = float(min(min_backoff + jitter, MAX_RETRY_DELAY_SECONDS))
        if task.get("max_retry_delay") is not None:
            delay = min(delay, float(task["max_retry_delay"]))
    return ended + dt.timedelta(seconds=delay)


def task_instance_record_outcome(
    *,
    ti: TaskInstance,
    outcome: Outcome,
    now: dt.datetime,
    executor: Executor | None = None,
    expected: tuple[str, ...] = (TaskInstanceState.RUNNING,),
    owe_callbacks: bool = False,
) -> RunSchedule | None:
    """Write the final state of try ``ti.try_number`` and fast-follow in one transaction.

    Returns None when the row had moved on (cleared, marked, or a superseded try): then
    nothing is written. With ``owe_callbacks`` (the repair: no worker will call them) the try's
    callback and alert email, if it has any, are recorded as owed in the same transaction.
    """
    task = ti.dag_run.dag.get_task(ti.task_id) or {}
    fields: dict[str, Any] = {
        "duration": (now - ti.start_date).total_seconds() if ti.start_date else None,
        "rendered_fields": outcome.rendered,
    }
    if outcome.rendered_map_index:
        fields["rendered_map_index"] = outcome.rendered_map_index[:250]
    state = outcome.state
    if state == TaskInstanceState.FAILED and outcome.retry and ti.try_number <= ti.max_tries:
        state = TaskInstanceState.UP_FOR_RETRY
        fields["next_retry_at"] = next_retry_at(ti=ti, task=task, ended=now)
    if state == TaskInstanceState.UP_FOR_RESCHEDULE:
        when = dt.datetime.fromisoformat(outcome.reschedule_at) if outcome.reschedule_at else now
        fields["next_retry_at"] = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        fields["first_poke_at"] = ti.first_poke_at or ti.start_date or now
        fields["reschedule_count"] = ti.reschedule_count + 1
    recorded = False

    def write(run: DagRun) -> None:
        nonlocal recorded
        recorded = transitions.ti_record_outcome(ti, state=state, now=now, expected=expected, **fields)
        if recorded and owe_callbacks and callbacks_owed(task, state):
            transitions.ti_owe_callbacks(ti, ended_state=state, error=outcome.error, now=now)
        if recorded and outcome.xcoms:
            XCom.objects.bulk_create(
                [
                    XCom(
                        task_instance_id=ti.pk,
                        dag_run_id=ti.dag_run_id,
                        task_id=ti.task_id,
                        map_index=ti.map_index,
                        key=key,
                        value=value,
                    )
                    for key, value in outcome.xcoms.items()
                ],
                update_conflicts=True,
                unique_fields=["task_instance", "key"],
                update_fields=["value", "timestamp"],
            )
        if recorded and outcome.asset_events and state == TaskInstanceState.SUCCESS:
            asset_events_record(events=outcome.asset_events, now=now, ti=ti)
        if recorded and outcome.skip and state == TaskInstanceState.SUCCESS:
            transitions.tis_skip(run=run, task_ids=outcome.skip, now=now)
        if recorded and state == TaskInstanceState.FAILED and run.dag.serialized.get("fail_stop"):
            failed, skipped = transitions.tis_fail_stop(run=run, failed_task_id=ti.task_id, now=now)
            log.warning(
                "runner: %s.%s failed and the DAG has fail_stop: %s running task(s) failed, %s skipped",
                run.dag.dag_id,
                ti.task_id,
                failed,
                skipped,
            )

    # Fast follow: only the tasks right after this one (and after the tasks it skipped) can
    # have become ready or unsatisfiable.
    follow = set(task.get("downstream_task_ids", []))
    tasks = {t["task_id"]: t for t in ti.dag_run.dag.tasks} if outcome.skip else {}
    for skipped in outcome.skip:
        follow.update(tasks.get(skipped, {}).get("downstream_task_ids", []))
    result = dag_run_schedule_locked(run_id=ti.dag_run_id, now=now, executor=executor, before=write, only=follow)
    if not recorded:
        return None
    log.info("runner: %s.%s try %s -> %s", ti.dag_run.dag.dag_id, ti.task_id, ti.try_number, state)
    return result


def task_instance_claim(*, ti_id: int, try_number: int, now: dt.datetime) -> TaskInstance | None:
    """Take try ``try_number`` of a queued task instance for this process; None if it is not ours."""
    with transaction.atomic():
        if not transitions.ti_claim(ti_id=ti_id, try_number=try_number, now=now):
            return None
        # A new try starts from a clean slate: values of earlier tries must not leak into it.
        XCom.objects.filter(task_instance_id=ti_id).delete()
    # The run's DAG version comes along (its hash and number, not its stored form and source), so
    # the runner can tell when the file changed since the run was created.
    return (
        TaskInstance.objects.select_related("dag_run", "dag_run__dag", "dag_run__dag_version")
        .defer("dag_run__dag_version__serialized", "dag_run__dag_version__source")
        .get(pk=ti_id)
    )

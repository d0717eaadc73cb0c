"""Trigger rules: may a task instance run, given the states of its direct upstream task instances?

Pure functions over counts, shared by the scheduler's tick, the worker's fast follow, ``dags test``
and the UI's "why is this task not running?". The semantics are Airflow's
(``TriggerRuleDep._evaluate_direct_relatives`` with ``flag_upstream_failed``): a rule that can no
longer be met turns the task ``skipped`` or ``upstream_failed`` at once, so the run can finish.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dags_app.sdk.trigger_rule import TriggerRule
from runs_app.states import TaskInstanceState as S


@dataclass(frozen=True)
class UpstreamCounts:
    """How many direct upstream task instances are in each finished state, and in all."""

    total: int = 0
    success: int = 0
    skipped: int = 0
    failed: int = 0
    upstream_failed: int = 0
    removed: int = 0
    # Of them, the setup tasks (ALL_DONE_SETUP_SUCCESS looks at these).
    setup_total: int = 0
    setup_success: int = 0
    setup_skipped: int = 0

    def __add__(self, other: UpstreamCounts) -> UpstreamCounts:
        return UpstreamCounts(
            total=self.total + other.total,
            success=self.success + other.success,
            skipped=self.skipped + other.skipped,
            failed=self.failed + other.failed,
            upstream_failed=self.upstream_failed + other.upstream_failed,
            removed=self.removed + other.removed,
            setup_total=self.setup_total + other.setup_total,
            setup_success=self.setup_success + other.setup_success,
            setup_skipped=self.setup_skipped + other.setup_skipped,
        )

    @property
    def done(self) -> int:
        return self.success + self.skipped + self.failed + self.upstream_failed + self.removed

    @property
    def all_done(self) -> bool:
        return self.done >= self.total


@dataclass(frozen=True)
class DepStatus:
    """The verdict for one task instance: run now, wait, or take ``new_state`` (skipped/upstream_failed)."""

    ready: bool
    new_state: S | None = None
    reason: str = ""


def count_upstream(
    upstream_task_ids: Iterable[str], states: Mapping[str, str], setups: Iterable[str] = ()
) -> UpstreamCounts:
    """Return the counts of the upstream tasks' states (missing instances count as not done);
    ``setups`` names the upstream tasks that are setup tasks."""
    counts = {S.SUCCESS: 0, S.SKIPPED: 0, S.FAILED: 0, S.UPSTREAM_FAILED: 0, S.REMOVED: 0}
    total = 0
    setup_ids = set(setups)
    setup_counts = {"total": 0, S.SUCCESS: 0, S.SKIPPED: 0}
    mapped = getattr(states, "mapped", {})
    for task_id in upstream_task_ids:
        # A mapped upstream counts each of its instances, as in Airflow.
        instances = list(mapped[task_id].values()) if task_id in mapped else [states.get(task_id)]
        for state in instances:
            total += 1
            if state in counts:
                counts[state] += 1
            if task_id in setup_ids:
                setup_counts["total"] += 1
                if state in (S.SUCCESS, S.SKIPPED):
                    setup_counts[state] += 1
    return UpstreamCounts(
        total=total,
        success=counts[S.SUCCESS],
        skipped=counts[S.SKIPPED],
        failed=counts[S.FAILED],
        upstream_failed=counts[S.UPSTREAM_FAILED],
        removed=counts[S.REMOVED],
        setup_total=setup_counts["total"],
        setup_success=setup_counts[S.SUCCESS],
        setup_skipped=setup_counts[S.SKIPPED],
    )


def _new_state(rule: TriggerRule, c: UpstreamCounts) -> S | None:
    """Return the state a task takes because its rule can no longer be met, or None."""
    failed_any = c.failed or c.upstream_failed
    match rule:
        case TriggerRule.ALL_SUCCESS:
            if failed_any:
                return S.UPSTREAM_FAILED
            if c.skipped:
                return S.SKIPPED
        case TriggerRule.ALL_FAILED:
            if c.success or c.skipped:
                return S.SKIPPED
        case TriggerRule.ONE_SUCCESS:
            if c.all_done and c.done == c.skipped:
                return S.SKIPPED
            if c.all_done and c.success <= 0:
                return S.UPSTREAM_FAILED
        case TriggerRule.ALL_DONE_MIN_ONE_SUCCESS:
            # Airflow's docs: runs once all upstream are done and at least one succeeded; decided
            # as one_success is when that can no longer happen.
            if c.all_done and c.done == c.skipped:
                return S.SKIPPED
            if c.all_done and c.success <= 0:
                return S.UPSTREAM_FAILED
        case TriggerRule.ONE_FAILED:
            if c.all_done and not failed_any:
                return S.SKIPPED
        case TriggerRule.ONE_DONE:
            if c.all_done and not (c.failed or c.success):
                return S.SKIPPED
        case TriggerRule.NONE_FAILED:
            if failed_any:
                return S.UPSTREAM_FAILED
        case TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
            if failed_any:
                return S.UPSTREAM_FAILED
            if c.total and c.skipped == c.total:
                return S.SKIPPED
        case TriggerRule.NONE_SKIPPED:
            if c.skipped:
                return S.SKIPPED
        case TriggerRule.ALL_SKIPPED:
            if c.success or failed_any:
                return S.SKIPPED
        case TriggerRule.ALL_DONE_SETUP_SUCCESS:
            # Airflow: skipped when every setup was skipped, upstream_failed when none succeeded.
            if c.all_done and c.setup_total and c.setup_skipped >= c.setup_total:
                return S.SKIPPED
            if c.all_done and c.setup_total and c.setup_success == 0:
                return S.UPSTREAM_FAILED
    return None


def _waiting_reason(rule: TriggerRule, c: UpstreamCounts) -> str | None:
    """Return why the rule is not met yet, or None when it is met."""
    summary = (
        f"upstream: {c.total} total, {c.success} success, {c.skipped} skipped, {c.failed} failed, "
        f"{c.upstream_failed} upstream_failed, {c.total - c.done} not done"
    )
    met: bool
    match rule:
        case TriggerRule.ALWAYS:
            met = True
        case TriggerRule.ONE_SUCCESS:
            met = c.success > 0
        case TriggerRule.ONE_FAILED:
            met = bool(c.failed or c.upstream_failed)
        case TriggerRule.ONE_DONE:
            met = c.success + c.failed > 0
        case TriggerRule.ALL_SUCCESS:
            met = c.total - c.success <= 0
        case TriggerRule.ALL_FAILED:
            met = c.total - c.failed - c.upstream_failed <= 0
        case TriggerRule.ALL_DONE:
            met = c.all_done
        case TriggerRule.ALL_DONE_MIN_ONE_SUCCESS:
            met = c.all_done and c.success > 0
        case TriggerRule.NONE_FAILED:
            met = c.total - c.success - c.skipped <= 0
        case TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
            met = c.total - c.success - c.skipped <= 0 and (c.success > 0 or c.total == 0)
        case TriggerRule.NONE_SKIPPED:
            met = c.all_done and c.skipped == 0
        case TriggerRule.ALL_SKIPPED:
            met = c.total - c.skipped <= 0
        case TriggerRule.ALL_DONE_SETUP_SUCCESS:
            met = c.all_done and (c.setup_total == 0 or c.setup_success > 0)
        case _:
            return f"No strategy to evaluate trigger rule '{rule}'"
    return None if met else f"Trigger rule '{rule.value}' is not met yet ({summary})"


def evaluate_trigger_rule(trigger_rule: str, counts: UpstreamCounts) -> DepStatus:
    """Return whether a task with ``trigger_rule`` may run given its upstream ``counts``."""
    rule = TriggerRule(trigger_rule)
    if counts.total == 0:
        # As Airflow's TriggerRuleDep: a task without upstream tasks runs whatever its rule
        # (otherwise a root task with one_success, one_failed or one_done would be skipped).
        return DepStatus(ready=True, reason="The task instance did not have any upstream tasks")
    new_state = _new_state(rule, counts)
    if new_state is not None:
        return DepStatus(
            ready=False,
            new_state=new_state,
            reason=f"Trigger rule '{rule.value}' can no longer be met: the task is {new_state.value}",
        )
    waiting = _waiting_reason(rule, counts)
    if waiting is not None:
        return DepStatus(ready=False, reason=waiting)
    return DepStatus(ready=True, reason="All dependencies are met")


PAST_SUCCESS = frozenset({S.SUCCESS, S.SKIPPED})


def needs_past(task: Mapping) -> bool:
    """Whether ``task`` depends on the previous run (``depends_on_past`` or ``wait_for_downstream``)."""
    return bool(task.get("depends_on_past") or task.get("wait_for_downstream"))


def past_reason(task: Mapping, previous: Mapping[str, str] | None) -> str | None:
    """Return why ``task`` must wait for the previous run, or None when it may go (Airflow's PrevDagrunDep).

    ``previous`` holds the previous run's task states (None: this is the DAG's first run, which
    never waits). The previous instance must have succeeded or been skipped; with
    ``wait_for_downstream``, so must its direct downstream instances of that run. A task the
    previous run did not have goes ahead when ``ignore_first_depends_on_past`` (the default).
    """
    if not needs_past(task) or previous is None:
        return None
    task_id = task["task_id"]
    state = previous.get(task_id)
    if state is None:
        if task.get("ignore_first_depends_on_past", True):
            return None
        return f"depends_on_past is set and the previous run has no instance of {task_id}."
    if state not in PAST_SUCCESS:
        return (
            f"depends_on_past is set: the previous run's {task_id} is {state}, and it must succeed or be skipped first."
        )
    if task.get("wait_for_downstream"):
        waiting = [
            f"{d} ({previous[d]})"
            for d in task.get("downstream_task_ids", [])
            if d in previous and previous[d] not in PAST_SUCCESS
        ]
        if waiting:
            return (
                "wait_for_downstream is set: in the previous run, the tasks right after it have not "
                f"succeeded yet: {', '.join(waiting)}."
            )
    return None

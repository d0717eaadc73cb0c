"""Trigger-rule evaluation (runs_app.deps): the verdicts of Airflow's ``TriggerRuleDep``.

Each case gives the states of three direct upstream task instances; the expected verdict is
``READY`` (run now), ``WAIT`` (not yet) or the state the task takes at once because its rule can
no longer be met (Airflow's ``flag_upstream_failed``).
"""

from __future__ import annotations

import pytest

from dags_app.sdk.trigger_rule import TriggerRule as TR
from runs_app.deps import UpstreamCounts, count_upstream, evaluate_trigger_rule
from runs_app.states import TaskInstanceState as S

pytestmark = pytest.mark.no_database

READY = "ready"
WAIT = "wait"
SKIPPED = S.SKIPPED
UPSTREAM_FAILED = S.UPSTREAM_FAILED

UPSTREAM = ("up_1", "up_2", "up_3")

CASES: dict[str, tuple[str | None, str | None, str | None]] = {
    "all_success": (S.SUCCESS, S.SUCCESS, S.SUCCESS),
    "success_failed_skipped": (S.SUCCESS, S.FAILED, S.SKIPPED),
    "all_skipped": (S.SKIPPED, S.SKIPPED, S.SKIPPED),
    "none_done": (S.NONE, S.QUEUED, S.RUNNING),
    "one_success_others_running": (S.SUCCESS, S.RUNNING, S.SCHEDULED),
    "one_failed_others_running": (S.FAILED, S.RUNNING, S.UP_FOR_RETRY),
    "one_skipped_others_running": (S.SKIPPED, S.RUNNING, None),
    "all_failed": (S.FAILED, S.UPSTREAM_FAILED, S.FAILED),
    "success_and_failed": (S.SUCCESS, S.FAILED, S.SUCCESS),
}

# rule -> case -> verdict. The "success_failed_skipped" column is the table of
# dags/example_trigger_rules.py.
EXPECTED: dict[TR, dict[str, str]] = {
    TR.ALL_SUCCESS: {
        "all_success": READY,
        "success_failed_skipped": UPSTREAM_FAILED,
        "all_skipped": SKIPPED,
        "none_done": WAIT,
        "one_success_others_running": WAIT,
        "one_failed_others_running": UPSTREAM_FAILED,
        "one_skipped_others_running": SKIPPED,
        "all_failed": UPSTREAM_FAILED,
        "success_and_failed": UPSTREAM_FAILED,
    },
    TR.ALL_FAILED: {
        "all_success": SKIPPED,
        "success_failed_skipped": SKIPPED,
        "all_skipped": SKIPPED,
        "none_done": WAIT,
        "one_success_others_running": SKIPPED,
        "one_failed_others_running": WAIT,
        "one_skipped_others_running": SKIPPED,
        "all_failed": READY,
        "success_and_failed": SKIPPED,
    },
    TR.ALL_DONE: {
        "all_success": READY,
        "success_failed_skipped": READY,
        "all_skipped": READY,
        "none_done": WAIT,
        "one_success_others_running": WAIT,
        "one_failed_others_running": WAIT,
        "one_skipped_others_running": WAIT,
        "all_failed": READY,
        "success_and_failed": READY,
    },
    # As Airflow documents it ("all upstream done, at least one succeeded"), which the project
    # follows; Airflow 3.1's code skips as soon as any upstream is skipped (apache/airflow#59925).
    TR.ALL_DONE_MIN_ONE_SUCCESS: {
        "all_success": READY,
        "success_failed_skipped": READY,
        "all_skipped": SKIPPED,
        "none_done": WAIT,
        "one_success_others_running": WAIT,
        "one_failed_others_running": WAIT,
        "one_skipped_others_running": WAIT,
        "all_failed": UPSTREAM_FAILED,
        "success_and_failed": READY,
    },
    TR.ALL_SKIPPED: {
        "all_success": SKIPPED,
        "success_failed_skipped": SKIPPED,
        "all_skipped": READY,
        "none_done": WAIT,
        "one_success_others_running": SKIPPED,
        "one_failed_others_running": SKIPPED,
        "one_skipped_others_running": WAIT,
        "all_failed": SKIPPED,
        "success_and_failed": SKIPPED,
    },
    TR.ONE_SUCCESS: {
        "all_success": READY,
        "success_failed_skipped": READY,
        "all_skipped": SKIPPED,
        "none_done": WAIT,
        "one_success_others_running": READY,
        "one_failed_others_running": WAIT,
        "one_skipped_others_running": WAIT,
        "all_failed": UPSTREAM_FAILED,
        "success_and_failed": READY,
    },
    TR.ONE_FAILED: {
        "all_success": SKIPPED,
        "success_failed_skipped": READY,
        "all_skipped": SKIPPED,
        "none_done": WAIT,
        "one_success_others_running": WAIT,
        "one_failed_others_running": READY,
        "one_skipped_others_running": WAIT,
        "all_failed": READY,
        "success_and_failed": READY,
    },
    TR.ONE_DONE: {
        "all_success": READY,
        "success_failed_skipped": READY,
        "all_skipped": SKIPPED,
        "none_done": WAIT,
        "one_success_others_running": READY,
        "one_failed_others_running": READY,
        "one_skipped_others_running": WAIT,
        "all_failed": READY,
        "success_and_failed": READY,
    },
    TR.NONE_FAILED: {
        "all_success": READY,
        "success_failed_skipped": UPSTREAM_FAILED,
        "all_skipped": READY,
        "none_done": WAIT,
        "one_success_others_running": WAIT,
        "one_failed_others_running": UPSTREAM_FAILED,
        "one_skipped_others_running": WAIT,
        "all_failed": UPSTREAM_FAILED,
        "success_and_failed": UPSTREAM_FAILED,
    },
    TR.NONE_FAILED_MIN_ONE_SUCCESS: {
        "all_success": READY,
        "success_failed_skipped": UPSTREAM_FAILED,
        "all_skipped": SKIPPED,
        "none_done": WAIT,
        "one_success_others_running": WAIT,
        "one_failed_others_running": UPSTREAM_FAILED,
        "one_skipped_others_running": WAIT,
        "all_failed": UPSTREAM_FAILED,
        "success_and_failed": UPSTREAM_FAILED,
    },
    TR.NONE_SKIPPED: {
        "all_success": READY,
        "success_failed_skipped": SKIPPED,
        "all_skipped": SKIPPED,
        "none_done": WAIT,
        "one_success_others_running": WAIT,
        "one_failed_others_running": WAIT,
        "one_skipped_others_running": SKIPPED,
        "all_failed": READY,
        "success_and_failed": READY,
    },
    TR.ALWAYS: dict.fromkeys(CASES, READY),
    # Without setup tasks upstream, a teardown's rule is all_done (Airflow: "not upstream_setup").
}
EXPECTED[TR.ALL_DONE_SETUP_SUCCESS] = dict(EXPECTED[TR.ALL_DONE])


def verdict(rule: str, states: dict[str, str]) -> str:
    status = evaluate_trigger_rule(rule, count_upstream(UPSTREAM, states))
    if status.new_state is not None:
        assert status.ready is False
        return status.new_state
    return READY if status.ready else WAIT


def test_every_trigger_rule_has_expectations_for_every_case():
    assert set(EXPECTED) == set(TR)
    for rule, by_case in EXPECTED.items():
        assert set(by_case) == set(CASES), rule


@pytest.mark.parametrize(
    ("rule", "case"),
    [(rule, case) for rule in TR for case in CASES],
    ids=[f"{rule.value}-{case}" for rule in TR for case in CASES],
)
def test_trigger_rule_verdict_matches_airflow(rule, case):
    states = {task_id: state for task_id, state in zip(UPSTREAM, CASES[case], strict=True) if state is not None}

    assert verdict(rule, states) == EXPECTED[rule][case]


@pytest.mark.parametrize("rule", list(TR), ids=[r.value for r in TR])
def test_task_without_upstream_tasks_is_ready_whatever_its_rule(rule):
    # Airflow's TriggerRuleDep passes at once when the task has no upstream tasks.
    status = evaluate_trigger_rule(rule, count_upstream([], {}))

    assert status.ready is True
    assert status.new_state is None


def test_success_failed_skipped_case_matches_the_example_dag_table():
    from runs_app.states import TaskInstanceState

    table = {
        "all_success": "upstream_failed",
        "all_failed": "skipped",
        "all_done": "success",
        "all_done_min_one_success": "success",
        "all_skipped": "skipped",
        "one_success": "success",
        "one_failed": "success",
        "one_done": "success",
        "none_failed": "upstream_failed",
        "none_failed_min_one_success": "upstream_failed",
        "none_skipped": "skipped",
        "always": "success",
        "all_done_setup_success": "success",
    }
    states = dict(zip(UPSTREAM, (S.SUCCESS, S.FAILED, S.SKIPPED), strict=True))
    got = {}
    for rule in TR:
        result = verdict(rule, states)
        got[rule.value] = TaskInstanceState.SUCCESS.value if result == READY else str(result)

    assert got == table


def test_count_upstream_counts_missing_and_unfinished_instances_as_not_done():
    counts = count_upstream(
        ["a", "b", "c", "d", "e", "f"],
        {"a": S.SUCCESS, "b": S.RUNNING, "c": S.REMOVED, "d": S.UPSTREAM_FAILED, "e": S.UP_FOR_RETRY},
    )

    assert counts == UpstreamCounts(total=6, success=1, skipped=0, failed=0, upstream_failed=1, removed=1)
    assert counts.done == 3
    assert counts.all_done is False


def test_waiting_verdict_explains_the_upstream_counts():
    status = evaluate_trigger_rule(TR.ALL_SUCCESS, count_upstream(UPSTREAM, {"up_1": S.SUCCESS}))

    assert status.ready is False
    assert status.new_state is None
    assert status.reason == (
        "Trigger rule 'all_success' is not met yet (upstream: 3 total, 1 success, 0 skipped, 0 failed, "
        "0 upstream_failed, 2 not done)"
    )


def test_unmeetable_verdict_names_the_new_state():
    status = evaluate_trigger_rule(TR.ALL_SUCCESS, count_upstream(UPSTREAM, {"up_1": S.FAILED}))

    assert status.reason == "Trigger rule 'all_success' can no longer be met: the task is upstream_failed"


@pytest.mark.parametrize(
    ("setup_state", "work_state", "expected"),
    [
        (S.SUCCESS, S.FAILED, READY),  # the teardown runs although the work failed
        (S.SUCCESS, S.RUNNING, WAIT),
        (S.FAILED, S.UPSTREAM_FAILED, UPSTREAM_FAILED),
        (S.SKIPPED, S.SKIPPED, SKIPPED),
    ],
)
def test_all_done_setup_success_looks_at_the_setups(setup_state, work_state, expected):
    counts = count_upstream(["setup", "work"], {"setup": setup_state, "work": work_state}, setups=["setup"])
    status = evaluate_trigger_rule(TR.ALL_DONE_SETUP_SUCCESS, counts)
    assert (status.new_state or (READY if status.ready else WAIT)) == expected

"""The transitions module owns every state change, and it follows its table."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from runs_app import transitions
from runs_app.models import DagRun, TaskInstance
from runs_app.scheduler import tick
from runs_app.scheduling import InlineExecutor
from runs_app.services import dag_trigger
from runs_app.states import DagRunState, TaskInstanceState
from tests.runs_app.helpers import NOW

ROOT = Path(__file__).resolve().parents[2]
APPS = ["runs_app", "dags_app", "orchestrator_site"]
# Writes of a ``state`` that is not a task instance's or run's, each with why: (file, code).
NOT_ROWS = {
    ("runs_app/runner.py", "self.state = state"),  # the task's context ``ti`` (RuntimeTaskInstance)
    ("runs_app/runner.py", "outcome.update(state="),  # the child's outcome dict, sent to the supervisor
    # A mapped task's grid summary (its first instance, made read-only): the instances' state.
    ("runs_app/selectors.py", "ti.state = aggregate_state("),
}
WRITERS = {"update", "create", "bulk_create", "bulk_update", "get_or_create", "update_or_create"}

TI = TaskInstanceState


def _state_writes(path: Path) -> list[str]:
    """Return "file:line what" for each write of ``state`` in one module (AST, not text)."""
    found: list[tuple[int, str]] = []
    name_of = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
    source = path.read_text()
    for node in ast.walk(ast.parse(source, filename=str(path))):
        what = None
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in WRITERS | {"TaskInstance", "DagRun"} and any(k.arg == "state" for k in node.keywords):
                what = f"{name}(state=...)"
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if isinstance(element, ast.Attribute) and element.attr == "state":
                        what = ".state = ..."
        if what is None:
            continue
        code = ast.get_source_segment(source, node) or ""
        if not any(name_of == file and code.startswith(allowed) for file, allowed in NOT_ROWS):
            found.append((node.lineno, what))
    return [f"{name_of}:{line} {what}" for line, what in sorted(found)]


def test_no_module_but_transitions_writes_a_task_instance_or_run_state():
    offenders = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if path.name == "transitions.py" or "migrations" in path.parts:
                continue
            offenders += _state_writes(path)
    assert offenders == [], "\n".join(offenders)


def test_the_grep_finds_the_writes_it_must_refuse(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from runs_app.models import TaskInstance\n"
        "TaskInstance.objects.filter(pk=1).update(state='failed')\n"
        "ti = TaskInstance()\n"
        "ti.state = 'success'\n"
        "run.state, x = 'failed', 1\n"
    )
    assert _state_writes(probe) == [
        "probe.py:2 update(state=...)",
        "probe.py:4 .state = ...",
        "probe.py:5 .state = ...",
    ]


def test_the_tables_name_every_state_and_only_known_states():
    assert set(transitions.TI_TRANSITIONS) == set(TaskInstanceState)
    assert set(transitions.RUN_TRANSITIONS) == set(DagRunState)


@pytest.mark.parametrize(
    ("expected", "target"),
    [
        ((TI.SUCCESS,), TI.RUNNING),  # a finished try never runs again without a new try
        ((TI.NONE,), TI.RUNNING),  # only a queued try is claimed
        ((TI.RUNNING,), TI.SCHEDULED),
        ((TI.UP_FOR_RETRY,), TI.RUNNING),
    ],
)
def test_a_move_the_table_does_not_allow_is_refused_before_any_write(expected, target):
    with pytest.raises(transitions.IllegalTransition):
        transitions._move_tis(TaskInstance.objects.none(), expected=expected, target=target)


def test_a_run_cannot_go_back_to_queued_from_running():
    with pytest.raises(transitions.IllegalTransition):
        transitions._move_run(0, expected=[DagRunState.RUNNING], target=DagRunState.QUEUED)


@pytest.mark.django_db
def test_a_move_reports_whether_it_happened(make_dag):
    dag = make_dag("d", body="    BashOperator(task_id='t', bash_command='true')\n", schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    ti = TaskInstance.objects.get(dag_run=run)

    assert transitions.ti_claim(ti_id=ti.pk, try_number=1, now=NOW) is True
    assert transitions.ti_claim(ti_id=ti.pk, try_number=1, now=NOW) is False  # another worker's
    assert transitions.ti_claim(ti_id=ti.pk, try_number=2, now=NOW) is False
    ti.refresh_from_db()
    assert transitions.ti_record_outcome(ti, state=TI.SUCCESS, now=NOW) is True
    assert transitions.ti_record_outcome(ti, state=TI.FAILED, now=NOW) is False  # a late second report
    assert TaskInstance.objects.get(pk=ti.pk).state == TI.SUCCESS


@pytest.mark.django_db
def test_reopen_uses_the_database_state_not_a_stale_copy(make_dag):
    dag = make_dag("d", body="    BashOperator(task_id='t', bash_command='true')\n", schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    stale = DagRun.objects.get(pk=run.pk)
    stale.state = DagRunState.SUCCESS  # what this process believes (a test may write .state)
    assert transitions.run_reopen(stale, target=DagRunState.RUNNING, now=NOW) is False
    assert DagRun.objects.get(pk=run.pk).state == DagRunState.QUEUED


@pytest.mark.django_db
def test_a_retry_and_a_clear_each_keep_the_try_they_end_in_the_history(make_dag):
    from runs_app.models import TaskInstanceHistory
    from runs_app.services import task_instances_clear
    from tests.runs_app.helpers import finish, queue

    body = "    BashOperator(task_id='t', bash_command='false', retries=1, retry_delay=datetime.timedelta(0))\n"
    dag = make_dag("tries", body=body, schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, executor=InlineExecutor())
    ti = TaskInstance.objects.get(dag_run=run, task_id="t")
    assert not TaskInstanceHistory.objects.exists()  # a first try ends no earlier one

    first = finish(ti, TI.FAILED)
    assert first.state == TI.UP_FOR_RETRY
    queue(ti)  # try 2: try 1 (up_for_retry) is kept as it ended
    second = finish(ti, TI.FAILED, retry=False)
    task_instances_clear(tis=[second], now=NOW)  # try 2 (failed) is kept; the row goes to none

    kept = list(TaskInstanceHistory.objects.filter(task_instance=ti).values_list("try_number", "state", "hostname"))
    assert kept == [(1, TI.UP_FOR_RETRY, first.hostname), (2, TI.FAILED, second.hostname)]
    tick(now=NOW, executor=InlineExecutor())  # try 3 starts from none: try 2 is not kept twice
    assert TaskInstanceHistory.objects.filter(task_instance=ti).count() == 2
    ti.refresh_from_db()
    assert (ti.state, ti.try_number) == (TI.QUEUED, 3)

"""``python manage.py tasks ...``: Airflow's ``airflow tasks`` subcommands."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

pytestmark = pytest.mark.django_db


def test_tasks_list_prints_one_task_id_a_line_sorted(cli, example_dags):
    assert cli("tasks", "list", "example").splitlines() == ["audit", "extract", "load", "transform"]


def test_tasks_list_tree_prints_each_task_under_its_upstream(cli, example_dags):
    assert cli("tasks", "list", "example", "--tree").splitlines() == [
        "<Task(BashOperator): extract>",
        "    <Task(EmptyOperator): audit>",
        "    <Task(EmptyOperator): transform>",
        "        <Task(EmptyOperator): load>",
    ]


def test_tasks_list_of_an_unknown_dag_fails(cli, example_dags):
    with pytest.raises(CommandError, match=r"^Dag id nope not found in DagModel$"):
        cli("tasks", "list", "nope")


def test_tasks_list_without_a_dag_id_fails(cli, example_dags):
    with pytest.raises(CommandError, match="the following arguments are required: dag_id"):
        cli("tasks", "list")


# -- set-state (the UI's Mark) -------------------------------------------------------------------


def _triggered(cli) -> str:
    cli("dags", "trigger", "example", "-e", "2024-02-01", "-r", "manual_1")
    return "manual_1"


def test_tasks_set_state_marks_one_task_success_and_audits_it(cli, example_dags):
    from runs_app.models import AuditLog, TaskInstance

    run_id = _triggered(cli)

    out = cli("tasks", "set-state", "example", "extract", run_id, "success")

    assert out.strip() == "Marked 1 task instance(s) success in run manual_1"
    assert TaskInstance.objects.get(dag_run__run_id=run_id, task_id="extract").state == "success"
    assert cli("tasks", "state", "example", "extract", run_id).strip() == "success"
    assert AuditLog.objects.filter(event="mark_success", task_id="extract").count() == 1


def test_tasks_set_state_downstream_marks_the_tasks_below(cli, example_dags):
    run_id = _triggered(cli)

    cli("tasks", "set-state", "example", "extract", run_id, "failed", "--downstream")

    states = cli("tasks", "states-for-dag-run", "example", run_id, "-o", "json")
    assert '"failed"' in states and "none" not in states


def test_tasks_set_state_rejects_a_state_that_is_not_a_mark(cli, example_dags):
    run_id = _triggered(cli)

    with pytest.raises(CommandError, match="invalid choice: 'running'"):
        cli("tasks", "set-state", "example", "extract", run_id, "running")


def test_dags_set_state_marks_the_run_and_skips_its_unfinished_tasks(cli, example_dags):
    run_id = _triggered(cli)

    out = cli("dags", "set-state", "example", run_id, "failed")

    assert out.strip() == "Marked run manual_1 failed (4 task instance(s) changed)"
    assert cli("dags", "state", "example", "2024-02-01").strip() == "failed"
    assert set(cli("tasks", "states-for-dag-run", "example", run_id, "-o", "plain").split()) >= {"skipped"}


def test_dags_set_state_of_an_unknown_run_fails_in_one_line(cli, example_dags):
    with pytest.raises(CommandError, match=r"^Invalid logical date or run id 'nope': expected an ISO date"):
        cli("dags", "set-state", "example", "nope", "success")
    with pytest.raises(
        CommandError, match=r"^DagRun for example with run_id or logical_date of '2030-01-01' not found$"
    ):
        cli("dags", "set-state", "example", "2030-01-01", "success")

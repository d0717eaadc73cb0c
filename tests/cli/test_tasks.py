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

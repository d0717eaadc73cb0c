"""``tasks ... --map-index`` and mapped instances in the CLI."""

from __future__ import annotations

import json

import pytest
from django.core.management.base import CommandError
from django.utils import timezone

from runs_app import transitions

pytestmark = pytest.mark.django_db

MAPPED = """
import datetime
from dags_app.sdk import DAG, BashOperator

with DAG("mapped_cli", schedule=None, start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)):
    BashOperator.partial(task_id="echo").expand(bash_command=["echo zero", "echo one", "echo two"])
"""


@pytest.fixture
def mapped_run(cli, dag_file):
    from runs_app.models import DagRun

    dag_file("mapped_cli.py", MAPPED)
    cli("dags", "trigger", "mapped_cli", "-e", "2024-02-01", "-r", "m1")
    run = DagRun.objects.get(run_id="m1")
    transitions.ti_expand(run=run, task_id="echo", length=3, now=timezone.now())
    return run


def test_states_for_dag_run_prints_the_map_index_of_each_instance(cli, mapped_run):
    rows = json.loads(cli("tasks", "states-for-dag-run", "mapped_cli", "m1", "-o", "json"))
    assert [(r["task_id"], r["map_index"], r["state"]) for r in rows] == [
        ("echo", 0, "none"),
        ("echo", 1, "none"),
        ("echo", 2, "none"),
    ]


def test_set_state_with_a_map_index_marks_that_instance_and_without_it_every_instance(cli, mapped_run):
    assert "Marked 1 task instance(s) failed" in cli(
        "tasks", "set-state", "mapped_cli", "echo", "m1", "failed", "-m", "1"
    )
    assert cli("tasks", "state", "mapped_cli", "echo", "m1", "--map-index", "1").strip() == "failed"
    assert cli("tasks", "state", "mapped_cli", "echo", "m1", "--map-index", "0").strip() == "none"
    assert "Marked 3 task instance(s) success" in cli("tasks", "set-state", "mapped_cli", "echo", "m1", "success")
    assert cli("tasks", "state", "mapped_cli", "echo", "m1").strip() == "success"


def test_an_unknown_map_index_is_one_clear_line(cli, mapped_run):
    with pytest.raises(CommandError, match=r"^Task instance echo with map index 9 does not exist in run m1$"):
        cli("tasks", "state", "mapped_cli", "echo", "m1", "-m", "9")
    with pytest.raises(CommandError, match=r"is mapped into 3 instances in run m1: give --map-index \(0 to 2\)"):
        cli("tasks", "run", "mapped_cli", "echo", "m1")


@pytest.mark.django_db(transaction=True)
def test_tasks_test_runs_one_mapped_instance_with_its_value(cli, dag_file, capfd):
    dag_file("mapped_cli.py", MAPPED)
    with pytest.raises(CommandError, match="is mapped: give --map-index"):
        cli("tasks", "test", "mapped_cli", "echo", "2024-03-01")
    out = cli("tasks", "test", "mapped_cli", "echo", "2024-03-01", "--map-index", "2")
    assert "Task echo ended: success" in out
    assert "'echo two'" in capfd.readouterr().err

"""Pools (issue 12, part 6): the ``pools`` CLI and the admin list, with running, queued and open
slots counted in pool slots."""

from __future__ import annotations

import json

import pytest
from django.core.management.base import CommandError
from django.urls import reverse

from runs_app.models import Pool, TaskInstance
from runs_app.services import dag_trigger
from runs_app.states import TaskInstanceState
from tests.runs_app.helpers import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy_pool(make_dag):
    """Pool ``etl`` (5 slots): a task holding 2 slots runs, one holding 1 slot is queued."""
    Pool.objects.create(name="etl", slots=5, description="the ETL lane")
    dag = make_dag(
        "pooled",
        body=(
            "    EmptyOperator(task_id='a', pool='etl', pool_slots=2)\n"
            "    EmptyOperator(task_id='b', pool='etl')\n"
            "    EmptyOperator(task_id='c', pool='etl')\n"
        ),
        schedule="None",
    )
    run = dag_trigger(dag=dag, now=NOW)
    tis = {ti.task_id: ti for ti in TaskInstance.objects.filter(dag_run=run)}
    TaskInstance.objects.filter(pk=tis["a"].pk).update(state=TaskInstanceState.RUNNING)
    TaskInstance.objects.filter(pk=tis["b"].pk).update(state=TaskInstanceState.QUEUED)
    return run


def test_pools_list_shows_running_queued_and_open_slots(cli, busy_pool):
    rows = {r["pool"]: r for r in json.loads(cli("pools", "list", "-o", "json"))}

    assert rows["etl"] == {
        "pool": "etl",
        "slots": 5,
        "description": "the ETL lane",
        "running_slots": 2,
        "queued_slots": 1,
        "scheduled_slots": 0,
        "open_slots": 2,
    }
    assert "default_pool" in rows


def test_pools_set_get_delete_import_export(cli, tmp_path):
    out = json.loads(cli("pools", "set", "api", "3", "calls to the API", "-o", "json"))
    assert out[0]["pool"] == "api" and out[0]["open_slots"] == 3
    cli("pools", "set", "api", "-1", "unlimited now")
    assert json.loads(cli("pools", "get", "api", "-o", "json"))[0]["open_slots"] == "unlimited"

    path = tmp_path / "pools.json"
    assert cli("pools", "export", str(path)) == f"Exported 2 pools to {path}\n"
    assert json.loads(path.read_text())["api"] == {"slots": -1, "description": "unlimited now"}
    assert cli("pools", "delete", "api") == "Pool api deleted\n"
    assert cli("pools", "import", str(path)) == "Uploaded 2 pool(s)\n"
    assert Pool.objects.get(name="api").slots == -1

    with pytest.raises(CommandError, match="default_pool cannot be deleted"):
        cli("pools", "delete", "default_pool")
    with pytest.raises(CommandError, match="Pool nope does not exist"):
        cli("pools", "get", "nope")
    with pytest.raises(CommandError, match="Pool nope does not exist"):
        cli("pools", "delete", "nope")
    with pytest.raises(CommandError, match="slots must be a whole number"):
        cli("pools", "set", "bad", "many", "x")
    path.write_text(json.dumps({"ok": {"slots": 1}, "broken": {"description": "no slots"}}))
    with pytest.raises(CommandError, match="Pool broken: expected an object with slots"):
        cli("pools", "import", str(path))
    assert not Pool.objects.filter(name="ok").exists()  # all or nothing


def test_the_admin_pool_list_shows_the_slots_in_use(client, op_user, busy_pool):
    client.force_login(op_user)
    page = client.get(reverse("admin:runs_app_pool_changelist")).content.decode()
    assert "running slots" in page.lower() and "open slots" in page.lower()
    row = page[page.index(">etl<") :][:600]
    assert [cell for cell in ("5", "2", "1") if f">{cell}<" in row] == ["5", "2", "1"]


def test_a_pool_name_longer_than_the_column_is_one_clear_error(cli):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="longer than 100 characters"):
        cli("pools", "set", "p" * 101, "3", "too long")

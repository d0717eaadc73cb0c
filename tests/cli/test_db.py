"""``python manage.py db init|migrate|check`` and ``cheat-sheet``."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from runs_app.models import Pool

pytestmark = pytest.mark.django_db


def test_db_check_reports_a_successful_connection(cli):
    out = cli("db", "check")

    assert out.strip() == f"Connection successful ({connection.vendor})."


def test_db_init_migrates_and_says_it_is_done(cli):
    out = cli("db", "init")

    assert "Database migrating done!" in out
    assert out.rstrip().endswith("Initialization done")


def test_db_init_creates_the_roles_and_the_default_pool(cli):
    Group.objects.all().delete()
    Pool.objects.all().delete()

    cli("db", "init")

    assert sorted(Group.objects.values_list("name", flat=True)) == ["Admin", "Op", "User", "Viewer"]
    assert Pool.objects.filter(name=Pool.DEFAULT_POOL_NAME).exists()


def test_db_migrate_says_it_is_done(cli):
    assert cli("db", "migrate").rstrip().endswith("Database migrating done!")


def test_cheat_sheet_lists_the_dag_and_user_commands(cli):
    out = cli("cheat-sheet")

    for command in ("dags list", "dags trigger", "tasks list", "users create", "db init"):
        assert f"python manage.py {command}" in out

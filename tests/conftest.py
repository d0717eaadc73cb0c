"""Shared fixtures: personas (one user per role), a temporary DAG folder, real services."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

pytest_plugins = ["tests.conftest_services"]

PASSWORD = "password-for-tests"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    """Users made by tests hash their password with MD5: the production hasher (PBKDF2, a million
    rounds) costs a third of a second per user, and tests make thousands. Only this process reads
    these hashes (the live server runs in it; no subprocess logs a test user in). PBKDF2 stays
    second, so users a subprocess made (``airflow users create``) still check."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]


@pytest.fixture
def dags_folder(tmp_path: Path, settings) -> Path:
    """An empty DAG folder that the project's settings point at."""
    folder = tmp_path / "dags"
    folder.mkdir()
    settings.DAGS_FOLDER = folder
    settings.LOGS_FOLDER = tmp_path / "logs"
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "PARSE_TIMEOUT": 5.0}
    return folder


@pytest.fixture
def dag_file(dags_folder: Path) -> Callable[[str, str], Path]:
    """Write a DAG file (dedented source) into the temporary DAG folder; return its path."""

    def write(name: str, source: str) -> Path:
        path = dags_folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        return path

    return write


@pytest.fixture
def cli() -> Callable[..., str]:
    """Run a management command in this process and return what it printed on stdout."""

    def run(*args: str) -> str:
        out = io.StringIO()
        call_command(*args, stdout=out, stderr=io.StringIO())
        return out.getvalue()

    return run


@pytest.fixture
def sync(dags_folder: Path):
    """Sync the temporary DAG folder into the metastore; returns the SyncReport."""
    from dags_app.services import dag_folder_sync

    def run(**kwargs):
        return dag_folder_sync(now=kwargs.pop("now", timezone.now()), folder=dags_folder, **kwargs)

    return run


def _make_user(django_user_model, role: str, username: str):
    from orchestrator_site.accounts import user_create

    return user_create(
        username=username,
        email=f"{username}@example.com",
        first_name=username.title(),
        last_name="Tester",
        password=PASSWORD,
        role=role,
    )


@pytest.fixture
def admin_user(db, django_user_model):
    """Alice, an Admin."""
    return _make_user(django_user_model, "Admin", "alice")


@pytest.fixture
def op_user(db, django_user_model):
    """Oscar, an Op."""
    return _make_user(django_user_model, "Op", "oscar")


@pytest.fixture
def user_user(db, django_user_model):
    """Ursula, a User."""
    return _make_user(django_user_model, "User", "ursula")


@pytest.fixture
def viewer_user(db, django_user_model):
    """Victor, a Viewer."""
    return _make_user(django_user_model, "Viewer", "victor")


@pytest.fixture
def outsider(db, django_user_model):
    """Charlie, logged in but in no role."""
    return django_user_model.objects.create_user(username="charlie", password=PASSWORD)


def pytest_collection_modifyitems(config, items):
    """ONLY_DATABASE_TESTS=1 (set by scripts/test.sh for its PostgreSQL phase) leaves out the
    modules marked ``no_database`` (parsing, the SDK, dependency rules, charts): they ran in the
    SQLite phase, and running them against PostgreSQL tests nothing new. The mark is checked
    there: pytest-django refuses database access to a test that asks for no database fixture."""
    import os

    if os.environ.get("ONLY_DATABASE_TESTS") != "1":
        return
    dropped = [item for item in items if item.get_closest_marker("no_database")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker("no_database")]

"""Fixtures of the CLI tests: a DAG folder with known DAGs, and running ``manage.py`` for real."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

EXAMPLE_DAG = """
import datetime
from dags_app.sdk import DAG, BashOperator, EmptyOperator

with DAG(
    "example",
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    schedule="@daily",
    catchup=True,
    tags=["demo"],
    default_args={"owner": "data-team"},
    description="The example of the CLI tests",
) as dag:
    load = EmptyOperator(task_id="load")
    extract = BashOperator(task_id="extract", bash_command="echo {{ ds }}")
    transform = EmptyOperator(task_id="transform")
    audit = EmptyOperator(task_id="audit")
    extract >> transform >> load
    extract >> audit
"""

OTHER_DAG = """
from dags_app.sdk import DAG, EmptyOperator

with DAG("other", schedule=None) as dag:
    EmptyOperator(task_id="only")
"""


@pytest.fixture
def example_dags(dag_file) -> dict[str, Path]:
    """The DAG folder holds ``example`` (daily, 4 tasks, owner data-team) and ``other`` (unscheduled)."""
    return {"example": dag_file("example.py", EXAMPLE_DAG), "other": dag_file("other.py", OTHER_DAG)}


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def _runner(dags_folder: Path, tmp_path: Path, command: list[str], cwd: Path) -> Callable[..., Completed]:
    env = {
        **os.environ,
        "DAGS_FOLDER": str(dags_folder),
        "LOGS_FOLDER": str(tmp_path / "logs"),
        "DATABASE_URL": _database_url(),
        "ORCHESTRATOR_PARSE_TIMEOUT": "10",
    }

    def run(*args: str) -> Completed:
        done = subprocess.run(
            [*command, *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return Completed(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def manage(dags_folder: Path, tmp_path: Path) -> Callable[..., Completed]:
    """Run ``python manage.py ARGS`` in a subprocess against the test database and DAG folder.

    Use it from ``@pytest.mark.django_db(transaction=True)`` tests, so the rows a test writes are
    committed and the subprocess sees them.
    """
    return _runner(dags_folder, tmp_path, [sys.executable, "manage.py"], settings.BASE_DIR)


@pytest.fixture
def airflow(dags_folder: Path, tmp_path: Path) -> Callable[..., Completed]:
    """Run the ``airflow`` console script of the virtualenv, from a folder outside the project."""
    return _runner(dags_folder, tmp_path, [str(Path(sys.executable).parent / "airflow")], tmp_path)

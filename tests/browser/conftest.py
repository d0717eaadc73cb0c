"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

Screenshots of every main page go to ``build/screenshots/`` (look at them). A scheduler and a
worker run as real subprocesses against the test database when a test asks for ``system``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings

# Playwright's sync API runs an event loop in the test thread; the ORM calls in the same tests
# are fine (pytest-django's live server runs in its own thread).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Launch Debian's Chromium (never a downloaded browser), headless, quiet on the network."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, "viewport": {"width": 1440, "height": 900}}


@pytest.fixture
def screenshot(page) -> Callable[[str], Path]:
    """Save a full-page screenshot as build/screenshots/<name>.png; return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def example_dags(dags_folder: Path) -> Path:
    """The project's example DAGs, copied into the temporary DAG folder and synced."""
    from django.utils import timezone

    from dags_app.services import dag_folder_sync

    for source in (ROOT / "dags").glob("*.py"):
        shutil.copy(source, dags_folder / source.name)
    dag_folder_sync(now=timezone.now(), folder=dags_folder)
    return dags_folder


@pytest.fixture
def login(page, live_server) -> Callable[[str, str], None]:
    """Log in through the real login form."""
    from tests.conftest import PASSWORD

    def do(username: str, password: str = PASSWORD) -> None:
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")

    return do


def _database_url() -> str:
    db = django_settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user, host, port = db.get("USER") or "postgres", db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


@pytest.fixture
def system(example_dags: Path, redis_url: str, tmp_path: Path, settings) -> Iterator[None]:
    """A real scheduler and a real worker running against the test database."""
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis_url,
        "DAGS_FOLDER": str(example_dags),
        "LOGS_FOLDER": str(settings.LOGS_FOLDER),
        "ORCHESTRATOR_PARSE_INTERVAL": "2",
        "ORCHESTRATOR_HEARTBEAT_INTERVAL": "1",
        "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings",
    }
    procs = []
    for name, args in (("scheduler", ["scheduler", "--interval", "0.3"]), ("worker", ["rqworker", "default"])):
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        procs.append(
            (
                subprocess.Popen(
                    [sys.executable, "manage.py", *args],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                ),
                log,
            )
        )
    yield
    for proc, log in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, interval: float = 0.2) -> None:
    """Poll ``condition`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout:g} s")

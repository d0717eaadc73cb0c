"""``make run`` (scripts/run.sh) as a new user meets it: the login comes last and at every start,
and killing one process leaves the others running (issue 14, item 6).

The script runs for real (Redis, migrate, scheduler, worker, runserver) on a SQLite file, ports
and a run folder of its own, so it never touches the checkout's ``db.sqlite3`` or ``.run/``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest_services import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
        reason="make run uses a SQLite file of its own: once per suite, in the SQLite phase",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120.0


class MakeRun:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.run_dir = tmp_path / "run"
        self.port = free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "RUN_DIR": str(self.run_dir),
            "PORT": str(self.port),
            "REDIS_PORT": str(free_port()),
            "LOGS_FOLDER": str(tmp_path / "logs"),
            "STATIC_ROOT": str(tmp_path / "static"),
            "FOLLOW_LOGS": "1",
            "STOP_TIMEOUT": "5",
        }
        self.env.pop("REDIS_URL", None)
        self.proc: subprocess.Popen | None = None
        self.out_path = tmp_path / "out-0.txt"
        self.starts = 0

    def start(self, **env: str) -> str:
        """Start ``bash scripts/run.sh``; return its output up to the end of the summary."""
        self.out_path = self.tmp_path / f"out-{self.starts}.txt"
        self.starts += 1
        with open(self.out_path, "w") as out:
            self.proc = subprocess.Popen(
                ["bash", "scripts/run.sh"],
                cwd=ROOT,
                env={**self.env, **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.wait_for("A process that exits leaves the others running")

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def wait_for(self, text: str) -> str:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            out = self.output()
            if text in out:
                return out
            assert self.proc is not None and self.proc.poll() is None, f"make run ended:\n{out[-3000:]}"
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not printed within {TIMEOUT:g} s:\n{self.output()[-3000:]}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # what Ctrl-C does: the script stops its children
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        assert "stopped. Logs are in" in self.output()

    def web_status(self, path: str = "/login/") -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
            return response.status

    def pid_of(self, name: str) -> int:
        """The pid a process logged at its start (the scheduler: "Starting the scheduler (pid N")."""
        match = re.search(r"\(pid (\d+)", (self.run_dir / f"{name}.log").read_text())
        assert match, (self.run_dir / f"{name}.log").read_text()
        return int(match.group(1))


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[MakeRun]:
    runner = MakeRun(tmp_path)
    try:
        yield runner
    finally:
        runner.stop()


def test_make_run_shows_the_login_last_at_every_start_and_outlives_a_killed_scheduler(make_run):
    first = make_run.start()

    lines = first.splitlines()
    bars = [i for i, line in enumerate(lines) if line.startswith("[run] -----")]
    summary = "\n".join(lines[bars[-2] : bars[-1] + 1])
    password = re.search(r"Created the user 'admin' with the password: (\S+)", summary)
    assert password, summary
    # Nothing of the processes' start-up logs comes between the URL and the login.
    assert f"Orchestrator: http://localhost:{make_run.port}/" in summary
    assert not re.search(r"^\[(worker|scheduler|web)\]", summary, re.M), summary
    assert (make_run.run_dir / "admin-password").read_text().strip() == password.group(1)
    assert oct((make_run.run_dir / "admin-password").stat().st_mode & 0o777) == "0o600"

    os.kill(make_run.pid_of("scheduler"), signal.SIGKILL)
    after = make_run.wait_for("To start scheduler again")
    assert "scheduler exited" in after
    hint = r"To start scheduler again, in another terminal: REDIS_URL=\S+ \.venv/bin/python manage\.py scheduler"
    assert re.search(hint, after)
    time.sleep(2)  # the script's watch loop runs every second: it must not stop the others now
    assert make_run.proc.poll() is None
    assert make_run.web_status() == 200
    make_run.stop()

    second = make_run.start(SCHEDULER="0")
    assert f"Log in as 'admin' with the password: {password.group(1)}" in second
    assert "No scheduler (SCHEDULER=0): start one with" in second
    assert "Running: worker web" in second
    assert make_run.web_status() == 200

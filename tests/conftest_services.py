"""Pytest fixtures that start real services for the tests (a pytest plugin module).

Registered by ``tests/conftest.py`` with ``pytest_plugins = ["tests.conftest_services"]``.

- ``redis_server`` (session): a private ``redis-server`` on a free loopback port, no persistence,
  killed at the end. Under pytest-xdist each worker is its own session, so each gets its own.
- ``redis_url`` (function): that server's URL, with the server flushed, ``settings.REDIS_URL`` and
  every ``settings.RQ_QUEUES[...]["URL"]`` pointed at it, and ``REDIS_URL`` set in ``os.environ``
  so subprocesses (workers, the scheduler) started by the test use it too.
- ``free_port()``: a TCP port that was free on 127.0.0.1 a moment ago.
"""

from __future__ import annotations

import copy
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REDIS_START_TIMEOUT = 10.0  # seconds; it is ready in about 20 ms on an idle machine


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port nobody listens on right now (the OS picks it; it may be taken again later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen
    directory: Path
    host: str = "127.0.0.1"
    db: int = 0
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.directory / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/{self.db}"

    def client(self):
        import redis

        return redis.Redis.from_url(self.url)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _redis_server_binary() -> str:
    # Debian puts it in /usr/bin; look there too in case PATH was trimmed.
    binary = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    if binary is None:
        pytest.fail("redis-server is not installed: run scripts/bootstrap.sh (apt-get install redis-server)")
    return binary


def _start_redis(binary: str, directory: Path, port: int | None = None) -> RedisServer:
    """Start a redis-server on ``port`` (default: a free one) and wait until it answers PING."""
    import redis

    port = port or free_port()
    # Popen hands the file to the child; ours is closed when the ``with`` ends.
    with open(directory / "redis.log", "ab") as log:
        process = subprocess.Popen(
            [
                binary,
                *("--port", str(port), "--bind", "127.0.0.1"),
                # A throw-away cache: no RDB snapshots, no AOF, files (none) in our temp dir.
                *("--save", "", "--appendonly", "no", "--dir", str(directory)),
                *("--loglevel", "warning"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Left in pytest's process group on purpose: if pytest is killed without its
            # teardown (a closed terminal, a CI timeout), the signal to the group ends Redis too.
        )
    server = RedisServer(port=port, process=process, directory=directory)
    deadline = time.monotonic() + REDIS_START_TIMEOUT
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        while True:
            if process.poll() is not None:
                # Most likely another process took the port between free_port() and the bind.
                raise RuntimeError(f"redis-server exited with {process.returncode}:\n{server.log_tail()}")
            try:
                if client.ping():
                    return server
            except redis.exceptions.ConnectionError:
                pass
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"redis-server did not answer PING in {REDIS_START_TIMEOUT} s:\n{server.log_tail()}")
            time.sleep(0.01)
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server for this test session, on a free port, stopped at the end."""
    binary = _redis_server_binary()
    directory = Path(tempfile.mkdtemp(prefix="pytest-redis-"))
    server = None
    errors = []
    try:
        for _attempt in range(3):  # free_port() can race with another process: try another port
            try:
                server = _start_redis(binary, directory)
                break
            except RuntimeError as exc:
                errors.append(str(exc))
        if server is None:
            pytest.fail("could not start redis-server:\n" + "\n---\n".join(errors))
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server: RedisServer, settings, monkeypatch) -> Iterator[str]:
    """The session's Redis, emptied, with Django settings and the environment pointing at it."""
    url = redis_server.url
    client = redis_server.client()
    try:
        client.flushall()
    finally:
        client.close()

    # pytest-django's ``settings`` fixture restores both at the end of the test. Copy the queue
    # configs rather than editing them in place, or the change would outlive the test.
    settings.REDIS_URL = url
    queues = copy.deepcopy(getattr(settings, "RQ_QUEUES", {}) or {"default": {}})
    for config in queues.values():
        for key in ("HOST", "PORT", "DB", "UNIX_SOCKET_PATH", "USE_REDIS_CACHE", "SENTINELS"):
            config.pop(key, None)
        config["URL"] = url
    settings.RQ_QUEUES = queues
    # Subprocesses started by the test read REDIS_URL in settings.py.
    monkeypatch.setenv("REDIS_URL", url)

    _reset_django_rq()
    yield url
    _reset_django_rq()


def _reset_django_rq() -> None:
    """Drop state django-rq keeps between calls.

    django-rq 4.2 caches no connection or queue: ``get_connection``/``get_queue`` read
    ``settings.RQ_QUEUES`` on every call (``django_rq.settings.QUEUES`` is a module
    ``__getattr__``). The only state is the thread-local list of jobs held back until the end
    of a request (``COMMIT_MODE = "request_finished"``): clear it so none leaks between tests.
    Queues built at import time (``@django_rq.job("default")`` decorators, module-level
    ``get_queue()``) keep the connection they were built with: build them lazily.
    """
    try:
        from django_rq import thread_queue
    except ImportError:
        return
    thread_queue.clear()


# -- a private PostgreSQL server, for tests that stop and start it ----------------------------------


def _pg_bin() -> Path | None:
    candidates = [Path("/usr/lib/postgresql/15/bin")]
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)
    return next((d for d in candidates if (d / "initdb").exists()), None)


@dataclass
class PostgresServer:
    """A throw-away PostgreSQL cluster of one test: ``stop()`` and ``start()`` it as a restart would."""

    bin: Path
    directory: Path
    port: int = 0

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/orchestrator"

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        import os

        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*prefix, *argv], cwd=self.directory, capture_output=True, text=True, timeout=60, check=check
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.directory / 'sock'} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        data, log = str(self.directory / "data"), str(self.directory / "postgres.log")
        self.run(str(self.bin / "pg_ctl"), "-D", data, "-l", log, "-w", "-t", "30", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self.run(str(self.bin / "pg_ctl"), "-D", str(self.directory / "data"), "-m", mode, "-w", "stop", check=False)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.directory / "postgres.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test alone (initdb, a free port, a database ``orchestrator``).

    Skipped where the server binaries are missing. As root its tools run as ``postgres`` (which
    refuses root), in a directory that user owns.
    """
    import os

    pg_bin = _pg_bin()
    if pg_bin is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    directory = Path(tempfile.mkdtemp(prefix="pytest-pg-"))
    (directory / "sock").mkdir()
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
        shutil.chown(directory / "sock", "postgres", "postgres")
    server = PostgresServer(bin=pg_bin, directory=directory)
    try:
        server.run(
            str(pg_bin / "initdb"), "-D", str(directory / "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        for attempt in range(3):
            server.port = free_port()
            try:
                server.start()
                break
            except subprocess.CalledProcessError:
                if attempt == 2:
                    pytest.fail(f"could not start PostgreSQL:\n{server.log_tail()}")
        server.run(
            str(pg_bin / "createdb"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", "orchestrator"
        )
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)

"""Soak: the web, the scheduler and 4 RQ workers on one SQLite file for 5 minutes.

Runs the real system in a temporary folder, as ``make run`` does but with gunicorn for the web:
a private redis-server, a fresh SQLite database, ``manage.py scheduler``, ``--workers``
``manage.py rqworker`` processes and ``gunicorn`` (2 processes). The load, all at once:

- ``--dags`` DAGs scheduled every minute with catch-up (a burst of runs at start), each a small
  pipeline: an XCom producer, two counters in parallel, a task that fails its first try and
  succeeds on the retry, and an XCom consumer;
- logged-in browser-like clients reading the DAG list, grid, graph, Gantt, browse and log pages,
  and posting triggers and clears through the web forms;
- the CLI: ``dags trigger``, ``dags list``, ``tasks states-for-dag-run`` in a loop.

Then the load stops, every run is let finish, and the soak checks that no "database is locked"
reached anyone: no HTTP 5xx and no failed request, no failed CLI command, no such line in any
process's log or task log, every run succeeded, and every try ran exactly once (the counters).

Prints one JSON line of figures and a last line ``soak: PASS`` or ``soak: FAIL: <reasons>``; the
exit status is non-zero on failure. ``make test`` runs it (``SOAK_SECONDS``, default 300).

Usage: ``.venv/bin/python bench/bench_soak.py [--seconds 300] [--workers 4] [--dags 6]``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.cookiejar
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
LOCKED = "database is locked"
PASSWORD = "soak-password-1"

DAG = """
import datetime
import pendulum
from dags_app.sdk import DAG, BashOperator, PythonOperator, get_current_context

COUNTER = {counter!r}


def count():
    ctx = get_current_context()
    ti = ctx["ti"]
    with open(COUNTER, "a") as fh:
        fh.write(f"{{ti.dag_id}} {{ctx['run_id']}} {{ti.task_id}} {{ti.try_number}}\\n")


def produce():
    count()
    return {{"rows": list(range(50))}}


def flaky():
    count()
    if get_current_context()["ti"].try_number == 1:
        raise RuntimeError("first try fails on purpose")


def consume():
    count()
    ti = get_current_context()["ti"]
    assert len(ti.xcom_pull(task_ids="produce")["rows"]) == 50


with DAG(
    "{dag_id}",
    schedule="* * * * *",
    start_date=pendulum.parse("{start}"),
    catchup=True,
    is_paused_upon_creation=False,
    max_active_runs=4,
    default_args={{"retries": 1, "retry_delay": datetime.timedelta(seconds=1)}},
) as dag:
    p = PythonOperator(task_id="produce", python_callable=produce)
    a = PythonOperator(task_id="count_a", python_callable=count)
    b = BashOperator(
        task_id="count_b",
        bash_command='echo "{{{{ dag.dag_id }}}} {{{{ run_id }}}} {{{{ ti.task_id }}}} {{{{ ti.try_number }}}}"'
        + " >> "
        + COUNTER,
    )
    f = PythonOperator(task_id="flaky", python_callable=flaky)
    c = PythonOperator(task_id="consume", python_callable=consume)
    p >> [a, b, f] >> c
"""

PAGES = [
    "/",
    "/?status=active",
    "/dags/{dag}/grid/",
    "/dags/{dag}/graph/",
    "/dags/{dag}/gantt/",
    "/dags/{dag}/durations/",
    "/dags/{dag}/code/",
    "/dags/{dag}/runs/{run}/",
    "/dags/{dag}/runs/{run}/tasks/produce/",
    "/dags/{dag}/runs/{run}/tasks/flaky/log/?try_number=1",
    "/browse/runs/",
    "/browse/task-instances/",
    "/browse/xcoms/",
    "/browse/audit-log/",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-soak-"))
        self.dags = [f"soak_{n}" for n in range(args.dags)]
        self.counter = self.tmp / "counter.txt"
        self.db_path = self.tmp / "db.sqlite3"
        self.port = free_port()
        self.redis_port = free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "DAGS_FOLDER": str(self.tmp / "dags"),
            "LOGS_FOLDER": str(self.tmp / "logs"),
            "STATIC_ROOT": str(self.tmp / "static"),
            "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings",
            "PYTHONPATH": str(ROOT),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        self.procs: list[subprocess.Popen] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.failures: list[str] = []  # what reached a user: 5xx, refused requests, failed CLI commands
        self.counts = collections.Counter()

    # --- processes -----------------------------------------------------------------------------
    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, check=check
        )

    def spawn(self, name: str, *cmd: str) -> None:
        log = open(self.tmp / f"{name}.log", "w")  # noqa: SIM115 (the child holds it)
        self.procs.append(
            subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )

    def start(self) -> None:
        (self.tmp / "dags").mkdir()
        # Fixed in the file (a start date computed at parse time would change the DAG each parse).
        start = time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime(time.time() - 60 * self.args.catchup))
        for dag_id in self.dags:
            source = DAG.format(dag_id=dag_id, counter=str(self.counter), start=start)
            (self.tmp / "dags" / f"{dag_id}.py").write_text(source)
        self.spawn(
            "redis",
            "redis-server",
            "--port",
            str(self.redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.tmp),
        )
        self.manage("migrate", "-v0")
        self.manage("collectstatic", "--noinput", "-v0")
        self.manage(
            *("users", "create", "-r", "Admin", "-u", "soak", "-e", "soak@example.com"),
            *("-f", "Soak", "-l", "Test", "-p", PASSWORD),
        )
        self.manage("dags", "list")  # parses the folder
        self.spawn("scheduler", PYTHON, "manage.py", "scheduler")
        for i in range(self.args.workers):
            self.spawn(f"worker{i}", PYTHON, "manage.py", "rqworker", "default")
        self.spawn(
            "web",
            str(BIN / "gunicorn"),
            "orchestrator_site.wsgi:application",
            *("--bind", f"127.0.0.1:{self.port}", "--workers", "2", "--threads", "2", "--access-logfile", "-"),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.2)
        raise SystemExit("soak: FAIL: the web server did not start within 30 s (see web.log)")

    def shutdown(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    # --- database (read only, from the bench itself) -------------------------------------------
    def query(self, sql: str, *params) -> list[tuple]:
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def recent_runs(self) -> list[tuple[str, str]]:
        return self.query(
            "SELECT d.dag_id, r.run_id FROM runs_app_dagrun r JOIN dags_app_dagmodel d ON d.id = r.dag_id "
            "ORDER BY r.id DESC LIMIT 40"
        )

    # --- load ----------------------------------------------------------------------------------
    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)

    def client(self, seed: int) -> None:
        rng = random.Random(seed)
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = f"http://127.0.0.1:{self.port}"

        def csrf() -> str:
            return next((c.value for c in jar if c.name == "csrftoken"), "")

        def request(path: str, data: dict | None = None) -> None:
            body = None
            headers = {}
            if data is not None:
                body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": csrf()}).encode()
                headers = {"Referer": base + path}
            t0 = time.perf_counter()
            try:
                with opener.open(urllib.request.Request(base + path, data=body, headers=headers), timeout=60) as resp:
                    text = resp.read().decode(errors="replace")
                status = resp.status
            except urllib.error.HTTPError as exc:
                status, text = exc.code, exc.read().decode(errors="replace")
            except OSError as exc:
                self.fail(f"{'POST' if data is not None else 'GET'} {path}: {exc}")
                return
            elapsed = time.perf_counter() - t0
            with self.lock:
                self.latencies.append(elapsed)
                self.counts["post" if data is not None else "get"] += 1
            if status >= 400 or LOCKED in text:
                snippet = LOCKED if LOCKED in text else text[:200].replace("\n", " ")
                self.fail(f"{'POST' if data is not None else 'GET'} {path}: HTTP {status} {snippet}")

        request("/login/")
        request("/login/", {"username": "soak", "password": PASSWORD})
        if not any(c.name == "sessionid" for c in jar):
            self.fail("login refused")
            return
        while not self.stop.is_set():
            runs = self.recent_runs()
            dag = rng.choice(self.dags)
            roll = rng.random()
            if roll < 0.06:
                request(
                    f"/dags/{dag}/trigger/", {"conf": json.dumps({"from": "web"}), "logical_date": "", "run_id": ""}
                )
            elif roll < 0.09 and runs:
                dag, run = rng.choice(runs)
                request(f"/dags/{dag}/runs/{urllib.parse.quote(run)}/clear/", {"confirmed": "1", "only_failed": ""})
            else:
                page = rng.choice(PAGES)
                if "{run}" in page:
                    if not runs:
                        continue
                    dag, run = rng.choice(runs)
                    page = page.format(dag=dag, run=urllib.parse.quote(run))
                request(page.format(dag=dag))
            self.stop.wait(rng.uniform(0.05, 0.3))

    def cli(self) -> None:
        rng = random.Random(7)
        while not self.stop.is_set():
            dag = rng.choice(self.dags)
            runs = self.recent_runs()
            commands = [("dags", "trigger", dag), ("dags", "list")]
            if runs:
                dag, run = rng.choice(runs)
                commands.append(("tasks", "states-for-dag-run", dag, run))
            for command in commands:
                result = self.manage(*command, check=False)
                with self.lock:
                    self.counts["cli"] += 1
                if result.returncode != 0 or LOCKED in result.stdout + result.stderr:
                    self.fail(
                        f"{' '.join(command)}: exit {result.returncode}: {(result.stderr or result.stdout)[-300:]}"
                    )
            self.stop.wait(rng.uniform(1, 3))

    # --- the soak ------------------------------------------------------------------------------
    def run(self) -> int:
        t_start = time.monotonic()
        self.start()
        threads = [threading.Thread(target=self.client, args=(n,), daemon=True) for n in range(self.args.clients)]
        threads.append(threading.Thread(target=self.cli, daemon=True))
        for thread in threads:
            thread.start()
        self.stop.wait(self.args.seconds)
        self.stop.set()
        for thread in threads:
            thread.join(90)
        load_seconds = time.monotonic() - t_start

        # Let every run finish: pause the DAGs so that no new scheduled run starts.
        for dag_id in self.dags:
            self.manage("dags", "pause", dag_id, check=False)
        deadline = time.monotonic() + self.args.drain
        while time.monotonic() < deadline:
            busy = self.query("SELECT COUNT(*) FROM runs_app_dagrun WHERE state IN ('queued', 'running')")[0][0]
            if not busy:
                break
            time.sleep(1)
        reasons = self.check(busy)
        runs = self.query("SELECT state, COUNT(*) FROM runs_app_dagrun GROUP BY state")
        tis = self.query("SELECT COUNT(*) FROM runs_app_taskinstance WHERE end_date IS NOT NULL")[0][0]
        tries = len(self.counter.read_text().splitlines()) if self.counter.exists() else 0
        figures = {
            "bench": "soak",
            "database": "sqlite",
            "workers": self.args.workers,
            "seconds": round(load_seconds, 1),
            "dags": len(self.dags),
            "runs": dict(runs),
            "task_instances_finished": tis,
            "tries": tries,
            "tries_per_s": round(tries / load_seconds, 1),
            "web_requests": self.counts["get"] + self.counts["post"],
            "web_posts": self.counts["post"],
            "web_p50_ms": round(statistics.median(self.latencies) * 1000, 1) if self.latencies else None,
            "web_p95_ms": round(percentile(self.latencies, 0.95) * 1000, 1) if self.latencies else None,
            "cli_commands": self.counts["cli"],
            "failures": len(self.failures),
        }
        print(json.dumps(figures))
        for failure in self.failures[:20]:
            print(f"  reached a user: {failure}")
        if reasons:
            print(f"soak: FAIL: {'; '.join(reasons)} (logs: {self.tmp})")
            return 1
        print("soak: PASS")
        return 0

    def check(self, busy: int) -> list[str]:
        reasons = []
        if self.failures:
            reasons.append(f"{len(self.failures)} failed request(s) or command(s)")
        if busy:
            reasons.append(f"{busy} run(s) still queued or running {self.args.drain:g} s after the load stopped")
        locked = [
            f"{path.relative_to(self.tmp)}: {line.strip()[:200]}"
            for path in sorted(self.tmp.rglob("*.log"))
            for line in path.read_text(errors="replace").splitlines()
            if LOCKED in line
        ]
        for line in locked[:10]:
            print(f"  {line}")
        if locked:
            reasons.append(f'{len(locked)} "{LOCKED}" line(s) in the logs')
        tracebacks = [
            path.name
            for path in sorted(self.tmp.glob("*.log"))
            if path.name != "redis.log" and "Traceback" in path.read_text(errors="replace")
        ]
        if tracebacks:
            reasons.append(f"a traceback in {', '.join(tracebacks)}")
        not_success = self.query("SELECT state, COUNT(*) FROM runs_app_dagrun WHERE state != 'success' GROUP BY state")
        if not_success:
            reasons.append(f"runs not successful: {dict(not_success)}")
        if not self.query("SELECT COUNT(*) FROM runs_app_dagrun")[0][0]:
            reasons.append("no run at all")
        # Every try ran once: a line per (run, task, try), counted by the tasks themselves.
        lines = self.counter.read_text().splitlines() if self.counter.exists() else []
        twice = [line for line, n in collections.Counter(lines).items() if n > 1]
        if twice:
            reasons.append(f"{len(twice)} tries ran more than once, e.g. {twice[0]}")
        # ... and every success the database recorded is a try that ran.
        ran = set(lines)
        missing = [
            row
            for row in self.query(
                "SELECT d.dag_id, r.run_id, t.task_id, t.try_number FROM runs_app_taskinstance t "
                "JOIN runs_app_dagrun r ON r.id = t.dag_run_id JOIN dags_app_dagmodel d ON d.id = t.dag_id "
                "WHERE t.state = 'success'"
            )
            if " ".join(map(str, row)) not in ran
        ]
        if missing:
            reasons.append(f"{len(missing)} successes with no try counted, e.g. {missing[0]}")
        return reasons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS") or 300))
    parser.add_argument("--workers", type=int, default=4, help="RQ workers (default 4)")
    parser.add_argument("--dags", type=int, default=6, help="DAGs scheduled every minute (default 6)")
    parser.add_argument("--catchup", type=int, default=5, help="Minutes of catch-up each DAG starts with")
    parser.add_argument("--clients", type=int, default=3, help="Concurrent web clients (default 3)")
    parser.add_argument("--drain", type=float, default=180, help="Seconds to let runs finish after the load")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder even on success")
    args = parser.parse_args()
    soak = Soak(args)
    code = 1
    try:
        code = soak.run()
    finally:
        soak.shutdown()
        if code == 0 and not args.keep:
            shutil.rmtree(soak.tmp, ignore_errors=True)
        else:
            print(f"kept {soak.tmp}")
    sys.exit(code)


if __name__ == "__main__":
    main()

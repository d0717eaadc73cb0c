"""Benchmark: task-to-task lag and wall time of a 20-task chain and a 100-task fan-out.

Runs the real system in a temporary folder: a private redis-server, a fresh SQLite database (or
``--database-url``), the scheduler (``manage.py scheduler``) and ``--workers`` RQ workers
(``manage.py rqworker``). For each DAG it triggers one run and prints:

- lag: start of a task minus the end of its last upstream task (p50, p95, max), in ms;
- wall: end of the last task minus start of the first, in seconds.

Usage: ``.venv/bin/python bench/bench_lag.py [--workers 4] [--database-url postgres://...]``.
Figures are for reading, not for asserting: machines here are shared and noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

CHAIN = """
import pendulum
from dags_app.sdk import DAG, PythonOperator, chain

with DAG("bench_chain", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         is_paused_upon_creation=False, max_active_tasks=64) as dag:
    chain(*[PythonOperator(task_id=f"t{i:02d}", python_callable=lambda: None) for i in range(20)])
"""

FANOUT = """
import pendulum
from dags_app.sdk import DAG, PythonOperator

with DAG("bench_fanout", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         is_paused_upon_creation=False, max_active_tasks=200) as dag:
    start = PythonOperator(task_id="start", python_callable=lambda: None)
    end = PythonOperator(task_id="end", python_callable=lambda: None)
    start >> [PythonOperator(task_id=f"t{i:03d}", python_callable=lambda: None) for i in range(100)] >> end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def manage(env: dict[str, str], *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, **kwargs)


def measure(env: dict[str, str], dag_id: str, timeout: float) -> dict[str, float]:
    """Trigger one run of ``dag_id`` and wait for it; return lag and wall-time figures."""
    manage(env, "dags", "trigger", dag_id, capture_output=True)
    deadline = time.monotonic() + timeout
    code = (
        "import django, json; django.setup();"
        "from runs_app.models import DagRun;"
        f"r = DagRun.objects.filter(dag__dag_id='{dag_id}').order_by('-id').first();"
        "print(r.state)"
    )
    while time.monotonic() < deadline:
        state = subprocess.run(
            [PYTHON, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        if state in {"success", "failed"}:
            break
        time.sleep(0.2)
    else:
        raise SystemExit(f"{dag_id}: the run did not finish within {timeout:g} s")
    code = (
        "import django, json; django.setup();"
        "from runs_app.models import DagRun;"
        f"r = DagRun.objects.filter(dag__dag_id='{dag_id}').order_by('-id').first();"
        "tasks = {t['task_id']: t for t in r.dag.tasks};"
        "tis = {ti.task_id: ti for ti in r.task_instances.all()};"
        "lags = [(ti.start_date - max(tis[u].end_date for u in tasks[ti.task_id]['upstream_task_ids'])).total_seconds()"
        " for ti in tis.values() if tasks[ti.task_id]['upstream_task_ids']];"
        "wall = (max(t.end_date for t in tis.values()) - min(t.start_date for t in tis.values())).total_seconds();"
        "print(json.dumps({'state': r.state, 'lags': lags, 'wall': wall}))"
    )
    import json

    data = json.loads(
        subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    )
    lags = [lag * 1000 for lag in data["lags"]]
    return {
        "state": data["state"],
        "p50": statistics.median(lags),
        "p95": percentile(lags, 0.95),
        "max": max(lags),
        "wall": data["wall"],
        "tasks": len(lags) + 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=4, help="RQ workers to start (default 4)")
    parser.add_argument("--database-url", help="Use this database instead of a fresh SQLite file")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder (logs, database)")
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each DAG (default 3)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-lag-"))
    dags = tmp / "dags"
    dags.mkdir()
    (dags / "bench_chain.py").write_text(CHAIN)
    (dags / "bench_fanout.py").write_text(FANOUT)
    port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp,
        stdout=subprocess.DEVNULL,
    )
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url or f"sqlite:///{tmp / 'db.sqlite3'}",
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "DAGS_FOLDER": str(dags),
        "LOGS_FOLDER": str(tmp / "logs"),
        "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings",
        "PYTHONPATH": str(ROOT),
    }
    procs: list[subprocess.Popen] = []
    try:
        time.sleep(0.2)
        manage(env, "migrate", "-v0")
        manage(env, "dags", "list", capture_output=True)
        procs.append(
            subprocess.Popen(
                [PYTHON, "manage.py", "scheduler", "--interval", "0.5"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=open(tmp / "scheduler.log", "w"),  # noqa: SIM115
                start_new_session=True,
            )
        )
        for i in range(args.workers):
            procs.append(
                subprocess.Popen(
                    [PYTHON, "manage.py", "rqworker", "default"],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=open(tmp / f"worker{i}.log", "w"),  # noqa: SIM115
                    start_new_session=True,
                )
            )
        time.sleep(2.0)  # let the workers connect
        db = "PostgreSQL" if args.database_url else "SQLite"
        print(f"{args.workers} workers, {db}, {args.repeat} runs each (figures of the median run by wall time)")
        print(f"{'DAG':<14} {'tasks':>5} {'lag p50':>9} {'lag p95':>9} {'lag max':>9} {'wall':>8}")
        for dag_id in ("bench_chain", "bench_fanout"):
            results = sorted((measure(env, dag_id, timeout=120) for _ in range(args.repeat)), key=lambda r: r["wall"])
            r = results[len(results) // 2]
            walls = ", ".join(f"{x['wall']:.2f}" for x in results)
            print(
                f"{dag_id:<14} {r['tasks']:>5} {r['p50']:>7.1f}ms {r['p95']:>7.1f}ms {r['max']:>7.1f}ms "
                f"{r['wall']:>7.2f}s  ({r['state']}; walls: {walls})"
            )
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        redis.kill()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Benchmark: parse a folder of DAG files, the CLI's start-up, and an idle scheduler's memory.

1. Writes ``--files`` DAG files (each a DAG of ``--tasks`` tasks) into a temporary folder and times
   the first ``dag_folder_sync`` (every file imported in the child-process pool), then a second
   one (nothing changed: no file imported).
2. Times ``manage.py dags list`` (median of 5) against that database.
3. Starts ``manage.py scheduler`` on it, waits until it is idle, and prints its resident memory
   (RSS, and PSS when the kernel reports it).

Usage: ``.venv/bin/python bench/bench_parse.py [--files 1000 --tasks 10]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DAG_FILE = """
import pendulum
from dags_app.sdk import DAG, BashOperator, PythonOperator, chain

with DAG("bench_{n:04d}", schedule="@daily", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         catchup=False, tags=["bench"]) as dag:
    chain(*[
        BashOperator(task_id=f"bash_{{i}}", bash_command="echo {{{{ ds }}}}") if i % 2 else
        PythonOperator(task_id=f"python_{{i}}", python_callable=print)
        for i in range({tasks})
    ])
"""


def rss_kib(pid: int) -> tuple[int, int | None]:
    """Return (RSS, PSS) of ``pid`` in KiB (PSS None when unavailable)."""
    rss = pss = None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    rollup = Path(f"/proc/{pid}/smaps_rollup")
    if rollup.exists():
        for line in rollup.read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss or 0, pss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--processes", type=int, default=0, help="parse processes (default: the setting)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-parse-"))
    dags = tmp / "dags"
    dags.mkdir()
    for n in range(args.files):
        (dags / f"bench_{n:04d}.py").write_text(DAG_FILE.format(n=n, tasks=args.tasks))
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "DAGS_FOLDER": str(dags),
        "LOGS_FOLDER": str(tmp / "logs"),
        "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings",
        "REDIS_URL": "redis://127.0.0.1:9/0",
    }
    if args.processes:
        env["ORCHESTRATOR_PARSE_PROCESSES"] = str(args.processes)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    code = (
        "import time, django; django.setup();"
        "from django.utils import timezone;"
        "from dags_app.services import dag_folder_sync;"
        "t = time.monotonic(); r = dag_folder_sync(now=timezone.now()); a = time.monotonic() - t;"
        "t = time.monotonic(); r2 = dag_folder_sync(now=timezone.now()); b = time.monotonic() - t;"
        "print(f'{r.files} files: first sync {a:.2f} s ({r.parsed} imported, {r.import_errors} errors, "
        "{r.dags_added} DAGs); unchanged sync {b:.3f} s ({r2.parsed} imported)')"
    )
    print(
        subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
    )

    timings = []
    for _ in range(5):
        t0 = time.monotonic()
        subprocess.run(
            [sys.executable, "manage.py", "dags", "list", "-o", "json"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        timings.append(time.monotonic() - t0)
    print(f"manage.py dags list ({args.files} DAGs): median {statistics.median(timings):.2f} s")

    sched = subprocess.Popen(
        [sys.executable, "manage.py", "scheduler", "--interval", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(8)
        rss, pss = rss_kib(sched.pid)
        pss_text = f", PSS {pss / 1024:.0f} MiB" if pss is not None else ""
        print(f"idle scheduler: RSS {rss / 1024:.0f} MiB{pss_text}")
    finally:
        sched.terminate()
        sched.wait(timeout=10)


if __name__ == "__main__":
    main()

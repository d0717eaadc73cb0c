"""Benchmark: server time and SQL queries of the REST API's list endpoints on a large metastore.

Builds a fresh SQLite database (or uses ``--database-url``, which must be empty) with the data of
``bench_pages.py``: ``--dags`` DAGs of ``--tasks`` tasks, ``--runs`` runs each (every run with all
its task instances), plus a tag per DAG, ``--events`` event-log lines and a few import errors.
Then it requests each endpoint through Django's test client in this process, with a bearer
token (an Admin's, and a Viewer's, whose lists go through the access-control filter), and prints
one JSON line per endpoint: the median and p90 server time (auth, view, JSON; no network), the
number of SQL queries and the time of the page's ``COUNT(*)`` (``total_entries``).

The first line describes the machine and the data. Target: a median of 30 ms or less each.

Usage: ``.venv/bin/python bench/bench_api.py [--dags 1000 --runs 10 --tasks 10 --events 100000]``
(the defaults: 100,000 task instances); ``--dags 100`` for a quick look.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 30.0


def machine() -> dict:
    import sqlite3

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "bench": "api",
        "machine": platform.node(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "loadavg": [round(x, 2) for x in load] if load else None,
    }


def build(args: argparse.Namespace, folder: Path) -> dict:
    """The data of bench_pages.py, plus tags, event-log lines and import errors."""
    from metastore import fill

    return fill(folder, dags=args.dags, runs=args.runs, tasks=args.tasks, events=args.events, import_errors=20)


def measure(client, url: str, repeat: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(url)  # warm caches (URL resolver, schemas, the masker)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    timings = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - t0) * 1000)
    with CaptureQueriesContext(connection) as queries:
        body = client.get(url).json()
    count_ms = 0.0
    for query in queries.captured_queries:
        if query["sql"].startswith("SELECT COUNT(*)"):  # run it again, timed to the microsecond
            with connection.cursor() as cursor:
                t0 = time.perf_counter()
                cursor.execute(query["sql"])
                cursor.fetchall()
                count_ms += (time.perf_counter() - t0) * 1000
    timings.sort()
    return {
        "median_ms": round(statistics.median(timings), 1),
        "p90_ms": round(timings[int(0.9 * (len(timings) - 1))], 1),
        "queries": len(queries.captured_queries),
        "count_ms": round(count_ms, 2),
        "rows": next(len(v) for v in body.values() if isinstance(v, list)),
        "total_entries": body.get("total_entries"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dags", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10, help="runs per DAG")
    parser.add_argument("--tasks", type=int, default=10, help="tasks per DAG")
    parser.add_argument("--events", type=int, default=100_000, help="event-log lines")
    parser.add_argument("--repeat", type=int, default=15, help="requests per endpoint")
    parser.add_argument("--database-url", help="an empty database to fill instead of a temporary SQLite file")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    try:
        return run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path) -> int:
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{tmp / 'db.sqlite3'}"
    os.environ["DAGS_FOLDER"] = str(tmp / "dags")
    os.environ["LOGS_FOLDER"] = str(tmp / "logs")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ["STATIC_ROOT"] = str(tmp / "static")  # whitenoise wants the folder to exist
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")
    sys.path.insert(0, str(ROOT))
    (tmp / "dags").mkdir()
    (tmp / "static").mkdir()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from api_app.auth import token_for
    from orchestrator_site.accounts import user_create
    from runs_app.models import DagRun

    call_command("migrate", verbosity=0)
    started = time.monotonic()
    data = build(args, tmp / "dags")
    users = {
        role: user_create(
            username=role.lower(), email=f"{role}@example.com", first_name=role, last_name="b", password="x", role=role
        )
        for role in ("Admin", "Viewer")
    }
    print(
        json.dumps(
            {**machine(), "database": connection.vendor, **data, "build_s": round(time.monotonic() - started, 1)}
        )
    )

    dag = f"bench_dag_{args.dags // 2:04d}"
    run = DagRun.objects.filter(dag__dag_id=dag).order_by("-logical_date").first()
    endpoints = {
        "dags": "/api/v2/dags?limit=50",
        "dags, page 10": "/api/v2/dags?limit=50&offset=450",
        "dag runs, every dag": "/api/v2/dags/~/dagRuns?limit=50",
        "dag runs, every dag, latest first": "/api/v2/dags/~/dagRuns?limit=50&order_by=-logical_date",
        "dag runs of a dag": f"/api/v2/dags/{dag}/dagRuns?limit=50",
        "task instances of a run": f"/api/v2/dags/{dag}/dagRuns/{run.run_id}/taskInstances?limit=50",
        "task instances, every run": "/api/v2/dags/~/dagRuns/~/taskInstances?limit=50",
        "task instances, failed": "/api/v2/dags/~/dagRuns/~/taskInstances?limit=50&state=failed",
        "event logs": "/api/v2/eventLogs?limit=50",
        "event logs, latest first": "/api/v2/eventLogs?limit=50&order_by=-when",
        "import errors": "/api/v2/importErrors?limit=50",
    }
    slow = []
    for role, user in users.items():
        client = Client(headers={"Authorization": f"Bearer {token_for(user)}"})
        for name, url in endpoints.items():
            figures = measure(client, url, args.repeat)
            print(json.dumps({"bench": "api", "role": role, "endpoint": name, "url": url, **figures}))
            if figures["median_ms"] > TARGET_MS:
                slow.append(f"{role} {name} ({figures['median_ms']} ms)")
    print(
        f"api: {'every median within' if not slow else 'over'} {TARGET_MS:g} ms"
        + (f": {', '.join(slow)}" if slow else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
import datetime as dt
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
    """Fill the database as bench_pages.py does (plus tags, event-log lines and import errors)."""
    from django.db import transaction

    from dags_app.models import DagImportError, DagModel, DagTag
    from runs_app.models import AuditLog, DagRun, TaskInstance
    from runs_app.states import AuditEvent, DagRunState, DagRunType, TaskInstanceState

    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    states = [TaskInstanceState.SUCCESS, TaskInstanceState.SUCCESS, TaskInstanceState.FAILED, TaskInstanceState.SKIPPED]
    with transaction.atomic():
        dags = []
        for d in range(args.dags):
            dag_id = f"bench_dag_{d:04d}"
            tasks = [
                {
                    "task_id": f"task_{t:02d}",
                    "operator": "PythonOperator",
                    "operator_class": "dags_app.sdk.operators.PythonOperator",
                    "upstream_task_ids": [f"task_{t - 1:02d}"] if t else [],
                    "downstream_task_ids": [f"task_{t + 1:02d}"] if t < args.tasks - 1 else [],
                    "trigger_rule": "all_success",
                    "retries": 0,
                    "template_fields": [],
                    "template_values": {},
                    "ui_color": "#ffefeb",
                    "ui_fgcolor": "#000",
                    "owner": "bench",
                }
                for t in range(args.tasks)
            ]
            serialized = {
                "dag_id": dag_id,
                "fileloc": str(folder / f"{dag_id}.py"),
                "owner": "bench",
                "schedule": "@daily",
                "timetable": {"type": "cron", "expression": "@daily", "timezone": "UTC"},
                "timetable_summary": "@daily",
                "timetable_description": "Every day at 00:00",
                "start_date": base.isoformat(),
                "catchup": False,
                "tags": ["bench"],
                "params": {},
                "tasks": tasks,
            }
            dags.append(
                DagModel(
                    dag_id=dag_id,
                    fileloc=serialized["fileloc"],
                    owners="bench",
                    schedule="@daily",
                    timetable_summary="@daily",
                    is_paused=bool(d % 2),
                    serialized=serialized,
                    next_dagrun=base + dt.timedelta(days=args.runs),
                )
            )
        DagModel.objects.bulk_create(dags, batch_size=500)
        dags = list(DagModel.objects.order_by("dag_id"))
        DagTag.objects.bulk_create([DagTag(dag=dag, name="bench") for dag in dags], batch_size=2000)
        DagRun.objects.bulk_create(
            [
                DagRun(
                    dag=dag,
                    run_id=f"scheduled__{(base + dt.timedelta(days=r)).isoformat()}",
                    logical_date=base + dt.timedelta(days=r),
                    data_interval_start=base + dt.timedelta(days=r),
                    data_interval_end=base + dt.timedelta(days=r + 1),
                    run_type=DagRunType.SCHEDULED,
                    state=DagRunState.SUCCESS if r % 5 else DagRunState.FAILED,
                    start_date=base + dt.timedelta(days=r + 1),
                    end_date=base + dt.timedelta(days=r + 1, minutes=5),
                )
                for dag in dags
                for r in range(args.runs)
            ],
            batch_size=2000,
        )
        runs = list(DagRun.objects.all())
        TaskInstance.objects.bulk_create(
            [
                TaskInstance(
                    dag_run=run,
                    dag_id=run.dag_id,
                    task_id=f"task_{t:02d}",
                    state=states[(run.pk + t) % len(states)],
                    try_number=1,
                    operator="PythonOperator",
                    start_date=run.start_date + dt.timedelta(seconds=20 * t),
                    end_date=run.start_date + dt.timedelta(seconds=20 * t + 15),
                    queued_at=run.start_date + dt.timedelta(seconds=20 * t - 1),
                    duration=15.0,
                )
                for run in runs
                for t in range(args.tasks)
            ],
            batch_size=5000,
        )
        dag_ids = {dag.pk: dag.dag_id for dag in dags}
        AuditLog.objects.bulk_create(
            [
                AuditLog(
                    event=AuditEvent.RUN,
                    source="worker",
                    dag_id=dag_ids[runs[i % len(runs)].dag_id],
                    run_id=runs[i % len(runs)].run_id,
                    task_id=f"task_{i % args.tasks:02d}",
                )
                for i in range(args.events)
            ],
            batch_size=5000,
        )
        DagImportError.objects.bulk_create(
            [DagImportError(filename=str(folder / f"broken_{i}.py"), message="boom", timestamp=base) for i in range(20)]
        )
    return {"dags": len(dags), "runs": len(runs), "task_instances": TaskInstance.objects.count()}


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

"""Benchmark: server time and SQL queries of the main pages on a large metastore.

Builds a fresh SQLite database (or uses ``--database-url``, which must be empty) with
``--dags`` DAGs of ``--tasks`` tasks, ``--runs`` runs each (every run with all its task
instances), then requests each page through Django's test client in this process and prints the
median server time (view + template, no network) and the number of SQL queries.

Usage: ``.venv/bin/python bench/bench_pages.py [--dags 200 --runs 10 --tasks 10]``;
the DEVELOPERS.md scale is ``--dags 1000 --runs 10 --tasks 10`` (100,000 task instances).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dags", type=int, default=200)
    parser.add_argument("--runs", type=int, default=10, help="runs per DAG")
    parser.add_argument("--tasks", type=int, default=10, help="tasks per DAG")
    parser.add_argument("--repeat", type=int, default=15, help="requests per page")
    parser.add_argument("--database-url", help="an empty database to fill instead of a temporary SQLite file")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{tmp / 'db.sqlite3'}"
    os.environ["DAGS_FOLDER"] = str(tmp / "dags")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")
    sys.path.insert(0, str(ROOT))
    (tmp / "dags").mkdir()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from metastore import fill

    from dags_app.models import DagModel
    from orchestrator_site.accounts import user_create
    from runs_app.models import DagRun

    call_command("migrate", verbosity=0)
    started = time.monotonic()
    counts = fill(tmp / "dags", dags=args.dags, runs=args.runs, tasks=args.tasks)
    dags = list(DagModel.objects.order_by("dag_id"))
    with transaction.atomic():
        user = user_create(
            username="bench", email="bench@example.com", first_name="b", last_name="b", password="bench", role="Admin"
        )
    print(
        f"{counts['dags']} DAGs, {counts['runs']} runs, {counts['task_instances']} task instances "
        f"({connection.vendor}); data built in {time.monotonic() - started:.1f} s"
    )

    client = Client()
    client.force_login(user)
    dag = dags[len(dags) // 2]
    run = DagRun.objects.filter(dag=dag).order_by("-logical_date").first()
    pages = {
        "DAG list": "/",
        "DAG list, page 3": "/?page=3",
        "DAG list by last run": "/?sort=last_run&order=desc",
        "DAG list, failed": "/?status=failed",
        "grid": f"/dags/{dag.dag_id}/grid/",
        "graph": f"/dags/{dag.dag_id}/graph/",
        "gantt": f"/dags/{dag.dag_id}/gantt/",
        "task instance": f"/dags/{dag.dag_id}/runs/{run.run_id}/tasks/task_03/",
        "browse task instances": "/browse/task-instances/",
        "browse runs": "/browse/runs/",
    }
    print(f"{'page':<24} {'status':>6} {'median':>9} {'p90':>9} {'queries':>8}")
    for name, url in pages.items():
        client.get(url)  # warm caches (templates, URL resolver)
        timings = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - t0) * 1000)
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        timings.sort()
        p90 = timings[int(0.9 * (len(timings) - 1))]
        print(
            f"{name:<24} {response.status_code:>6} {statistics.median(timings):>7.1f}ms {p90:>7.1f}ms "
            f"{len(queries.captured_queries):>8}"
        )


if __name__ == "__main__":
    main()

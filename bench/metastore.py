"""The benchmarks' metastore: fill an empty database with ``dags`` DAGs of ``tasks`` tasks in a
chain, ``runs`` runs each (every run with all its task instances), a tag per DAG, ``events``
event-log lines and ``import_errors`` broken files: bulk inserts, one transaction.

Used by ``bench_pages.py`` and ``bench_api.py`` after ``django.setup()`` and ``migrate``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

BASE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _serialized(dag_id: str, folder: Path, tasks: int) -> dict:
    return {
        "dag_id": dag_id,
        "fileloc": str(folder / f"{dag_id}.py"),
        "owner": "bench",
        "schedule": "@daily",
        "timetable": {"type": "cron", "expression": "@daily", "timezone": "UTC"},
        "timetable_summary": "@daily",
        "timetable_description": "Every day at 00:00",
        "start_date": BASE.isoformat(),
        "catchup": False,
        "tags": ["bench"],
        "params": {},
        "tasks": [
            {
                "task_id": f"task_{t:02d}",
                "operator": "PythonOperator",
                "operator_class": "dags_app.sdk.operators.PythonOperator",
                "upstream_task_ids": [f"task_{t - 1:02d}"] if t else [],
                "downstream_task_ids": [f"task_{t + 1:02d}"] if t < tasks - 1 else [],
                "trigger_rule": "all_success",
                "retries": 0,
                "template_fields": [],
                "template_values": {},
                "ui_color": "#ffefeb",
                "ui_fgcolor": "#000",
                "owner": "bench",
            }
            for t in range(tasks)
        ],
    }


def fill(folder: Path, *, dags: int, runs: int, tasks: int, events: int = 0, import_errors: int = 0) -> dict:
    """Fill the database; returns the counts made."""
    from django.db import transaction

    from dags_app.models import DagImportError, DagModel, DagTag
    from runs_app.models import AuditLog, DagRun, TaskInstance
    from runs_app.states import AuditEvent, DagRunState, DagRunType, TaskInstanceState

    states = [TaskInstanceState.SUCCESS, TaskInstanceState.SUCCESS, TaskInstanceState.FAILED, TaskInstanceState.SKIPPED]
    with transaction.atomic():
        models = []
        for d in range(dags):
            serialized = _serialized(f"bench_dag_{d:04d}", folder, tasks)
            models.append(
                DagModel(
                    dag_id=serialized["dag_id"],
                    fileloc=serialized["fileloc"],
                    owners="bench",
                    schedule="@daily",
                    timetable_summary="@daily",
                    is_paused=bool(d % 2),
                    serialized=serialized,
                    next_dagrun=BASE + dt.timedelta(days=runs),
                )
            )
        DagModel.objects.bulk_create(models, batch_size=500)
        models = list(DagModel.objects.order_by("dag_id"))
        DagTag.objects.bulk_create([DagTag(dag=dag, name="bench") for dag in models], batch_size=2000)
        DagRun.objects.bulk_create(
            [
                DagRun(
                    dag=dag,
                    run_id=f"scheduled__{(BASE + dt.timedelta(days=r)).isoformat()}",
                    logical_date=BASE + dt.timedelta(days=r),
                    data_interval_start=BASE + dt.timedelta(days=r),
                    data_interval_end=BASE + dt.timedelta(days=r + 1),
                    run_type=DagRunType.SCHEDULED,
                    state=DagRunState.SUCCESS if r % 5 else DagRunState.FAILED,
                    start_date=BASE + dt.timedelta(days=r + 1),
                    end_date=BASE + dt.timedelta(days=r + 1, minutes=5),
                )
                for dag in models
                for r in range(runs)
            ],
            batch_size=2000,
        )
        all_runs = list(DagRun.objects.all())
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
                for run in all_runs
                for t in range(tasks)
            ],
            batch_size=5000,
        )
        dag_ids = {dag.pk: dag.dag_id for dag in models}
        if all_runs:
            AuditLog.objects.bulk_create(
                [
                    AuditLog(
                        event=AuditEvent.RUN,
                        source="worker",
                        dag_id=dag_ids[all_runs[i % len(all_runs)].dag_id],
                        run_id=all_runs[i % len(all_runs)].run_id,
                        task_id=f"task_{i % tasks:02d}",
                    )
                    for i in range(events)
                ],
                batch_size=5000,
            )
        DagImportError.objects.bulk_create(
            [
                DagImportError(filename=str(folder / f"broken_{i}.py"), message="boom", timestamp=BASE)
                for i in range(import_errors)
            ]
        )
    return {"dags": len(models), "runs": len(all_runs), "task_instances": len(all_runs) * tasks}

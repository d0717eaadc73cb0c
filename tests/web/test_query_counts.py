"""The main pages run the same number of queries with 200 DAGs and 2,000 runs as with a few."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dags_app.models import DagModel
from runs_app.models import DagRun, TaskInstance
from runs_app.states import DagRunState, DagRunType, TaskInstanceState

BASE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
TASKS = 5


def _serialized(dag_id: str) -> dict:
    return {
        "dag_id": dag_id,
        "fileloc": f"/nowhere/{dag_id}.py",
        "owner": "qc",
        "schedule": "@daily",
        "timetable": {"type": "cron", "expression": "@daily", "timezone": "UTC"},
        "timetable_summary": "@daily",
        "timetable_description": "Every day at 00:00",
        "start_date": BASE.isoformat(),
        "catchup": False,
        "tags": ["qc"],
        "params": {},
        "tasks": [
            {
                "task_id": f"t{i}",
                "operator": "PythonOperator",
                "operator_class": "dags_app.sdk.operators.PythonOperator",
                "upstream_task_ids": [f"t{i - 1}"] if i else [],
                "downstream_task_ids": [f"t{i + 1}"] if i < TASKS - 1 else [],
                "trigger_rule": "all_success",
                "retries": 0,
                "template_fields": [],
                "template_values": {},
                "ui_color": "#ffefeb",
                "ui_fgcolor": "#000000",
                "owner": "qc",
            }
            for i in range(TASKS)
        ],
    }


def _build(dags: int, runs: int) -> DagModel:
    DagModel.objects.bulk_create(
        [
            DagModel(
                dag_id=f"qc_{d:03d}",
                fileloc=f"/nowhere/qc_{d:03d}.py",
                owners="qc",
                serialized=_serialized(f"qc_{d:03d}"),
            )
            for d in range(dags)
        ]
    )
    models = list(DagModel.objects.all())
    DagRun.objects.bulk_create(
        [
            DagRun(
                dag=dag,
                run_id=f"scheduled__{(BASE + dt.timedelta(days=r)).isoformat()}",
                logical_date=BASE + dt.timedelta(days=r),
                run_type=DagRunType.SCHEDULED,
                state=DagRunState.SUCCESS,
                start_date=BASE,
                end_date=BASE + dt.timedelta(minutes=1),
            )
            for dag in models
            for r in range(runs)
        ]
    )
    TaskInstance.objects.bulk_create(
        [
            TaskInstance(dag_run=run, dag_id=run.dag_id, task_id=f"t{i}", state=TaskInstanceState.SUCCESS, try_number=1)
            for run in DagRun.objects.all()
            for i in range(TASKS)
        ]
    )
    return models[0]


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries.captured_queries)


def _pages(dag: DagModel) -> dict[str, str]:
    return {
        "dag list": "/",
        "dag list by last run": "/?sort=last_run&order=desc",
        "dag list, failed": "/?status=failed",
        "dag list, running": "/?status=running&sort=next_run",
        "grid": f"/dags/{dag.dag_id}/grid/",
        "graph": f"/dags/{dag.dag_id}/graph/",
    }


@pytest.fixture
def small_counts(db, client, viewer_user):
    client.force_login(viewer_user)
    dag = _build(dags=3, runs=2)
    counts = {name: _count(client, url) for name, url in _pages(dag).items()}
    DagModel.objects.all().delete()
    return counts


def test_dag_list_grid_and_graph_queries_do_not_grow_with_200_dags_and_2000_runs(client, viewer_user, small_counts):
    dag = _build(dags=200, runs=10)
    assert DagRun.objects.count() == 2000
    large = {name: _count(client, url) for name, url in _pages(dag).items()}
    assert large == small_counts

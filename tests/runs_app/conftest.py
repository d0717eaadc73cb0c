"""Fixtures of the execution-engine tests (helpers live in ``tests.runs_app.helpers``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from dags_app.models import DagModel
from runs_app.services import dag_set_paused
from tests.runs_app.helpers import NOW, dag_source


@pytest.fixture
def make_dag(dag_file, sync) -> Callable[..., DagModel]:
    """Write a DAG file, sync the folder at ``NOW`` (or ``now``), unpause it unless ``paused``; return the DAG."""

    def make(dag_id: str, *, paused: bool = False, now: dt.datetime = NOW, **source_kwargs) -> DagModel:
        dag_file(f"{dag_id}.py", dag_source(dag_id, **source_kwargs))
        report = sync(now=now)
        assert report.import_errors == 0, report
        dag = DagModel.objects.get(dag_id=dag_id)
        if not paused:
            dag_set_paused(dag=dag, is_paused=False)
        return dag

    return make


@pytest.fixture
def write_dag(dag_file, sync) -> Callable[..., DagModel]:
    """Write a DAG file of ``dag_id`` with ``body`` and sync it; the DAG is left paused."""

    def write(dag_id: str, body: str, **kwargs) -> DagModel:
        dag_file(f"{dag_id}.py", dag_source(dag_id, body=body, schedule="None", **kwargs))
        report = sync()
        assert report.import_errors == 0
        return DagModel.objects.get(dag_id=dag_id)

    return write

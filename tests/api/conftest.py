"""Fixtures of the REST API tests (``/api/v2/``): bearer tokens, a client per user, one DAG.

- ``api_token(user)``: a token as ``POST /auth/token`` would give ``user``.
- ``api_client(user)``: a Django test client sending ``Authorization: Bearer <token>`` for
  ``user`` (or no header for ``None``, the anonymous caller); its ``json`` helpers post JSON.
- ``api_dag``: the DAG ``api_dag`` (extract >> transform >> load, tags ``api`` and ``example``,
  owner ``airflow``), synced and paused, in the temporary DAG folder.
- ``make_run(dag, day, state=..., ti_state=...)``: a finished (by default) scheduled run of day
  ``day`` with its task instances.

Shared by every ``tests/api`` module: add fixtures here, do not rewrite those that are used.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from dags_app.models import DagModel
from runs_app.models import DagRun
from tests.web.test_dag_views import make_run as web_make_run

API = "/api/v2"
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
API_DAG_ID = "api_dag"

API_DAG_SOURCE = """
import datetime
from dags_app.sdk import DAG, BashOperator, EmptyOperator

with DAG({dag_id!r}, schedule="@daily", start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
         catchup=False, tags=["api", "example"], default_args={{"owner": "airflow"}}) as dag:
    extract = BashOperator(task_id="extract", bash_command="echo {{{{ ds }}}}")
    transform = EmptyOperator(task_id="transform")
    load = EmptyOperator(task_id="load")
    extract >> transform >> load
"""


class ApiClient(Client):
    """A test client whose ``*_json`` methods send a JSON body and return the response."""

    def post_json(self, path: str, body: Any = None, **kwargs: Any):
        return self.post(path, json.dumps(body if body is not None else {}), content_type="application/json", **kwargs)

    def patch_json(self, path: str, body: Any = None, **kwargs: Any):
        return self.patch(path, json.dumps(body if body is not None else {}), content_type="application/json", **kwargs)


@pytest.fixture
def api_token() -> Callable[[Any], str]:
    """``api_token(user)``: a valid bearer token for ``user``."""
    from api_app.auth import token_for

    return token_for


@pytest.fixture
def api_client(db, api_token) -> Callable[[Any], ApiClient]:
    """``api_client(user)``: a client authenticated by a bearer token (``None``: anonymous)."""

    def make(user: Any = None) -> ApiClient:
        headers = {"Authorization": f"Bearer {api_token(user)}"} if user is not None else {}
        return ApiClient(headers=headers)

    return make


def write_api_dag(dag_file, sync, dag_id: str = API_DAG_ID) -> DagModel:
    dag_file(f"{dag_id}.py", API_DAG_SOURCE.format(dag_id=dag_id))
    report = sync()
    assert report.import_errors == 0, report
    return DagModel.objects.get(dag_id=dag_id)


@pytest.fixture
def api_dag(db, dag_file, sync) -> DagModel:
    return write_api_dag(dag_file, sync)


# The web tests' run maker: the same finished scheduled run of a day, its tasks in a state.
create_run = web_make_run


@pytest.fixture
def make_run() -> Callable[..., DagRun]:
    return create_run

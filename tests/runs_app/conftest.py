"""Fixtures of the execution-engine tests (helpers live in ``tests.runs_app.helpers``)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Callable
from typing import Any

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


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, dict, Any]] = []
    status = 200
    location = ""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, dict(self.headers), json.loads(body)))
        self.send_response(self.status)
        if self.location:
            self.send_header("Location", self.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_server():
    """A local HTTP server that records each POST: yields (url, handler class)."""

    class Handler(_Hook):
        received = []

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", Handler
    finally:
        server.shutdown()
        server.server_close()

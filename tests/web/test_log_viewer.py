"""The log viewer (issue 14): lines with their level, timestamps in the chosen zone, whole lines
while a try writes, and the download of the whole log, masked."""

from __future__ import annotations

import zoneinfo

import pytest

from runs_app import services
from runs_app.logview import render_lines
from runs_app.models import TaskInstance
from runs_app.states import DagRunState, TaskInstanceState
from tests.web.test_dag_views import DAG_ID, make_run, url, write_log

LOG = (
    "[2024-01-01 00:00:05,120] {runner.py} INFO - Starting attempt 1 of 1\n"
    "[2024-01-01 00:00:05,200] {operators.py:12} WARNING - slow <source>\n"
    "[2024-01-01 00:00:06,001] {runner.py:410} ERROR - Task failed with exception\n"
    "Traceback (most recent call last):\n"
    '  File "x.py", line 1, in <module>\n'
    "ValueError: nope\n"
    "[2024-01-01 00:00:06,002] {runner.py} INFO - Task exited; state recorded: failed\n"
)


def _spans(html: str) -> list[tuple[str, str]]:
    import re

    return re.findall(r'<span class="log-line log-(\w+)">(.*?)</span>', html, re.S)


def test_lines_carry_their_level_and_a_traceback_goes_with_its_error():
    levels = [level for level, _ in _spans(render_lines(LOG))]

    assert levels == ["info", "warning", "error", "error", "error", "error", "info"]


def test_lines_are_escaped_and_keep_their_text():
    spans = _spans(render_lines(LOG))

    assert spans[1][1] == "[2024-01-01 00:00:05,200] {operators.py:12} WARNING - slow &lt;source&gt;\n"
    assert spans[4][1] == "  File &quot;x.py&quot;, line 1, in &lt;module&gt;\n"


def test_timestamps_are_shown_in_the_chosen_zone():
    spans = _spans(render_lines(LOG, zoneinfo.ZoneInfo("Asia/Seoul")))

    assert spans[0][1] == "[2024-01-01 09:00:05,120] {runner.py} INFO - Starting attempt 1 of 1\n"
    assert spans[3][1] == "Traceback (most recent call last):\n"  # no timestamp: unchanged
    assert _spans(render_lines(LOG, zoneinfo.ZoneInfo("UTC")))[0][1].startswith("[2024-01-01 00:00:05,120]")


@pytest.fixture
def dag(dag_file, sync):
    from tests.web.test_dag_views import write_dag

    return write_dag(dag_file, sync)


@pytest.mark.django_db
def test_a_half_written_last_line_waits_for_its_end_while_the_try_runs(client, viewer_user, dag):
    run = make_run(dag, 0, state=DagRunState.RUNNING, ti_state=TaskInstanceState.RUNNING)
    ti = TaskInstance.objects.select_related("dag_run__dag").get(dag_run=run, task_id="extract")
    write_log(ti, 1, "[2024-01-01 00:00:05,120] {runner.py} INFO - whole\n[2024-01-01 00:00:05,130] {runner.py} ERR")
    client.force_login(viewer_user)

    html = client.get(url("runs:task-log", DAG_ID, run.run_id, "extract")).content.decode()

    assert "whole" in html and "ERR" not in html
    offset = len("[2024-01-01 00:00:05,120] {runner.py} INFO - whole\n")
    assert f"offset={offset}" in html
    TaskInstance.objects.filter(pk=ti.pk).update(state=TaskInstanceState.FAILED)
    rest = client.get(url("runs:task-log-fragment", DAG_ID, run.run_id, "extract", offset=str(offset))).content
    assert "{runner.py} ERR</span>" in rest.decode()  # the try ended: its last line shows as it is


@pytest.mark.django_db
def test_the_toolbar_offers_the_download_and_names_the_zone(client, viewer_user, dag):
    run = make_run(dag, 0, state=DagRunState.FAILED)
    ti = TaskInstance.objects.select_related("dag_run__dag").get(dag_run=run, task_id="extract")
    write_log(ti, 1, LOG)
    client.force_login(viewer_user)

    html = client.get(url("runs:task-log", DAG_ID, run.run_id, "extract")).content.decode()

    assert url("runs:task-log-download", DAG_ID, run.run_id, "extract") + "?try=1" in html.replace("&amp;", "&")
    assert "Times in UTC" in html and 'id="log-first-error"' in html and 'id="log-wrap"' in html


@pytest.mark.django_db
def test_the_download_is_the_whole_log_as_a_file_with_secrets_masked(client, viewer_user, dag):
    services.variable_set(key="api_secret", value="hunter2-very-secret")
    run = make_run(dag, 0, state=DagRunState.FAILED)
    ti = TaskInstance.objects.select_related("dag_run__dag").get(dag_run=run, task_id="extract")
    write_log(ti, 1, LOG + "token hunter2-very-secret sent\n" + "x" * 2_000_000 + "\nlast line\n")
    client.force_login(viewer_user)

    response = client.get(url("runs:task-log-download", DAG_ID, run.run_id, "extract", **{"try": "1"}))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == (f'attachment; filename="{DAG_ID}-{run.run_id}-extract-attempt=1.log"')
    body = b"".join(response.streaming_content).decode()
    assert body.startswith(LOG) and body.endswith("last line\n")  # all of it, past the page's 1 MB
    assert "hunter2-very-secret" not in body and "token *** sent" in body


@pytest.mark.django_db
def test_the_download_of_a_try_without_a_log_is_404(client, viewer_user, dag):
    run = make_run(dag, 0)
    client.force_login(viewer_user)

    assert client.get(url("runs:task-log-download", DAG_ID, run.run_id, "extract")).status_code == 404
    assert client.get(url("runs:task-log-download", DAG_ID, run.run_id, "nope")).status_code == 404

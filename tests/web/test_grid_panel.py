"""The grid's filters and the task panel's tabs (issue 14: debug a failure on one page)."""

from __future__ import annotations

import re

import pytest

from runs_app.logview import failure_excerpt
from runs_app.models import DagRun, TaskInstance
from runs_app.states import DagRunState, DagRunType, TaskInstanceState
from tests.web.test_dag_views import DAG_ID, count_queries, make_run, url, write_log

pytestmark = pytest.mark.django_db

FAILED_LOG = (
    "[2024-01-01 00:00:05,120] {runner.py} INFO - Starting attempt 1 of 1\n"
    "[2024-01-01 00:00:06,001] {runner.py:431} ERROR - Task failed with exception\n"
    "Traceback (most recent call last):\n"
    '  File "dag.py", line 9, in check\n'
    "ValueError: the two values differ\n"
    "[2024-01-01 00:00:06,002] {runner.py:462} ERROR - Error when executing on_failure_callback notify\n"
    "[2024-01-01 00:00:06,003] {runner.py} INFO - Task exited; state recorded: failed\n"
)


@pytest.fixture
def dag(dag_file, sync):
    from tests.web.test_dag_views import write_dag

    return write_dag(dag_file, sync)


@pytest.fixture
def viewer(client, viewer_user):
    client.force_login(viewer_user)
    return client


def _columns(html: str) -> list[str]:
    return re.findall(r'aria-label="Run ([^"]+): \w+"', html)


def test_failure_excerpt_is_the_task_s_error_and_its_traceback_not_a_later_callback_error():
    assert failure_excerpt(FAILED_LOG) == (
        "[2024-01-01 00:00:06,001] {runner.py:431} ERROR - Task failed with exception\n"
        "Traceback (most recent call last):\n"
        '  File "dag.py", line 9, in check\n'
        "ValueError: the two values differ"
    )
    assert failure_excerpt("[2024-01-01 00:00:05,120] {runner.py} INFO - fine\n") == ""


def test_grid_filters_by_number_type_state_and_date(viewer, dag):
    runs = [make_run(dag, day, state=DagRunState.FAILED if day % 2 else DagRunState.SUCCESS) for day in range(8)]
    DagRun.objects.filter(pk=runs[7].pk).update(run_type=DagRunType.MANUAL)
    grid = url("runs:grid", DAG_ID)

    assert len(_columns(viewer.get(grid).content.decode())) == 8
    assert _columns(viewer.get(grid + "?num_runs=5").content.decode()) == [r.run_id for r in runs[3:]]
    failed = _columns(viewer.get(grid + "?run_state=failed").content.decode())
    assert failed == [r.run_id for r in runs if r.state == DagRunState.FAILED]
    assert _columns(viewer.get(grid + "?run_type=manual").content.decode()) == [runs[7].run_id]
    up_to = _columns(viewer.get(grid + "?base_date=2024-01-03T00:00").content.decode())
    assert up_to == [r.run_id for r in runs[:3]]  # 2024-01-01 .. 2024-01-03, the date included


def test_grid_filters_ride_along_links_polls_and_actions(viewer, dag):
    make_run(dag, 0, state=DagRunState.RUNNING, ti_state=TaskInstanceState.RUNNING)
    html = viewer.get(url("runs:grid", DAG_ID) + "?num_runs=10&run_state=running").content.decode()

    assert 'data-filter-query="num_runs=10&amp;run_state=running"' in html
    poll = re.search(r'hx-get="([^"]+)" hx-trigger="every 3s"', html).group(1)
    assert "num_runs=10" in poll and "run_state=running" in poll
    assert '<option value="running" selected>' in html  # the form shows what is applied


def test_a_bad_grid_filter_is_named_and_ignored_not_a_500(viewer, dag):
    make_run(dag, 0)
    response = viewer.get(url("runs:grid", DAG_ID) + "?num_runs=7&run_state=exploded&base_date=yesterday")

    assert response.status_code == 200
    html = response.content.decode()
    assert "grid-filter-errors" in html and "(ignored)" in html
    assert len(_columns(html)) == 1


def test_filters_cost_no_query_and_the_count_stays_flat(viewer, dag):
    for day in range(3):
        make_run(dag, day)
    grid = url("runs:grid", DAG_ID)
    plain = count_queries(viewer, grid)
    for day in range(3, 30):
        make_run(dag, day)
    assert count_queries(viewer, grid + "?num_runs=50&run_type=scheduled&run_state=success") == plain


def test_task_panel_has_log_details_xcom_and_rendered_tabs_and_the_failure_inline(viewer, dag):
    run = make_run(dag, 0, state=DagRunState.FAILED)
    ti = TaskInstance.objects.select_related("dag_run__dag").get(dag_run=run, task_id="extract")
    TaskInstance.objects.filter(pk=ti.pk).update(try_number=2)
    ti.refresh_from_db()
    write_log(ti, 2, FAILED_LOG)

    html = viewer.get(url("runs:grid", DAG_ID, run_id=run.run_id, task_id="extract")).content.decode()

    for tab in ("log", "details", "xcom", "rendered"):
        assert f'data-tab="{tab}"' in html
    assert "Why try 2 failed" in html and "ValueError: the two values differ" in html
    assert "on_failure_callback" not in html.split("failure-reason", 1)[1].split("</pre>", 1)[0]
    fragment = url("runs:task-log-fragment", DAG_ID, run.run_id, "extract")
    assert f'data-log-url="{fragment}?try=2&amp;embedded=1"' in html
    assert f'data-log-url="{fragment}?try=1&amp;embedded=1"' in html
    assert f'hx-get="{fragment}?try=2&amp;embedded=1" hx-trigger="load"' in html


def test_a_task_that_never_ran_opens_on_details_without_a_log_tab_to_load(viewer, dag):
    run = make_run(dag, 0, state=DagRunState.QUEUED, ti_state=TaskInstanceState.NONE)
    TaskInstance.objects.filter(dag_run=run).update(try_number=0)
    html = viewer.get(url("runs:task-instance", DAG_ID, run.run_id, "extract")).content.decode()

    assert "No log yet: this task instance has not run." in html
    assert re.search(r'class="nav-link active"[^>]*data-tab="details"', html)
    assert "failure-reason" not in html


def test_the_embedded_log_fragment_is_the_tail_without_the_log_page_s_badges(viewer, dag):
    run = make_run(dag, 0, state=DagRunState.RUNNING, ti_state=TaskInstanceState.RUNNING)
    ti = TaskInstance.objects.select_related("dag_run__dag").get(dag_run=run, task_id="extract")
    write_log(ti, 1, FAILED_LOG)

    html = viewer.get(url("runs:task-log-fragment", DAG_ID, run.run_id, "extract", embedded="1")).content.decode()

    assert "Task failed with exception" in html and 'class="log-line log-error"' in html
    assert "hx-swap-oob" not in html
    poller = re.search(r'id="log-poller" hx-get="([^"]+)"', html).group(1)
    assert "embedded=1" in poller and f"offset={len(FAILED_LOG)}" in poller

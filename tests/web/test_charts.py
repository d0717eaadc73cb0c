"""Per-DAG chart pages: Gantt, calendar, durations, tries, landing times (runs_app/views/charts.py)."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dags_app.models import DagModel
from runs_app import services
from runs_app.models import DagRun, TaskInstance
from runs_app.states import DagRunState, DagRunType, TaskInstanceState

UTC = dt.UTC
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
DAY = dt.timedelta(days=1)
S = dt.timedelta(seconds=1)
DAG_ID = "charts_dag"
TASKS = ["extract", "transform", "load"]
# Queries of a chart page whatever its number of runs: session, user, permissions, the
# banners (with the user's roles, for import errors of hidden DAGs), the DAG and its tags, then
# the runs and their task instances (or one aggregate).
QUERY_BUDGET = 12
CHART_PAGES = ["runs:gantt", "runs:calendar", "runs:durations", "runs:tries", "runs:landing-times"]

SOURCE = """
import datetime
from dags_app.sdk import DAG, BashOperator, EmptyOperator

with DAG({dag_id!r}, schedule="@daily", start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
         catchup=False) as dag:
    EmptyOperator(task_id="extract") >> BashOperator(task_id="transform", bash_command="echo hi", retries=2) \\
        >> EmptyOperator(task_id="load")
"""


@pytest.fixture
def dag(db, dag_file, sync) -> DagModel:
    """The DAG ``charts_dag``: extract >> transform >> load, daily."""
    dag_file(f"{DAG_ID}.py", SOURCE.format(dag_id=DAG_ID))
    report = sync()
    assert report.import_errors == 0, report
    return DagModel.objects.get(dag_id=DAG_ID)


@pytest.fixture
def viewer(client, viewer_user):
    client.force_login(viewer_user)
    return client


def make_run(dag: DagModel, day: int, *, failed: bool = False, tries: int = 1) -> DagRun:
    """Create the scheduled run of day ``day`` whose tasks queued 2s, ran 10s/20s/30s one after the other.

    The run is due at the end of its data interval (``T0 + (day + 1) days``) and starts 60s later;
    ``transform`` fails when ``failed`` (then ``load`` is upstream_failed) and took ``tries`` tries.
    """
    start = T0 + day * DAY
    run = services.dag_run_create(
        dag=dag,
        logical_date=start,
        run_type=DagRunType.SCHEDULED,
        now=start + DAY,
        data_interval=(start, start + DAY),
    )
    t = start + DAY + 60 * S
    for index, task_id in enumerate(TASKS):
        ti = TaskInstance.objects.get(dag_run=run, task_id=task_id)
        if failed and task_id == "load":
            ti.state = TaskInstanceState.UPSTREAM_FAILED
        else:
            seconds = 10 * (index + 1)
            ti.state = TaskInstanceState.FAILED if failed and task_id == "transform" else TaskInstanceState.SUCCESS
            ti.queued_at, ti.start_date, ti.end_date = t, t + 2 * S, t + (2 + seconds) * S
            ti.duration = seconds
            ti.try_number = tries if task_id == "transform" else 1
            t = ti.end_date
        ti.save()
    run.state = DagRunState.FAILED if failed else DagRunState.SUCCESS
    run.start_date, run.end_date = start + DAY + 60 * S, t
    run.save()
    return run


def url(name: str, dag_id: str = DAG_ID, **params) -> str:
    return reverse(name, args=[dag_id]) + (f"?{urlencode(params)}" if params else "")


def svg_of(response) -> str:
    """Return the page's SVG markup (all charts)."""
    return "".join(re.findall(r"<svg.*?</svg>", response.content.decode(), flags=re.S))


# --- Access ---


@pytest.mark.parametrize("name", CHART_PAGES)
def test_chart_page_is_shown_to_a_viewer(viewer, dag, name):
    make_run(dag, 0)

    response = viewer.get(url(name))

    assert response.status_code == 200
    assert "<svg" in response.content.decode()


@pytest.mark.parametrize("name", CHART_PAGES)
def test_chart_page_of_a_dag_without_runs_says_so(viewer, dag, name):
    response = viewer.get(url(name))

    assert response.status_code == 200
    assert "This DAG has no runs yet." in response.content.decode()


@pytest.mark.parametrize("name", CHART_PAGES)
def test_chart_page_of_an_unknown_dag_is_404(viewer, db, name):
    assert viewer.get(url(name, dag_id="no_such_dag")).status_code == 404


@pytest.mark.parametrize("name", CHART_PAGES)
def test_chart_page_sends_an_anonymous_visitor_to_the_login_page(client, dag, name):
    response = client.get(url(name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


@pytest.mark.parametrize("name", CHART_PAGES)
def test_chart_page_is_forbidden_to_a_user_without_a_role(client, outsider, dag, name):
    client.force_login(outsider)

    assert client.get(url(name)).status_code == 403


@pytest.mark.parametrize("name", CHART_PAGES)
def test_chart_page_shows_the_dag_header_with_its_tab_active(viewer, dag, name):
    content = viewer.get(url(name)).content.decode()

    assert f"DAG:</span> {DAG_ID}" in content
    assert re.search(rf'nav-link active" href="{re.escape(url(name))}"', content)


@pytest.mark.parametrize("name", CHART_PAGES)
def test_chart_page_query_count_does_not_grow_with_the_number_of_runs(viewer, dag, name, django_assert_max_num_queries):
    for day in range(5):
        make_run(dag, day, failed=day == 2)
    with django_assert_max_num_queries(QUERY_BUDGET), CaptureQueriesContext(connection) as few:
        assert viewer.get(url(name)).status_code == 200
    for day in range(5, 30):
        make_run(dag, day, failed=day % 7 == 0)

    with django_assert_max_num_queries(QUERY_BUDGET), CaptureQueriesContext(connection) as many:
        assert viewer.get(url(name)).status_code == 200

    assert len(many) == len(few)


# --- Gantt ---


def test_gantt_draws_a_bar_per_task_of_the_latest_run(viewer, dag):
    make_run(dag, 0)
    latest = make_run(dag, 1)

    response = viewer.get(url("runs:gantt"))
    svg = svg_of(response)

    assert response.context["run"] == latest
    for task_id in TASKS:
        assert f"<title>{task_id}</title>" in svg
    assert svg.count('class="run-bar state-success"') == 3
    assert svg.count('class="queued-bar"') == 3
    assert f'href="{reverse("runs:task-instance", args=[DAG_ID, latest.run_id, "load"])}"' in svg


def test_gantt_shows_the_run_chosen_by_run_id(viewer, dag):
    chosen = make_run(dag, 0, failed=True, tries=2)
    make_run(dag, 1)

    response = viewer.get(url("runs:gantt", run_id=chosen.run_id))
    svg = svg_of(response)

    assert response.context["run"] == chosen
    assert 'class="run-bar state-failed"' in svg
    assert "upstream failed: not started" in svg
    assert "try 2" in svg
    assert f'<option value="{chosen.run_id}" selected>' in response.content.decode()


def test_gantt_tooltip_gives_queued_start_end_and_duration(viewer, dag):
    make_run(dag, 0)

    svg = svg_of(viewer.get(url("runs:gantt")))

    assert "Queued: 2024-01-02 00:01:00 UTC" in svg
    assert "Started: 2024-01-02 00:01:02 UTC" in svg
    assert "Ended: 2024-01-02 00:01:12 UTC" in svg
    assert "Duration: 10s" in svg


def test_gantt_running_task_extends_to_now(viewer, dag):
    run = make_run(dag, 0)
    TaskInstance.objects.filter(dag_run=run, task_id="load").update(state=TaskInstanceState.RUNNING, end_date=None)

    svg = svg_of(viewer.get(url("runs:gantt")))

    assert 'class="run-bar state-running"' in svg
    assert "Running for:" in svg


def test_gantt_of_an_unknown_run_is_404(viewer, dag):
    make_run(dag, 0)

    assert viewer.get(url("runs:gantt", run_id="nope")).status_code == 404


def test_gantt_of_a_run_whose_tasks_never_started_says_so(viewer, dag):
    services.dag_run_create(dag=dag, logical_date=T0, run_type=DagRunType.MANUAL, now=T0)

    response = viewer.get(url("runs:gantt"))

    assert "None of the 3 tasks of this run has been queued or started yet." in response.content.decode()


# --- Calendar ---


def test_calendar_colours_each_day_by_the_states_of_its_runs(viewer, dag):
    make_run(dag, 0)
    make_run(dag, 1, failed=True)

    svg = svg_of(viewer.get(url("runs:calendar")))

    assert 'class="day has-runs state-success" data-date="2024-01-01"' in svg
    assert 'class="day has-runs state-failed" data-date="2024-01-02"' in svg
    assert "2024-01-01: 1 run (1 success)" in svg
    assert svg.count('class="day has-runs') == 2


def test_calendar_shows_a_year_per_year_with_runs_newest_first(viewer, dag):
    make_run(dag, 0)
    make_run(dag, 400)

    response = viewer.get(url("runs:calendar"))

    assert [year for year, _total, _svg in response.context["calendars"]] == [2025, 2024]
    assert svg_of(response).count('class="day') == 365 + 366


def test_calendar_counts_runs_per_state_in_one_aggregate(viewer, dag):
    for day in range(3):
        make_run(dag, day, failed=day == 1)

    response = viewer.get(url("runs:calendar"))

    assert response.context["totals"] == [("failed", 1), ("success", 2)]
    assert response.context["run_total"] == 3


# --- Durations, tries, landing times ---


def test_durations_chart_has_a_series_per_task_over_the_latest_runs(viewer, dag):
    for day in range(3):
        make_run(dag, day)

    svg = svg_of(viewer.get(url("runs:durations")))

    assert re.findall(r'data-series="([^"]+)"', svg) == TASKS
    assert "Duration (seconds)" in svg
    assert "Duration: 30s (success)" in svg
    assert svg.count('class="category"') == 3


def test_durations_chart_covers_num_runs_runs(viewer, dag):
    for day in range(8):
        make_run(dag, day)

    response = viewer.get(url("runs:durations", num_runs=5))
    svg = svg_of(response)

    assert response.context["run_count"] == 5
    assert re.findall(r'class="category"[^>]*>([^<]+)<', svg)[0] == "2024-01-04 00:00"
    assert '<option value="5" selected>' in response.content.decode()


@pytest.mark.parametrize("value", ["abc", "", "-3"])
def test_durations_chart_tolerates_a_bad_num_runs(viewer, dag, value):
    make_run(dag, 0)

    response = viewer.get(url("runs:durations", num_runs=value))

    assert response.status_code == 200
    assert response.context["num_runs"] in {25, 1}


def test_tries_chart_plots_the_try_number_of_each_task(viewer, dag):
    make_run(dag, 0, tries=3)
    make_run(dag, 1)

    svg = svg_of(viewer.get(url("runs:tries")))

    assert "Tries: 3 (success)" in svg
    assert "Tries: 1 (success)" in svg
    assert ">Tries</text>" in svg


def test_landing_times_chart_counts_from_the_end_of_the_data_interval(viewer, dag):
    make_run(dag, 0)

    svg = svg_of(viewer.get(url("runs:landing-times")))

    # load ends 60s + 3 x (2s queued + its run of 10s, 20s, 30s) after the run was due (2024-01-02 00:00).
    assert "Landed 2m 06s after 2024-01-02 00:00:00 UTC (success)" in svg
    assert "Landing time (seconds)" in svg


def test_landing_times_skip_tasks_that_did_not_end(viewer, dag):
    make_run(dag, 0, failed=True)

    svg = svg_of(viewer.get(url("runs:landing-times")))

    load = re.search(r'data-series="load">(.*?)</g>', svg, flags=re.S)
    assert load is not None
    assert "<circle" not in load.group(1)

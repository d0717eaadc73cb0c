"""Grid, graph, run, task instance and task log pages (runs_app/views/dag_views.py)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dags_app.models import DagModel
from runs_app import services
from runs_app.models import DagRun, TaskInstance, XCom
from runs_app.states import DagRunState, DagRunType, TaskInstanceState

UTC = dt.UTC
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
DAY = dt.timedelta(days=1)
DAG_ID = "web_dag"
HOSTILE = "<script>alert('x')</script>"
# Queries of the grid and graph pages whatever the number of runs: session, user, permissions,
# the banners, the DAG and its tags, the runs, their task instances, the selection's details.
QUERY_BUDGET = 14

SOURCE = """
import datetime
from dags_app.sdk import DAG, BashOperator, EmptyOperator

with DAG({dag_id!r}, schedule="@daily", start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
         catchup=False, doc_md={hostile!r}, default_args={{"owner": {hostile!r}}}) as dag:
    extract = BashOperator(task_id="extract", bash_command="echo {{{{ ds }}}}", doc_md={hostile!r})
    transform = EmptyOperator(task_id="transform")
    load = EmptyOperator(task_id="load")
    extract >> transform >> load
"""


def write_dag(dag_file, sync, dag_id: str = DAG_ID) -> DagModel:
    """Write and sync the DAG ``dag_id`` (extract >> transform >> load, with hostile owner and docs)."""
    dag_file(f"{dag_id}.py", SOURCE.format(dag_id=dag_id, hostile=HOSTILE))
    report = sync()
    assert report.import_errors == 0, report
    return DagModel.objects.get(dag_id=dag_id)


def make_run(dag: DagModel, day: int = 0, *, state: str = DagRunState.SUCCESS, ti_state: str | None = None) -> DagRun:
    """Create the run of day ``day`` in ``state``, its task instances in ``ti_state`` (default: as the run)."""
    logical = T0 + day * DAY
    run = services.dag_run_create(
        dag=dag,
        logical_date=logical,
        run_type=DagRunType.SCHEDULED,
        now=logical,
        data_interval=(logical, logical + DAY),
    )
    DagRun.objects.filter(pk=run.pk).update(state=state, start_date=logical + DAY, end_date=logical + DAY * 1.5)
    TaskInstance.objects.filter(dag_run=run).update(
        state=ti_state or state, try_number=1, start_date=logical + DAY, end_date=logical + DAY * 1.5, duration=3.5
    )
    run.refresh_from_db()
    return run


@pytest.fixture
def dag(db, dag_file, sync) -> DagModel:
    return write_dag(dag_file, sync)


@pytest.fixture
def viewer(client, viewer_user):
    client.force_login(viewer_user)
    return client


@pytest.fixture
def admin(client, admin_user):
    client.force_login(admin_user)
    return client


def url(name: str, *args: str, **query: str) -> str:
    return reverse(name, args=args) + (f"?{urlencode(query)}" if query else "")


def count_queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(ctx.captured_queries)


# -- grid ------------------------------------------------------------------------------------------


def test_grid_shows_tasks_in_topological_order_and_cells_by_state(viewer, dag):
    make_run(dag, 0, state=DagRunState.SUCCESS)
    make_run(dag, 1, state=DagRunState.FAILED)
    response = viewer.get(url("runs:grid", DAG_ID))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index(">extract<") < html.index(">transform<") < html.index(">load<")
    assert html.count("grid-cell state-success") >= 3
    assert html.count("grid-cell state-failed") >= 3
    assert "grid-run-bar state-failed" in html
    # The latest run is selected by default and its details are shown beside the grid.
    assert "scheduled__2024-01-02T00:00:00+00:00" in html
    assert 'hx-trigger="every 3s"' not in html  # nothing to refresh: every run finished


def test_grid_polls_while_a_run_is_unfinished(viewer, dag):
    make_run(dag, 0, state=DagRunState.RUNNING, ti_state=TaskInstanceState.RUNNING)
    html = viewer.get(url("runs:grid", DAG_ID)).content.decode()
    assert 'hx-trigger="every 3s"' in html
    assert reverse("runs:grid-fragment", args=[DAG_ID]) in html


def test_grid_fragment_shows_the_selected_task_panel(viewer, dag):
    run = make_run(dag, 0, state=DagRunState.RUNNING, ti_state=TaskInstanceState.NONE)
    response = viewer.get(url("runs:grid-fragment", DAG_ID, run_id=run.run_id, task_id="transform"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="grid-root"' in html
    assert 'class="task-panel"' in html and "transform" in html
    assert "Why is this task not running?" in html
    assert "Trigger rule &#x27;all_success&#x27; is not met yet" in html


def test_grid_selects_a_run_by_run_id(viewer, dag):
    old = make_run(dag, 0, state=DagRunState.FAILED)
    make_run(dag, 1)
    html = viewer.get(url("runs:grid", DAG_ID, run_id=old.run_id)).content.decode()
    assert f'href="{reverse("runs:run", args=[DAG_ID, old.run_id])}"' in html


def test_grid_of_an_unknown_run_is_404(viewer, dag):
    assert viewer.get(url("runs:grid", DAG_ID, run_id="nope")).status_code == 404


def test_grid_without_runs_lists_the_tasks(viewer, dag):
    html = viewer.get(url("runs:grid", DAG_ID)).content.decode()
    assert "No runs yet." in html and "extract" in html


def test_grid_and_graph_query_counts_do_not_grow_with_runs(viewer, dag):
    for day in range(5):
        make_run(dag, day)
    pages = [url("runs:grid", DAG_ID), url("runs:graph", DAG_ID), url("runs:grid-fragment", DAG_ID)]
    few = [count_queries(viewer, page) for page in pages]
    for day in range(5, 30):
        make_run(dag, day, state=DagRunState.FAILED if day % 3 else DagRunState.SUCCESS)
    many = [count_queries(viewer, page) for page in pages]
    assert few == many
    assert max(many) <= QUERY_BUDGET


def test_grid_with_a_selected_task_has_a_constant_query_count(viewer, dag):
    runs = [make_run(dag, day) for day in range(30)]
    path = url("runs:grid", DAG_ID, run_id=runs[3].run_id, task_id="extract")
    assert count_queries(viewer, path) <= QUERY_BUDGET


def test_viewer_sees_no_action_buttons(viewer, dag):
    run = make_run(dag, 0, state=DagRunState.FAILED)
    pages = [
        url("runs:grid", DAG_ID, run_id=run.run_id, task_id="extract"),
        url("runs:grid", DAG_ID, run_id=run.run_id),
        url("runs:run", DAG_ID, run.run_id),
        url("runs:task-instance", DAG_ID, run.run_id, "extract"),
        url("runs:task-instance", DAG_ID, run.run_id, "extract", panel="1"),
    ]
    for page in pages:
        html = viewer.get(page).content.decode()
        for marker in [
            "action-run",
            "action-clear",
            "action-mark",
            "Mark Success",
            "Mark Failed",
            "Clear run",
            "/clear/",
        ]:
            assert marker not in html, (page, marker)


def test_user_sees_action_buttons(client, user_user, dag):
    client.force_login(user_user)
    run = make_run(dag, 0, state=DagRunState.FAILED)
    html = client.get(url("runs:task-instance", DAG_ID, run.run_id, "extract", panel="1")).content.decode()
    for label in ["Run", "Clear", "Mark Failed", "Mark Success", "Upstream", "Downstream", "Failed only", "Log"]:
        assert label in html
    assert reverse("runs:ti-clear", args=[DAG_ID, run.run_id, "extract"]) in html
    html = client.get(url("runs:run", DAG_ID, run.run_id)).content.decode()
    assert reverse("runs:run-clear", args=[DAG_ID, run.run_id]) in html
    assert reverse("runs:run-mark", args=[DAG_ID, run.run_id, "success"]) in html


# -- graph -----------------------------------------------------------------------------------------


def test_graph_renders_svg_with_nodes_bordered_by_state(viewer, dag):
    run = make_run(dag, 0, state=DagRunState.FAILED, ti_state=TaskInstanceState.SUCCESS)
    TaskInstance.objects.filter(dag_run=run, task_id="load").update(state=TaskInstanceState.FAILED)
    response = viewer.get(url("runs:graph", DAG_ID))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in html and "<?xml" not in html
    assert 'id="task&#45;extract"' in html and 'class="node task&#45;node"' in html
    assert 'stroke="#ff0000"' in html  # load failed
    assert 'stroke="#008000"' in html  # extract, transform success
    assert 'name="run_id"' in html and run.run_id in html
    assert "legend-item state-up_for_retry" in html
    assert 'data-live="false"' in html


def test_graph_without_runs_shows_the_structure(viewer, dag):
    html = viewer.get(url("runs:graph", DAG_ID)).content.decode()
    assert "<svg" in html and "No runs yet" in html and "data-panel-url" not in html


def test_graph_escapes_hostile_task_ids(viewer, dag):
    """Task ids are validated at parse time; a row with a bad one still cannot inject markup."""
    serialized = dict(dag.serialized)
    serialized["tasks"] = [dict(t) for t in serialized["tasks"]]
    serialized["tasks"][0]["task_id"] = "x<script>alert(1)</script>"
    serialized["tasks"][0]["downstream_task_ids"] = ["transform"]
    DagModel.objects.filter(pk=dag.pk).update(serialized=serialized)
    html = viewer.get(url("runs:graph", DAG_ID)).content.decode()
    assert "<script>alert(1)" not in html
    assert "x&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_graph_states_returns_the_run_and_task_states(viewer, dag):
    run = make_run(dag, 0, state=DagRunState.RUNNING, ti_state=TaskInstanceState.QUEUED)
    TaskInstance.objects.filter(dag_run=run, task_id="extract").update(state=TaskInstanceState.RUNNING)
    data = viewer.get(url("runs:graph-states", DAG_ID, run_id=run.run_id)).json()
    assert data == {
        "run_id": run.run_id,
        "run_state": "running",
        "finished": False,
        "states": {"extract": "running", "transform": "queued", "load": "queued"},
    }


def test_graph_states_without_runs(viewer, dag):
    assert viewer.get(url("runs:graph-states", DAG_ID)).json()["states"] == {}


# -- run and task instance pages -------------------------------------------------------------------


def test_run_page_shows_fields_and_task_instances(viewer, dag):
    run = make_run(dag, 0, state=DagRunState.FAILED)
    DagRun.objects.filter(pk=run.pk).update(conf={"note": HOSTILE})
    response = viewer.get(url("runs:run", DAG_ID, run.run_id))
    html = response.content.decode()
    assert response.status_code == 200
    assert run.run_id in html and "Task instances (3)" in html
    assert reverse("runs:task-instance", args=[DAG_ID, run.run_id, "load"]) in html
    assert reverse("runs:task-log", args=[DAG_ID, run.run_id, "load"]) in html
    assert "2024-01-01 00:00:00" in html  # logical date
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


def test_run_page_of_unknown_run_is_404(viewer, dag):
    assert viewer.get(url("runs:run", DAG_ID, "nope")).status_code == 404


def test_task_instance_page_shows_fields_rendered_fields_and_xcoms(viewer, dag):
    run = make_run(dag, 0)
    ti = TaskInstance.objects.get(dag_run=run, task_id="extract")
    TaskInstance.objects.filter(pk=ti.pk).update(
        hostname="worker-1", pid=4242, rendered_fields={"bash_command": "echo 2024-01-01", "env": None}
    )
    XCom.objects.create(task_instance=ti, dag_run=run, task_id="extract", key="return_value", value={"v": HOSTILE})
    response = viewer.get(url("runs:task-instance", DAG_ID, run.run_id, "extract"))
    html = response.content.decode()
    assert response.status_code == 200
    for text in ["worker-1", "4242", "echo 2024-01-01", "return_value", "BashOperator", "all_success"]:
        assert text in html
    assert HOSTILE not in html  # XCom value, doc_md and owner are escaped
    assert html.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;") >= 2
    assert reverse("runs:task-log", args=[DAG_ID, run.run_id, "extract"]) + "?try=1" in html


def test_task_instance_shows_templates_as_written_before_rendering(viewer, dag):
    run = make_run(dag, 0, state=DagRunState.QUEUED, ti_state=TaskInstanceState.NONE)
    html = viewer.get(url("runs:task-instance", DAG_ID, run.run_id, "extract")).content.decode()
    assert "not rendered yet" in html and "echo {{ ds }}" in html
    assert "Why is this task not running?" in html
    assert "The DAG is paused" in html and "The DAG run is queued" in html


TASKFLOW = """
import datetime
from dags_app.sdk import dag, task

@dag(schedule=None, start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
def taskflow_args(limit: int = 3):
    @task
    def pull():
        return [1, 2]

    @task
    def push(values, limit):
        return values[:limit]

    push(pull(), limit=limit)

taskflow_args()
"""


def test_task_instance_shows_a_taskflow_argument_as_airflow_does_not_as_a_marker(viewer, dag_file, sync):
    # Issue 14: the rendered fields of a TaskFlow task showed {"__xcomarg__": ...} before it ran.
    dag_file("taskflow_args.py", TASKFLOW)
    assert sync().import_errors == 0
    run = make_run(DagModel.objects.get(dag_id="taskflow_args"), 0, state=DagRunState.QUEUED, ti_state="")
    html = viewer.get(url("runs:task-instance", "taskflow_args", run.run_id, "push")).content.decode()
    assert "__xcomarg__" not in html and "__dagparam__" not in html
    pulled = "{{ task_instance.xcom_pull(task_ids='pull', dag_id='taskflow_args', key='return_value') }}"
    assert pulled.replace("'", "&#x27;") in html
    assert "{{ params.limit }}" in html


def test_task_instance_panel_is_a_fragment(viewer, dag):
    run = make_run(dag, 0)
    response = viewer.get(url("runs:task-instance", DAG_ID, run.run_id, "load", panel="1"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'class="task-panel"' in html and "Task instance page" in html


def test_task_instance_of_unknown_task_is_404(viewer, dag):
    run = make_run(dag, 0)
    assert viewer.get(url("runs:task-instance", DAG_ID, run.run_id, "nope")).status_code == 404


# -- logs ------------------------------------------------------------------------------------------


def write_log(ti: TaskInstance, try_number: int, text: str) -> None:
    path = ti.log_path(try_number)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_task_log_shows_the_latest_try_escaped_with_tabs(viewer, dag):
    run = make_run(dag, 0, state=DagRunState.FAILED)
    ti = TaskInstance.objects.select_related("dag_run__dag").get(dag_run=run, task_id="extract")
    TaskInstance.objects.filter(pk=ti.pk).update(try_number=2)
    ti.refresh_from_db()
    write_log(ti, 1, "first try\n")
    write_log(ti, 2, f"second try {HOSTILE}\n")
    html = viewer.get(url("runs:task-log", DAG_ID, run.run_id, "extract")).content.decode()
    assert "second try &lt;script&gt;" in html and HOSTILE not in html
    assert "first try" not in html
    assert "?try=1" in html and "?try=2" in html
    assert 'id="log-poller"' not in html  # finished: no polling
    html = viewer.get(url("runs:task-log", DAG_ID, run.run_id, "extract", **{"try": "1"})).content.decode()
    assert "first try" in html


def test_task_log_without_file_says_no_log_yet(viewer, dag):
    run = make_run(dag, 0, state=DagRunState.QUEUED, ti_state=TaskInstanceState.NONE)
    TaskInstance.objects.filter(dag_run=run).update(try_number=0)
    html = viewer.get(url("runs:task-log", DAG_ID, run.run_id, "extract")).content.decode()
    assert "No log yet" in html


def test_task_log_of_a_running_try_polls_and_appends_from_offset(viewer, dag):
    run = make_run(dag, 0, state=DagRunState.RUNNING, ti_state=TaskInstanceState.RUNNING)
    ti = TaskInstance.objects.select_related("dag_run__dag").get(dag_run=run, task_id="extract")
    write_log(ti, 1, "line one\n")
    html = viewer.get(url("runs:task-log", DAG_ID, run.run_id, "extract")).content.decode()
    assert "line one" in html and 'id="log-poller"' in html and 'hx-trigger="every 2s"' in html
    assert "offset=9" in html
    write_log(ti, 1, "line one\nline <two>\n")
    fragment = url("runs:task-log-fragment", DAG_ID, run.run_id, "extract", offset="9", **{"try": "1"})
    html = viewer.get(fragment).content.decode()
    assert html.startswith('<span class="log-line log-info">line &lt;two&gt;\n</span>')
    assert "line one" not in html and "offset=20" in html and 'id="log-poller"' in html
    TaskInstance.objects.filter(pk=ti.pk).update(state=TaskInstanceState.SUCCESS)
    html = viewer.get(url("runs:task-log-fragment", DAG_ID, run.run_id, "extract", offset="20")).content.decode()
    assert 'id="log-poller"' not in html  # finished: polling stops
    assert 'id="log-ti-state"' in html and "success" in html


def test_task_log_ignores_path_like_parameters(viewer, dag, settings):
    run = make_run(dag, 0)
    for bad in ["../../etc/passwd", "-1", "abc"]:
        response = viewer.get(url("runs:task-log", DAG_ID, run.run_id, "extract", **{"try": bad}))
        assert response.status_code == 200
        assert "root:" not in response.content.decode()


def test_pages_need_login(client, dag):
    run = make_run(dag, 0)
    for page in [url("runs:grid", DAG_ID), url("runs:graph", DAG_ID), url("runs:run", DAG_ID, run.run_id)]:
        response = client.get(page)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_outsider_without_a_role_gets_403(client, outsider, dag):
    client.force_login(outsider)
    assert client.get(url("runs:graph-states", DAG_ID)).status_code == 403
    assert client.get(url("runs:grid", DAG_ID)).status_code == 403


# -- scheduling errors are visible ----------------------------------------------------------------


def test_a_parked_run_and_dag_show_their_scheduling_error_escaped(viewer, dag):
    run = make_run(dag, state=DagRunState.RUNNING)
    error = f"2024-01-02T00:00:00+00:00 ValueError: {HOSTILE}"
    DagRun.objects.filter(pk=run.pk).update(scheduling_error=error, scheduling_failures=3)
    DagModel.objects.filter(pk=dag.pk).update(scheduling_error=error, scheduling_failures=1)

    run_page = viewer.get(url("runs:run", DAG_ID, run.run_id)).content.decode()
    grid = viewer.get(url("runs:grid", DAG_ID)).content.decode()
    listing = viewer.get(url("runs:dag-list")).content.decode()

    assert "The scheduler cannot schedule this run" in run_page and "3 failures in a row" in run_page
    assert "The scheduler cannot create this DAG's runs" in grid
    assert "scheduling-error-badge" in listing
    for page in (run_page, grid, listing):
        assert HOSTILE not in page and "&lt;script&gt;" in page


def test_pages_show_no_scheduling_error_when_there_is_none(viewer, dag):
    run = make_run(dag)

    assert "scheduling-error" not in viewer.get(url("runs:run", DAG_ID, run.run_id)).content.decode()
    assert "scheduling-error" not in viewer.get(url("runs:dag-list")).content.decode()


# -- the broker banner -----------------------------------------------------------------------------


def test_pages_say_when_redis_cannot_be_reached(viewer, dag, settings):
    from tests.conftest_services import free_port

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there

    page = viewer.get(url("runs:dag-list")).content.decode()

    assert "broker-banner" in page and "Redis (the task queue) cannot be reached" in page


def test_pages_show_no_broker_banner_while_redis_answers(viewer, dag, redis_url):
    assert "broker-banner" not in viewer.get(url("runs:dag-list")).content.decode()


def test_the_dag_list_and_header_show_dag_display_name_and_link_each_owner(viewer, dag_file, sync):
    dag_file(
        "shown.py",
        """\
import datetime
from dags_app.sdk import DAG, EmptyOperator

with DAG("shown", schedule=None, start_date=datetime.datetime(2024, 1, 1), dag_display_name="Daily <sales>",
         owner_links={"data": "https://wiki.example.com/data"}, default_args={"owner": "data, ops"}) as dag:
    EmptyOperator(task_id="t")
""",
    )
    assert sync().import_errors == 0

    listing = viewer.get(url("runs:dag-list")).content.decode()
    header = viewer.get(url("runs:grid", "shown")).content.decode()

    assert ">Daily &lt;sales&gt;</a>" in listing
    assert '<a href="https://wiki.example.com/data" rel="noopener noreferrer">data</a>, ops' in listing
    assert "Daily &lt;sales&gt;" in header

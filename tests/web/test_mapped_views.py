"""Mapped tasks in the UI: the grid's one cell per run, the panel's list of instances, each
instance's page, log and actions (``?map_index=``), flat query counts with 1,000 instances."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dags_app.models import DagModel
from runs_app import services, transitions
from runs_app.models import DagRun, TaskInstance
from runs_app.states import DagRunState, DagRunType, TaskInstanceState
from tests.web.test_dag_views import url

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
TI = TaskInstanceState
DAG_ID = "mapped_web"
SOURCE = """
import datetime
from dags_app.sdk import DAG, BashOperator, task

with DAG("mapped_web", schedule="@daily", start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
         catchup=False) as dag:
    @task
    def files():
        return []

    @task
    def size(name):
        return len(name)

    size.expand(name=files()) >> BashOperator(task_id="report", bash_command="echo done")
"""


@pytest.fixture
def dag(db, dag_file, sync) -> DagModel:
    dag_file("mapped_web.py", SOURCE)
    assert sync().import_errors == 0
    return DagModel.objects.get(dag_id=DAG_ID)


def mapped_run(dag: DagModel, day: int, n: int, *, failed: tuple[int, ...] = ()) -> DagRun:
    """A run whose ``size`` task is expanded into ``n`` instances (success, but ``failed`` ones)."""
    logical = T0 + dt.timedelta(days=day)
    run = services.dag_run_create(
        dag=dag, logical_date=logical, run_type=DagRunType.SCHEDULED, now=logical, data_interval=(logical, logical)
    )
    transitions.ti_expand(run=run, task_id="size", length=n, now=logical)
    TaskInstance.objects.filter(dag_run=run).update(state=TI.SUCCESS, try_number=1, duration=1.0)
    TaskInstance.objects.filter(dag_run=run, task_id="size", map_index__in=failed).update(state=TI.FAILED)
    DagRun.objects.filter(pk=run.pk).update(state=DagRunState.FAILED if failed else DagRunState.SUCCESS)
    run.refresh_from_db()
    return run


@pytest.fixture
def admin(client, admin_user):
    client.force_login(admin_user)
    return client


def queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(ctx.captured_queries)


def test_the_grid_shows_one_cell_per_run_for_a_mapped_task_with_its_instances_counted(admin, dag):
    run = mapped_run(dag, 0, 3, failed=(1,))
    html = admin.get(url("runs:grid", DAG_ID, run_id=run.run_id)).content.decode()
    assert html.count("grid-cell-mapped") == 1
    assert "mapped: 3 instances" in html and "failed: 1" in html
    assert "grid-cell state-failed grid-cell-mapped" in html  # the instances add up to failed


def test_the_panel_lists_every_instance_and_each_instance_has_its_own_page_log_and_actions(admin, dag):
    run = mapped_run(dag, 0, 3, failed=(1,))
    html = admin.get(url("runs:grid", DAG_ID, run_id=run.run_id, task_id="size")).content.decode()
    assert "Mapped instances: 3" in html and "mapped &times; 3" in html
    page = reverse("runs:task-instance", args=[DAG_ID, run.run_id, "size"])
    for index in range(3):
        assert f'href="{page}?map_index={index}"' in html
    one = admin.get(page + "?map_index=1").content.decode()
    assert "size [1]" in one
    assert '<input type="hidden" name="map_index" value="1">' in one
    log = reverse("runs:task-log", args=[DAG_ID, run.run_id, "size"]) + "?map_index=1"
    assert admin.get(log).status_code == 200
    assert admin.get(page + "?map_index=7").status_code == 404
    assert admin.get(page + "?map_index=x").status_code == 404


def test_clearing_one_instance_from_the_web_leaves_the_others(admin, dag):
    run = mapped_run(dag, 0, 3, failed=(1,))
    clear = reverse("runs:ti-clear", args=[DAG_ID, run.run_id, "size"])
    confirm = admin.get(clear + "?options=1&downstream=on&map_index=1").content.decode()
    assert "size [1] (failed)" in confirm and "report (success)" in confirm
    assert "size [0] (" not in confirm and "size [2] (" not in confirm
    admin.post(clear + "?map_index=1", {"confirmed": "1", "downstream": "on"})
    states = dict(TaskInstance.objects.filter(dag_run=run, task_id="size").values_list("map_index", "state"))
    assert states == {0: TI.SUCCESS, 1: TI.NONE, 2: TI.SUCCESS}
    # Without a map index, the action is on every instance.
    mark = reverse("runs:ti-mark", args=[DAG_ID, run.run_id, "size", "failed"])
    admin.post(mark, {"confirmed": "1"})
    assert set(TaskInstance.objects.filter(dag_run=run, task_id="size").values_list("state", flat=True)) == {TI.FAILED}


def test_grid_and_graph_run_the_same_queries_with_1000_mapped_instances_as_with_3(admin, dag):
    small = mapped_run(dag, 0, 3)
    few = {
        "grid": queries(admin, url("runs:grid", DAG_ID, run_id=small.run_id, task_id="size")),
        "graph": queries(admin, url("runs:graph", DAG_ID, run_id=small.run_id)),
        "states": queries(admin, url("runs:graph-states", DAG_ID, run_id=small.run_id)),
    }
    big = mapped_run(dag, 1, 1000, failed=(500,))
    many = {
        "grid": queries(admin, url("runs:grid", DAG_ID, run_id=big.run_id, task_id="size")),
        "graph": queries(admin, url("runs:graph", DAG_ID, run_id=big.run_id)),
        "states": queries(admin, url("runs:graph-states", DAG_ID, run_id=big.run_id)),
    }
    assert many == few
    graph = admin.get(url("runs:graph", DAG_ID, run_id=big.run_id)).content.decode()
    assert "size [1000]" in graph


def test_why_is_this_task_not_running_names_the_mapping_and_the_mapped_upstream(admin, dag):
    logical = T0
    run = services.dag_run_create(
        dag=dag, logical_date=logical, run_type=DagRunType.MANUAL, now=logical, data_interval=(logical, logical)
    )
    DagRun.objects.filter(pk=run.pk).update(state=DagRunState.RUNNING)
    html = admin.get(url("runs:grid", DAG_ID, run_id=run.run_id, task_id="size")).content.decode()
    assert "It is a mapped task: its instances are made once its upstream tasks are done" in html
    assert "maps over name: the XCom return_value of files" in html

    transitions.ti_expand(run=run, task_id="size", length=3, now=logical)
    TaskInstance.objects.filter(dag_run=run, task_id__in=["files", "size"]).update(state=TI.SUCCESS)
    TaskInstance.objects.filter(dag_run=run, task_id="size", map_index=2).update(state=TI.RUNNING)
    html = admin.get(url("runs:grid", DAG_ID, run_id=run.run_id, task_id="report")).content.decode()
    assert "It waits for the mapped task size: 2 of 3 instances done." in html
    assert "3 total, 2 success" in html  # the trigger rule counts each instance


def test_a_scheduled_task_names_the_limit_that_holds_it(admin, dag):
    from runs_app.models import Pool

    Pool.objects.create(name="tiny", slots=0)
    logical = T0
    run = services.dag_run_create(
        dag=dag, logical_date=logical, run_type=DagRunType.MANUAL, now=logical, data_interval=(logical, logical)
    )
    DagRun.objects.filter(pk=run.pk).update(state=DagRunState.RUNNING)
    TaskInstance.objects.filter(dag_run=run, task_id="files").update(state=TI.SCHEDULED, pool="tiny")
    html = admin.get(url("runs:grid", DAG_ID, run_id=run.run_id, task_id="files")).content.decode()
    assert "it waits for a free slot: Not enough free slots in pool &#x27;tiny&#x27; (0 free)." in html


def test_the_gantt_draws_a_bar_per_mapped_instance(admin, dag):
    run = mapped_run(dag, 0, 3, failed=(1,))
    TaskInstance.objects.filter(dag_run=run).update(start_date=T0, end_date=T0 + dt.timedelta(seconds=5))
    html = admin.get(url("runs:gantt", DAG_ID, run_id=run.run_id)).content.decode()
    page = reverse("runs:task-instance", args=[DAG_ID, run.run_id, "size"])
    for index in range(3):
        assert f"size [{index}]" in html and f"{page}?map_index={index}" in html


def test_durations_tries_and_landing_times_take_a_mapped_task_s_instances_together(admin, dag):
    run = mapped_run(dag, 0, 3)
    due = run.data_interval_end
    # Instance 0 ran first and quickly; instance 2 took three tries and ended last.
    for index, (start, end, tries) in enumerate([(0, 5, 1), (2, 30, 2), (4, 90, 3)]):
        TaskInstance.objects.filter(dag_run=run, task_id="size", map_index=index).update(
            start_date=due + dt.timedelta(seconds=start), end_date=due + dt.timedelta(seconds=end), try_number=tries
        )

    durations = admin.get(url("runs:durations", DAG_ID)).content.decode()
    tries = admin.get(url("runs:tries", DAG_ID)).content.decode()
    landing = admin.get(url("runs:landing-times", DAG_ID)).content.decode()

    assert "Duration: 1m 30s over its 3 mapped instances (success)" in durations
    assert "Tries: at most 3 over its 3 mapped instances (success)" in tries
    assert "Landed 1m 30s over its 3 mapped instances after" in landing

    # While one instance runs the task has not ended: no duration, no landing time yet.
    TaskInstance.objects.filter(dag_run=run, task_id="size", map_index=1).update(state=TI.RUNNING, end_date=None)
    assert "mapped instances" not in admin.get(url("runs:landing-times", DAG_ID)).content.decode()

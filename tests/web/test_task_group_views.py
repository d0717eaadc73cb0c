"""Task groups in the Grid (foldable group rows with the group's state) and the Graph (clusters,
collapsed groups as one node, ?expanded=), from the example DAG ``example_task_group_etl``."""

from __future__ import annotations

import html as html_lib
import re
import shutil

import pytest
from django.conf import settings

from runs_app.models import TaskInstance
from runs_app.states import DagRunState, TaskInstanceState
from tests.web.test_dag_views import count_queries, make_run, url

DAG_ID = "example_task_group_etl"


@pytest.fixture
def dag(db, dags_folder, sync):
    shutil.copy(settings.BASE_DIR / "dags" / f"{DAG_ID}.py", dags_folder / f"{DAG_ID}.py")
    assert sync().import_errors == 0
    from dags_app.models import DagModel

    return DagModel.objects.get(dag_id=DAG_ID)


@pytest.fixture
def viewer(client, viewer_user):
    client.force_login(viewer_user)
    return client


def test_grid_has_a_row_per_group_above_its_tasks_with_the_group_s_state(viewer, dag):
    run = make_run(dag, 0, state=DagRunState.RUNNING, ti_state=TaskInstanceState.SUCCESS)
    TaskInstance.objects.filter(dag_run=run, task_id="orders.clean.dedupe").update(state=TaskInstanceState.FAILED)
    TaskInstance.objects.filter(dag_run=run, task_id="customers.keep_active").update(state=TaskInstanceState.RUNNING)
    page = viewer.get(url("runs:grid", DAG_ID)).content.decode()
    rows = re.findall(r'<tr class="(grid-group-row)?[^"]*"(?: data-group="([^"]+)")?(?: data-parents="([^"]*)")?', page)
    groups = [g for _, g, _ in rows if g]
    assert groups == ["customers", "orders", "orders.clean", "report"]
    # Tasks in a group name their groups (outermost first) so the script can fold them.
    assert 'data-parents="orders orders.clean"' in page
    # Labels without the prefix, full ids in the links and titles.
    assert ">dedupe</a>" in page and "task_id=orders.clean.dedupe" in page
    # A group's cell shows its tasks' state in Airflow's priority: failed over success.
    cells = dict(re.findall(r'aria-label="Task group (\S+) in \S+: ([a-z_]+)"', page))
    assert cells == {"customers": "running", "orders": "failed", "orders.clean": "failed", "report": "success"}
    assert 'data-group-toggle="orders.clean"' in page
    assert "Task group orders (3 tasks)&#10;Extract and clean the orders" in page


def test_grid_without_runs_lists_groups_and_their_tasks(viewer, dag):
    page = viewer.get(url("runs:grid", DAG_ID)).content.decode()
    assert "No runs yet." in page
    assert page.index("bi-collection") < page.index(">dedupe<")


def test_graph_starts_with_groups_collapsed_and_opens_the_ones_asked_for(viewer, dag):
    run = make_run(dag, 0, state=DagRunState.SUCCESS)
    TaskInstance.objects.filter(dag_run=run, task_id="orders.clean.validate").update(state=TaskInstanceState.FAILED)
    collapsed = html_lib.unescape(viewer.get(url("runs:graph", DAG_ID)).content.decode())
    assert 'id="group-orders"' in collapsed and 'id="group-customers"' in collapsed
    assert 'id="task-orders.extract"' not in collapsed
    assert 'id="task-load"' in collapsed
    assert "Expand groups" in collapsed

    opened = html_lib.unescape(viewer.get(url("runs:graph", DAG_ID, expanded="orders")).content.decode())
    assert 'id="cluster-orders"' in opened and 'id="task-orders.extract"' in opened
    assert 'id="group-orders.clean"' in opened  # the nested group stays closed
    assert 'name="expanded" value="orders"' in opened  # the run selector keeps the open groups

    everything = html_lib.unescape(viewer.get(url("runs:graph", DAG_ID, expanded="all")).content.decode())
    assert 'id="cluster-orders.clean"' in everything and 'id="task-orders.clean.dedupe"' in everything
    assert 'class="group-node"' not in everything
    # Unknown group ids in ?expanded= are ignored.
    assert viewer.get(url("runs:graph", DAG_ID, expanded="nope,<x>")).status_code == 200


def test_group_pages_keep_a_flat_query_count(viewer, dag):
    for day in range(3):
        make_run(dag, day)
    pages = [url("runs:grid", DAG_ID), url("runs:graph", DAG_ID, expanded="all"), url("runs:grid-fragment", DAG_ID)]
    few = [count_queries(viewer, page) for page in pages]
    for day in range(3, 20):
        make_run(dag, day, state=DagRunState.FAILED)
    assert [count_queries(viewer, page) for page in pages] == few


def test_tasks_list_tree_names_each_task_s_group(dag, cli):
    out = cli("tasks", "list", DAG_ID, "--tree")
    assert "<Task(@task): orders.clean.dedupe> in <TaskGroup: orders.clean>" in out
    assert "<Task(BashOperator): summary> in <TaskGroup: report>" in out
    assert "<Task(@task): start>\n" in out

"""Task groups (dags_app/sdk/task_group.py): ids, default_args, dependencies, serialization, graph.

Airflow's behaviour is the reference (airflow.utils.task_group / airflow.sdk TaskGroup).
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from dags_app.graph import dag_to_dot, dag_to_graph
from dags_app.sdk import DAG, AirflowException, DuplicateTaskIdFound, EmptyOperator, TaskGroup, chain, task, task_group
from dags_app.sdk.dag_context import DagContext
from dags_app.serialization import serialize_dag
from dags_app.task_groups import group_state, group_tree, members

pytestmark = pytest.mark.no_database

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _reset_context():
    DagContext.reset()
    yield
    DagContext.reset()


def ups(dag: DAG, task_id: str) -> list[str]:
    return sorted(dag.get_task(task_id).upstream_task_ids)


def etl_dag() -> DAG:
    with DAG("etl", start_date=START, schedule=None, default_args={"retries": 1, "owner": "data"}) as dag:
        start = EmptyOperator(task_id="start")
        with TaskGroup("extract", tooltip="Get the data", default_args={"retries": 3}) as extract:
            a = EmptyOperator(task_id="a")
            with TaskGroup("inner") as inner:
                b = EmptyOperator(task_id="b", default_args={"retries": 5})
                c = EmptyOperator(task_id="c")
                b >> c
            a >> inner
        with TaskGroup("flat", prefix_group_id=False) as flat:
            EmptyOperator(task_id="x")
        end = EmptyOperator(task_id="end")
        start >> extract >> [flat, end]
    return dag


def test_ids_are_prefixed_by_every_group_level_unless_prefix_group_id_is_false():
    dag = etl_dag()
    assert sorted(dag.task_ids) == ["end", "extract.a", "extract.inner.b", "extract.inner.c", "start", "x"]
    assert list(dag.task_group_dict) == ["extract", "extract.inner", "flat"]
    assert dag.get_task("extract.inner.b").label == "b"
    assert dag.get_task("x").label == "x"
    assert dag.get_task("x").task_group.group_id == "flat"
    assert dag.get_task("start").task_group is dag.task_group  # the root group


def test_group_default_args_win_over_the_dag_s_and_the_task_s_own_win_over_both():
    dag = etl_dag()
    retries = {t.task_id: t.retries for t in dag.tasks}
    assert retries == {"start": 1, "extract.a": 3, "extract.inner.b": 5, "extract.inner.c": 3, "x": 1, "end": 1}
    assert {t.owner for t in dag.tasks} == {"data"}


def test_a_group_stands_for_its_leaves_upstream_and_its_roots_downstream():
    dag = etl_dag()
    assert ups(dag, "extract.a") == ["start"]  # start >> extract: the group's root
    assert ups(dag, "extract.inner.b") == ["extract.a"]  # a >> inner: the nested group's root
    assert ups(dag, "x") == ["extract.inner.c"]  # extract >> [flat, end]: the group's leaf
    assert ups(dag, "end") == ["extract.inner.c"]


def test_lists_of_groups_chain_and_xcomarg_work_on_either_side():
    with DAG("lists", start_date=START, schedule=None) as dag:
        with TaskGroup("g1") as g1:
            EmptyOperator(task_id="t")
        with TaskGroup("g2") as g2:
            EmptyOperator(task_id="t")
        after = EmptyOperator(task_id="after")
        [g1, g2] >> after

        @task
        def make():
            return 1

        with TaskGroup("g3") as g3:
            EmptyOperator(task_id="t")
        make() >> g3
        with TaskGroup("g4") as g4:
            EmptyOperator(task_id="t")
        last = EmptyOperator(task_id="last")
        chain(g3, g4, last)
        g4 << after
    assert ups(dag, "after") == ["g1.t", "g2.t"]
    assert ups(dag, "g3.t") == ["make"]
    assert ups(dag, "g4.t") == ["after", "g3.t"]
    assert ups(dag, "last") == ["g4.t"]


def test_task_group_decorator_names_groups_uniquely_and_forwards_the_return_value():
    with DAG("deco", start_date=START, schedule=None) as dag:

        @task
        def one(x=None):
            return x

        @task_group
        def section(value):
            """Work on one value."""
            return one(one(value))

        @task_group(group_id="plain", default_args={"retries": 2})
        def plain():
            one()

        first = section(1)
        second = section(2)
        group = plain()
        first >> second >> group
    assert list(dag.task_group_dict) == ["section", "section__1", "plain"]
    assert dag.task_group_dict["section"].tooltip == "Work on one value."
    assert isinstance(group, TaskGroup)
    # The returned XComArg is the group's last task: >> binds to it, as in Airflow.
    assert ups(dag, "section__1.one") == []
    assert ups(dag, "section__1.one__1") == ["section.one__1", "section__1.one"]
    assert ups(dag, "plain.one") == ["section__1.one__1"]
    assert dag.get_task("plain.one").retries == 2


def test_tasks_made_twice_in_one_group_get_suffixes_inside_the_group():
    with DAG("suffix", start_date=START, schedule=None) as dag:

        @task
        def work():
            return 1

        with TaskGroup("g"):
            work()
            work()
        work()
    assert sorted(dag.task_ids) == ["g.work", "g.work__1", "work"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TaskGroup("outside"), "can only be used inside a DAG"),
        (lambda: TaskGroup("has.dot", dag=DAG("d1", start_date=START)), "letters, digits, dashes and underscores"),
        (lambda: TaskGroup("", dag=DAG("d2", start_date=START)), "letters, digits, dashes and underscores"),
    ],
)
def test_bad_groups_are_refused_with_a_clear_message(build, message):
    with pytest.raises(AirflowException, match=re.escape(message)):
        build()


def test_a_group_id_may_not_repeat_or_clash_with_a_task_id():
    with DAG("clash", start_date=START, schedule=None):
        TaskGroup("g")
        with pytest.raises(DuplicateTaskIdFound, match="group_id 'g' has already been added"):
            TaskGroup("g")
        EmptyOperator(task_id="t")
        with pytest.raises(DuplicateTaskIdFound, match="group_id 't'"):
            TaskGroup("t")
        with TaskGroup("flat", prefix_group_id=False), pytest.raises(DuplicateTaskIdFound, match="Task id 't'"):
            EmptyOperator(task_id="t")


def test_explicit_dag_and_task_group_arguments_without_context_managers():
    dag = DAG("explicit", start_date=START, schedule=None)
    group = TaskGroup("g", dag=dag)
    inner = TaskGroup("h", parent_group=group)
    t = EmptyOperator(task_id="t", task_group=inner)
    assert t.task_id == "g.h.t"
    assert t.dag is dag
    assert list(group) == [t]


def test_serialized_dag_lists_groups_and_each_task_names_its_group():
    data = serialize_dag(etl_dag())
    assert [(g["group_id"], g["parent_group_id"], g["label"]) for g in data["task_groups"]] == [
        ("extract", None, "extract"),
        ("extract.inner", "extract", "inner"),
        ("flat", None, "flat"),
    ]
    assert data["task_groups"][0]["tooltip"] == "Get the data"
    by_id = {t["task_id"]: t for t in data["tasks"]}
    assert (by_id["extract.inner.b"]["task_group"], by_id["extract.inner.b"]["label"]) == ("extract.inner", "b")
    assert by_id["start"]["task_group"] is None
    assert members(data) == {
        "extract": ["extract.a", "extract.inner.b", "extract.inner.c"],
        "extract.inner": ["extract.inner.b", "extract.inner.c"],
        "flat": ["x"],
    }
    tree = group_tree(data)
    assert [c["task_id"] if isinstance(c, dict) else c.group_id for c in tree.children] == [
        "start",
        "extract",
        "end",
        "flat",
    ]


def test_group_state_is_the_first_present_in_airflow_s_priority():
    assert group_state(["success", "failed", "running"]) == "failed"
    assert group_state(["success", "running"]) == "running"
    assert group_state(["success", None]) == "none"
    assert group_state(["success", "skipped"]) == "success"
    assert group_state([]) is None


def test_the_graph_draws_groups_as_clusters_and_collapsed_groups_as_one_node():
    data = serialize_dag(etl_dag())
    expanded = dag_to_dot(data)
    assert "subgraph cluster_extract {" in expanded
    assert "subgraph cluster_extract.inner {" in expanded or 'subgraph "cluster_extract.inner" {' in expanded
    assert '"extract.inner.b" -> "extract.inner.c"' in expanded

    collapsed = dag_to_graph(data, states={"extract.a": "success", "extract.inner.b": "failed"}, expanded=set()).source
    assert "cluster_" not in collapsed
    assert "extract.inner.b" not in collapsed  # hidden inside the collapsed group
    assert 'start -> "group extract"' in collapsed
    assert '"group extract" -> x' not in collapsed  # x is in the collapsed group "flat"
    assert '"group extract" -> "group flat"' in collapsed
    assert '"group extract" -> end' in collapsed
    node = collapsed.split('"group extract" [', 1)[1].split("]", 1)[0]
    assert 'id="group-extract"' in node and 'class="group-node"' in node
    assert 'color="#ff0000"' in node  # failed wins over success

    half = dag_to_graph(data, expanded={"extract"}).source
    assert "cluster_extract" in half and '"group extract.inner"' in half
    assert '"extract.a" -> "group extract.inner"' in half


def test_the_graph_svg_of_groups_renders_with_dot():
    svg = html.unescape(
        dag_to_graph(serialize_dag(etl_dag()), expanded={"extract"}).pipe(format="svg", encoding="utf-8")
    )
    assert 'id="cluster-extract"' in svg and 'class="cluster task-group"' in svg
    assert 'id="group-extract.inner"' in svg and 'id="task-extract.a"' in svg

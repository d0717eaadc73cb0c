"""``chain_linear`` and ``Label`` (Airflow 2.7's linear chain and edge labels)."""

from __future__ import annotations

import datetime as dt

import pytest

from dags_app.graph import dag_to_graph
from dags_app.sdk import DAG, AirflowException, EmptyOperator, Label, TaskGroup, chain_linear
from dags_app.serialization import serialize_dag

pytestmark = pytest.mark.no_database

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_chain_linear_links_every_task_of_each_element_to_every_task_of_the_next():
    with DAG("lin", start_date=START, schedule=None) as dag:
        a, b, c, d, e = (EmptyOperator(task_id=x) for x in "abcde")
        chain_linear(a, [b, c], [d, e])
    assert dag.get_task("a").downstream_task_ids == {"b", "c"}
    assert dag.get_task("b").downstream_task_ids == {"d", "e"}
    assert dag.get_task("c").downstream_task_ids == {"d", "e"}
    with pytest.raises(AirflowException, match="at least two elements"):
        chain_linear(a)


def test_a_label_names_the_edges_it_stands_between_and_the_graph_draws_it():
    with DAG("labels", start_date=START, schedule=None) as dag:
        check = EmptyOperator(task_id="check")
        good, bad = EmptyOperator(task_id="good"), EmptyOperator(task_id="bad")
        with TaskGroup("report") as report:
            EmptyOperator(task_id="send")
        check >> Label("valid") >> [good, report]
        check >> Label('<b onload="x">invalid</b>') >> bad
    assert dag.get_task("check").downstream_task_ids == {"good", "bad", "report.send"}
    assert dag.get_edge_info("check", "good") == {"label": "valid"}
    assert dag.get_edge_info("check", "report.send") == {"label": "valid"}
    serialized = serialize_dag(dag)
    assert serialized["edge_info"]["check"]["bad"] == {"label": '<b onload="x">invalid</b>'}
    svg = dag_to_graph(serialized).pipe(format="svg", encoding="utf-8")
    assert ">valid<" in svg
    assert "&lt;b onload=&quot;x&quot;&gt;invalid&lt;/b&gt;" in svg and "<b onload" not in svg


def test_the_graph_marks_setups_and_teardowns_and_dashes_the_edge_between_them():
    with DAG("st_graph", start_date=START, schedule=None) as dag:
        create, query, delete = (EmptyOperator(task_id=t) for t in ("create", "query", "delete"))
        create >> query >> delete.as_teardown(setups=create)
    dot = dag_to_graph(serialize_dag(dag)).source
    assert "create -> delete [style=dashed]" in dot
    assert "create -> query\n" in dot
    svg = dag_to_graph(serialize_dag(dag)).pipe(format="svg", encoding="utf-8")
    assert "\u2191 create" in svg and "\u2193 delete" in svg


def test_a_teardown_as_a_context_manager_wraps_the_tasks_made_in_the_block():
    from dags_app.sdk import setup, task, teardown

    with DAG("st_ctx", start_date=START, schedule=None) as dag:

        @setup
        def create():
            return 1

        @teardown
        def delete():
            return 2

        @task
        def query():
            return 3

        @task
        def report(x):
            return x

        c = create()
        with c >> delete().as_teardown(setups=c):
            report(query())
        with EmptyOperator(task_id="prepare").as_setup():
            EmptyOperator(task_id="use")
    assert dag.get_task("query").upstream_task_ids == {"create"}
    assert dag.get_task("report").downstream_task_ids == {"delete"}
    assert dag.get_task("delete").upstream_task_ids == {"create", "report"}
    assert dag.get_task("use").upstream_task_ids == {"prepare"}
    with (
        pytest.raises(AirflowException, match="only a setup or teardown task"),
        EmptyOperator(task_id="plain", dag=dag),
    ):
        pass

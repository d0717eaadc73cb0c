"""Serializing DAGs for the metastore (dags_app/serialization.py) and importing the example DAG files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from dags_app.dagbag import import_dag_file
from dags_app.sdk import (
    DAG,
    AirflowDagCycleException,
    BashOperator,
    EmptyOperator,
    Param,
    PythonOperator,
    TriggerRule,
    dag,
    task,
)
from dags_app.sdk.dag_context import DagContext
from dags_app.serialization import serialize_dag

pytestmark = pytest.mark.no_database

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(autouse=True)
def _reset_dag_context():
    DagContext.reset()
    yield
    DagContext.reset()


def make_dag(dag_id: str = "d", **kwargs: Any) -> DAG:
    kwargs.setdefault("start_date", START)
    kwargs.setdefault("schedule", None)
    return DAG(dag_id, **kwargs)


def tasks_by_id(serialized: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["task_id"]: t for t in serialized["tasks"]}


def _rich_dag() -> DAG:
    with make_dag(
        "rich",
        schedule="0 10 * * *",
        tags=["example", "pipeline"],
        params={"n": Param(5, type="integer"), "plain": "x"},
        default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=1), "on_failure_callback": print},
        doc_md="The docs",
    ) as d:

        @task
        def extract():
            return 1

        @task
        def load(value):
            pass

        bash = BashOperator(task_id="bash", bash_command="echo {{ ds }}", env={"A": "1"})
        py = PythonOperator(task_id="py", python_callable=print, op_args=[bash.output])
        join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        load(extract()) >> join
        bash >> py >> join
    return d


def test_serialize_dag_output_is_json_serializable():
    serialized = serialize_dag(_rich_dag())

    assert json.loads(json.dumps(serialized)) == serialized


def test_serialize_dag_lists_tasks_in_topological_order():
    with make_dag() as d:
        z, y, x = (EmptyOperator(task_id=t) for t in "zyx")
        z >> y >> x

    assert [t["task_id"] for t in serialize_dag(d)["tasks"]] == ["z", "y", "x"]


def test_serialize_dag_places_every_task_after_its_upstream_tasks():
    serialized = serialize_dag(_rich_dag())
    position = {t["task_id"]: i for i, t in enumerate(serialized["tasks"])}

    for t in serialized["tasks"]:
        assert all(position[up] < position[t["task_id"]] for up in t["upstream_task_ids"])


def test_serialize_dag_contains_trigger_rule_values():
    tasks = tasks_by_id(serialize_dag(_rich_dag()))

    assert tasks["join"]["trigger_rule"] == "none_failed_min_one_success"
    assert tasks["bash"]["trigger_rule"] == "all_success"


def test_serialize_dag_contains_upstream_and_downstream_ids():
    tasks = tasks_by_id(serialize_dag(_rich_dag()))

    assert tasks["join"]["upstream_task_ids"] == ["load", "py"]
    assert tasks["bash"]["downstream_task_ids"] == ["py"]
    assert tasks["load"]["upstream_task_ids"] == ["extract"]


def test_serialize_dag_contains_template_fields_and_values():
    bash = tasks_by_id(serialize_dag(_rich_dag()))["bash"]

    assert bash["template_fields"] == ["bash_command", "env", "cwd"]
    assert bash["template_ext"] == [".sh", ".bash"]
    assert bash["template_values"]["bash_command"] == "echo {{ ds }}"
    assert bash["template_values"]["env"] == {"A": "1"}


def test_serialize_dag_stores_xcomarg_template_value_as_reference():
    py = tasks_by_id(serialize_dag(_rich_dag()))["py"]

    assert py["template_values"]["op_args"] == [{"__xcomarg__": {"task_id": "bash", "key": "return_value"}}]


def test_serialize_dag_contains_timetable_summary():
    serialized = serialize_dag(_rich_dag())

    assert serialized["timetable_summary"] == "0 10 * * *"
    assert serialized["schedule"] == "0 10 * * *"


@pytest.mark.parametrize(
    ("schedule", "summary"),
    [(None, "None"), ("@once", "@once"), ("@daily", "@daily"), (dt.timedelta(hours=6), "6:00:00")],
)
def test_serialize_dag_timetable_summary_follows_schedule(schedule, summary):
    assert serialize_dag(make_dag(schedule=schedule))["timetable_summary"] == summary


def test_serialize_dag_contains_tags():
    assert serialize_dag(_rich_dag())["tags"] == ["example", "pipeline"]


def test_serialize_dag_contains_params_defaults():
    assert serialize_dag(_rich_dag())["params"] == {"n": 5, "plain": "x"}


def test_serialize_dag_contains_task_settings_from_default_args():
    bash = tasks_by_id(serialize_dag(_rich_dag()))["bash"]

    assert bash["retries"] == 2
    assert bash["retry_delay"] == 60.0
    assert bash["operator"] == "BashOperator"


def test_serialize_dag_names_taskflow_operator():
    assert tasks_by_id(serialize_dag(_rich_dag()))["extract"]["operator"] == "@task"


def test_serialize_dag_stores_callables_as_readable_strings():
    serialized = serialize_dag(_rich_dag())

    assert serialized["default_args"]["on_failure_callback"] == "<callable print>"


def test_serialize_dag_names_the_python_callable_and_its_line():
    extract = tasks_by_id(serialize_dag(_rich_dag()))["extract"]

    assert extract["python_callable"].startswith("_rich_dag.<locals>.extract (line ")


def test_serialize_dag_contains_doc_md():
    assert serialize_dag(_rich_dag())["doc_md"] == "The docs"


def test_serialize_dag_with_cycle_raises():
    with make_dag("cyclic") as d:
        a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
        a >> b >> a

    with pytest.raises(AirflowDagCycleException, match="Cycle detected in DAG: cyclic"):
        serialize_dag(d)


def test_serialize_dag_of_decorated_dag_contains_function_params():
    @dag(schedule=None, start_date=START)
    def decorated(name="world"):
        pass

    assert serialize_dag(decorated())["params"] == {"name": "world"}


# -- the example DAG files -----------------------------------------------------------------------------------------

EXPECTED_EXAMPLES = {
    "example_xcom.py": (
        "example_xcom",
        {"bash_push", "bash_pull", "pull_value_from_bash_push", "push", "push_by_returning", "puller"},
    ),
    "tutorial.py": ("tutorial", {"print_date", "sleep", "templated"}),
    "daily_pipeline.py": ("daily_pipeline", {"download", "process", "store"}),
    "example_branch_operator.py": (
        "example_branch_operator",
        {"run_this_first", "branching", "join"}
        | {f"branch_{x}" for x in "abcd"}
        | {f"follow_branch_{x}" for x in "abcd"},
    ),
    "example_trigger_rules.py": (
        "example_trigger_rules",
        {"succeed", "fail", "skip", "end"} | {f"rule_{rule.value}" for rule in TriggerRule},
    ),
    "example_taskflow.py": ("example_taskflow", {"extract", "transform", "load"}),
}


@pytest.mark.parametrize("filename", sorted(EXPECTED_EXAMPLES))
def test_example_dag_file_imports_with_expected_dag_and_tasks(filename):
    dag_id, task_ids = EXPECTED_EXAMPLES[filename]

    result = import_dag_file(str(EXAMPLE_DAGS / filename))

    assert result.error is None, result.traceback
    assert [d["dag_id"] for d in result.dags] == [dag_id]
    assert {t["task_id"] for t in result.dags[0]["tasks"]} == task_ids


def test_example_tutorial_applies_default_args_and_overrides():
    tasks = tasks_by_id(import_dag_file(str(EXAMPLE_DAGS / "tutorial.py")).dags[0])

    assert tasks["print_date"]["retries"] == 1
    assert tasks["sleep"]["retries"] == 3
    assert tasks["print_date"]["retry_delay"] == 300.0
    assert tasks["print_date"]["downstream_task_ids"] == ["sleep", "templated"]


def test_example_taskflow_links_tasks_through_xcoms():
    serialized = import_dag_file(str(EXAMPLE_DAGS / "example_taskflow.py")).dags[0]
    tasks = tasks_by_id(serialized)

    assert [t["task_id"] for t in serialized["tasks"]] == ["extract", "transform", "load"]
    assert tasks["transform"]["multiple_outputs"] is True
    assert serialized["timetable_summary"] == "None"


def test_example_branch_operator_join_uses_none_failed_min_one_success():
    tasks = tasks_by_id(import_dag_file(str(EXAMPLE_DAGS / "example_branch_operator.py")).dags[0])

    assert tasks["join"]["trigger_rule"] == "none_failed_min_one_success"
    assert tasks["branching"]["downstream_task_ids"] == [f"branch_{x}" for x in "abcd"]


def test_example_trigger_rules_task_uses_its_named_rule():
    tasks = tasks_by_id(import_dag_file(str(EXAMPLE_DAGS / "example_trigger_rules.py")).dags[0])

    for rule in TriggerRule:
        assert tasks[f"rule_{rule.value}"]["trigger_rule"] == rule.value
        assert tasks[f"rule_{rule.value}"]["upstream_task_ids"] == ["fail", "skip", "succeed"]


def test_example_xcom_dependencies_follow_the_file():
    tasks = tasks_by_id(import_dag_file(str(EXAMPLE_DAGS / "example_xcom.py")).dags[0])

    assert tasks["bash_push"]["downstream_task_ids"] == ["bash_pull", "pull_value_from_bash_push"]
    assert tasks["puller"]["upstream_task_ids"] == ["push", "push_by_returning"]


def test_example_daily_pipeline_runs_at_ten_with_owner_from_default_args():
    serialized = import_dag_file(str(EXAMPLE_DAGS / "daily_pipeline.py")).dags[0]

    assert serialized["timetable_summary"] == "0 10 * * *"
    assert serialized["owner"] == "data-team"
    assert [t["task_id"] for t in serialized["tasks"]] == ["download", "process", "store"]

"""The authoring SDK (dags_app/sdk/): DAGs, dependencies, errors, default_args and TaskFlow, as in Airflow 2."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pendulum
import pytest

from dags_app.sdk import (
    DAG,
    AirflowDagCycleException,
    AirflowException,
    BashOperator,
    BranchPythonOperator,
    DuplicateTaskIdFound,
    EmptyOperator,
    Param,
    PythonOperator,
    ShortCircuitOperator,
    TaskNotFound,
    TriggerRule,
    XComArg,
    chain,
    cross_downstream,
    dag,
    task,
)
from dags_app.sdk.dag_context import DagContext
from dags_app.sdk.xcom_arg import DagParam

pytestmark = pytest.mark.no_database

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

AIRFLOW_TRIGGER_RULES = [
    "all_success",
    "all_failed",
    "all_done",
    "all_done_min_one_success",
    "all_skipped",
    "one_success",
    "one_failed",
    "one_done",
    "none_failed",
    "none_failed_min_one_success",
    "none_skipped",
    "always",
    "all_done_setup_success",
]


@pytest.fixture(autouse=True)
def _reset_dag_context():
    DagContext.reset()
    yield
    DagContext.reset()


def make_dag(dag_id: str = "d", **kwargs: Any) -> DAG:
    kwargs.setdefault("start_date", START)
    kwargs.setdefault("schedule", None)
    return DAG(dag_id, **kwargs)


# -- DAG as context manager and @dag --------------------------------------------------------------


def test_operators_created_inside_dag_context_join_the_dag():
    with make_dag() as d:
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")

    assert d.task_ids == ["a", "b"]
    assert a.dag is d
    assert b.dag_id == "d"


def test_operator_created_after_context_exits_has_no_dag():
    with make_dag():
        pass
    orphan = EmptyOperator(task_id="orphan")

    assert orphan.has_dag is False


def test_operator_joins_dag_passed_as_argument():
    d = make_dag()
    a = EmptyOperator(task_id="a", dag=d)

    assert d.get_task("a") is a


def test_nested_dag_contexts_add_operators_to_innermost_dag():
    with make_dag("outer") as outer:
        with make_dag("inner") as inner:
            EmptyOperator(task_id="in_inner")
        EmptyOperator(task_id="in_outer")

    assert inner.task_ids == ["in_inner"]
    assert outer.task_ids == ["in_outer"]


def test_dag_used_as_context_manager_is_registered():
    with make_dag("registered"):
        pass

    assert [d.dag_id for d in DagContext.autoregistered_dags] == ["registered"]


def test_dag_with_auto_register_false_is_not_registered():
    with make_dag("hidden", auto_register=False):
        pass

    assert DagContext.autoregistered_dags == []


def test_dag_decorator_without_parentheses_names_dag_after_function():
    @dag
    def my_pipeline():
        EmptyOperator(task_id="a")

    result = my_pipeline()

    assert isinstance(result, DAG)
    assert result.dag_id == "my_pipeline"
    assert result.task_ids == ["a"]


def test_dag_decorator_with_parentheses_passes_dag_arguments():
    @dag(schedule="@daily", start_date=START, tags=["t"], catchup=False)
    def my_pipeline():
        EmptyOperator(task_id="a")

    result = my_pipeline()

    assert result.dag_id == "my_pipeline"
    assert result.timetable.summary == "@daily"
    assert result.start_date == START
    assert result.tags == ["t"]
    assert result.catchup is False


def test_dag_decorator_with_empty_parentheses_builds_dag():
    @dag()
    def bare():
        pass

    assert bare().dag_id == "bare"


def test_dag_decorator_accepts_explicit_dag_id():
    @dag("explicit_id", schedule=None)
    def my_pipeline():
        pass

    assert my_pipeline().dag_id == "explicit_id"


def test_dag_decorator_registers_dag_even_if_not_assigned():
    @dag(schedule=None, start_date=START)
    def unassigned():
        EmptyOperator(task_id="a")

    unassigned()

    assert [d.dag_id for d in DagContext.autoregistered_dags] == ["unassigned"]


def test_dag_decorator_turns_function_parameters_into_params():
    @dag(schedule=None)
    def with_params(name="world", count=3):
        pass

    assert with_params().params == {"name": "world", "count": 3}


def test_dag_decorator_call_arguments_override_param_defaults():
    @dag(schedule=None)
    def with_params(name="world"):
        pass

    assert with_params(name="there").params == {"name": "there"}


def test_dag_decorator_function_parameter_overrides_params_argument_value():
    @dag(schedule=None, params={"count": Param(1, type="integer"), "other": "x"})
    def with_params(count=5):
        pass

    params = with_params().params

    assert isinstance(params["count"], Param)
    assert params["count"].value == 5
    assert params["count"].schema == {"type": "integer"}
    assert params["other"] == "x"


def test_dag_decorator_passes_dag_params_to_the_function():
    seen = {}

    @dag(schedule=None)
    def with_params(name="world"):
        seen["name"] = name

    with_params()

    assert isinstance(seen["name"], DagParam)
    assert seen["name"].resolve({"params": {"name": "run value"}}) == "run value"


def test_dag_decorator_uses_docstring_as_doc_md():
    @dag(schedule=None)
    def documented():
        """Says what it does."""

    assert documented().doc_md == "Says what it does."


def test_dag_default_schedule_is_one_day():
    d = DAG("no_schedule", start_date=START)

    assert d.timetable.summary == "1 day, 0:00:00"


def test_dag_tags_are_kept():
    assert make_dag(tags=["b", "a"]).tags == ["a", "b"]


def test_dag_accepts_pendulum_start_date():
    d = make_dag(start_date=pendulum.datetime(2021, 1, 1, tz="UTC"))

    assert d.start_date == dt.datetime(2021, 1, 1, tzinfo=dt.UTC)


def test_dag_naive_start_date_is_taken_as_utc():
    d = make_dag(start_date=dt.datetime(2021, 1, 1))

    assert d.start_date == dt.datetime(2021, 1, 1, tzinfo=dt.UTC)


def test_dag_start_date_comes_from_default_args():
    d = DAG("from_default_args", schedule=None, default_args={"start_date": dt.datetime(2022, 5, 1)})

    assert d.start_date == dt.datetime(2022, 5, 1, tzinfo=dt.UTC)


def test_dag_get_task_of_unknown_id_raises_naming_dag():
    with pytest.raises(TaskNotFound, match="Task missing not found in DAG 'd'"):
        make_dag().get_task("missing")


# -- dependencies ----------------------------------------------------------------------------------


def test_rshift_sets_task_downstream():
    with make_dag():
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        a >> b

    assert a.downstream_task_ids == {"b"}
    assert b.upstream_task_ids == {"a"}


def test_lshift_sets_task_upstream():
    with make_dag():
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        a << b

    assert a.upstream_task_ids == {"b"}
    assert b.downstream_task_ids == {"a"}


def test_rshift_with_list_sets_each_task_downstream():
    with make_dag():
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        c = EmptyOperator(task_id="c")
        a >> [b, c]

    assert a.downstream_task_ids == {"b", "c"}
    assert b.upstream_task_ids == {"a"}
    assert c.upstream_task_ids == {"a"}


def test_list_rshift_task_sets_task_downstream_of_each():
    with make_dag():
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        c = EmptyOperator(task_id="c")
        [a, b] >> c

    assert c.upstream_task_ids == {"a", "b"}


def test_lshift_with_list_sets_each_task_upstream():
    with make_dag():
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        c = EmptyOperator(task_id="c")
        c << [a, b]

    assert c.upstream_task_ids == {"a", "b"}


def test_list_lshift_task_sets_task_upstream_of_each():
    with make_dag():
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        c = EmptyOperator(task_id="c")
        [b, c] << a

    assert a.downstream_task_ids == {"b", "c"}


def test_chained_rshift_expression_links_each_step():
    with make_dag():
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        c = EmptyOperator(task_id="c")
        d = EmptyOperator(task_id="d")
        a >> [b, c] >> d

    assert a.downstream_task_ids == {"b", "c"}
    assert d.upstream_task_ids == {"b", "c"}
    assert a.downstream_task_ids & d.upstream_task_ids == {"b", "c"}


def test_chained_lshift_expression_links_each_step():
    with make_dag():
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        c = EmptyOperator(task_id="c")
        c << b << a

    assert c.upstream_task_ids == {"b"}
    assert b.upstream_task_ids == {"a"}


def test_rshift_assigns_dag_to_task_without_one():
    with make_dag() as d:
        a = EmptyOperator(task_id="a")
    b = EmptyOperator(task_id="b")
    a >> b

    assert b.dag is d


def test_relationship_between_tasks_of_two_dags_raises():
    a = EmptyOperator(task_id="a", dag=make_dag("one"))
    b = EmptyOperator(task_id="b", dag=make_dag("two"))

    with pytest.raises(AirflowException, match=r"more than one DAG: \['one', 'two'\]"):
        a >> b


def test_relationship_with_non_operator_raises():
    with make_dag():
        a = EmptyOperator(task_id="a")

    with pytest.raises(AirflowException, match="can only be set between operators; received str"):
        a >> "b"


def test_chain_links_tasks_in_order():
    with make_dag():
        a, b, c = (EmptyOperator(task_id=x) for x in "abc")
        chain(a, b, c)

    assert a.downstream_task_ids == {"b"}
    assert b.downstream_task_ids == {"c"}


def test_chain_links_task_to_each_member_of_a_list():
    with make_dag():
        a, b, c, d = (EmptyOperator(task_id=x) for x in "abcd")
        chain(a, [b, c], d)

    assert a.downstream_task_ids == {"b", "c"}
    assert d.upstream_task_ids == {"b", "c"}


def test_chain_links_adjacent_lists_pairwise():
    with make_dag():
        a, b, c, d = (EmptyOperator(task_id=x) for x in "abcd")
        chain([a, b], [c, d])

    assert a.downstream_task_ids == {"c"}
    assert b.downstream_task_ids == {"d"}


def test_chain_of_lists_with_different_lengths_raises():
    with make_dag():
        a, b, c = (EmptyOperator(task_id=x) for x in "abc")

        with pytest.raises(
            AirflowException, match=r"Chain not supported for different length Iterable\. Got 2 and 1\."
        ):
            chain([a, b], [c])


def test_chain_accepts_xcomargs():
    with make_dag():

        @task
        def first():
            return 1

        @task
        def second():
            return 2

        one, two = first(), second()
        chain(one, two)

    assert two.operator.upstream_task_ids == {"first"}


def test_cross_downstream_links_every_pair():
    with make_dag():
        a, b, c, d = (EmptyOperator(task_id=x) for x in "abcd")
        cross_downstream([a, b], [c, d])

    assert a.downstream_task_ids == {"c", "d"}
    assert b.downstream_task_ids == {"c", "d"}
    assert c.upstream_task_ids == {"a", "b"}


def test_roots_and_leaves_are_tasks_without_upstream_and_downstream():
    with make_dag() as d:
        a, b, c = (EmptyOperator(task_id=x) for x in "abc")
        a >> b >> c

    assert [t.task_id for t in d.roots] == ["a"]
    assert [t.task_id for t in d.leaves] == ["c"]


def test_flat_relative_ids_include_indirect_downstream_tasks():
    with make_dag():
        a, b, c = (EmptyOperator(task_id=x) for x in "abc")
        a >> b >> c

    assert a.get_flat_relative_ids() == {"b", "c"}
    assert c.get_flat_relative_ids(upstream=True) == {"a", "b"}


# -- trigger rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", AIRFLOW_TRIGGER_RULES)
def test_trigger_rule_value_equals_airflow_string(value):
    assert TriggerRule[value.upper()].value == value
    assert TriggerRule[value.upper()] == value


def test_trigger_rules_are_exactly_airflows():
    assert TriggerRule.all_triggers() == set(AIRFLOW_TRIGGER_RULES)


@pytest.mark.parametrize("value", AIRFLOW_TRIGGER_RULES)
def test_operator_accepts_trigger_rule_as_string(value):
    with make_dag():
        op = EmptyOperator(task_id="t", trigger_rule=value)

    assert op.trigger_rule is TriggerRule(value)


def test_operator_default_trigger_rule_is_all_success():
    assert EmptyOperator(task_id="t").trigger_rule is TriggerRule.ALL_SUCCESS


def test_unknown_trigger_rule_raises_naming_dag_and_task():
    with make_dag("my_dag"), pytest.raises(AirflowException, match=r"'my_dag\.t'; received 'sometimes'"):
        EmptyOperator(task_id="t", trigger_rule="sometimes")


def test_unknown_trigger_rule_raises_naming_dag_passed_as_argument():
    with pytest.raises(AirflowException, match=r"'other\.t'; received 'nope'"):
        EmptyOperator(task_id="t", trigger_rule="nope", dag=make_dag("other"))


# -- errors --------------------------------------------------------------------------------------------


def test_check_cycle_raises_naming_dag_and_task():
    with make_dag("cyclic") as d:
        a, b, c = (EmptyOperator(task_id=x) for x in "abc")
        a >> b >> c >> a

    with pytest.raises(AirflowDagCycleException, match=r"Cycle detected in DAG: cyclic\. Faulty task: [abc]"):
        d.check_cycle()


def test_validate_raises_on_cycle_naming_dag_and_task():
    with make_dag("cyclic") as d:
        a, b = (EmptyOperator(task_id=x) for x in "ab")
        EmptyOperator(task_id="start") >> a
        a >> b >> a

    with pytest.raises(AirflowDagCycleException, match=r"Cycle detected in DAG: cyclic\. Faulty task: [ab]$"):
        d.validate()


def test_task_downstream_of_itself_is_a_cycle():
    with make_dag("selfish") as d:
        a = EmptyOperator(task_id="a")
        a >> a

    with pytest.raises(AirflowDagCycleException, match=r"Cycle detected in DAG: selfish\. Faulty task: a"):
        d.check_cycle()


def test_check_cycle_passes_for_acyclic_diamond():
    with make_dag() as d:
        a, b, c, e = (EmptyOperator(task_id=x) for x in "abce")
        a >> [b, c] >> e

    d.check_cycle()


def test_duplicate_task_id_raises_naming_dag_and_task():
    with make_dag("dup"):
        EmptyOperator(task_id="same")

        with pytest.raises(DuplicateTaskIdFound, match="Task id 'same' has already been added to the DAG 'dup'"):
            EmptyOperator(task_id="same")


def test_invalid_cron_schedule_raises_naming_dag():
    with pytest.raises(AirflowException, match="Invalid schedule for DAG 'bad_schedule'"):
        make_dag("bad_schedule", schedule="every tuesday")


def test_schedule_of_unsupported_type_raises_naming_dag():
    with pytest.raises(AirflowException, match=r"Invalid schedule for DAG 'bad_type'.*got int"):
        make_dag("bad_type", schedule=42)


def test_schedule_and_schedule_interval_together_raise():
    with pytest.raises(AirflowException, match="DAG 'both': pass only one of schedule, schedule_interval"):
        DAG("both", schedule="@daily", schedule_interval="@daily")


def test_schedule_interval_is_accepted_as_schedule():
    assert DAG("legacy", schedule_interval="@hourly").timetable.summary == "@hourly"


def test_unknown_operator_argument_raises_naming_operator_and_task():
    with pytest.raises(AirflowException, match=r"Invalid arguments were passed to EmptyOperator \(task_id: t\)"):
        EmptyOperator(task_id="t", not_an_arg=1)


def test_unknown_operator_argument_error_lists_the_argument():
    with pytest.raises(AirflowException, match="'colour': 'red'"):
        BashOperator(task_id="t", bash_command="true", colour="red")


def test_missing_required_operator_argument_raises_naming_it():
    with pytest.raises(AirflowException, match="missing keyword argument 'bash_command'"):
        BashOperator(task_id="t")


def test_positional_operator_arguments_raise():
    with pytest.raises(AirflowException, match="Use keyword arguments when initializing operators"):
        EmptyOperator("t")


@pytest.mark.parametrize("task_id", ["has space", "semi;colon", "slash/ed", "", ".."])
def test_task_id_with_invalid_characters_raises(task_id):
    with pytest.raises(AirflowException, match="has to be made of"):
        EmptyOperator(task_id=task_id)


def test_task_id_longer_than_250_characters_raises():
    with pytest.raises(AirflowException, match="longer than 250 characters"):
        EmptyOperator(task_id="x" * 251)


def test_dag_id_with_invalid_characters_raises():
    with pytest.raises(AirflowException, match=r"The dag_id 'my dag' has to be made of"):
        DAG("my dag")


def test_dag_assigned_to_task_cannot_change():
    a = EmptyOperator(task_id="a", dag=make_dag("one"))

    with pytest.raises(AirflowException, match="can not be changed"):
        a.dag = make_dag("two")


def test_invalid_weight_rule_raises_naming_task():
    with pytest.raises(AirflowException, match=r"The weight_rule must be one of .*'t'; received 'sideways'"):
        EmptyOperator(task_id="t", weight_rule="sideways")


def test_validate_rejects_end_date_before_start_date():
    d = make_dag("backwards", end_date=dt.datetime(2023, 1, 1))

    with pytest.raises(AirflowException, match="DAG 'backwards': end_date is before start_date"):
        d.validate()


def test_validate_rejects_param_default_of_wrong_type():
    d = make_dag("typed", params={"n": Param("five", type="integer")})

    with pytest.raises(AirflowException, match="DAG 'typed': invalid default for param 'n'"):
        d.validate()


# -- default_args and operator arguments ---------------------------------------------------------------


def test_default_args_fill_operator_arguments():
    default_args = {
        "owner": "data-team",
        "retries": 3,
        "retry_delay": dt.timedelta(minutes=2),
        "queue": "fast",
        "pool": "small_pool",
    }
    with make_dag(default_args=default_args):
        op = EmptyOperator(task_id="t")

    assert op.owner == "data-team"
    assert op.retries == 3
    assert op.retry_delay == dt.timedelta(minutes=2)
    assert op.queue == "fast"
    assert op.pool == "small_pool"


def test_explicit_operator_arguments_win_over_default_args():
    with make_dag(default_args={"owner": "data-team", "retries": 3, "queue": "fast", "pool": "small_pool"}):
        op = EmptyOperator(task_id="t", owner="me", retries=0, queue="slow", pool="big_pool")

    assert op.owner == "me"
    assert op.retries == 0
    assert op.queue == "slow"
    assert op.pool == "big_pool"


def test_operator_default_args_win_over_dag_default_args():
    with make_dag(default_args={"retries": 3, "owner": "dag-owner"}):
        op = EmptyOperator(task_id="t", default_args={"retries": 5})

    assert op.retries == 5
    assert op.owner == "dag-owner"


def test_default_args_fill_subclass_arguments():
    with make_dag(default_args={"bash_command": "echo default", "env": {"A": "1"}}):
        op = BashOperator(task_id="t")

    assert op.bash_command == "echo default"
    assert op.env == {"A": "1"}


def test_default_args_the_operator_does_not_accept_are_ignored():
    with make_dag(default_args={"bash_command": "echo default", "email": ["a@example.com"]}):
        op = EmptyOperator(task_id="t")

    assert op.email == ["a@example.com"]
    assert not hasattr(op, "bash_command")


def test_operator_defaults_match_airflow():
    op = EmptyOperator(task_id="t")

    assert op.owner == "airflow"
    assert op.retries == 0
    assert op.retry_delay == dt.timedelta(seconds=300)
    assert op.queue == "default"
    assert op.pool == "default_pool"
    assert op.priority_weight == 1
    assert op.weight_rule == "downstream"
    assert op.execution_timeout is None
    assert op.do_xcom_push is True


def test_task_start_date_defaults_to_dags():
    with make_dag(start_date=dt.datetime(2024, 3, 1)):
        op = EmptyOperator(task_id="t")

    assert op.start_date == dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def test_task_start_date_later_than_dags_is_kept():
    with make_dag(start_date=dt.datetime(2024, 3, 1)):
        op = EmptyOperator(task_id="t", start_date=dt.datetime(2024, 6, 1))

    assert op.start_date == dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


def test_task_start_date_earlier_than_dags_becomes_dags():
    with make_dag(start_date=dt.datetime(2024, 3, 1)):
        op = EmptyOperator(task_id="t", start_date=dt.datetime(2020, 1, 1))

    assert op.start_date == dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def test_task_end_date_defaults_to_dags():
    with make_dag(end_date=dt.datetime(2025, 1, 1)):
        op = EmptyOperator(task_id="t")

    assert op.end_date == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def test_task_end_date_later_than_dags_becomes_dags():
    with make_dag(end_date=dt.datetime(2025, 1, 1)):
        op = EmptyOperator(task_id="t", end_date=dt.datetime(2026, 1, 1))

    assert op.end_date == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def test_retry_delay_given_as_number_is_seconds():
    assert EmptyOperator(task_id="t", retry_delay=90).retry_delay == dt.timedelta(seconds=90)


def test_retry_delay_of_wrong_type_raises_naming_task():
    with pytest.raises(AirflowException, match="retry_delay of task 't' must be a timedelta, got '5m'"):
        EmptyOperator(task_id="t", retry_delay="5m")


def test_negative_retries_raise():
    with pytest.raises(AirflowException, match="retries of task 't' must be >= 0"):
        EmptyOperator(task_id="t", retries=-1)


def test_execution_timeout_is_kept():
    op = EmptyOperator(task_id="t", execution_timeout=dt.timedelta(minutes=10))

    assert op.execution_timeout == dt.timedelta(minutes=10)


def test_execution_timeout_comes_from_default_args():
    with make_dag(default_args={"execution_timeout": dt.timedelta(seconds=30)}):
        op = EmptyOperator(task_id="t")

    assert op.execution_timeout == dt.timedelta(seconds=30)


def test_pool_slots_below_one_raise():
    with pytest.raises(AirflowException, match="pool slots for 't' in pool 'default_pool' cannot be less than 1"):
        EmptyOperator(task_id="t", pool_slots=0)


def test_task_params_extend_dag_params():
    with make_dag(params={"a": 1, "b": 2}):
        op = EmptyOperator(task_id="t", params={"b": 20, "c": 30})

    assert op.params == {"a": 1, "b": 20, "c": 30}


def _weighted_line(weight_rule: str) -> dict[str, EmptyOperator]:
    with make_dag():
        a = EmptyOperator(task_id="a", priority_weight=1, weight_rule=weight_rule)
        b = EmptyOperator(task_id="b", priority_weight=2, weight_rule=weight_rule)
        c = EmptyOperator(task_id="c", priority_weight=4, weight_rule=weight_rule)
        a >> b >> c
    return {"a": a, "b": b, "c": c}


def test_priority_weight_total_downstream_adds_downstream_weights():
    tasks = _weighted_line("downstream")

    assert [tasks[x].priority_weight_total for x in "abc"] == [7, 6, 4]


def test_priority_weight_total_upstream_adds_upstream_weights():
    tasks = _weighted_line("upstream")

    assert [tasks[x].priority_weight_total for x in "abc"] == [1, 3, 7]


def test_priority_weight_total_absolute_is_own_weight():
    tasks = _weighted_line("absolute")

    assert [tasks[x].priority_weight_total for x in "abc"] == [1, 2, 4]


def test_priority_weight_total_counts_shared_downstream_task_once():
    with make_dag():
        a, b, c, d = (EmptyOperator(task_id=x) for x in "abcd")
        a >> [b, c] >> d

    assert a.priority_weight_total == 4


# -- TaskFlow (@task) ---------------------------------------------------------------------------------------


def test_task_call_returns_xcomarg_of_new_operator():
    with make_dag() as d:

        @task
        def extract():
            return 1

        result = extract()

    assert isinstance(result, XComArg)
    assert result.key == "return_value"
    assert result.operator is d.get_task("extract")
    assert result.operator.operator_name == "@task"


def test_task_xcomarg_argument_makes_task_downstream():
    with make_dag() as d:

        @task
        def extract():
            return 1

        @task
        def load(value):
            pass

        load(extract())

    assert d.get_task("load").upstream_task_ids == {"extract"}


def test_task_xcomarg_keyword_argument_nested_in_list_makes_task_downstream():
    with make_dag() as d:

        @task
        def extract():
            return 1

        @task
        def load(values):
            pass

        load(values=[extract(), 2])

    assert d.get_task("load").upstream_task_ids == {"extract"}


def test_task_operator_output_makes_task_downstream():
    with make_dag() as d:
        bash = BashOperator(task_id="bash", bash_command="echo hi")

        @task
        def load(value):
            pass

        load(bash.output)

    assert d.get_task("load").upstream_task_ids == {"bash"}


def test_task_called_repeatedly_gets_numbered_ids():
    with make_dag() as d:

        @task
        def step():
            pass

        step()
        step()
        step()

    assert d.task_ids == ["step", "step__1", "step__2"]


def test_task_override_sets_task_id():
    with make_dag() as d:

        @task
        def step():
            pass

        step.override(task_id="custom")()

    assert d.task_ids == ["custom"]


def test_task_override_sets_operator_arguments():
    with make_dag() as d:

        @task(retries=1)
        def step():
            pass

        step.override(retries=4, queue="q")()

    assert d.get_task("step").retries == 4
    assert d.get_task("step").queue == "q"


def test_task_decorator_arguments_reach_the_operator():
    with make_dag() as d:

        @task(task_id="renamed", retries=2, trigger_rule="all_done")
        def step():
            pass

        step()

    op = d.get_task("renamed")
    assert op.retries == 2
    assert op.trigger_rule is TriggerRule.ALL_DONE


def test_task_multiple_outputs_inferred_from_dict_annotation():
    with make_dag():

        @task
        def split() -> dict[str, int]:
            return {"a": 1}

        result = split()

    assert result.operator.multiple_outputs is True


def test_task_multiple_outputs_inferred_from_mapping_annotation():
    with make_dag():

        @task
        def split() -> Mapping[str, int]:
            return {"a": 1}

        result = split()

    assert result.operator.multiple_outputs is True


def test_task_multiple_outputs_off_without_dict_annotation():
    with make_dag():

        @task
        def single() -> int:
            return 1

        result = single()

    assert result.operator.multiple_outputs is False


def test_task_multiple_outputs_explicit_flag_is_used():
    with make_dag():

        @task(multiple_outputs=True)
        def split():
            return {"a": 1}

        result = split()

    assert result.operator.multiple_outputs is True


def test_task_multiple_outputs_explicit_false_wins_over_annotation():
    with make_dag():

        @task(multiple_outputs=False)
        def split() -> dict:
            return {"a": 1}

        result = split()

    assert result.operator.multiple_outputs is False


def test_xcomarg_indexing_selects_key_of_same_task():
    with make_dag():

        @task(multiple_outputs=True)
        def split():
            return {"total": 1}

        result = split()["total"]

    assert result.key == "total"
    assert result.operator.task_id == "split"


def test_xcomarg_rshift_sets_dependency_between_operators():
    with make_dag() as d:

        @task
        def first():
            pass

        second = EmptyOperator(task_id="second")
        first() >> second

    assert d.get_task("second").upstream_task_ids == {"first"}


def test_list_lshift_xcomarg_sets_dependency():
    with make_dag() as d:

        @task
        def first():
            pass

        a = EmptyOperator(task_id="a")
        [a] << first()

    assert d.get_task("a").upstream_task_ids == {"first"}


def test_task_docstring_becomes_doc_md():
    with make_dag():

        @task
        def documented():
            """Does a thing."""

        result = documented()

    assert result.operator.doc_md == "Does a thing."


@pytest.mark.parametrize(
    ("decorator", "operator_class", "operator_name"),
    [
        (task, PythonOperator, "@task"),
        (task.python, PythonOperator, "@task"),
        (task.branch, BranchPythonOperator, "@task.branch"),
        (task.short_circuit, ShortCircuitOperator, "@task.short_circuit"),
        (task.bash, BashOperator, "@task.bash"),
    ],
)
def test_task_variants_build_matching_operator(decorator, operator_class, operator_name):
    with make_dag():

        @decorator
        def step():
            return "echo hi"

        result = step()

    assert isinstance(result.operator, operator_class)
    assert result.operator.operator_name == operator_name


def test_xcomarg_str_is_jinja_xcom_pull_expression():
    with make_dag("my_dag"):
        op = EmptyOperator(task_id="a")

    assert str(XComArg(op, key="k")) == "{{ task_instance.xcom_pull(task_ids='a', dag_id='my_dag', key='k') }}"

"""Executing SDK operators directly (dags_app/sdk/operators.py, decorators.py) and templating (templating.py).

A fake task instance stands in for the worker's: it records ``xcom_push`` and ``skip_tasks`` and
answers ``xcom_pull`` from a dict.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2
import pytest

from dags_app.sdk import (
    DAG,
    AirflowException,
    AirflowSkipException,
    BashOperator,
    BranchPythonOperator,
    EmptyOperator,
    PythonOperator,
    ShortCircuitOperator,
    XComArg,
    dag,
    get_current_context,
    task,
)
from dags_app.sdk.context import set_current_context
from dags_app.sdk.dag_context import DagContext

pytestmark = pytest.mark.no_database

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _reset_dag_context():
    DagContext.reset()
    yield
    DagContext.reset()


class FakeTI:
    """Records XCom pushes and skips; answers pulls from ``xcoms`` keyed by (task_id, key)."""

    def __init__(self, xcoms: dict[tuple[str, str], Any] | None = None) -> None:
        self.xcoms = dict(xcoms or {})
        self.pushed: dict[str, Any] = {}
        self.skipped: list[str] = []
        self.try_number = 1

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value

    def xcom_pull(self, task_ids: str | None = None, dag_id: str | None = None, key: str = "return_value") -> Any:
        return self.xcoms.get((task_ids, key))

    def skip_tasks(self, task_ids: list[str]) -> None:
        self.skipped.extend(task_ids)


def make_context(ti: FakeTI | None = None, **extra: Any) -> dict[str, Any]:
    ti = ti or FakeTI()
    return {
        "ti": ti,
        "task_instance": ti,
        "ds": "2024-01-01",
        "ds_nodash": "20240101",
        "logical_date": START,
        "run_id": "manual__2024-01-01",
        "dag_run": None,
        "params": {},
        "conf": {},
        **extra,
    }


def make_dag(dag_id: str = "d", **kwargs: Any) -> DAG:
    kwargs.setdefault("start_date", START)
    kwargs.setdefault("schedule", None)
    return DAG(dag_id, **kwargs)


# -- PythonOperator ------------------------------------------------------------------------------------


def test_python_operator_passes_op_args_and_op_kwargs():
    op = PythonOperator(task_id="t", python_callable=lambda a, b, c=0: (a, b, c), op_args=[1, 2], op_kwargs={"c": 3})

    assert op.execute(make_context()) == (1, 2, 3)


def test_python_operator_passes_only_context_names_the_callable_declares():
    received = {}

    def callable_(ds, ti):
        received.update(ds=ds, ti=ti)

    ti = FakeTI()
    PythonOperator(task_id="t", python_callable=callable_).execute(make_context(ti))

    assert received == {"ds": "2024-01-01", "ti": ti}


def test_python_operator_passes_whole_context_to_callable_with_var_keyword():
    received = {}

    def callable_(**kwargs):
        received.update(kwargs)

    PythonOperator(task_id="t", python_callable=callable_, op_kwargs={"extra": 1}).execute(make_context())

    assert {"ti", "ds", "logical_date", "run_id", "params", "extra"} <= received.keys()
    assert received["extra"] == 1


def test_python_operator_op_kwargs_win_over_context_values():
    op = PythonOperator(task_id="t", python_callable=lambda ds: ds, op_kwargs={"ds": "mine"})

    assert op.execute(make_context()) == "mine"


def test_python_operator_positional_arg_named_like_context_key_raises():
    op = PythonOperator(task_id="t", python_callable=lambda ds: ds, op_args=["value"])

    with pytest.raises(ValueError, match="The key 'ds' in args is a part of kwargs and therefore reserved"):
        op.execute(make_context())


def test_python_operator_resolves_xcomarg_arguments_through_ti():
    with make_dag():
        upstream = EmptyOperator(task_id="up")
        op = PythonOperator(task_id="t", python_callable=lambda value: value * 2, op_args=[upstream.output])
    ti = FakeTI({("up", "return_value"): 21})

    assert op.execute(make_context(ti)) == 42


def test_python_operator_passes_templates_dict_when_declared():
    op = PythonOperator(task_id="t", python_callable=lambda templates_dict: templates_dict, templates_dict={"a": 1})

    assert op.execute(make_context()) == {"a": 1}


def test_python_operator_rejects_non_callable():
    with pytest.raises(AirflowException, match="`python_callable` param of task 't' must be callable"):
        PythonOperator(task_id="t", python_callable="not callable")


def test_empty_operator_execute_returns_none():
    assert EmptyOperator(task_id="t").execute(make_context()) is None


# -- BashOperator ---------------------------------------------------------------------------------------


def test_bash_operator_returns_last_line_of_output():
    op = BashOperator(task_id="t", bash_command="echo first; echo last")

    assert op.execute(make_context()) == "last"


def test_bash_operator_strips_trailing_whitespace_of_last_line():
    op = BashOperator(task_id="t", bash_command="printf 'value  \\r\\n'")

    assert op.execute(make_context()) == "value"


def test_bash_operator_non_zero_exit_raises_airflow_exception():
    op = BashOperator(task_id="t", bash_command="exit 3")

    with pytest.raises(AirflowException, match=r"Bash command failed\. The command returned a non-zero exit code 3\."):
        op.execute(make_context())


def test_bash_operator_exit_99_raises_skip():
    op = BashOperator(task_id="t", bash_command="exit 99")

    with pytest.raises(AirflowSkipException, match=r"Bash command returned exit code 99\. Skipping\."):
        op.execute(make_context())


def test_bash_operator_custom_skip_exit_code_raises_skip():
    op = BashOperator(task_id="t", bash_command="exit 7", skip_on_exit_code=[7, 8])

    with pytest.raises(AirflowSkipException, match="exit code 7"):
        op.execute(make_context())


def test_bash_operator_without_skip_exit_code_fails_on_99():
    op = BashOperator(task_id="t", bash_command="exit 99", skip_on_exit_code=None)

    with pytest.raises(AirflowException, match="non-zero exit code 99") as excinfo:
        op.execute(make_context())
    assert not isinstance(excinfo.value, AirflowSkipException)


def test_bash_operator_passes_env():
    op = BashOperator(task_id="t", bash_command="echo $GREETING", env={"GREETING": "hello"})

    assert op.execute(make_context()) == "hello"


def test_bash_operator_env_replaces_process_environment(monkeypatch):
    monkeypatch.setenv("ORCHESTRATOR_TEST_ONLY", "inherited")
    op = BashOperator(task_id="t", bash_command='echo "${ORCHESTRATOR_TEST_ONLY:-unset}"', env={"A": "1"})

    assert op.execute(make_context()) == "unset"


def test_bash_operator_append_env_keeps_process_environment(monkeypatch):
    monkeypatch.setenv("ORCHESTRATOR_TEST_ONLY", "inherited")
    op = BashOperator(task_id="t", bash_command='echo "$ORCHESTRATOR_TEST_ONLY $A"', env={"A": "1"}, append_env=True)

    assert op.execute(make_context()) == "inherited 1"


def test_bash_operator_without_env_inherits_process_environment(monkeypatch):
    monkeypatch.setenv("ORCHESTRATOR_TEST_ONLY", "inherited")
    op = BashOperator(task_id="t", bash_command="echo $ORCHESTRATOR_TEST_ONLY")

    assert op.execute(make_context()) == "inherited"


def test_bash_operator_exports_airflow_context_variables():
    with make_dag("my_dag"):
        op = BashOperator(task_id="t", bash_command='echo "$AIRFLOW_CTX_DAG_ID.$AIRFLOW_CTX_TASK_ID"')

    assert op.execute(make_context()) == "my_dag.t"


def test_bash_operator_runs_in_cwd(tmp_path):
    op = BashOperator(task_id="t", bash_command="pwd", cwd=str(tmp_path))

    assert Path(op.execute(make_context())).resolve() == tmp_path.resolve()


def test_bash_operator_missing_cwd_raises(tmp_path):
    op = BashOperator(task_id="t", bash_command="pwd", cwd=str(tmp_path / "missing"))

    with pytest.raises(AirflowException, match="Can not find the cwd"):
        op.execute(make_context())


def test_bash_operator_rejects_non_string_command():
    with pytest.raises(AirflowException, match="bash_command of task 't' must be a string"):
        BashOperator(task_id="t", bash_command=["echo", "hi"])


# -- BranchPythonOperator ---------------------------------------------------------------------------------


def _branch_dag(choice: Any) -> BranchPythonOperator:
    with make_dag():
        branching = BranchPythonOperator(task_id="branching", python_callable=lambda: choice)
        a, b, c = (EmptyOperator(task_id=x) for x in "abc")
        after_a = EmptyOperator(task_id="after_a")
        branching >> [a, b, c]
        a >> after_a
    return branching


def test_branch_skips_direct_downstream_tasks_not_chosen():
    ti = FakeTI()
    _branch_dag("a").execute(make_context(ti))

    assert sorted(ti.skipped) == ["b", "c"]


def test_branch_returns_the_chosen_task_id():
    assert _branch_dag("b").execute(make_context()) == "b"


def test_branch_accepts_list_of_task_ids():
    ti = FakeTI()
    _branch_dag(["a", "c"]).execute(make_context(ti))

    assert ti.skipped == ["b"]


def test_branch_returning_none_skips_every_direct_downstream_task():
    ti = FakeTI()
    _branch_dag(None).execute(make_context(ti))

    assert sorted(ti.skipped) == ["a", "b", "c"]


def test_branch_to_indirect_downstream_task_skips_all_direct_ones_not_leading_there():
    ti = FakeTI()
    _branch_dag("after_a").execute(make_context(ti))

    assert sorted(ti.skipped) == ["a", "b", "c"]


def test_branch_does_not_skip_join_that_is_downstream_of_chosen_branch():
    with make_dag():
        branching = BranchPythonOperator(task_id="branching", python_callable=lambda: "task1")
        task1 = EmptyOperator(task_id="task1")
        join = EmptyOperator(task_id="join")
        other = EmptyOperator(task_id="other")
        branching >> [task1, join, other]
        task1 >> join
    ti = FakeTI()

    branching.execute(make_context(ti))

    assert ti.skipped == ["other"]


def test_branch_to_task_not_downstream_raises():
    with make_dag():
        upstream = EmptyOperator(task_id="upstream")
        branching = BranchPythonOperator(task_id="branching", python_callable=lambda: "upstream")
        upstream >> branching >> EmptyOperator(task_id="a")

    with pytest.raises(AirflowException, match=r"must contain only tasks downstream of 'branching': \['upstream'\]"):
        branching.execute(make_context())


def test_branch_to_unknown_task_raises():
    with pytest.raises(
        AirflowException, match=r"must contain only valid task_ids\. Invalid tasks found: \{'nowhere'\}"
    ):
        _branch_dag("nowhere").execute(make_context())


def test_branch_to_non_string_raises():
    with pytest.raises(AirflowException, match="The branching function returned invalid 'branch_task_ids'"):
        _branch_dag([1]).execute(make_context())


def test_branch_skips_nothing_when_the_branch_raises():
    ti = FakeTI()

    with pytest.raises(AirflowException):
        _branch_dag("nowhere").execute(make_context(ti))
    assert ti.skipped == []


# -- ShortCircuitOperator ----------------------------------------------------------------------------------


def _short_circuit_dag(condition: Any, **kwargs: Any) -> ShortCircuitOperator:
    with make_dag():
        check = ShortCircuitOperator(task_id="check", python_callable=lambda: condition, **kwargs)
        a, b, c = (EmptyOperator(task_id=x) for x in "abc")
        check >> [a, b]
        a >> c
    return check


def test_short_circuit_falsy_skips_every_downstream_task():
    ti = FakeTI()
    _short_circuit_dag(False).execute(make_context(ti))

    assert sorted(ti.skipped) == ["a", "b", "c"]


def test_short_circuit_falsy_without_ignoring_trigger_rules_skips_direct_downstream_only():
    ti = FakeTI()
    _short_circuit_dag(0, ignore_downstream_trigger_rules=False).execute(make_context(ti))

    assert sorted(ti.skipped) == ["a", "b"]


def test_short_circuit_truthy_skips_nothing():
    ti = FakeTI()
    _short_circuit_dag("yes").execute(make_context(ti))

    assert ti.skipped == []


def test_short_circuit_returns_the_condition():
    assert _short_circuit_dag([]).execute(make_context()) == []


# -- TaskFlow execution ---------------------------------------------------------------------------------------


def test_task_multiple_outputs_pushes_each_key():
    with make_dag():

        @task(multiple_outputs=True)
        def split():
            return {"a": 1, "b": 2}

        op = split().operator
    ti = FakeTI()

    result = op.execute(make_context(ti))

    assert ti.pushed == {"a": 1, "b": 2}
    assert result == {"a": 1, "b": 2}


def test_task_inferred_multiple_outputs_pushes_each_key():
    with make_dag():

        @task
        def split() -> dict[str, int]:
            return {"total": 3}

        op = split().operator
    ti = FakeTI()

    op.execute(make_context(ti))

    assert ti.pushed == {"total": 3}


def test_task_without_multiple_outputs_pushes_no_keys():
    with make_dag():

        @task
        def whole():
            return {"a": 1}

        op = whole().operator
    ti = FakeTI()

    assert op.execute(make_context(ti)) == {"a": 1}
    assert ti.pushed == {}


def test_task_multiple_outputs_with_non_dict_result_raises():
    with make_dag():

        @task(multiple_outputs=True)
        def wrong():
            return [1, 2]

        op = wrong().operator

    with pytest.raises(AirflowException, match="expected dictionary for multiple_outputs"):
        op.execute(make_context())


def test_task_receives_upstream_xcom_values_as_arguments():
    with make_dag():

        @task(multiple_outputs=True)
        def split():
            return {"total": 5}

        @task
        def load(total, whole):
            return (total, whole)

        produced = split()
        op = load(produced["total"], whole=produced).operator
    ti = FakeTI({("split", "total"): 5, ("split", "return_value"): {"total": 5}})

    assert op.execute(make_context(ti)) == (5, {"total": 5})


def test_task_receives_context_names_it_declares():
    with make_dag():

        @task
        def with_context(value, ti=None, ds=None):
            return (value, ti, ds)

        op = with_context(1).operator
    ti = FakeTI()

    assert op.execute(make_context(ti)) == (1, ti, "2024-01-01")


def test_dag_function_parameter_resolves_to_run_param_in_task():
    @dag(schedule=None, start_date=START)
    def with_params(name="default"):
        @task
        def greet(who):
            return f"hello {who}"

        greet(name)

    op = with_params().get_task("greet")

    assert op.execute(make_context(params={"name": "run"})) == "hello run"
    assert op.execute(make_context(params={})) == "hello default"


def test_task_branch_skips_tasks_not_chosen():
    with make_dag() as d:

        @task.branch
        def choose():
            return "a"

        choose() >> [EmptyOperator(task_id="a"), EmptyOperator(task_id="b")]
    ti = FakeTI()

    d.get_task("choose").execute(make_context(ti))

    assert ti.skipped == ["b"]


def test_task_short_circuit_skips_downstream_when_falsy():
    with make_dag() as d:

        @task.short_circuit
        def check():
            return False

        check() >> EmptyOperator(task_id="a")
    ti = FakeTI()

    d.get_task("check").execute(make_context(ti))

    assert ti.skipped == ["a"]


def test_task_bash_runs_returned_command_rendered_with_context():
    with make_dag() as d:

        @task.bash
        def say(word):
            return f"echo {word} {{{{ ds }}}}"

        say("hi")

    assert d.get_task("say").execute(make_context()) == "hi 2024-01-01"


def test_task_bash_with_empty_command_raises():
    with make_dag() as d:

        @task.bash
        def nothing():
            return "  "

        nothing()

    with pytest.raises(TypeError, match="must be a non-empty string"):
        d.get_task("nothing").execute(make_context())


def test_get_current_context_returns_context_set_for_the_task():
    context = make_context()

    with set_current_context(context):
        assert get_current_context() is context


def test_get_current_context_outside_task_raises():
    with pytest.raises(AirflowException, match="no context was found"):
        get_current_context()


# -- templating ---------------------------------------------------------------------------------------------------


def test_render_template_fields_renders_ds_in_bash_command():
    with make_dag():
        op = BashOperator(task_id="t", bash_command="echo {{ ds }} {{ ds_nodash }}")

    op.render_template_fields(make_context())

    assert op.bash_command == "echo 2024-01-01 20240101"


def test_render_template_fields_renders_params():
    with make_dag():
        op = BashOperator(task_id="t", bash_command="echo {{ params.name }}")

    op.render_template_fields(make_context(params={"name": "world"}))

    assert op.bash_command == "echo world"


def test_render_template_fields_renders_nested_values():
    with make_dag():
        op = PythonOperator(
            task_id="t", python_callable=print, op_args=["{{ ds }}"], op_kwargs={"when": ["{{ ds_nodash }}"]}
        )

    op.render_template_fields(make_context())

    assert op.op_args == ["2024-01-01"]
    assert op.op_kwargs == {"when": ["20240101"]}


def test_render_template_fields_leaves_other_fields_alone():
    with make_dag():
        op = BashOperator(task_id="t", bash_command="true", doc_md="{{ ds }}")

    op.render_template_fields(make_context())

    assert op.doc_md == "{{ ds }}"


def test_render_unknown_variable_raises():
    with make_dag():
        op = BashOperator(task_id="t", bash_command="echo {{ not_a_variable }}")

    with pytest.raises(jinja2.UndefinedError, match="'not_a_variable' is undefined"):
        op.render_template_fields(make_context())


def test_render_is_sandboxed():
    with make_dag():
        op = BashOperator(task_id="t", bash_command="{{ ''.__class__.__mro__ }}")

    with pytest.raises(jinja2.exceptions.SecurityError, match="is unsafe"):
        op.render_template_fields(make_context())


def test_render_keeps_trailing_newline():
    with make_dag():
        op = BashOperator(task_id="t", bash_command="echo {{ ds }}\n")

    op.render_template_fields(make_context())

    assert op.bash_command == "echo 2024-01-01\n"


def test_sh_template_is_loaded_from_dag_folder(tmp_path):
    (tmp_path / "script.sh").write_text("echo {{ ds }}\n")
    with make_dag() as d:
        op = BashOperator(task_id="t", bash_command="script.sh")
    d.fileloc = str(tmp_path / "my_dag.py")

    op.render_template_fields(make_context())

    assert op.bash_command == "echo 2024-01-01\n"


def test_sh_template_is_loaded_from_template_searchpath(tmp_path):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "run.sh").write_text("echo {{ params.x }}")
    with make_dag(template_searchpath=str(tmp_path / "scripts")):
        op = BashOperator(task_id="t", bash_command="run.sh")

    op.render_template_fields(make_context(params={"x": "found"}))

    assert op.bash_command == "echo found"


def test_missing_sh_template_raises(tmp_path):
    with make_dag() as d:
        op = BashOperator(task_id="t", bash_command="missing.sh")
    d.fileloc = str(tmp_path / "my_dag.py")

    with pytest.raises(jinja2.TemplateNotFound, match=r"missing\.sh"):
        op.render_template_fields(make_context())


def test_command_ending_in_space_is_not_loaded_as_file():
    with make_dag():
        op = BashOperator(task_id="t", bash_command="bash script.sh ")

    op.render_template_fields(make_context())

    assert op.bash_command == "bash script.sh "


def test_xcomarg_in_templated_string_renders_pulled_value():
    with make_dag("my_dag"):
        push = BashOperator(task_id="push", bash_command="echo hi")
        pull = BashOperator(task_id="pull", bash_command=f"echo {XComArg(push)}")
    ti = FakeTI({("push", "return_value"): "hi"})

    pull.render_template_fields(make_context(ti))

    assert pull.bash_command == "echo hi"


def test_user_defined_macros_are_available_in_templates():
    with make_dag(user_defined_macros={"project": "orchestrator"}):
        op = BashOperator(task_id="t", bash_command="echo {{ project }}")

    op.render_template_fields(make_context())

    assert op.bash_command == "echo orchestrator"


def test_user_defined_filters_are_available_in_templates():
    with make_dag(user_defined_filters={"shout": str.upper}):
        op = BashOperator(task_id="t", bash_command="echo {{ 'hi' | shout }}")

    op.render_template_fields(make_context())

    assert op.bash_command == "echo HI"


def test_render_template_as_native_obj_renders_python_values():
    with make_dag(render_template_as_native_obj=True):
        op = PythonOperator(task_id="t", python_callable=print, op_kwargs={"numbers": "{{ [1, 2] }}"})

    op.render_template_fields(make_context())

    assert op.op_kwargs == {"numbers": [1, 2]}


def test_render_template_renders_a_string_with_the_tasks_environment():
    from dags_app.sdk import DAG, EmptyOperator

    with DAG("render_tpl", schedule=None, user_defined_macros={"shout": str.upper}):
        task = EmptyOperator(task_id="t")
    assert task.render_template("{{ shout(run_id) }}: {{ x }}", {"run_id": "r1", "x": 2}) == "R1: 2"
    assert task.render_template(["{{ x }}"], {"x": 3}) == ["3"]

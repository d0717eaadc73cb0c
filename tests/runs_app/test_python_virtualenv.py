"""PythonVirtualenvOperator, ExternalPythonOperator and their branch and ``@task`` forms: the
callable runs in another Python with its arguments and result pickled across."""

from __future__ import annotations

import sys
import textwrap

import pytest

from dags_app.sdk.exceptions import AirflowException
from dags_app.sdk.python_virtualenv import ExternalPythonOperator, function_source
from runs_app.models import TaskInstance, XCom
from runs_app.states import DagRunState
from tests.runs_app.test_runner import executes_tasks, log_of, run_dag

BODY = f"""\
from dags_app.sdk import task
from dags_app.sdk.python_virtualenv import PythonVirtualenvOperator, ExternalPythonOperator

def double(x, ds=None):
    import sys
    print("running in", sys.prefix)
    return {{"double": x * 2, "ds": ds}}

def imports_jinja():
    import jinja2  # installed where the worker runs: system_site_packages (the default) sees it
    return jinja2.__name__

def exits_3():
    import sys
    sys.exit(3)

venv = PythonVirtualenvOperator(
    task_id="venv", python_callable=double, op_args=[21], system_site_packages=False
)
external = ExternalPythonOperator(
    task_id="external", python_callable=double, op_kwargs={{"x": 1}}, python={sys.executable!r}
)
sees = PythonVirtualenvOperator(task_id="sees", python_callable=imports_jinja)
skipped = ExternalPythonOperator(
    task_id="skipped", python_callable=exits_3, python={sys.executable!r}, skip_on_exit_code=3
)

@task.virtualenv(system_site_packages=False, multiple_outputs=True)
def decorated(n: int):
    return {{"n": n, "args": virtualenv_string_args}}

@task.branch_external_python(python={sys.executable!r})
def pick():
    return "left"

left = EmptyOperator(task_id="left")
right = EmptyOperator(task_id="right")
venv >> external >> skipped
sees
decorated(7) >> pick() >> [left, right]
"""


@executes_tasks
def test_the_callable_runs_in_another_python_and_its_result_comes_back(write_dag):
    write_dag("elsewhere", textwrap.indent(BODY, "    "))
    run, final = run_dag("elsewhere")

    assert final == DagRunState.SUCCESS
    states = dict(TaskInstance.objects.filter(dag_run=run).values_list("task_id", "state"))
    assert states == {
        "venv": "success",
        "external": "success",
        "skipped": "skipped",  # exit code 3 is in skip_on_exit_code
        "sees": "success",
        "decorated": "success",
        "pick": "success",
        "left": "success",
        "right": "skipped",
    }
    xcoms = {(x.task_id, x.key): x.value for x in XCom.objects.filter(dag_run=run)}
    assert xcoms[("venv", "return_value")] == {"double": 42, "ds": "2022-01-01"}
    assert xcoms[("external", "return_value")] == {"double": 2, "ds": "2022-01-01"}
    assert (xcoms[("decorated", "n")], xcoms[("decorated", "args")]) == (7, [])
    assert xcoms[("sees", "return_value")] == "jinja2"
    # The virtualenv was made for the task (its own prefix), the external one is the given Python.
    assert "running in /tmp/venv-task-" in log_of(run, "venv")
    assert f"running in {sys.prefix}" in log_of(run, "external")


@executes_tasks
def test_a_failing_callable_fails_the_task_with_its_exit_status(write_dag):
    write_dag(
        "elsewhere_fails",
        textwrap.indent(
            "from dags_app.sdk.python_virtualenv import ExternalPythonOperator\n"
            "def boom():\n    raise ValueError('no')\n"
            f"ExternalPythonOperator(task_id='boom', python_callable=boom, python={sys.executable!r})\n",
            "    ",
        ),
    )
    run, final = run_dag("elsewhere_fails")
    assert final == DagRunState.FAILED
    log = log_of(run, "boom")
    assert "ValueError: no" in log and "non-zero exit status 1" in log


def test_only_functions_and_existing_interpreters_are_accepted():
    with pytest.raises(AirflowException, match="only supports functions"):
        ExternalPythonOperator(task_id="t", python_callable=lambda: 1, python=sys.executable)
    with pytest.raises(ValueError, match="must be defined"):
        ExternalPythonOperator(
            task_id="t", python_callable=test_only_functions_and_existing_interpreters_are_accepted, python=""
        )


def test_the_source_sent_over_has_no_decorators():
    from dags_app.sdk import task

    @task.virtualenv(requirements=["x"])
    def f(a):
        return a

    source = function_source(f.function)
    assert source.startswith("def f(a):") and "@task" not in source


def test_a_serializer_other_than_pickle_is_installed_in_the_virtualenv():
    from dags_app.sdk.python_virtualenv import PythonVirtualenvOperator

    def f():
        return 1

    assert PythonVirtualenvOperator(task_id="a", python_callable=f, serializer="dill")._requirement_args() == ["dill"]
    op = PythonVirtualenvOperator(task_id="b", python_callable=f, serializer="dill", requirements=["dill==0.3.8", "x"])
    assert op._requirement_args() == ["dill==0.3.8", "x"]
    assert PythonVirtualenvOperator(task_id="c", python_callable=f)._requirement_args() == []

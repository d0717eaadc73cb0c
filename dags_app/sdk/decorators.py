"""TaskFlow: ``@task`` turns a function into a task; calling it inside a DAG adds the task.

The call returns an ``XComArg`` for the task's return value, and any XComArg passed as an
argument makes the new task downstream of the task that produces it, as in Airflow.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any

from dags_app.sdk.baseoperator import BaseOperator
from dags_app.sdk.dag_context import DagContext
from dags_app.sdk.exceptions import AirflowException
from dags_app.sdk.operators import BashOperator, BranchPythonOperator, PythonOperator, ShortCircuitOperator
from dags_app.sdk.python_virtualenv import (
    BranchExternalPythonOperator,
    BranchPythonVirtualenvOperator,
    ExternalPythonOperator,
    PythonVirtualenvOperator,
)
from dags_app.sdk.sensors import DecoratedSensorOperator
from dags_app.sdk.task_group import TaskGroupContext
from dags_app.sdk.templating import render_value
from dags_app.sdk.xcom_arg import XComArg, find_xcom_args, resolve_xcom_args

_SUFFIX_RE = re.compile(r"^(.+)__(\d+)$")


def _returns_dict(func: Callable[..., Any]) -> bool:
    try:
        annotation = typing.get_type_hints(func).get("return")
    except Exception:
        return False
    origin = typing.get_origin(annotation) or annotation
    return isinstance(origin, type) and issubclass(origin, Mapping)


class _DecoratedMixin:
    """Push each key of a dict result as its own XCom when ``multiple_outputs`` is set."""

    def _handle_output(self, context: dict[str, Any], result: Any) -> Any:
        task: BaseOperator = self  # type: ignore[assignment]
        if not task.multiple_outputs or result is None:
            return result
        if not isinstance(result, dict):
            raise AirflowException(f"Returned output was type {type(result)} expected dictionary for multiple_outputs")
        for key, value in result.items():
            if not isinstance(key, str):
                raise AirflowException(
                    f"Returned dictionary keys must be strings when using multiple_outputs, found {key!r}"
                )
            context["ti"].xcom_push(key=key, value=value)
        return result


class _PythonDecoratedOperator(_DecoratedMixin, PythonOperator):
    custom_operator_name = "@task"

    def execute(self, context: dict[str, Any]) -> Any:
        return self._handle_output(context, super().execute(context))


class _BranchDecoratedOperator(_DecoratedMixin, BranchPythonOperator):
    custom_operator_name = "@task.branch"


class _ShortCircuitDecoratedOperator(_DecoratedMixin, ShortCircuitOperator):
    custom_operator_name = "@task.short_circuit"


class _VirtualenvDecoratedOperator(_DecoratedMixin, PythonVirtualenvOperator):
    custom_operator_name = "@task.virtualenv"

    def execute(self, context: dict[str, Any]) -> Any:
        return self._handle_output(context, super().execute(context))


class _ExternalPythonDecoratedOperator(_DecoratedMixin, ExternalPythonOperator):
    custom_operator_name = "@task.external_python"

    def execute(self, context: dict[str, Any]) -> Any:
        return self._handle_output(context, super().execute(context))


class _BranchVirtualenvDecoratedOperator(_DecoratedMixin, BranchPythonVirtualenvOperator):
    custom_operator_name = "@task.branch_virtualenv"


class _BranchExternalPythonDecoratedOperator(_DecoratedMixin, BranchExternalPythonOperator):
    custom_operator_name = "@task.branch_external_python"


class _BashDecoratedOperator(_DecoratedMixin, BashOperator):
    """The function returns the bash command to run; it is rendered like ``bash_command``."""

    custom_operator_name = "@task.bash"

    template_fields = ("env", "cwd")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: list[Any] | None = None,
        op_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(bash_command="", **kwargs)
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})

    def execute(self, context: dict[str, Any]) -> Any:
        from dags_app.sdk.operators import determine_kwargs

        args = resolve_xcom_args(self.op_args, context)
        kwargs = resolve_xcom_args(self.op_kwargs, context)
        merged = {**context, **kwargs}
        command = self.python_callable(*args, **determine_kwargs(self.python_callable, args, merged))
        if not isinstance(command, str) or not command.strip():
            raise TypeError("The returned value from the TaskFlow callable must be a non-empty string.")
        self.bash_command = render_value(command, context, self.dag.get_template_env())
        # With multiple_outputs (and an output_processor making a dict), each key is an XCom.
        return self._handle_output(context, super().execute(context))


class _TaskDecorator:
    """A function made into a task factory; each call adds one task to the current DAG."""

    def __init__(self, function: Callable[..., Any], operator_class: type[BaseOperator], kwargs: dict[str, Any]):
        self.function = function
        self.operator_class = operator_class
        self.kwargs = kwargs
        functools.update_wrapper(self, function)

    def override(self, **kwargs: Any) -> _TaskDecorator:
        """Return the same task factory with some operator arguments changed (``task_id``, ``retries``...)."""
        return _TaskDecorator(self.function, self.operator_class, {**self.kwargs, **kwargs})

    def _unique_task_id(self, task_id: str) -> str:
        """Return ``task_id``, or ``task_id__N`` when the DAG has it already (in the same group)."""
        dag = self.kwargs.get("dag") or DagContext.get_current_dag()
        group = self.kwargs.get("task_group") or TaskGroupContext.get_current_task_group(dag)
        if dag is None:
            return task_id
        full = group.child_id(task_id) if group is not None else task_id
        if full not in dag.task_dict:
            return task_id
        match = _SUFFIX_RE.match(full)
        core = match.group(1) if match else full
        suffixes = [int(m.group(2)) for tid in dag.task_dict if (m := _SUFFIX_RE.match(tid)) and m.group(1) == core]
        label_core = _SUFFIX_RE.match(task_id).group(1) if _SUFFIX_RE.match(task_id) else task_id
        return f"{label_core}__{max(suffixes, default=0) + 1}"

    def _operator_kwargs(self) -> dict[str, Any]:
        """The operator arguments of a new task: task id (made unique), doc, multiple_outputs."""
        options = dict(self.kwargs)
        options["task_id"] = self._unique_task_id(options.pop("task_id", None) or self.function.__name__)
        if options.get("multiple_outputs") is None:
            options["multiple_outputs"] = _returns_dict(self.function)
        if self.function.__doc__ and "doc_md" not in options:
            options["doc_md"] = inspect.cleandoc(self.function.__doc__)
        return options

    def partial(self, **kwargs: Any) -> _TaskDecoratorPartial:
        """The function's arguments every mapped instance shares; then ``.expand(...)``."""
        return _TaskDecoratorPartial(self, kwargs)

    def expand(self, **mapped: Any) -> XComArg:
        """One task instance per value (per combination) of the function's arguments."""
        return self.partial().expand(**mapped)

    def expand_kwargs(self, value: Any) -> XComArg:
        """One task instance per dict of function arguments."""
        return self.partial().expand_kwargs(value)

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        operator = self.operator_class(
            python_callable=self.function, op_args=list(args), op_kwargs=kwargs, **self._operator_kwargs()
        )
        for arg in find_xcom_args([list(args), kwargs]):
            operator.set_upstream(arg.operator)
        return XComArg(operator)


class _TaskDecoratorPartial:
    """``my_task.partial(y=1)``: then ``.expand(x=[...])`` or ``.expand_kwargs([...])``."""

    def __init__(self, decorator: _TaskDecorator, kwargs: dict[str, Any]) -> None:
        from dags_app.sdk.mappedoperator import OperatorPartial, _validate_names

        self.decorator = decorator
        self.kwargs = kwargs
        options = decorator._operator_kwargs()
        _validate_names(decorator.operator_class, list(kwargs), task_id=options["task_id"], function=decorator.function)
        self._partial = OperatorPartial(
            decorator.operator_class,
            {**options, "python_callable": decorator.function, "op_args": [], "op_kwargs": dict(kwargs)},
            expand_into="op_kwargs",
            function=decorator.function,
        )

    def expand(self, **mapped: Any) -> XComArg:
        return XComArg(self._partial.expand(**mapped))

    def expand_kwargs(self, value: Any) -> XComArg:
        return XComArg(self._partial.expand_kwargs(value))


def _make_decorator(operator_class: type[BaseOperator]) -> Callable[..., Any]:
    def decorator(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        if python_callable is not None and callable(python_callable):
            return _TaskDecorator(python_callable, operator_class, kwargs)
        return lambda func: _TaskDecorator(func, operator_class, kwargs)

    return decorator


class _TaskDecoratorCollection:
    """``@task`` and its variants ``@task.python``, ``@task.branch``, ``@task.short_circuit``,
    ``@task.bash``, ``@task.sensor`` (the function is the poke; sensor arguments apply),
    ``@task.virtualenv``, ``@task.external_python`` and their ``branch_`` forms."""

    python = staticmethod(_make_decorator(_PythonDecoratedOperator))
    branch = staticmethod(_make_decorator(_BranchDecoratedOperator))
    short_circuit = staticmethod(_make_decorator(_ShortCircuitDecoratedOperator))
    bash = staticmethod(_make_decorator(_BashDecoratedOperator))
    sensor = staticmethod(_make_decorator(DecoratedSensorOperator))
    virtualenv = staticmethod(_make_decorator(_VirtualenvDecoratedOperator))
    external_python = staticmethod(_make_decorator(_ExternalPythonDecoratedOperator))
    branch_virtualenv = staticmethod(_make_decorator(_BranchVirtualenvDecoratedOperator))
    branch_external_python = staticmethod(_make_decorator(_BranchExternalPythonDecoratedOperator))

    def __call__(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        return self.python(python_callable, **kwargs)


task = _TaskDecoratorCollection()


class _SetupTeardownDecorator(_TaskDecorator):
    """``@setup`` / ``@teardown``: a ``@task`` whose task is marked as setup or teardown."""

    def __init__(self, function: Callable[..., Any], role: str, kwargs: dict[str, Any]) -> None:
        self.role = role
        self.fail_dagrun = kwargs.pop("on_failure_fail_dagrun", False)
        super().__init__(function, _PythonDecoratedOperator, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        output = super().__call__(*args, **kwargs)
        if self.role == "setup":
            output.operator.as_setup()
        else:
            output.operator.as_teardown(on_failure_fail_dagrun=self.fail_dagrun)
        return output


def setup(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """``@setup``: the task creates what work tasks use (a cluster, a table); see ``as_setup``."""
    if python_callable is not None and callable(python_callable):
        return _SetupTeardownDecorator(python_callable, "setup", kwargs)
    return lambda func: _SetupTeardownDecorator(func, "setup", kwargs)


def teardown(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """``@teardown`` (``on_failure_fail_dagrun=``): the task removes it; see ``as_teardown``."""
    if python_callable is not None and callable(python_callable):
        return _SetupTeardownDecorator(python_callable, "teardown", kwargs)
    return lambda func: _SetupTeardownDecorator(func, "teardown", kwargs)

"""Dynamic task mapping (Airflow 2.3+): ``.partial(...).expand(...)`` and ``.expand_kwargs(...)``.

A mapped task is one task of the DAG whose instances are made at run time: when its upstream
tasks are done, the scheduler counts the values it maps over (a literal list or dict, or an
upstream task's XCom) and creates one task instance per value, each with its own ``map_index``,
try, log, XCom and state. Zero values skip the task.

``MappedOperator`` stands for the task in the DAG (dependencies, trigger rule, retries, pool,
...: the ``BaseOperator`` arguments given to ``partial``). In the child that runs instance
``map_index``, ``unmap`` builds the real operator with the ``partial`` arguments and the values of
that index, and that operator executes, as Airflow does.

Expanding over several arguments maps over their cross product, the last argument varying
fastest (Airflow's order); a dict gives ``(key, value)`` pairs. ``expand_kwargs`` takes a list of
dicts (or an XComArg resolving to one), one instance per dict.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dags_app.sdk.baseoperator import BaseOperator, _init_parameters
from dags_app.sdk.dag_context import DagContext
from dags_app.sdk.exceptions import AirflowException
from dags_app.sdk.xcom_arg import XComArg, find_xcom_args

# Airflow's [core] max_map_length: the most instances one mapped task may have.
_settings = {"max_map_length": 1024}


def configure(*, max_map_length: int) -> None:
    """Set the largest number of instances of one mapped task (called by ``runs_app.apps``)."""
    _settings["max_map_length"] = int(max_map_length)


def max_map_length() -> int:
    return _settings["max_map_length"]


class UnmappableXComTypePushed(AirflowException):
    """A task pushed a value that a downstream mapped task cannot map over (not a list or dict)."""

    def __init__(self, value: Any, *, consumer: str, kind: str = "list or dict") -> None:
        super().__init__(
            f"unmappable return type {type(value).__qualname__!r}: the mapped task {consumer!r} "
            f"expands over this task's return value and needs a {kind}"
        )


class UnmappableXComLengthPushed(AirflowException):
    """A task pushed more values than ``max_map_length`` for a downstream mapped task."""

    def __init__(self, value: Any, *, consumer: str, limit: int) -> None:
        super().__init__(
            f"unmappable return value length: {len(value)} > {limit} (max_map_length); "
            f"the mapped task {consumer!r} expands over it"
        )


_BASE_PARAMETERS = _init_parameters(BaseOperator)


def _check_expand_value(name: str, value: Any, task_id: str) -> None:
    if isinstance(value, XComArg):
        return
    if not isinstance(value, list | tuple | dict):
        raise AirflowException(
            f"Task '{task_id}': expand argument {name!r} must be a list, a dict or an XComArg, "
            f"not {type(value).__qualname__}"
        )
    if len(value) > max_map_length():
        raise AirflowException(
            f"Task '{task_id}': expand argument {name!r} has {len(value)} values, more than "
            f"max_map_length ({max_map_length()})"
        )


class ExpandInput:
    """What a mapped task maps over: ``kind`` "dict" (``expand``) or "list" (``expand_kwargs``)."""

    def __init__(self, kind: str, value: Any) -> None:
        self.kind = kind
        self.value = value

    def xcom_args(self) -> list[XComArg]:
        return find_xcom_args(self.value)

    def serialize(self) -> dict[str, Any]:
        """The JSON form the scheduler counts from: a literal's length or the XCom it reads."""

        def source(value: Any) -> dict[str, Any]:
            if isinstance(value, XComArg):
                return {"task_id": value.operator.task_id, "key": value.key, "mapped": value.operator.is_mapped}
            return {"length": len(value)}

        if self.kind == "dict":
            return {"kind": "dict", "keys": {name: source(v) for name, v in self.value.items()}}
        return {"kind": "list", "source": source(self.value)}

    def resolve(self, context: Mapping[str, Any], map_index: int) -> dict[str, Any]:
        """Return the arguments of instance ``map_index`` (XComs pulled through ``context["ti"]``)."""

        def values(value: Any) -> list[Any]:
            if isinstance(value, XComArg):
                value = context["ti"].xcom_pull(task_ids=value.operator.task_id, key=value.key)
            if isinstance(value, dict):
                return list(value.items())
            if isinstance(value, list | tuple):
                return list(value)
            raise AirflowException(f"cannot expand over a {type(value).__qualname__}: a list or dict is needed")

        if self.kind == "list":
            items = values(self.value)
            if not 0 <= map_index < len(items):
                raise AirflowException(f"map index {map_index} is beyond the {len(items)} values mapped over")
            kwargs = items[map_index]
            if not isinstance(kwargs, dict):
                raise AirflowException(
                    f"expand_kwargs needs a list of dicts; value {map_index} is a {type(kwargs).__qualname__}"
                )
            return dict(kwargs)
        lengths = {name: values(v) for name, v in self.value.items()}
        total = 1
        for items in lengths.values():
            total *= len(items)
        if not 0 <= map_index < total:
            raise AirflowException(f"map index {map_index} is beyond the {total} combinations mapped over")
        resolved: dict[str, Any] = {}
        index = map_index
        for name in reversed(list(self.value)):
            items = lengths[name]
            resolved[name] = items[index % len(items)]
            index //= len(items)
        return {name: resolved[name] for name in self.value}


class MappedOperator(BaseOperator):
    """A task whose instances are made at run time, one per value mapped over."""

    is_mapped = True

    def __init__(
        self,
        *,
        operator_class: type[BaseOperator],
        partial_kwargs: dict[str, Any],
        expand_input: ExpandInput,
        expand_into: str | None = None,
        custom_operator_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.operator_class = operator_class
        self.partial_kwargs = partial_kwargs
        self.expand_input = expand_input
        # "op_kwargs": a TaskFlow task, whose mapped values are arguments of its function.
        self.expand_into = expand_into
        self.custom_operator_name = custom_operator_name or getattr(operator_class, "custom_operator_name", None)
        self.template_fields = tuple(operator_class.template_fields)
        self.template_ext = tuple(operator_class.template_ext)
        self.ui_color = operator_class.ui_color
        self.ui_fgcolor = operator_class.ui_fgcolor
        self.python_callable = partial_kwargs.get("python_callable")
        # The BaseOperator arguments as given (after default_args), for the real operator.
        self._base_kwargs = {
            k: v for k, v in kwargs.items() if k not in ("task_id", "dag", "task_group", "default_args")
        }
        for arg in [*find_xcom_args(partial_kwargs), *expand_input.xcom_args()]:
            self.set_upstream(arg.operator)

    @property
    def operator_name(self) -> str:
        return self.custom_operator_name or self.operator_class.__name__

    def __getattr__(self, name: str) -> Any:
        # The partial arguments read as the real operator's attributes (template fields in the UI).
        partial = self.__dict__.get("partial_kwargs")
        if partial is not None and name in partial:
            return partial[name]
        raise AttributeError(name)

    def unmap(self, mapped_kwargs: dict[str, Any]) -> BaseOperator:
        """Return the real operator of one instance: the partial arguments and ``mapped_kwargs``."""
        kwargs = {**self._base_kwargs, **self.partial_kwargs}
        if self.expand_into:
            kwargs[self.expand_into] = {**kwargs.get(self.expand_into, {}), **mapped_kwargs}
        else:
            kwargs.update(mapped_kwargs)
        with DagContext.suspended():
            operator = self.operator_class(task_id=self.task_id, **kwargs)
        operator.task_id = self.task_id
        operator.task_group = self.task_group
        operator._dag = self._dag
        operator.upstream_task_ids = set(self.upstream_task_ids)
        operator.downstream_task_ids = set(self.downstream_task_ids)
        operator.map_index_template = self.map_index_template
        return operator

    def __repr__(self) -> str:
        return f"<Mapped({self.operator_name}): {self.task_id}>"


def _validate_names(
    operator_class: type[BaseOperator], names: Sequence[str], *, task_id: str, function: Callable | None
) -> None:
    """Refuse arguments the operator (or the TaskFlow function) does not take, and BaseOperator's own."""
    for name in names:
        if function is not None:
            params = inspect.signature(function).parameters
            if name not in params and not any(p.kind == p.VAR_KEYWORD for p in params.values()):
                raise AirflowException(
                    f"Task '{task_id}': {function.__name__}() got an unexpected keyword argument {name!r} in expand"
                )
            continue
        if name in _BASE_PARAMETERS:
            raise AirflowException(
                f"Task '{task_id}': cannot map over the BaseOperator argument {name!r}; pass it to partial()"
            )
        if name not in _init_parameters(operator_class):
            raise AirflowException(
                f"Task '{task_id}': {operator_class.__name__} got an unexpected keyword argument {name!r} in expand"
            )


class OperatorPartial:
    """``SomeOperator.partial(task_id=..., ...)``: the arguments shared by every mapped instance."""

    def __init__(
        self,
        operator_class: type[BaseOperator],
        kwargs: dict[str, Any],
        *,
        expand_into: str | None = None,
        function: Callable | None = None,
    ) -> None:
        if "task_id" not in kwargs:
            raise AirflowException(f"{operator_class.__name__}.partial() needs a task_id")
        self.operator_class = operator_class
        self.kwargs = dict(kwargs)
        self.expand_into = expand_into
        self.function = function
        self._expanded = False
        task_id = self.kwargs["task_id"]
        unknown = sorted(
            k
            for k in self.kwargs
            if k not in _init_parameters(operator_class) and k not in ("dag", "task_group", "default_args")
        )
        if unknown:
            raise AirflowException(
                f"Task '{task_id}': {operator_class.__name__}.partial() got unexpected keyword arguments: "
                f"{', '.join(unknown)}"
            )

    def expand(self, **mapped: Any) -> MappedOperator:
        """Map over each argument's values (their cross product when several are given)."""
        task_id = self.kwargs["task_id"]
        if not mapped:
            raise AirflowException(f"Task '{task_id}': expand() needs at least one argument to map over")
        given = set(self.kwargs.get(self.expand_into, {})) if self.expand_into else set(self.kwargs)
        both = sorted(given & set(mapped))
        if both:
            raise AirflowException(f"Task '{task_id}': {', '.join(both)} given to both partial() and expand()")
        _validate_names(self.operator_class, list(mapped), task_id=task_id, function=self.function)
        for name, value in mapped.items():
            _check_expand_value(name, value, task_id)
        return self._build(ExpandInput("dict", dict(mapped)))

    def expand_kwargs(self, value: Any) -> MappedOperator:
        """Map over a list of dicts (or an XComArg of one): one instance per dict of arguments."""
        task_id = self.kwargs["task_id"]
        if isinstance(value, XComArg):
            return self._build(ExpandInput("list", value))
        if not isinstance(value, list | tuple):
            raise AirflowException(
                f"Task '{task_id}': expand_kwargs() needs a list of dicts or an XComArg, not {type(value).__qualname__}"
            )
        for item in value:
            if not isinstance(item, dict | XComArg):
                raise AirflowException(
                    f"Task '{task_id}': expand_kwargs() needs a list of dicts; got a {type(item).__qualname__}"
                )
            if isinstance(item, dict):
                _validate_names(self.operator_class, list(item), task_id=task_id, function=self.function)
        _check_expand_value("expand_kwargs", list(value), task_id)
        return self._build(ExpandInput("list", list(value)))

    def _build(self, expand_input: ExpandInput) -> MappedOperator:
        if self._expanded:
            raise AirflowException(f"Task '{self.kwargs['task_id']}': this partial() was expanded already")
        self._expanded = True
        base = {k: v for k, v in self.kwargs.items() if k in _BASE_PARAMETERS or k == "default_args"}
        own = {k: v for k, v in self.kwargs.items() if k not in base}
        return MappedOperator(
            operator_class=self.operator_class,
            partial_kwargs=own,
            expand_input=expand_input,
            expand_into=self.expand_into,
            **base,
        )


def mapped_consumers(task: BaseOperator) -> list[tuple[MappedOperator, str, str]]:
    """Return (mapped task, key, kind) for each downstream mapped task that maps over an XCom of
    ``task`` (``kind``: "dict" for ``expand``, "list" for ``expand_kwargs``)."""
    if task._dag is None:
        return []
    found = []
    for task_id in sorted(task.downstream_task_ids):
        other = task.dag.task_dict.get(task_id)
        if not isinstance(other, MappedOperator):
            continue
        expand = other.expand_input
        sources = [expand.value] if expand.kind == "list" else list(expand.value.values())
        for source in sources:
            if isinstance(source, XComArg) and source.operator.task_id == task.task_id:
                found.append((other, source.key, expand.kind))
    return found


def check_pushed_for_mapping(task: BaseOperator, key: str, value: Any, *, map_index: int = -1) -> None:
    """Raise if a downstream mapped task could not map over ``value`` (Airflow checks at push)."""
    if map_index >= 0:
        return  # each instance of a mapped producer pushes one value of the sequence
    for consumer, wanted_key, kind in mapped_consumers(task):
        if wanted_key != key:
            continue
        allowed = (list, tuple) if kind == "list" else (list, tuple, dict)
        if not isinstance(value, allowed):
            raise UnmappableXComTypePushed(
                value, consumer=consumer.task_id, kind="list of dicts" if kind == "list" else "list or dict"
            )
        if len(value) > max_map_length():
            raise UnmappableXComLengthPushed(value, consumer=consumer.task_id, limit=max_map_length())

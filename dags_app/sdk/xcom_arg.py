"""XComArg: a reference to a task's (future) XCom value, passed as another task's argument."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dags_app.sdk.dependencies import DependencyMixin

if TYPE_CHECKING:
    from dags_app.sdk.baseoperator import BaseOperator

RETURN_VALUE_KEY = "return_value"


class XComArg(DependencyMixin):
    """The value ``operator`` pushed under ``key``; resolved when the consuming task runs.

    Using an XComArg as an argument of another task makes that task downstream of ``operator``.
    """

    def __init__(self, operator: BaseOperator, key: str = RETURN_VALUE_KEY) -> None:
        self.operator = operator
        self.key = key

    def __getitem__(self, key: str) -> XComArg:
        """Return the XComArg of one key of a ``multiple_outputs`` task."""
        return XComArg(self.operator, key)

    def set_downstream(self, other: Any) -> None:
        self.operator.set_downstream(other)

    def __enter__(self) -> XComArg:
        self.operator.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.operator.__exit__(*exc_info)

    def as_setup(self) -> XComArg:
        self.operator.as_setup()
        return self

    def as_teardown(self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> XComArg:
        self.operator.as_teardown(setups=setups, on_failure_fail_dagrun=on_failure_fail_dagrun)
        return self

    def set_upstream(self, other: Any) -> None:
        self.operator.set_upstream(other)

    def resolve(self, context: dict[str, Any]) -> Any:
        """Return the value, pulled from XCom through the context's task instance.

        Within one instance of a mapped task group, a task's value is that of the same instance.
        """
        from dags_app.sdk.task_group import mapped_group_of

        ti = context["ti"]
        group = mapped_group_of(self.operator)
        if group is not None and getattr(ti, "map_index", -1) >= 0 and group is mapped_group_of(context.get("task")):
            return ti.xcom_pull(task_ids=self.operator.task_id, key=self.key, map_indexes=ti.map_index)
        return ti.xcom_pull(task_ids=self.operator.task_id, key=self.key)

    def serialize(self) -> dict[str, str]:
        return {"task_id": self.operator.task_id, "key": self.key}

    def __str__(self) -> str:
        """Return a Jinja expression pulling the value, for use inside templated strings (as Airflow)."""
        return (
            f"{{{{ task_instance.xcom_pull(task_ids='{self.operator.task_id}', "
            f"dag_id='{self.operator.dag_id}', key='{self.key}') }}}}"
        )

    def __repr__(self) -> str:
        return f"XComArg({self.operator.task_id!r}, {self.key!r})"


class DagParam:
    """A ``@dag`` function's parameter: resolves to the run's param value when a task runs."""

    def __init__(self, name: str, default: Any = None) -> None:
        self.name = name
        self.default = default

    def resolve(self, context: dict[str, Any]) -> Any:
        return context.get("params", {}).get(self.name, self.default)

    def serialize(self) -> dict[str, str]:
        return {"param": self.name}

    def __repr__(self) -> str:
        return f"DagParam({self.name!r})"


class MappedArgument:
    """An argument of a ``@task_group`` function expanded with ``.expand(name=...)``: in each
    instance of the group it resolves to that instance's value (Airflow's ``MappedArgument``)."""

    def __init__(self, group: Any, name: str) -> None:
        self.group = group
        self.name = name

    def resolve(self, context: dict[str, Any]) -> Any:
        values = self.group.expand_input.resolve(context, context["ti"].map_index)
        return values[self.name]

    def __repr__(self) -> str:
        return f"MappedArgument({self.group.group_id!r}, {self.name!r})"


def find_xcom_args(value: Any) -> list[XComArg]:
    """Return every XComArg nested in ``value`` (lists, tuples, sets and dict values)."""
    if isinstance(value, XComArg):
        return [value]
    if isinstance(value, list | tuple | set):
        return [arg for item in value for arg in find_xcom_args(item)]
    if isinstance(value, dict):
        return [arg for item in value.values() for arg in find_xcom_args(item)]
    return []


def resolve_xcom_args(value: Any, context: dict[str, Any]) -> Any:
    """Return ``value`` with every nested XComArg replaced by its pulled value."""
    if isinstance(value, XComArg | DagParam | MappedArgument):
        return value.resolve(context)
    if isinstance(value, list):
        return [resolve_xcom_args(v, context) for v in value]
    if isinstance(value, tuple):
        return tuple(resolve_xcom_args(v, context) for v in value)
    if isinstance(value, dict):
        return {k: resolve_xcom_args(v, context) for k, v in value.items()}
    return value

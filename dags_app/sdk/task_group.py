"""Task groups: ``TaskGroup`` (a context manager) and ``@task_group``, as in Airflow.

A group only organises tasks; the scheduler never sees it. What it changes:

- task ids: a task made in group ``etl`` is ``etl.extract`` (``prefix_group_id=False`` keeps the
  bare id); nested groups prefix every level (``etl.clean.dedupe``), and a group's own id is
  prefixed by its parent's in the same way;
- ``default_args``: a group's are merged over its parent's and the DAG's, and the task's own
  ``default_args`` win over all of them;
- dependencies: ``group >> x`` makes x downstream of the group's leaves (its tasks with no
  downstream inside the group), ``x >> group`` makes the group's roots downstream of x, and
  lists mix groups and tasks (``[g1, g2] >> t``), as Airflow does at the time of the call;
- the UI: the Graph draws a group as a cluster (collapsible), the Grid as a foldable row, and
  ``tasks list --tree`` shows it.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from dags_app.sdk.dag_context import DagContext
from dags_app.sdk.dependencies import DependencyMixin
from dags_app.sdk.exceptions import AirflowException, DuplicateTaskIdFound

if TYPE_CHECKING:
    from dags_app.sdk.baseoperator import BaseOperator
    from dags_app.sdk.dag import DAG

_SUFFIX_RE = re.compile(r"^(.+)__(\d+)$")
_GROUP_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


class TaskGroup(DependencyMixin):
    """A named set of tasks (and groups) of one DAG, drawn together and addressed together."""

    def __init__(
        self,
        group_id: str | None,
        prefix_group_id: bool = True,
        parent_group: TaskGroup | None = None,
        dag: DAG | None = None,
        default_args: dict[str, Any] | None = None,
        tooltip: str = "",
        ui_color: str = "CornflowerBlue",
        ui_fgcolor: str = "#000",
        add_suffix_on_collision: bool = False,
        group_display_name: str | None = None,
    ) -> None:
        self.prefix_group_id = prefix_group_id
        self.tooltip = tooltip or ""
        self.ui_color = ui_color
        self.ui_fgcolor = ui_fgcolor
        self.group_display_name = group_display_name
        self.children: dict[str, BaseOperator | TaskGroup] = {}
        if group_id is None:
            # The root group of a DAG (``dag.task_group``): no id, no prefix.
            if parent_group is not None or dag is None:
                raise AirflowException("TaskGroup: group_id may be None only for a DAG's root group")
            self._group_id: str | None = None
            self.parent_group: TaskGroup | None = None
            self.dag = dag
            self.default_args: dict[str, Any] = {}
            return
        if not isinstance(group_id, str):
            raise AirflowException(f"TaskGroup: group_id must be a string, got {group_id!r}")
        if not _GROUP_KEY_RE.match(group_id):
            # Airflow's validate_group_key: a dot would make the prefixed ids ambiguous.
            raise AirflowException(
                f"The group_id {group_id!r} has to be made of letters, digits, dashes and underscores exclusively"
            )
        if dag is None and parent_group is not None:
            dag = parent_group.dag
        if dag is None:
            dag = DagContext.get_current_dag()
        if dag is None:
            raise AirflowException(f"TaskGroup '{group_id}' can only be used inside a DAG (or given dag=...)")
        if parent_group is None:
            parent_group = TaskGroupContext.get_current_task_group(dag)
        if parent_group.dag is not dag:
            raise AirflowException(f"TaskGroup '{group_id}': its parent group belongs to another DAG")
        self.dag = dag
        self.parent_group = parent_group
        self._group_id = group_id
        if add_suffix_on_collision:
            self._group_id = self._unique_label(group_id)
        self.default_args = {**parent_group.default_args, **(default_args or {})}
        full = self.group_id
        if full in dag.task_group_dict or full in dag.task_dict:
            raise DuplicateTaskIdFound(f"group_id '{full}' has already been added to the DAG '{dag.dag_id}'")
        parent_group.children[self._group_id] = self
        dag.task_group_dict[full] = self

    def _unique_label(self, label: str) -> str:
        """Return ``label``, or ``label__N`` with the next free N when the full id is taken."""
        taken = self.dag.task_group_dict.keys() | self.dag.task_dict.keys()
        parent = self.parent_group
        assert parent is not None
        if parent.child_id(label) not in taken:
            return label
        match = _SUFFIX_RE.match(label)
        core = match.group(1) if match else label
        n = 1
        while parent.child_id(f"{core}__{n}") in taken:
            n += 1
        return f"{core}__{n}"

    # -- ids ------------------------------------------------------------------------------------

    @property
    def group_id(self) -> str | None:
        """The full id: the parent's id and a dot before the label when the parent prefixes."""
        if self._group_id is None:
            return None
        if self.parent_group is not None and self.parent_group.prefix_group_id and self.parent_group._group_id:
            return self.parent_group.child_id(self._group_id)
        return self._group_id

    @property
    def label(self) -> str | None:
        return self._group_id

    @property
    def is_root(self) -> bool:
        return self._group_id is None

    def child_id(self, label: str) -> str:
        """Return the id a child called ``label`` gets in this group."""
        if self.prefix_group_id and self.group_id:
            return f"{self.group_id}.{label}"
        return label

    # -- members --------------------------------------------------------------------------------

    def add(self, task: BaseOperator) -> None:
        """Record ``task`` as a direct child (its id is already prefixed)."""
        key = task.task_id
        if self.prefix_group_id and self.group_id and key.startswith(self.group_id + "."):
            key = key[len(self.group_id) + 1 :]
        if key in self.children and self.children[key] is not task:
            raise DuplicateTaskIdFound(
                f"Task id '{task.task_id}' has already been added to the DAG '{self.dag.dag_id}'"
            )
        self.children[key] = task

    def __iter__(self) -> Iterator[BaseOperator]:
        """Every task of the group, nested groups' tasks included."""
        for child in self.children.values():
            if isinstance(child, TaskGroup):
                yield from child
            else:
                yield child

    def __getitem__(self, label: str) -> BaseOperator | TaskGroup:
        return self.children[label]

    def get_roots(self) -> list[BaseOperator]:
        """The group's tasks that have no upstream task inside the group."""
        tasks = list(self)
        ids = {t.task_id for t in tasks}
        return [t for t in tasks if t.upstream_task_ids.isdisjoint(ids)]

    def get_leaves(self) -> list[BaseOperator]:
        """The group's tasks that have no downstream task inside the group. Teardown tasks are
        left out (as in Airflow): the tasks before them stand in their place."""
        tasks = list(self)
        ids = {t.task_id for t in tasks}
        teardowns = {t.task_id for t in tasks if t.is_teardown}
        leaves = [t for t in tasks if t.downstream_task_ids.isdisjoint(ids - teardowns) and not t.is_teardown]
        leaves = [t for t in leaves if not t.is_setup or not t.downstream_task_ids & teardowns]
        return leaves or [t for t in tasks if t.downstream_task_ids.isdisjoint(ids)]

    # -- dependencies ---------------------------------------------------------------------------

    def set_downstream(self, others: Any) -> None:
        for leaf in self.get_leaves():
            leaf.set_downstream(others)

    def set_upstream(self, others: Any) -> None:
        for root in self.get_roots():
            root.set_upstream(others)

    # -- context manager ------------------------------------------------------------------------

    def __enter__(self) -> TaskGroup:
        TaskGroupContext.push(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        TaskGroupContext.pop()

    def __repr__(self) -> str:
        return f"<TaskGroup: {self.group_id}>"


class MappedTaskGroup(TaskGroup):
    """A ``@task_group`` called with ``.expand(...)``: every task in it is mapped, one instance per
    value, and instance ``i`` of a task waits for instance ``i`` of its upstream tasks in the group."""

    def __init__(self, group_id: str | None, *, expand_input: Any, **kwargs: Any) -> None:
        super().__init__(group_id, **kwargs)
        self.expand_input = expand_input


def mapped_group_of(task: Any) -> MappedTaskGroup | None:
    """The mapped task group ``task`` is in (the innermost), or None."""
    group = getattr(task, "task_group", None)
    while group is not None:
        if isinstance(group, MappedTaskGroup):
            return group
        group = group.parent_group
    return None


class TaskGroupContext:
    """The stack of groups opened with ``with TaskGroup(...)``; tasks made inside join the innermost."""

    _stack: list[TaskGroup] = []

    @classmethod
    def push(cls, group: TaskGroup) -> None:
        cls._stack.append(group)

    @classmethod
    def pop(cls) -> None:
        if cls._stack:
            cls._stack.pop()

    @classmethod
    def get_current_task_group(cls, dag: DAG | None) -> TaskGroup | None:
        """The innermost open group of ``dag``, else ``dag``'s root group (None without a DAG)."""
        for group in reversed(cls._stack):
            if dag is None or group.dag is dag:
                return group
        return dag.task_group if dag is not None else None

    @classmethod
    def reset(cls) -> None:
        cls._stack.clear()


class _TaskGroupFactory:
    """What ``@task_group`` makes: each call opens a new group (``name``, ``name__1``...) and calls
    the function inside it. Returns what the function returns, or the group when it returns None,
    so ``start >> my_group() >> end`` works either way."""

    def __init__(self, function: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        self.function = function
        self.kwargs = kwargs
        functools.update_wrapper(self, function)

    def override(self, **kwargs: Any) -> _TaskGroupFactory:
        return _TaskGroupFactory(self.function, {**self.kwargs, **kwargs})

    def _group_options(self) -> tuple[str, dict[str, Any]]:
        """The new group's id and arguments: the function's name and docstring by default."""
        options = dict(self.kwargs)
        group_id = options.pop("group_id", None) or self.function.__name__
        options.setdefault("add_suffix_on_collision", True)
        if not options.get("tooltip") and self.function.__doc__:
            options["tooltip"] = inspect.cleandoc(self.function.__doc__)
        return group_id, options

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        group_id, options = self._group_options()
        with TaskGroup(group_id, **options) as group:
            result = self.function(*args, **kwargs)
        return group if result is None else result

    # -- mapped task groups (Airflow 2.5+) --------------------------------------------------------

    def partial(self, **kwargs: Any) -> _TaskGroupPartial:
        """Arguments every instance of the group shares; then ``.expand(...)``."""
        return _TaskGroupPartial(self, kwargs)

    def expand(self, **mapped: Any) -> Any:
        """One instance of the whole group per value (per combination) of the mapped arguments."""
        return self.partial().expand(**mapped)

    def expand_kwargs(self, value: Any) -> Any:
        """One instance of the whole group per dict of arguments."""
        return self.partial().expand_kwargs(value)


class _TaskGroupPartial:
    def __init__(self, factory: _TaskGroupFactory, kwargs: dict[str, Any]) -> None:
        self.factory = factory
        self.kwargs = kwargs

    def _check_names(self, names: list[str]) -> None:
        params = inspect.signature(self.factory.function).parameters
        for name in names:
            if name not in params:
                raise AirflowException(
                    f"Task group '{self.factory.function.__name__}': the function takes no argument {name!r} to expand"
                )

    def expand(self, **mapped: Any) -> Any:
        from dags_app.sdk.mappedoperator import ExpandInput, _check_expand_value

        name = self.factory.kwargs.get("group_id") or self.factory.function.__name__
        if not mapped:
            raise AirflowException(f"Task group '{name}': expand() needs at least one argument to map over")
        self._check_names([*mapped, *self.kwargs])
        for key, value in mapped.items():
            _check_expand_value(key, value, name)
        return self._build(ExpandInput("dict", dict(mapped)), list(mapped))

    def expand_kwargs(self, value: Any) -> Any:
        from dags_app.sdk.mappedoperator import ExpandInput
        from dags_app.sdk.xcom_arg import XComArg

        name = self.factory.kwargs.get("group_id") or self.factory.function.__name__
        if not isinstance(value, list | tuple | XComArg):
            raise AirflowException(f"Task group '{name}': expand_kwargs() needs a list of dicts or an XComArg")
        params = [p for p in inspect.signature(self.factory.function).parameters if p not in self.kwargs]
        return self._build(ExpandInput("list", value if isinstance(value, XComArg) else list(value)), params)

    def _build(self, expand_input: Any, names: list[str]) -> Any:
        from dags_app.sdk.xcom_arg import MappedArgument

        factory = self.factory
        group_id, options = factory._group_options()
        with MappedTaskGroup(group_id, expand_input=expand_input, **options) as group:
            arguments = {**self.kwargs, **{n: MappedArgument(group, n) for n in names}}
            result = factory.function(**arguments)
        for task in group:
            if task.is_mapped:
                raise AirflowException(
                    f"Task '{task.task_id}': expand() inside a mapped task group is not supported; "
                    "the group's tasks are mapped already"
                )
        # What the group maps over must be done before any of its instances starts.
        for arg in expand_input.xcom_args():
            group.set_upstream(arg.operator)
        return group if result is None else result


def task_group(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """``@task_group`` or ``@task_group(group_id=..., default_args=..., tooltip=...)``."""
    if python_callable is not None and callable(python_callable):
        return _TaskGroupFactory(python_callable, kwargs)
    return lambda func: _TaskGroupFactory(func, kwargs)

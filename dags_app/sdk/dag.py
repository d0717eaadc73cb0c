"""DAG: a set of tasks with dependencies, a schedule and run-level settings; ``@dag`` builds one.

Defaults follow Airflow 2 (the version the seed notes describe): without ``schedule`` a DAG runs
daily (``timedelta(days=1)``), ``catchup`` is on unless ``ORCHESTRATOR_CATCHUP_BY_DEFAULT`` says
otherwise, and runs cover a data interval whose start is the logical date (see timetables.py).
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dags_app.sdk.access_control import normalize_access_control
from dags_app.sdk.assets import AssetOrTimeSchedule, AssetTriggeredTimetable, condition_of
from dags_app.sdk.callbacks import validate_callbacks
from dags_app.sdk.dag_context import DagContext
from dags_app.sdk.exceptions import AirflowDagCycleException, AirflowException, DuplicateTaskIdFound, TaskNotFound
from dags_app.sdk.param import Param
from dags_app.sdk.task_group import TaskGroup
from dags_app.sdk.validation import validate_key
from dags_app.sdk.xcom_arg import DagParam
from dags_app.timetables import InvalidScheduleError, Timetable, create_timetable

if TYPE_CHECKING:
    import jinja2

    from dags_app.sdk.baseoperator import BaseOperator


class _NotSet:
    def __repr__(self) -> str:
        return "NOTSET"


NOTSET: Any = _NotSet()
DEFAULT_SCHEDULE = dt.timedelta(days=1)


def _catchup_by_default() -> bool:
    return os.environ.get("ORCHESTRATOR_CATCHUP_BY_DEFAULT", "true").strip().lower() in {"1", "true", "yes", "on"}


# Airflow's presets (DEFAULT_VIEW_PRESETS, ORIENTATION_PRESETS).
DEFAULT_VIEWS = ("grid", "graph", "duration", "gantt", "landing_times")
ORIENTATIONS = ("LR", "TB", "RL", "BT")


def _check_owner_links(dag_id: str, links: dict[str, str]) -> dict[str, str]:
    """Owner links must be http(s) or mailto links (Airflow's check; no javascript: in the list)."""
    for owner, link in links.items():
        if not isinstance(link, str) or not link.startswith(("http://", "https://", "mailto:")):
            raise AirflowException(
                f"Wrong link format was used for the owner '{owner}' of DAG '{dag_id}': {link!r} "
                "(use an http(s):// or mailto: link)"
            )
    return dict(links)


def to_utc(value: dt.datetime | dt.date | None, what: str) -> dt.datetime | None:
    """Return ``value`` as an aware datetime; naive values are taken as UTC (Airflow's default).

    Raises AirflowException for anything that is not a date or datetime.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    raise AirflowException(f"{what} must be a datetime, got {value!r}")


def timezone_name(value: dt.datetime | None) -> str:
    """Return the IANA name of ``value``'s timezone (``UTC`` when it has none or no name)."""
    if value is None or value.tzinfo is None:
        return "UTC"
    tz = value.tzinfo
    for attr in ("key", "name", "zone"):
        name = getattr(tz, attr, None)
        if isinstance(name, str) and name:
            return "UTC" if name in {"+00:00", "Z"} else name
    offset = value.utcoffset() or dt.timedelta(0)
    hours, remainder = divmod(int(offset.total_seconds()), 3600)
    if remainder == 0 and hours != 0:
        # POSIX-style names have the sign inverted: UTC+9 is "Etc/GMT-9".
        return f"Etc/GMT{'-' if hours > 0 else '+'}{abs(hours)}"
    return "UTC"


class DAG:
    """A workflow: tasks, their dependencies, a schedule, and settings for its runs."""

    def __init__(
        self,
        dag_id: str,
        description: str | None = None,
        schedule: Any = NOTSET,
        schedule_interval: Any = NOTSET,
        timetable: Timetable | None = None,
        start_date: dt.datetime | None = None,
        end_date: dt.datetime | None = None,
        default_args: dict[str, Any] | None = None,
        concurrency: int | None = None,
        max_active_tasks: int = 16,
        max_active_runs: int = 16,
        dagrun_timeout: dt.timedelta | None = None,
        catchup: bool | None = None,
        on_success_callback: Callable | None = None,
        on_failure_callback: Callable | None = None,
        doc_md: str | None = None,
        params: dict[str, Any] | None = None,
        access_control: dict | None = None,
        is_paused_upon_creation: bool | None = None,
        jinja_environment_kwargs: dict | None = None,
        render_template_as_native_obj: bool = False,
        tags: Iterable[str] | None = None,
        owner_links: dict[str, str] | None = None,
        template_searchpath: str | Iterable[str] | None = None,
        template_undefined: Any = None,
        user_defined_macros: dict[str, Any] | None = None,
        user_defined_filters: dict[str, Any] | None = None,
        default_view: str = "grid",
        orientation: str = "LR",
        fail_stop: bool = False,
        fail_fast: bool = False,
        dag_display_name: str | None = None,
        auto_register: bool = True,
    ) -> None:
        validate_key("dag_id", dag_id)
        self.dag_id = dag_id
        self.description = description
        self.default_args = dict(default_args or {})
        self.params: dict[str, Any] = {**self.default_args.get("params", {}), **(params or {})}
        if "params" in self.default_args or params:
            self.default_args["params"] = self.params
        self.start_date = to_utc(start_date or self.default_args.get("start_date"), f"start_date of DAG '{dag_id}'")
        self.end_date = to_utc(end_date or self.default_args.get("end_date"), f"end_date of DAG '{dag_id}'")
        self.timezone = timezone_name(start_date or self.default_args.get("start_date"))
        self.catchup = _catchup_by_default() if catchup is None else bool(catchup)
        self.max_active_tasks = int(concurrency if concurrency is not None else max_active_tasks)
        self.max_active_runs = int(max_active_runs)
        self.dagrun_timeout = dagrun_timeout
        self.on_success_callback = validate_callbacks("on_success_callback", on_success_callback, dag_id)
        self.on_failure_callback = validate_callbacks("on_failure_callback", on_failure_callback, dag_id)
        self.doc_md = doc_md
        self.access_control = normalize_access_control(dag_id, access_control)
        self.is_paused_upon_creation = is_paused_upon_creation
        self.jinja_environment_kwargs = dict(jinja_environment_kwargs or {})
        if "loader" in self.jinja_environment_kwargs:
            raise AirflowException(f"jinja_environment_kwargs of DAG '{dag_id}' cannot set the loader")
        self.template_undefined = template_undefined
        if self.jinja_environment_kwargs:
            import jinja2.sandbox

            try:
                jinja2.sandbox.SandboxedEnvironment(**self.jinja_environment_kwargs)
            except TypeError as exc:
                raise AirflowException(f"Invalid jinja_environment_kwargs of DAG '{dag_id}': {exc}") from None
        self.render_template_as_native_obj = render_template_as_native_obj
        self.tags = sorted(set(tags or []))
        self.owner_links = _check_owner_links(dag_id, owner_links or {})
        if isinstance(template_searchpath, str):
            template_searchpath = [template_searchpath]
        self.template_searchpath = list(template_searchpath or [])
        self.user_defined_macros = user_defined_macros
        self.user_defined_filters = user_defined_filters
        if default_view not in DEFAULT_VIEWS:
            raise AirflowException(f"Invalid value for default_view of DAG '{dag_id}': must be one of {DEFAULT_VIEWS}")
        if orientation not in ORIENTATIONS:
            raise AirflowException(f"Invalid value for orientation of DAG '{dag_id}': must be one of {ORIENTATIONS}")
        self.default_view = default_view
        self.orientation = orientation
        self.fail_stop = bool(fail_stop or fail_fast)  # fail_fast: Airflow 3's name
        self.dag_display_name = dag_display_name
        self.auto_register = auto_register
        self.task_dict: dict[str, BaseOperator] = {}
        # Every group of the DAG by full id, in the order they were made (parents first).
        self.task_group_dict: dict[str, TaskGroup] = {}
        # {upstream id: {downstream id: {"label": ...}}}: what a Label put on an edge.
        self.edge_info: dict[str, dict[str, dict[str, Any]]] = {}
        self.task_group = TaskGroup(None, dag=self)
        # Where the DAG was defined; the parser overwrites it with the file it imported.
        self.fileloc = sys._getframe(1).f_code.co_filename
        self.schedule, self.timetable = self._make_timetable(schedule, schedule_interval, timetable)

    def _make_timetable(self, schedule: Any, schedule_interval: Any, timetable: Timetable | None) -> tuple[Any, Any]:
        given = [v for v in (schedule, schedule_interval) if v is not NOTSET] + ([timetable] if timetable else [])
        if len(given) > 1:
            raise AirflowException(f"DAG '{self.dag_id}': pass only one of schedule, schedule_interval and timetable")
        value = given[0] if given else DEFAULT_SCHEDULE
        if isinstance(value, AssetOrTimeSchedule):
            self.asset_condition = value.condition
            return value, value
        self.asset_condition = condition_of(value)
        if self.asset_condition is not None:
            return value, AssetTriggeredTimetable()
        try:
            return value, create_timetable(value, self.timezone)
        except InvalidScheduleError as exc:
            raise AirflowException(f"Invalid schedule for DAG '{self.dag_id}': {exc}") from exc

    # -- context manager ------------------------------------------------------------------------

    def __enter__(self) -> DAG:
        DagContext.push_context_managed_dag(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        DagContext.pop_context_managed_dag()

    def __repr__(self) -> str:
        return f"<DAG: {self.dag_id}>"

    # -- tasks -----------------------------------------------------------------------------------

    def set_edge_info(self, upstream_task_id: str, downstream_task_id: str, info: dict[str, Any]) -> None:
        """Record what is drawn on the edge ``upstream >> downstream`` (its ``label``)."""
        self.edge_info.setdefault(upstream_task_id, {})[downstream_task_id] = dict(info)

    def get_edge_info(self, upstream_task_id: str, downstream_task_id: str) -> dict[str, Any]:
        return self.edge_info.get(upstream_task_id, {}).get(downstream_task_id, {})

    def add_task(self, task: BaseOperator) -> None:
        """Add ``task``; raises DuplicateTaskIdFound if another task already has its id."""
        existing = self.task_dict.get(task.task_id)
        if existing is not None and existing is not task:
            raise DuplicateTaskIdFound(f"Task id '{task.task_id}' has already been added to the DAG '{self.dag_id}'")
        if task.task_id in self.task_group_dict:
            raise DuplicateTaskIdFound(f"Task id '{task.task_id}' is already a task group of the DAG '{self.dag_id}'")
        group = getattr(task, "task_group", None)
        if group is None or group.dag is not self:
            group = self.task_group
        # As in Airflow, a task starts on the later of its own and the DAG's start date, and ends on
        # the earlier of the two end dates.
        start = to_utc(task.start_date, f"start_date of task '{task.task_id}'")
        if start is None or (self.start_date is not None and start < self.start_date):
            start = self.start_date
        task.start_date = start
        end = to_utc(task.end_date, f"end_date of task '{task.task_id}'")
        if end is None or (self.end_date is not None and end > self.end_date):
            end = self.end_date
        task.end_date = end
        self.task_dict[task.task_id] = task
        group.add(task)
        task.task_group = group
        task._dag = self

    def add_tasks(self, tasks: Iterable[BaseOperator]) -> None:
        for task in tasks:
            self.add_task(task)

    @property
    def tasks(self) -> list[BaseOperator]:
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        return list(self.task_dict)

    def has_task(self, task_id: str) -> bool:
        return task_id in self.task_dict

    def get_task(self, task_id: str) -> BaseOperator:
        """Return the task ``task_id``; raises TaskNotFound naming the DAG otherwise."""
        try:
            return self.task_dict[task_id]
        except KeyError:
            raise TaskNotFound(f"Task {task_id} not found in DAG '{self.dag_id}'") from None

    @property
    def roots(self) -> list[BaseOperator]:
        return [t for t in self.tasks if not t.upstream_task_ids]

    @property
    def leaves(self) -> list[BaseOperator]:
        return [t for t in self.tasks if not t.downstream_task_ids]

    @property
    def owner(self) -> str:
        """Return the owners of the DAG's tasks, comma-separated, as Airflow shows them."""
        owners = sorted({t.owner for t in self.tasks})
        return ", ".join(owners) if owners else self.default_args.get("owner", "airflow")

    # -- validation -----------------------------------------------------------------------------

    def topological_sort(self) -> list[BaseOperator]:
        """Return the tasks, every task after all of its upstream tasks (ties by task id).

        Raises AirflowDagCycleException naming the DAG and a task on the cycle.
        """
        remaining = {tid: set(t.upstream_task_ids) & self.task_dict.keys() for tid, t in self.task_dict.items()}
        ordered: list[BaseOperator] = []
        ready = sorted(tid for tid, ups in remaining.items() if not ups)
        while ready:
            tid = ready.pop(0)
            ordered.append(self.task_dict[tid])
            del remaining[tid]
            newly = []
            for down in self.task_dict[tid].downstream_task_ids:
                if down in remaining:
                    remaining[down].discard(tid)
                    if not remaining[down]:
                        newly.append(down)
            ready = sorted(ready + newly)
        if remaining:
            faulty = self._find_cycle_task(set(remaining))
            raise AirflowDagCycleException(f"Cycle detected in DAG: {self.dag_id}. Faulty task: {faulty}")
        return ordered

    def _find_cycle_task(self, candidates: set[str]) -> str:
        """Return a task id that lies on a cycle among ``candidates``."""
        for start in sorted(candidates):
            stack, seen = list(self.task_dict[start].downstream_task_ids & candidates), set()
            while stack:
                tid = stack.pop()
                if tid == start:
                    return start
                if tid not in seen:
                    seen.add(tid)
                    stack.extend(self.task_dict[tid].downstream_task_ids & candidates)
        return sorted(candidates)[0]

    def check_cycle(self) -> None:
        """Raise AirflowDagCycleException if the dependencies form a cycle."""
        self.topological_sort()

    def validate(self) -> None:
        """Check the whole DAG as the parser does; raise AirflowException describing the first problem."""
        self.check_cycle()
        if self.end_date and self.start_date and self.end_date < self.start_date:
            raise AirflowException(f"DAG '{self.dag_id}': end_date is before start_date")
        for task in self.tasks:
            missing = (task.upstream_task_ids | task.downstream_task_ids) - self.task_dict.keys()
            if missing:
                raise AirflowException(
                    f"Task '{task.task_id}' of DAG '{self.dag_id}' refers to unknown tasks {missing}"
                )
        if self.fail_stop:
            wrong = sorted(t.task_id for t in self.tasks if t.trigger_rule != "all_success")
            if wrong:
                # Airflow's FailStopDagInvalidTriggerRule: stopping the run on the first failure
                # would contradict a rule that waits for failures.
                raise AirflowException(
                    f"DAG '{self.dag_id}' has fail_stop: its tasks can only have the all_success trigger rule; "
                    f"these do not: {', '.join(wrong)}"
                )
        for key, value in self.params.items():
            if isinstance(value, Param):
                try:
                    value.resolve()
                    if self.timetable.can_be_scheduled:
                        # Scheduled runs have no conf: each param must have a valid default (Airflow's rule).
                        value.resolve(None)
                except ValueError as exc:
                    if self.timetable.can_be_scheduled and value.value is None:
                        raise AirflowException(
                            f"DAG '{self.dag_id}' is not allowed to define a Schedule, if there are any required "
                            f"params without default values or default values are not valid: param '{key}': {exc}"
                        ) from exc
                    raise AirflowException(f"DAG '{self.dag_id}': invalid default for param '{key}': {exc}") from exc

    # -- templates ------------------------------------------------------------------------------

    @property
    def folder(self) -> str:
        return str(Path(self.fileloc).parent)

    def get_template_env(self) -> jinja2.Environment:
        """Return the Jinja environment this DAG's tasks are rendered with."""
        from dags_app.sdk.templating import create_template_env

        return create_template_env(
            searchpath=[self.folder, *self.template_searchpath],
            native=self.render_template_as_native_obj,
            user_defined_macros=self.user_defined_macros,
            user_defined_filters=self.user_defined_filters,
            undefined=self.template_undefined,
            environment_kwargs=self.jinja_environment_kwargs,
        )


def dag(dag_id: Any = "", **dag_kwargs: Any) -> Any:
    """Turn a function into a DAG factory: calling it returns a DAG whose tasks the function made.

    Usable as ``@dag`` or ``@dag(schedule=..., ...)``. The function's parameters become DAG
    params (their defaults the params' defaults), passed in as values resolved at run time.
    """

    def decorator(func: Callable[..., Any]) -> Callable[..., DAG]:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def factory(*args: Any, **kwargs: Any) -> DAG:
            bound = signature.bind_partial(*args, **kwargs)
            bound.apply_defaults()
            params = dict(dag_kwargs.get("params") or {})
            for name, value in bound.arguments.items():
                # As Airflow's DagParam: the argument's value wins; a Param keeps its schema.
                existing = params.get(name)
                if isinstance(existing, Param) and not isinstance(value, Param):
                    value = Param(value, description=existing.description, **existing.schema)
                params[name] = value
            with DAG(dag_id or func.__name__, **{**dag_kwargs, "params": params}) as dag_obj:
                dag_obj.fileloc = func.__code__.co_filename
                if func.__doc__ and not dag_obj.doc_md:
                    dag_obj.doc_md = inspect.cleandoc(func.__doc__)
                func(**{name: DagParam(name, value) for name, value in bound.arguments.items()})
            return dag_obj

        return factory

    if callable(dag_id):
        func, dag_id = dag_id, ""
        return decorator(func)
    return decorator

"""BaseOperator: a task of a DAG, its arguments, its dependencies and its templated fields.

Names, arguments and defaults follow Airflow's ``BaseOperator`` so that an Airflow DAG file only
needs its import lines changed. ``default_args`` of the DAG (or passed to the operator) fill any
argument of the operator's ``__init__`` chain that the author did not pass, as Airflow's
``apply_defaults`` does; unknown arguments raise an error naming the task.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from dags_app.sdk.assets import Asset, AssetAlias
from dags_app.sdk.callbacks import validate_callbacks
from dags_app.sdk.dag_context import DagContext
from dags_app.sdk.dependencies import DependencyMixin
from dags_app.sdk.exceptions import AirflowException
from dags_app.sdk.task_group import TaskGroup, TaskGroupContext
from dags_app.sdk.trigger_rule import TriggerRule
from dags_app.sdk.validation import validate_key

if TYPE_CHECKING:
    from dags_app.sdk.dag import DAG
    from dags_app.sdk.xcom_arg import XComArg

WEIGHT_RULES = ("downstream", "upstream", "absolute")
DEFAULT_OWNER = "airflow"
DEFAULT_QUEUE = "default"
DEFAULT_POOL = "default_pool"
DEFAULT_RETRY_DELAY = dt.timedelta(seconds=300)
# Open ``with setup/teardown:`` blocks: (task, the DAG's task ids when the block opened).
_scope_stack: list[tuple[Any, list[str]]] = []


def _to_timedelta(name: str, value: Any, task_id: str, *, allow_none: bool) -> dt.timedelta | None:
    if value is None and allow_none:
        return None
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.timedelta(seconds=value)
    raise AirflowException(f"{name} of task '{task_id}' must be a timedelta, got {value!r}")


# Arguments of Airflow's BaseOperator that we accept only at their default: what each would need.
UNSUPPORTED_OPERATOR_ARGS = {
    "sla": "Airflow 3 removed SLAs; use execution_timeout, the DAG's dagrun_timeout or a callback",
    "executor_config": "it configures Kubernetes and Celery executors, and RQ workers have none; "
    "use queue= to send the task to chosen workers",
    "run_as_user": "workers run every task as their own user",
    "resources": "RQ workers reserve no CPU or memory per task; use pool= and pool_slots=",
}


def _assets_of(name: str, value: Any, task_id: str) -> list:
    """A task's ``inlets``/``outlets`` as a list of assets and aliases (one may be given alone)."""
    if value is None:
        return []
    items = list(value) if isinstance(value, list | tuple | set) else [value]
    for item in items:
        if not isinstance(item, Asset | AssetAlias):
            raise AirflowException(
                f"Task '{task_id}': {name} take Asset or AssetAlias objects (lineage objects are not "
                f"supported), got {item!r}"
            )
    return items


def _refuse_unsupported(task_id: str, **given: Any) -> None:
    """Raise an import error naming the first option that is set although we cannot act on it."""
    for name, value in given.items():
        if value not in (None, {}, [], ()):
            raise AirflowException(
                f"Task '{task_id}': {name} is not supported ({UNSUPPORTED_OPERATOR_ARGS[name]}); remove it"
            )


@functools.cache
def _init_parameters(cls: type) -> frozenset[str]:
    """Return the names of every keyword ``__init__`` along the class chain accepts."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        init = getattr(init, "__wrapped__", init)
        for param in inspect.signature(init).parameters.values():
            if param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD) and param.name != "self":
                names.add(param.name)
    return frozenset(names)


def _check_required(required: frozenset[str], kwargs: dict[str, Any]) -> None:
    """Raise AirflowException naming the ``required`` arguments missing from ``kwargs``."""
    missing = sorted(required - kwargs.keys())
    if len(missing) == 1:
        raise AirflowException(f"missing keyword argument {missing[0]!r}")
    if missing:
        raise AirflowException(f"missing keyword arguments {', '.join(repr(a) for a in missing)}")


def _apply_defaults(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap an operator's ``__init__`` so ``default_args`` fill the arguments not passed.

    As Airflow's ``apply_defaults``, a required argument still missing after that raises an
    AirflowException naming it (``task_id`` excepted, Python's own error names it).
    """
    required = frozenset(
        p.name
        for p in inspect.signature(init).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.default is p.empty
        and p.name not in ("self", "task_id")
    )

    @functools.wraps(init)
    def wrapper(self: BaseOperator, *args: Any, **kwargs: Any) -> None:
        if getattr(self, "_init_in_progress", False):
            # A super().__init__() call inside the outermost __init__: defaults are applied already.
            _check_required(required, kwargs)
            init(self, *args, **kwargs)
            return
        if args:
            raise AirflowException(f"Use keyword arguments when initializing operators ({type(self).__name__})")
        object.__setattr__(self, "_init_in_progress", True)
        try:
            dag = kwargs.get("dag")
            if dag is None:
                dag = DagContext.get_current_dag()
            group = kwargs.get("task_group") or TaskGroupContext.get_current_task_group(dag)
            default_args: dict[str, Any] = dict(dag.default_args) if dag is not None else {}
            if group is not None:
                # A task group's default_args (merged over its parents') win over the DAG's.
                default_args.update(group.default_args)
            default_args.update(kwargs.pop("default_args", None) or {})
            accepted = _init_parameters(type(self))
            for key, value in default_args.items():
                if key in accepted and key not in kwargs:
                    kwargs[key] = value
            # Task params extend the DAG's params (Airflow merges both; the task wins).
            if "params" in default_args and "params" in kwargs and kwargs["params"] is not default_args["params"]:
                kwargs["params"] = {**default_args["params"], **kwargs["params"]}
            _check_required(required, kwargs)
            init(self, **kwargs)
            self._set_xcomargs_dependencies()
        finally:
            object.__setattr__(self, "_init_in_progress", False)

    return wrapper


class BaseOperator(DependencyMixin):
    """A task: subclass it and implement ``execute(context)``; its return value is pushed to XCom."""

    template_fields: Sequence[str] = ()
    template_ext: Sequence[str] = ()
    ui_color: str = "#fff"
    ui_fgcolor: str = "#000"
    # A MappedOperator (``partial(...).expand(...)``) says True.
    is_mapped: bool = False
    # Setup and teardown tasks (Airflow 2.7): ``as_setup()`` / ``as_teardown()``, ``@setup`` /
    # ``@teardown``.
    is_setup: bool = False
    is_teardown: bool = False
    on_failure_fail_dagrun: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _apply_defaults(cls.__init__)  # type: ignore[method-assign]

    def __init__(
        self,
        *,
        task_id: str,
        owner: str = DEFAULT_OWNER,
        email: str | Iterable[str] | None = None,
        email_on_retry: bool = True,
        email_on_failure: bool = True,
        retries: int | None = 0,
        retry_delay: dt.timedelta | float = DEFAULT_RETRY_DELAY,
        retry_exponential_backoff: bool = False,
        max_retry_delay: dt.timedelta | float | None = None,
        start_date: dt.datetime | None = None,
        end_date: dt.datetime | None = None,
        depends_on_past: bool = False,
        ignore_first_depends_on_past: bool = True,
        wait_for_downstream: bool = False,
        dag: DAG | None = None,
        params: dict[str, Any] | None = None,
        priority_weight: int = 1,
        weight_rule: str = "downstream",
        queue: str = DEFAULT_QUEUE,
        pool: str | None = None,
        pool_slots: int = 1,
        execution_timeout: dt.timedelta | None = None,
        on_execute_callback: Callable | None = None,
        on_failure_callback: Callable | None = None,
        on_success_callback: Callable | None = None,
        on_retry_callback: Callable | None = None,
        on_skipped_callback: Callable | None = None,
        trigger_rule: str = TriggerRule.ALL_SUCCESS,
        max_active_tis_per_dag: int | None = None,
        max_active_tis_per_dagrun: int | None = None,
        do_xcom_push: bool = True,
        multiple_outputs: bool = False,
        sla: dt.timedelta | None = None,
        executor_config: dict | None = None,
        run_as_user: str | None = None,
        resources: dict | None = None,
        inlets: Any = None,
        outlets: Any = None,
        doc: str | None = None,
        doc_md: str | None = None,
        doc_json: str | None = None,
        doc_yaml: str | None = None,
        doc_rst: str | None = None,
        task_display_name: str | None = None,
        map_index_template: str | None = None,
        task_group: TaskGroup | None = None,
        pre_execute: Callable[[dict[str, Any]], Any] | None = None,
        post_execute: Callable[[dict[str, Any], Any], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        validate_key("task_id", task_id)
        # Airflow's pre_execute=/post_execute= hooks, called with the methods of the same name.
        self._pre_execute_hook = pre_execute
        self._post_execute_hook = post_execute
        if dag is None:
            dag = DagContext.get_current_dag()
        if task_group is None:
            task_group = TaskGroupContext.get_current_task_group(dag)
        if dag is None and task_group is not None:
            dag = task_group.dag
        # In a group the id is prefixed with the group's ("etl.extract"), as in Airflow.
        self.task_id = task_group.child_id(task_id) if task_group is not None else task_id
        validate_key("task_id", self.task_id)
        self.task_group: TaskGroup | None = task_group
        if kwargs:
            raise AirflowException(
                f"Invalid arguments were passed to {type(self).__name__} (task_id: {task_id}). "
                f"Invalid arguments were: **kwargs: {kwargs}"
            )
        self.owner = owner
        self.email = [email] if isinstance(email, str) else list(email or [])
        self.email_on_retry = bool(email_on_retry)
        self.email_on_failure = bool(email_on_failure)
        self.retries = int(retries or 0)
        if self.retries < 0:
            raise AirflowException(f"retries of task '{task_id}' must be >= 0, got {retries!r}")
        self.retry_delay = _to_timedelta("retry_delay", retry_delay, task_id, allow_none=False)
        self.retry_exponential_backoff = bool(retry_exponential_backoff)
        self.max_retry_delay = _to_timedelta("max_retry_delay", max_retry_delay, task_id, allow_none=True)
        from dags_app.sdk.dag import to_utc

        self.start_date = to_utc(start_date, f"start_date of task '{task_id}'")
        self.end_date = to_utc(end_date, f"end_date of task '{task_id}'")
        # As in Airflow, waiting for the previous run's downstream tasks implies waiting for its own.
        self.depends_on_past = bool(depends_on_past or wait_for_downstream)
        self.ignore_first_depends_on_past = bool(ignore_first_depends_on_past)
        self.wait_for_downstream = bool(wait_for_downstream)
        self.params = dict(params or {})
        self.priority_weight = int(priority_weight)
        if weight_rule not in WEIGHT_RULES:
            raise AirflowException(
                f"The weight_rule must be one of {list(WEIGHT_RULES)}, '{task_id}'; received '{weight_rule}'."
            )
        self.weight_rule = weight_rule
        self.queue = queue
        self.pool = pool or DEFAULT_POOL
        self.pool_slots = int(pool_slots)
        if self.pool_slots < 1:
            raise AirflowException(f"pool slots for '{task_id}' in pool '{self.pool}' cannot be less than 1")
        self.execution_timeout = _to_timedelta("execution_timeout", execution_timeout, task_id, allow_none=True)
        self.on_execute_callback = validate_callbacks("on_execute_callback", on_execute_callback, task_id)
        self.on_failure_callback = validate_callbacks("on_failure_callback", on_failure_callback, task_id)
        self.on_success_callback = validate_callbacks("on_success_callback", on_success_callback, task_id)
        self.on_retry_callback = validate_callbacks("on_retry_callback", on_retry_callback, task_id)
        self.on_skipped_callback = validate_callbacks("on_skipped_callback", on_skipped_callback, task_id)
        self.trigger_rule = self._check_trigger_rule(trigger_rule, dag)
        self.max_active_tis_per_dag = max_active_tis_per_dag
        self.max_active_tis_per_dagrun = max_active_tis_per_dagrun
        self.do_xcom_push = do_xcom_push
        self.multiple_outputs = multiple_outputs
        _refuse_unsupported(
            task_id,
            sla=sla,
            executor_config=executor_config,
            run_as_user=run_as_user,
            resources=resources,
        )
        self.sla = None
        self.executor_config: dict = {}
        self.run_as_user = None
        self.resources = None
        self.inlets: list = _assets_of("inlets", inlets, task_id)
        self.outlets: list = _assets_of("outlets", outlets, task_id)
        self.doc = doc
        self.doc_md = doc_md
        self.doc_json = doc_json
        self.doc_yaml = doc_yaml
        self.doc_rst = doc_rst
        self.task_display_name = task_display_name or None
        # A mapped instance's name in the UI, rendered with its context when it ends (Airflow 2.9).
        self.map_index_template = map_index_template or None
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        self._dag: DAG | None = None
        if dag is not None:
            self.dag = dag

    def _check_trigger_rule(self, trigger_rule: Any, dag: DAG | None) -> TriggerRule:
        if isinstance(trigger_rule, TriggerRule):
            return trigger_rule
        if not TriggerRule.is_valid(trigger_rule):
            if dag is None:
                dag = DagContext.get_current_dag()
            where = f"{dag.dag_id}.{self.task_id}" if dag is not None else self.task_id
            raise AirflowException(
                f"The trigger_rule must be one of {sorted(TriggerRule.all_triggers())}, "
                f"'{where}'; received '{trigger_rule}'."
            )
        return TriggerRule(trigger_rule)

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """Start a mapped task: the arguments every instance shares; ``.expand(...)`` or
        ``.expand_kwargs(...)`` then names what to map over."""
        from dags_app.sdk.mappedoperator import OperatorPartial

        return OperatorPartial(cls, kwargs)

    # -- setup and teardown -------------------------------------------------------------------

    def as_setup(self) -> BaseOperator:
        """Mark this task as a setup task: clearing a task also clears its setups."""
        if self.is_teardown:
            raise AirflowException(f"Task '{self.task_id}' cannot be both a setup and a teardown")
        self.is_setup = True
        return self

    def as_teardown(self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> BaseOperator:
        """Mark this task as a teardown: it runs once its upstream tasks are done if one of its
        setups succeeded (``all_done_setup_success``), and does not count for the run's state
        unless ``on_failure_fail_dagrun``. ``setups`` become setup tasks upstream of it."""
        if self.is_setup:
            raise AirflowException(f"Task '{self.task_id}' cannot be both a setup and a teardown")
        self.is_teardown = True
        self.trigger_rule = TriggerRule.ALL_DONE_SETUP_SUCCESS
        if on_failure_fail_dagrun is not None:
            self.on_failure_fail_dagrun = bool(on_failure_fail_dagrun)
        if setups is not None:
            for setup in _flatten_tasks(setups, group_side="leaves"):
                setup.as_setup()
                setup.set_downstream(self)
        return self

    def __enter__(self) -> BaseOperator:
        """``with teardown_task:`` (or ``with setup >> teardown:``, ``with setup_task:``): the tasks
        made in the block run after the setups and before the teardown (Airflow 2.7)."""
        if not (self.is_setup or self.is_teardown):
            raise AirflowException(
                f"Task '{self.task_id}': only a setup or teardown task can be used as a context manager"
            )
        _scope_stack.append((self, list(self.dag.task_dict)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        _, before = _scope_stack.pop()
        known = set(before)
        new = [t for tid, t in self.dag.task_dict.items() if tid not in known and t is not self]
        if self.is_teardown:
            setups = [self.dag.task_dict[u] for u in sorted(self.upstream_task_ids) if self.dag.task_dict[u].is_setup]
            teardown: BaseOperator | None = self
        else:
            setups, teardown = [self], None
        new = [t for t in new if t not in setups]
        ids = {t.task_id for t in new}
        for t in new:
            if t.upstream_task_ids.isdisjoint(ids):
                for setup in setups:
                    setup.set_downstream(t)
            if teardown is not None and t.downstream_task_ids.isdisjoint(ids):
                t.set_downstream(teardown)

    # -- the DAG this task belongs to ---------------------------------------------------------

    @property
    def dag(self) -> DAG:
        if self._dag is None:
            raise AirflowException(f"Operator {self.task_id} has not been assigned to a DAG yet")
        return self._dag

    @dag.setter
    def dag(self, dag: DAG) -> None:
        if self._dag is dag:
            return
        if self._dag is not None:
            raise AirflowException(f"The DAG assigned to {self} can not be changed.")
        dag.add_task(self)
        self._dag = dag

    @property
    def has_dag(self) -> bool:
        return self._dag is not None

    @property
    def dag_id(self) -> str:
        return self._dag.dag_id if self._dag is not None else f"adhoc_{self.owner}"

    @property
    def label(self) -> str:
        """What the Graph and Grid show: ``task_display_name``, else the task id without its
        group's prefix."""
        if self.task_display_name:
            return self.task_display_name
        group = self.task_group
        if group is not None and group.prefix_group_id and group.group_id:
            prefix = group.group_id + "."
            if self.task_id.startswith(prefix):
                return self.task_id[len(prefix) :]
        return self.task_id

    @property
    def operator_name(self) -> str:
        """Return the name the UI shows: the class name, or e.g. ``@task`` for TaskFlow tasks."""
        return getattr(self, "custom_operator_name", None) or type(self).__name__

    @property
    def output(self) -> XComArg:
        """The task's return value as an ``XComArg``, to pass into other tasks' arguments."""
        from dags_app.sdk.xcom_arg import XComArg

        return XComArg(self)

    # -- dependencies ---------------------------------------------------------------------------

    @property
    def upstream_list(self) -> list[BaseOperator]:
        return [self.dag.get_task(tid) for tid in sorted(self.upstream_task_ids)]

    @property
    def downstream_list(self) -> list[BaseOperator]:
        return [self.dag.get_task(tid) for tid in sorted(self.downstream_task_ids)]

    def get_direct_relative_ids(self, upstream: bool = False) -> set[str]:
        return set(self.upstream_task_ids if upstream else self.downstream_task_ids)

    def get_flat_relative_ids(self, upstream: bool = False) -> set[str]:
        """Return the ids of every task reachable upstream (or downstream) of this one."""
        found: set[str] = set()
        stack = list(self.get_direct_relative_ids(upstream))
        while stack:
            task_id = stack.pop()
            if task_id in found:
                continue
            found.add(task_id)
            stack.extend(self.dag.get_task(task_id).get_direct_relative_ids(upstream))
        return found

    def get_flat_relatives(self, upstream: bool = False) -> list[BaseOperator]:
        return [self.dag.get_task(tid) for tid in sorted(self.get_flat_relative_ids(upstream))]

    def _set_relatives(self, others: Any, upstream: bool) -> None:
        # A group upstream of this task stands for its leaves; downstream, for its roots.
        tasks = _flatten_tasks(others, group_side="leaves" if upstream else "roots")
        dags = {id(t._dag): t._dag for t in [self, *tasks] if t._dag is not None}
        if len(dags) > 1:
            names = sorted({d.dag_id for d in dags.values()})
            raise AirflowException(f"Tried to set relationships between tasks in more than one DAG: {names}")
        if not dags:
            raise AirflowException(
                "Tried to create relationships between tasks that don't have DAGs yet. "
                f"Set the DAG for at least one task and try again: {[self, *tasks]}"
            )
        dag = next(iter(dags.values()))
        for task in [self, *tasks]:
            if task._dag is None:
                task.dag = dag
        for task in tasks:
            if upstream:
                task.downstream_task_ids.add(self.task_id)
                self.upstream_task_ids.add(task.task_id)
            else:
                self.downstream_task_ids.add(task.task_id)
                task.upstream_task_ids.add(self.task_id)

    def set_downstream(self, others: Any) -> None:
        self._set_relatives(others, upstream=False)

    def set_upstream(self, others: Any) -> None:
        self._set_relatives(others, upstream=True)

    # -- priority -----------------------------------------------------------------------------------

    @property
    def priority_weight_total(self) -> int:
        """Return the effective priority: own weight plus, by ``weight_rule``, relatives' weights."""
        if self.weight_rule == "absolute" or self._dag is None:
            return self.priority_weight
        upstream = self.weight_rule == "upstream"
        return self.priority_weight + sum(
            self.dag.get_task(tid).priority_weight for tid in self.get_flat_relative_ids(upstream)
        )

    # -- execution ------------------------------------------------------------------------------------

    def execute(self, context: dict[str, Any]) -> Any:
        """Do the task's work; the return value is pushed to XCom as ``return_value``."""
        raise NotImplementedError(f"{type(self).__name__} must implement execute()")

    def pre_execute(self, context: dict[str, Any]) -> None:
        """Run just before ``execute``: the ``pre_execute=`` hook; subclasses may add to it."""
        if self._pre_execute_hook is not None:
            self._pre_execute_hook(context)

    def post_execute(self, context: dict[str, Any], result: Any = None) -> None:
        """Run just after ``execute``: the ``post_execute=`` hook; subclasses may add to it."""
        if self._post_execute_hook is not None:
            self._post_execute_hook(context, result)

    def _set_xcomargs_dependencies(self) -> None:
        """An upstream's XCom in a templated field (``bash_command=extract.output``) makes that
        upstream run first, as Airflow's ``set_xcomargs_dependencies``."""
        from dags_app.sdk.xcom_arg import find_xcom_args

        for field in self.template_fields:
            for arg in find_xcom_args(getattr(self, field, None)):
                if arg.operator is not self:
                    self.set_upstream(arg.operator)

    def render_template_fields(self, context: dict[str, Any], jinja_env: Any = None) -> None:
        """Render every field named in ``template_fields`` in place, with Jinja and ``context``."""
        from dags_app.sdk.templating import render_value

        env = jinja_env or self.dag.get_template_env()
        for field in self.template_fields:
            value = getattr(self, field)
            if value:
                setattr(self, field, render_value(value, context, env, self.template_ext))

    def render_template(self, content: Any, context: dict[str, Any], jinja_env: Any = None) -> Any:
        """Render ``content`` (a template string, or a list/dict of them) with ``context``, as the
        task's templated fields are (Airflow's ``render_template``)."""
        from dags_app.sdk.templating import render_value

        return render_value(content, context, jinja_env or self.dag.get_template_env(), self.template_ext)

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"


# Subclasses get their __init__ wrapped by __init_subclass__; the base class's own is wrapped here.
BaseOperator.__init__ = _apply_defaults(BaseOperator.__init__)  # type: ignore[method-assign]


def _flatten_tasks(others: Any, group_side: str = "roots") -> list[BaseOperator]:
    """Return the operators in ``others``: an operator, an XComArg, a task group (its roots or its
    leaves, by ``group_side``), or a list/tuple/set of them."""
    from dags_app.sdk.xcom_arg import XComArg

    if isinstance(others, BaseOperator):
        return [others]
    if isinstance(others, XComArg):
        return [others.operator]
    if isinstance(others, TaskGroup):
        return others.get_leaves() if group_side == "leaves" else others.get_roots()
    if isinstance(others, list | tuple | set):
        flat: list[BaseOperator] = []
        for item in others:
            flat.extend(_flatten_tasks(item, group_side))
        return flat
    raise AirflowException(f"Relationships can only be set between operators; received {type(others).__name__}")


def chain(*tasks: Any) -> None:
    """Chain tasks, task groups or XComArgs (or lists of them) left to right, as Airflow's ``chain``.

    A list next to a single element links each of its members; two adjacent lists must be of the
    same length and are linked pairwise. Raises AirflowException otherwise.
    """
    for up, down in itertools.pairwise(tasks):
        up_is_list = isinstance(up, list | tuple)
        down_is_list = isinstance(down, list | tuple)
        if not up_is_list and not down_is_list:
            _as_node(up).set_downstream(_as_node(down))
        elif up_is_list and not down_is_list:
            _as_node(down).set_upstream(list(up))
        elif not up_is_list and down_is_list:
            _as_node(up).set_downstream(list(down))
        else:
            if len(up) != len(down):
                raise AirflowException(
                    f"Chain not supported for different length Iterable. Got {len(up)} and {len(down)}."
                )
            for a, b in zip(up, down, strict=True):
                _as_node(a).set_downstream(_as_node(b))


def chain_linear(*elements: Any) -> None:
    """Make every task of each element upstream of every task of the next (Airflow 2.7's
    ``chain_linear``): ``chain_linear(a, [b, c], [d, e])`` gives a >> b, a >> c, then each of b
    and c >> each of d and e. Raises AirflowException with fewer than two elements."""
    if len(elements) < 2:
        raise AirflowException("Chain linear must have at least two elements")
    for up, down in itertools.pairwise(elements):
        ups = list(up) if isinstance(up, list | tuple | set) else [up]
        downs = list(down) if isinstance(down, list | tuple | set) else [down]
        for a in ups:
            for b in downs:
                _as_node(a).set_downstream(_as_node(b))


def cross_downstream(from_tasks: Sequence[Any], to_tasks: Any) -> None:
    """Make every task of ``to_tasks`` downstream of every task of ``from_tasks``."""
    for task in from_tasks:
        _as_node(task).set_downstream(to_tasks)


def _as_node(value: Any) -> Any:
    """Return ``value`` if dependencies can be set on it (a task, a task group, an XComArg)."""
    from dags_app.sdk.xcom_arg import XComArg

    if isinstance(value, BaseOperator | TaskGroup | XComArg):
        return value
    raise AirflowException(f"Expected a task, a task group or an XComArg, got {value!r}")

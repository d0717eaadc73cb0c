"""Serialize a DAG to JSON for the metastore: what the web, the CLI and the scheduler read.

The web process never imports DAG files; everything it shows about a DAG comes from this dict.
Values that are not JSON (callables, XComArgs, custom objects) are stored as their readable
form, so the UI can show them without executing anything.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dags_app.sdk.assets import Asset, AssetAlias
from dags_app.sdk.baseoperator import BaseOperator
from dags_app.sdk.callbacks import DAG_CALLBACKS, TASK_CALLBACKS, defined_callbacks
from dags_app.sdk.dag import DAG
from dags_app.sdk.param import Param
from dags_app.sdk.task_group import TaskGroup, mapped_group_of
from dags_app.sdk.xcom_arg import DagParam, MappedArgument, XComArg

SERIALIZATION_VERSION = 1


def json_safe(value: Any) -> Any:
    """Return a JSON-compatible copy of ``value`` (readable strings for anything else)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, XComArg):
        return {"__xcomarg__": value.serialize()}
    if isinstance(value, DagParam):
        return {"__dagparam__": value.name}
    if isinstance(value, MappedArgument):
        return {"__mapped_argument__": value.name}
    if isinstance(value, Param):
        return json_safe(value.value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((json_safe(v) for v in value), key=repr)
    if callable(value):
        return f"<callable {getattr(value, '__qualname__', repr(value))}>"
    return repr(value)


def _seconds(value: dt.timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def _callable_name(task: BaseOperator) -> str | None:
    """Return where the task's callable is defined ("name (line N)"); the Code view shows its source.

    Not the source itself: ``inspect.getsource`` tokenizes the whole file per call, which made
    parsing large folders several times slower.
    """
    func = getattr(task, "python_callable", None)
    if func is None:
        return None
    code = getattr(func, "__code__", None)
    name = getattr(func, "__qualname__", None) or repr(func)
    return f"{name} (line {code.co_firstlineno})" if code is not None else name


def _task_doc(task: BaseOperator) -> str | None:
    """The task's documentation as Markdown: ``doc_md``, else ``doc``, else ``doc_rst``,
    ``doc_yaml`` or ``doc_json`` as a code block (Airflow shows each in the task's details)."""
    if task.doc_md or task.doc:
        return task.doc_md or task.doc
    for attr, lang in (("doc_rst", "rst"), ("doc_yaml", "yaml"), ("doc_json", "json")):
        value = getattr(task, attr, None)
        if value:
            return f"```{lang}\n{value}\n```"
    return None


def _template_values(task: BaseOperator) -> dict[str, Any]:
    values = {field: json_safe(getattr(task, field, None)) for field in task.template_fields}
    if task.is_mapped and task.expand_input.kind == "dict" and not task.expand_into:
        # A mapped field shows what it maps over (each instance renders its own value).
        values.update({k: json_safe(v) for k, v in task.expand_input.value.items() if k in values})
    return values


def serialize_task(task: BaseOperator) -> dict[str, Any]:
    """Return the JSON form of one task."""
    operator_class = task.operator_class if task.is_mapped else type(task)
    group = mapped_group_of(task)
    expand_input = task.expand_input if task.is_mapped else group.expand_input if group is not None else None
    return {
        "task_id": task.task_id,
        "label": task.label,
        "task_group": task.task_group.group_id if task.task_group is not None else None,
        "operator": task.operator_name,
        "operator_class": f"{operator_class.__module__}.{operator_class.__qualname__}",
        # Dynamic task mapping: what the instances are made from (the scheduler counts it).
        "is_mapped": expand_input is not None,
        "expand_input": expand_input.serialize() if expand_input is not None else None,
        # In a mapped task group: instance i waits for instance i of its upstream tasks in the group.
        "mapped_group": group.group_id if group is not None else None,
        "is_setup": task.is_setup,
        "is_teardown": task.is_teardown,
        "on_failure_fail_dagrun": task.on_failure_fail_dagrun,
        # The upstream tasks that are setups (a teardown's all_done_setup_success reads them).
        "setup_upstream": sorted(u for u in task.upstream_task_ids if task.dag.task_dict[u].is_setup),
        "map_index_template": task.map_index_template,
        "upstream_task_ids": sorted(task.upstream_task_ids),
        "downstream_task_ids": sorted(task.downstream_task_ids),
        "trigger_rule": task.trigger_rule.value,
        "owner": task.owner,
        "retries": task.retries,
        "retry_delay": _seconds(task.retry_delay),
        "retry_exponential_backoff": task.retry_exponential_backoff,
        "max_retry_delay": _seconds(task.max_retry_delay),
        "execution_timeout": _seconds(task.execution_timeout),
        "queue": task.queue,
        "pool": task.pool,
        "pool_slots": task.pool_slots,
        "priority_weight": task.priority_weight,
        "weight_rule": task.weight_rule,
        "priority_weight_total": task.priority_weight_total,
        "depends_on_past": task.depends_on_past,
        "ignore_first_depends_on_past": task.ignore_first_depends_on_past,
        "wait_for_downstream": task.wait_for_downstream,
        "max_active_tis_per_dag": task.max_active_tis_per_dag,
        "max_active_tis_per_dagrun": task.max_active_tis_per_dagrun,
        "do_xcom_push": task.do_xcom_push,
        "multiple_outputs": task.multiple_outputs,
        "start_date": json_safe(task.start_date),
        "end_date": json_safe(task.end_date),
        "params": json_safe(task.params),
        "doc_md": _task_doc(task),
        "task_display_name": task.task_display_name,
        "email": list(task.email),
        "email_on_failure": task.email_on_failure,
        "email_on_retry": task.email_on_retry,
        "ui_color": task.ui_color,
        "ui_fgcolor": task.ui_fgcolor,
        "template_fields": list(task.template_fields),
        "template_ext": list(task.template_ext),
        "template_values": _template_values(task),
        "python_callable": _callable_name(task),
        # Which callbacks the DAG file defines: the worker starts a callback child only for these.
        "callbacks": defined_callbacks(task, TASK_CALLBACKS),
        # The assets a successful try updates, and the ones it reads.
        "outlets": [_asset_ref(a) for a in task.outlets],
        "inlets": [_asset_ref(a) for a in task.inlets],
    }


def _asset_ref(value: Asset | AssetAlias) -> dict[str, Any]:
    if isinstance(value, AssetAlias):
        return {"alias": value.name, "group": value.group}
    return json_safe(value.as_ref())


def serialize_dag(dag: DAG) -> dict[str, Any]:
    """Return the JSON form of ``dag``, its tasks in topological order.

    Raises AirflowDagCycleException if the DAG has a cycle.
    """
    return {
        "version": SERIALIZATION_VERSION,
        "dag_id": dag.dag_id,
        "fileloc": dag.fileloc,
        "description": dag.description,
        "doc_md": dag.doc_md,
        "owner": dag.owner,
        "schedule": dag.timetable.summary,
        "timetable": dag.timetable.serialize(),
        "timetable_summary": dag.timetable.summary,
        "timetable_description": dag.timetable.description,
        # schedule=<assets>: the condition on asset events that triggers a run (None otherwise).
        "asset_condition": dag.asset_condition.as_condition() if dag.asset_condition is not None else None,
        "schedule_assets": [_asset_ref(a) for a in dag.asset_condition.iter_assets()] if dag.asset_condition else [],
        "timezone": dag.timezone,
        "start_date": json_safe(dag.start_date),
        "end_date": json_safe(dag.end_date),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "max_active_tasks": dag.max_active_tasks,
        "dagrun_timeout": _seconds(dag.dagrun_timeout),
        "tags": list(dag.tags),
        "params": json_safe(dag.params),
        # The trigger form and the trigger's check: each param's default, description and schema.
        "param_specs": {
            str(key): json_safe(value.dump() if isinstance(value, Param) else {"default": value, "schema": {}})
            for key, value in dag.params.items()
        },
        "default_args": json_safe({k: v for k, v in dag.default_args.items() if k != "params"}),
        "is_paused_upon_creation": dag.is_paused_upon_creation,
        "render_template_as_native_obj": dag.render_template_as_native_obj,
        "template_searchpath": list(dag.template_searchpath),
        "default_view": dag.default_view,
        "orientation": dag.orientation,
        "dag_display_name": dag.dag_display_name,
        "owner_links": dict(dag.owner_links),
        "fail_stop": dag.fail_stop,
        "access_control": dag.access_control,
        # The DAG callbacks the file defines: a finished run asks a worker to call them.
        "callbacks": defined_callbacks(dag, DAG_CALLBACKS),
        "task_groups": [serialize_task_group(group) for group in dag.task_group_dict.values()],
        "edge_info": {up: dict(downs) for up, downs in dag.edge_info.items()},
        "tasks": [serialize_task(task) for task in dag.topological_sort()],
    }


def serialize_task_group(group: TaskGroup) -> dict[str, Any]:
    """Return the JSON form of one task group (not the root); its tasks name it in ``task_group``."""
    parent = group.parent_group
    return {
        "group_id": group.group_id,
        "label": group.label,
        "parent_group_id": parent.group_id if parent is not None else None,
        "prefix_group_id": group.prefix_group_id,
        "is_mapped": hasattr(group, "expand_input"),
        "tooltip": group.tooltip,
        "ui_color": group.ui_color,
        "ui_fgcolor": group.ui_fgcolor,
    }

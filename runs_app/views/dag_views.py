"""Per-DAG execution views: grid, graph, run and task instance pages, task logs.

Every page reads the DAG from its serialized form (never its file) and runs a fixed number of
queries whatever the number of runs or tasks. Grid and Graph refresh the states of unfinished
runs in place: the grid fragment is polled by htmx, the graph's node colours by a small fetch
loop in ``static/js/orchestrator.js`` reading ``graph_states``. The task log viewer appends what
the running try wrote since the last poll (``?offset=`` in bytes).
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import logging
from collections.abc import Iterator
from typing import Any

import graphviz
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header, urlencode
from django.utils.safestring import mark_safe

from dags_app.graph import STATE_COLORS, dag_to_graph
from dags_app.models import DagModel, DagVersion
from dags_app.task_groups import GROUP_STATE_PRIORITY, GroupNode, group_state, group_tree, members
from orchestrator_site.access import get_dag
from runs_app import selectors
from runs_app.deps import count_upstream, evaluate_trigger_rule, needs_past, past_reason
from runs_app.forms import GridFilterForm
from runs_app.logview import failure_excerpt, render_lines
from runs_app.masking import PageMasker
from runs_app.models import DagRun, TaskInstance
from runs_app.scheduling import Capacity, previous_run_states
from runs_app.states import (
    DAG_RUN_UNFINISHED,
    TI_FINISHED,
    DagRunState,
    DagRunType,
    TaskInstanceState,
    TaskStates,
)
from runs_app.views.common import (
    dag_page_context,
    get_run,
    get_task_instance,
    map_index_param,
    safe_next,
    selected_run,
)

log = logging.getLogger(__name__)

GRID_RUNS = 25
# Task instance states in which the panel explains why the task is not running yet.
WAITING_STATES = frozenset(
    {
        TaskInstanceState.NONE,
        TaskInstanceState.SCHEDULED,
        TaskInstanceState.QUEUED,
        TaskInstanceState.UP_FOR_RETRY,
        TaskInstanceState.UP_FOR_RESCHEDULE,
    }
)
# States in which a try may still write to its log.
LIVE_LOG_STATES = frozenset({TaskInstanceState.QUEUED, TaskInstanceState.RUNNING})
# The log viewer reads at most this much per page or poll (the tail of a larger file).
LOG_CHUNK_BYTES = 1024 * 1024
# XCom and rendered values longer than this are cut in the panel (the browse page has them whole).
VALUE_DISPLAY_CHARS = 20_000


# -- helpers ---------------------------------------------------------------------------------------


def _query(**params: Any) -> str:
    """Return ``?a=b&...`` for the non-empty ``params`` (values URL-encoded), or ``""``."""
    params = {k: v for k, v in params.items() if v not in (None, "")}
    return f"?{urlencode(params)}" if params else ""


def _elapsed(start: dt.datetime | None, end: dt.datetime | None, now: dt.datetime) -> dt.timedelta | None:
    """Return ``end - start``, or the time since ``start`` while unfinished."""
    if start is None:
        return None
    return (end or now) - start


def _pretty(value: Any) -> str:
    """Return ``value`` as readable text: strings as they are, anything else as indented JSON."""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if len(text) > VALUE_DISPLAY_CHARS:
        text = text[:VALUE_DISPLAY_CHARS] + f"\n... ({len(text) - VALUE_DISPLAY_CHARS} more characters)"
    return text


def _task_order(dag: DagModel) -> dict[str, int]:
    """Return {task id: position} in the DAG's topological order (serialized order)."""
    return {task_id: i for i, task_id in enumerate(dag.task_ids)}


def _maps_over(task: dict) -> str:
    """What a serialized mapped task maps over, in words."""
    expand = task.get("expand_input") or {}
    sources = expand.get("keys", {}) if expand.get("kind") == "dict" else {"expand_kwargs": expand.get("source", {})}
    parts = []
    for name, source in sources.items():
        if "length" in source:
            parts.append(f"{name}: {source['length']} values")
        else:
            parts.append(f"{name}: the XCom {source.get('key')} of {source.get('task_id')}")
    return "maps over " + "; ".join(parts)


def waiting_reasons(
    *, ti: TaskInstance, run: DagRun, dag: DagModel, task: dict | None, states: dict[str, str]
) -> list[str]:
    """Return why a waiting task instance is not running, as sentences (empty when it is not waiting)."""
    return [reason for _name, reason in waiting_dependencies(ti=ti, run=run, dag=dag, task=task, states=states)]


class _Reasons(list):
    """``(dependency name, sentence)`` pairs; ``append`` files a sentence under the current name."""

    name = "Task Instance State"

    def append(self, reason: str) -> None:  # type: ignore[override]
        super().append((self.name, reason))

    def under(self, name: str) -> _Reasons:
        self.name = name
        return self


def waiting_dependencies(
    *, ti: TaskInstance, run: DagRun, dag: DagModel, task: dict | None, states: dict[str, str]
) -> list[tuple[str, str]]:
    """Return why a waiting task instance is not running: (the dependency, as Airflow names its
    deps, and a sentence) pairs; empty when it is not waiting. The UI's task panel shows the
    sentences, the REST API's ``dependencies`` both.

    Uses the trigger-rule evaluation the scheduler uses (``runs_app.deps``), over ``states`` of
    the run's task instances.
    """
    if ti.state not in WAITING_STATES:
        return []
    if task is None:
        return [("Task Instance State", f"The task {ti.task_id} is no longer defined in the DAG.")]
    reasons = _Reasons()
    if dag.is_paused and run.run_type != DagRunType.BACKFILL:
        reasons.under("Dag Not Paused").append("The DAG is paused: unpause it so the scheduler runs its tasks.")
    if run.state == DagRunState.QUEUED:
        reasons.under("Dagrun Running").append(
            f"The DAG run is queued: it starts when the DAG is active and fewer than "
            f"max_active_runs ({dag.max_active_runs}) runs are running."
        )
    elif run.is_finished:
        reasons.under("Dagrun Running").append(f"The DAG run is {run.state}: clear this task to run it again.")
    if ti.state == TaskInstanceState.UP_FOR_RETRY:
        when = timezone.localtime(ti.next_retry_at).strftime("%Y-%m-%d %H:%M:%S") if ti.next_retry_at else "now"
        reasons.under("Not In Retry Period").append(f"Try {ti.try_number} failed; the next try is queued after {when}.")
        return list(reasons)
    if ti.state == TaskInstanceState.UP_FOR_RESCHEDULE:
        when = timezone.localtime(ti.next_retry_at).strftime("%Y-%m-%d %H:%M:%S") if ti.next_retry_at else "now"
        reasons.under("Ready To Reschedule").append(
            f"The sensor's condition was not met at poke {ti.reschedule_count}; "
            f"it is rescheduled to poke again at {when} (its worker slot is free meanwhile)."
        )
        return list(reasons)
    if ti.state == TaskInstanceState.QUEUED:
        reasons.under("Task Instance State").append(
            f"The task is queued on queue '{ti.queue}': waiting for a worker to pick it up."
        )
        return list(reasons)
    status = evaluate_trigger_rule(
        task["trigger_rule"], count_upstream(task["upstream_task_ids"], states, task.get("setup_upstream", ()))
    )
    past = past_reason(task, previous_run_states(run, [task])) if needs_past(task) else None
    mapped = getattr(states, "mapped", {})
    for upstream in task["upstream_task_ids"]:
        if upstream in mapped:
            done = sum(1 for s in mapped[upstream].values() if s in TI_FINISHED)
            if done < len(mapped[upstream]):
                reasons.under("Mapped Task Upstream").append(
                    f"It waits for the mapped task {upstream}: {done} of {len(mapped[upstream])} instances done."
                )
    if not status.ready:
        reasons.under("Trigger Rule").append(status.reason)
        if task.get("is_mapped") and ti.map_index < 0:
            reasons.under("Mapped Task Expansion").append(
                f"It is a mapped task: its instances are made once its upstream tasks are done ({_maps_over(task)})."
            )
    elif past:
        reasons.under("Previous Dagrun State").append(past)
    elif ti.state == TaskInstanceState.SCHEDULED:
        # The scheduler's own slot accounting names the limit that holds it (pool, per-DAG,
        # per-task or per-run limits).
        waiting = Capacity.load().take(ti=ti, dag=dag, task=task)
        reasons.under("Pool Slots Available").append(
            f"Its dependencies are met; it waits for a free slot: {waiting}."
            if waiting
            else "Its dependencies are met and a slot is free; the scheduler queues it at its next pass."
        )
    else:
        reasons.under("Task Instance State").append(
            "Its dependencies are met; the scheduler queues it at its next pass."
        )
    return list(reasons)


def _rendered_fields(ti: TaskInstance, task: dict | None, mask: PageMasker) -> tuple[list[tuple[str, str]], bool]:
    """Return ([(field, text)], rendered?): the try's rendered values, else the templates as written."""
    if ti.rendered_fields:
        return [(name, _pretty(mask.value(value))) for name, value in ti.rendered_fields.items()], True
    values = (task or {}).get("template_values") or {}
    dag_id = ti.dag_run.dag.dag_id
    return [(name, _pretty(_as_written(value, dag_id))) for name, value in values.items()], False


def _as_written(value: Any, dag_id: str) -> Any:
    """A template value as its DAG file wrote it: the serializer's markers for a TaskFlow
    argument become what Airflow shows, the Jinja that pulls the value (``str(XComArg)``),
    ``{{ params.name }}`` for a ``@dag`` parameter and the mapped group argument's name."""
    if isinstance(value, dict):
        if len(value) == 1:
            (marker, inner), *_ = value.items()
            if marker == "__xcomarg__" and isinstance(inner, dict):
                return (
                    f"{{{{ task_instance.xcom_pull(task_ids='{inner.get('task_id')}', "
                    f"dag_id='{dag_id}', key='{inner.get('key')}') }}}}"
                )
            if marker == "__dagparam__":
                return f"{{{{ params.{inner} }}}}"
            if marker == "__mapped_argument__":
                return f"<mapped argument {inner}>"
        return {k: _as_written(v, dag_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_written(v, dag_id) for v in value]
    return value


def _count_states(tis: list[TaskInstance]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for ti in tis:
        counts[ti.state] = counts.get(ti.state, 0) + 1
    return sorted(counts.items())


def task_panel_context(
    request: HttpRequest, ti: TaskInstance, *, next_url: str, states: dict[str, str] | None = None
) -> dict[str, Any]:
    """Return the context of ``partials/task_panel.html`` for ``ti`` (three queries at most).

    ``states`` ({task id: state} of the run) saves a query when the caller has them.
    """
    run = ti.dag_run
    dag = run.dag
    task = dag.get_task(ti.task_id)
    now = timezone.now()
    if states is None and ti.state in WAITING_STATES:
        states = TaskStates.from_rows(run.task_instances.values_list("task_id", "map_index", "state"))
    mask = PageMasker()
    rendered, is_rendered = _rendered_fields(ti, task, mask)
    xcoms = [(x.key, _pretty(mask.value(x.value))) for x in ti.xcoms.order_by("key").only("key", "value")]
    mapped = []
    if (task or {}).get("is_mapped"):
        # Every instance of the mapped task in this run: state, try, duration, link (one query).
        mapped = list(
            run.task_instances.filter(task_id=ti.task_id)
            .order_by("map_index")
            .only("map_index", "rendered_map_index", "state", "try_number", "duration", "task_id", "dag_run_id")
        )
    failure = ""
    if ti.state in (TaskInstanceState.FAILED, TaskInstanceState.UP_FOR_RETRY) and ti.try_number:
        # The end of the log is enough to find why: 64 KB, not the page's 1 MB.
        failure = mask.text(failure_excerpt(_read_log(ti, ti.try_number, None, limit=64 * 1024)["text"]))
    fragment = reverse("runs:task-log-fragment", args=[dag.dag_id, run.run_id, ti.task_id])
    map_query = {"map_index": ti.map_index} if ti.map_index >= 0 else {}
    return {
        "ti": ti,
        "run": run,
        "task": task or {},
        "task_missing": task is None,
        "failure": failure,
        "log_urls": [
            (n, fragment + _query(**{"try": n, "embedded": 1, **map_query})) for n in range(ti.try_number, 0, -1)
        ],
        "ti_duration": ti.duration if ti.duration is not None else _elapsed(ti.start_date, ti.end_date, now),
        "reasons": waiting_reasons(ti=ti, run=run, dag=dag, task=task, states=states or {}),
        "rendered": rendered,
        "is_rendered": is_rendered,
        "xcoms": xcoms,
        "tries": range(ti.try_number, 0, -1),
        "mapped_instances": mapped,
        "mapped_counts": _count_states(mapped),
        "next_url": next_url,
        "upstream_ids": (task or {}).get("upstream_task_ids", []),
        "downstream_ids": (task or {}).get("downstream_task_ids", []),
    }


# -- grid ------------------------------------------------------------------------------------------


def _grid_rows(serialized: dict[str, Any], runs: list[DagRun], tis_by_run: dict[int, dict]) -> list[dict[str, Any]]:
    """Return the grid's rows: tasks in the DAG's order, each task group as a foldable row above
    its tasks (its cells show the group's state per run, as Airflow's grid does)."""
    rows: list[dict[str, Any]] = []

    def walk(node: GroupNode, depth: int, parents: list[str]) -> None:
        for child in node.children:
            if isinstance(child, GroupNode):
                task_ids = [t["task_id"] for t in child.tasks()]
                cells = []
                for run in runs:
                    tis = [ti for tid in task_ids if (ti := tis_by_run.get(run.pk, {}).get(tid)) is not None]
                    state = group_state(ti.state for ti in tis) if tis else None
                    done = sum(1 for ti in tis if ti.state in TI_FINISHED)
                    cells.append((run, {"state": state, "total": len(task_ids), "done": done} if tis else None))
                rows.append(
                    {
                        "group": child.group,
                        "depth": depth,
                        "parents": " ".join(parents),
                        "cells": cells,
                        "size": len(task_ids),
                    }
                )
                walk(child, depth + 1, [*parents, child.group_id])
            else:
                cells = [(run, tis_by_run.get(run.pk, {}).get(child["task_id"])) for run in runs]
                rows.append({"task": child, "depth": depth, "parents": " ".join(parents), "cells": cells})

    walk(group_tree(serialized), 0, [])
    return rows


def _grid_context(request: HttpRequest, dag: DagModel) -> dict[str, Any]:
    """Return the grid's context: the latest runs as columns, tasks as rows, the selection's details."""
    now = timezone.now()
    filters = GridFilterForm(request.GET)
    wanted = filters.values()
    runs = selectors.dag_runs_for_grid(
        dag,
        limit=wanted["num_runs"],
        up_to=wanted["base_date"],
        run_type=wanted["run_type"],
        state=wanted["run_state"],
    )
    for run in runs:
        run.dag = dag
    has_mapped = any(t.get("is_mapped") for t in dag.tasks)
    tis_by_run = selectors.task_instances_by_run(runs, mapped=has_mapped)
    run_id = request.GET.get("run_id", "")
    task_id = request.GET.get("task_id", "")
    selected = next((r for r in runs if r.run_id == run_id), None)
    if selected is None and run_id:
        selected = get_run(dag, run_id)  # an older run than the grid shows: still selectable
    if selected is None and runs:
        selected = runs[-1]
    if selected is not None:
        selected.dag = dag
    durations = {run.pk: _elapsed(run.start_date, run.end_date, now) for run in runs}
    longest = max((d.total_seconds() for d in durations.values() if d), default=0) or 1
    columns = [
        {
            "run": run,
            "duration": durations[run.pk],
            # Bar height in percent of the longest run, at least a sliver so every run is clickable.
            "height": max(12, round(100 * (durations[run.pk].total_seconds() if durations[run.pk] else 0) / longest)),
        }
        for run in runs
    ]
    rows = _grid_rows(dag.serialized, runs, tis_by_run)
    grid_url = reverse("runs:grid", args=[dag.dag_id])
    context: dict[str, Any] = {
        "columns": columns,
        "rows": rows,
        "selected_run": selected,
        "selected_task_id": task_id,
        "live": any(run.state in DAG_RUN_UNFINISHED for run in runs),
        "fragment_url": reverse("runs:grid-fragment", args=[dag.dag_id]),
        "legend": [s.value for s in TaskInstanceState],
        "query": _query(run_id=run_id, task_id=task_id, **filters.query()),
        "filters": filters,
        "filter_query": _query(**filters.query()),
        "run_duration": _elapsed(selected.start_date, selected.end_date, now) if selected else None,
        "run_conf": _pretty(selected.conf) if selected else "",
        "next_url": grid_url + _query(run_id=selected.run_id, **filters.query()) if selected else grid_url,
    }
    if selected is not None and task_id:
        map_index = map_index_param(request)
        ti = tis_by_run.get(selected.pk, {}).get(task_id)
        if ti is None or getattr(ti, "mapped_count", 0) or map_index is not None:
            # A mapped task: the instance asked for (else its first), with its own state.
            tis = TaskInstance.objects.filter(dag_run=selected, task_id=task_id).order_by("map_index")
            ti = (tis.filter(map_index=map_index) if map_index is not None else tis).first()
        if ti is not None:
            ti.dag_run = selected
            states = {t: i.state for t, i in tis_by_run[selected.pk].items()} if selected.pk in tis_by_run else None
            if has_mapped:
                states = None  # the panel reads each mapped instance's state (one query)
            here = grid_url + _query(
                run_id=selected.run_id,
                task_id=task_id,
                map_index=ti.map_index if ti.map_index >= 0 else None,
                **filters.query(),
            )
            context.update(task_panel_context(request, ti, next_url=here, states=states))
            context["selected_ti"] = ti
    return context


def grid(request: HttpRequest, dag_id: str) -> HttpResponse:
    """Show the grid: tasks by the latest runs, coloured by state, with the selected run or task."""
    dag = get_dag(request, dag_id)
    context = {**dag_page_context(dag, "Grid"), **_grid_context(request, dag)}
    return render(request, "runs_app/grid.html", context)


def grid_fragment(request: HttpRequest, dag_id: str) -> HttpResponse:
    """Return the grid and details fragment that the grid page polls while a run is unfinished."""
    dag = get_dag(request, dag_id)
    return render(request, "runs_app/partials/grid_fragment.html", {"dag": dag, **_grid_context(request, dag)})


# -- graph -----------------------------------------------------------------------------------------


def run_version(dag: DagModel, run: DagRun | None) -> tuple[int | None, dict[str, Any]]:
    """The version number ``run`` was created with and the DAG's serialized form at it (the
    latest form when that is the run's version, or the run has none recorded)."""
    if run is None or run.dag_version_id is None:
        return None, dag.serialized
    if run.dag_version_id == dag.latest_version_id:
        return run.dag_version.version_number, dag.serialized  # joined by get_run / selected_run
    found = DagVersion.objects.filter(pk=run.dag_version_id).values_list("version_number", "serialized").first()
    return (found[0], found[1]) if found else (None, dag.serialized)


def _graph_svg(serialized: dict[str, Any], states: dict[str, str], expanded: set[str] | None) -> str:
    """Return the DAG as an inline SVG element (graphviz escapes every label), or raise graphviz.ExecutableNotFound."""
    # "none" is drawn with the default border: white on white would hide the node's outline.
    shown = TaskStates({task_id: state for task_id, state in states.items() if state != TaskInstanceState.NONE})
    shown.mapped = getattr(states, "mapped", {})  # mapped tasks show their number of instances
    svg = dag_to_graph(serialized, states=shown, expanded=expanded).pipe(format="svg", encoding="utf-8")
    # Drop the XML prolog and DOCTYPE, which do not belong inside an HTML document.
    return svg[svg.index("<svg") :]


def graph(request: HttpRequest, dag_id: str) -> HttpResponse:
    """Show the DAG as a graphviz SVG, nodes bordered by the selected run's task states."""
    dag = get_dag(request, dag_id)
    run = selected_run(dag, request)
    runs = list(reversed(selectors.dag_runs_for_grid(dag, limit=GRID_RUNS)))
    if run is not None and all(r.pk != run.pk for r in runs):
        runs.insert(0, run)
    states = TaskStates.from_rows(run.task_instances.values_list("task_id", "map_index", "state")) if run else {}
    # A run is drawn as the DAG was when the run was created (its version).
    version_number, serialized = run_version(dag, run)
    groups = members(serialized)
    # Task groups start collapsed, as in Airflow; ?expanded=a,a.b opens some, ?expanded=all every one.
    wanted = request.GET.get("expanded", "")
    expanded = None if wanted == "all" else {g for g in wanted.split(",") if g in groups}
    svg_error = ""
    try:
        svg = mark_safe(_graph_svg(serialized, states, expanded))  # graphviz output: labels are escaped by graphviz
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError) as exc:
        log.warning("graph: cannot render %s: %s", dag.dag_id, exc)
        svg, svg_error = "", f"Graphviz could not render this DAG: {exc}"
    context = {
        **dag_page_context(dag, "Graph"),
        "run": run,
        "runs": runs,
        "version_number": version_number,
        "version_is_old": serialized is not dag.serialized,
        "svg": svg,
        "svg_error": svg_error,
        "state_colors": STATE_COLORS,
        "states": states,
        "legend": [s.value for s in TaskInstanceState],
        "graph_url": reverse("runs:graph", args=[dag.dag_id]),
        "group_members": groups,
        "group_state_priority": GROUP_STATE_PRIORITY,
        "expand_all_url": _query(run_id=run.run_id if run else "", expanded="all"),
        "collapse_all_url": _query(run_id=run.run_id if run else ""),
        "all_expanded": bool(groups) and (expanded is None or expanded == set(groups)),
        "expanded_param": "all" if expanded is None else ",".join(sorted(expanded)),
    }
    if run is not None:
        context.update(
            {
                "states_url": reverse("runs:graph-states", args=[dag.dag_id]) + _query(run_id=run.run_id),
                # The JS puts the clicked task's id in place of the placeholder.
                "panel_url": reverse("runs:task-instance", args=[dag.dag_id, run.run_id, "__TASK__"])
                + _query(panel=1, next=reverse("runs:graph", args=[dag.dag_id]) + _query(run_id=run.run_id)),
                "live": run.state in DAG_RUN_UNFINISHED,
                "run_duration": _elapsed(run.start_date, run.end_date, timezone.now()),
            }
        )
    return render(request, "runs_app/graph.html", context)


def graph_states(request: HttpRequest, dag_id: str) -> JsonResponse:
    """Return the selected run's state and its task states as JSON, for the graph's refresh loop."""
    dag = get_dag(request, dag_id)
    run = selected_run(dag, request)
    if run is None:
        return JsonResponse({"run_id": None, "run_state": None, "finished": True, "states": {}})
    return JsonResponse(
        {
            "run_id": run.run_id,
            "run_state": run.state,
            "finished": run.state not in DAG_RUN_UNFINISHED,
            "states": TaskStates.from_rows(run.task_instances.values_list("task_id", "map_index", "state")),
        }
    )


# -- run and task instance pages -------------------------------------------------------------------


def run_detail(request: HttpRequest, dag_id: str, run_id: str) -> HttpResponse:
    """Show one DAG run: its fields, its task instances and the run's actions."""
    dag = get_dag(request, dag_id)
    run = get_run(dag, run_id)
    run.dag = dag
    now = timezone.now()
    order = _task_order(dag)
    tis = sorted(
        run.task_instances.defer("rendered_fields"), key=lambda ti: (order.get(ti.task_id, len(order)), ti.task_id)
    )
    for ti in tis:
        ti.shown_duration = ti.duration if ti.duration is not None else _elapsed(ti.start_date, ti.end_date, now)
    context = {
        **dag_page_context(dag, ""),
        "run": run,
        "tis": tis,
        "run_duration": _elapsed(run.start_date, run.end_date, now),
        "run_conf": _pretty(run.conf),
        "next_url": request.get_full_path(),
    }
    return render(request, "runs_app/run_detail.html", context)


def task_instance(request: HttpRequest, dag_id: str, run_id: str, task_id: str) -> HttpResponse:
    """Show one task instance (``?panel=1``: only the panel, for the graph's modal)."""
    dag = get_dag(request, dag_id)
    run = get_run(dag, run_id)
    run.dag = dag
    ti = get_task_instance(run, task_id, map_index_param(request))
    ti.dag_run = run
    here = reverse("runs:task-instance", args=[dag.dag_id, run.run_id, ti.task_id])
    if request.GET.get("panel"):
        context = task_panel_context(request, ti, next_url=safe_next(request, here))
        context["in_modal"] = True
        return render(request, "runs_app/partials/task_panel.html", context)
    context = {**dag_page_context(dag, ""), **task_panel_context(request, ti, next_url=here)}
    return render(request, "runs_app/task_instance.html", context)


# -- task logs -------------------------------------------------------------------------------------


def _int_param(request: HttpRequest, name: str, default: int) -> int:
    try:
        return max(0, int(request.GET.get(name, default)))
    except (TypeError, ValueError):
        return default


def _read_log(
    ti: TaskInstance, try_number: int, offset: int | None, *, writing: bool = False, limit: int = LOG_CHUNK_BYTES
) -> dict[str, Any]:
    """Read the log of one try from ``offset`` (None: the tail), at most ``limit`` bytes.

    The path comes from ``ti.log_path`` (database fields only). Returns the text, the offset to
    continue from, whether the file exists, whether the start was cut, and whether more remains.
    A UTF-8 character cut at the end of the chunk is left for the next read, and so is a last line
    without its newline when more follows (or the try is still ``writing``): the viewer shows
    lines whole.
    """
    result = {"text": "", "offset": offset or 0, "exists": False, "truncated": False, "more": False}
    try:
        path = ti.log_path(try_number)
        size = path.stat().st_size
    except (OSError, ValueError):
        return result
    result["exists"] = True
    if offset is None:
        offset = max(0, size - limit)
        result["truncated"] = offset > 0
    offset = min(offset, size)
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read(limit)
    except OSError:
        return result
    if writing or offset + len(data) < size:
        cut = data.rfind(b"\n")
        if cut >= 0:
            data = data[: cut + 1]
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = decoder.decode(data, final=False)
    if result["truncated"] and "\n" in text:
        text = text[text.index("\n") + 1 :]  # start the tail at a whole line
    pending = len(decoder.getstate()[0])
    result.update({"text": text, "offset": offset + len(data) - pending, "more": offset + len(data) < size})
    return result


def _log_context(ti: TaskInstance, try_number: int, offset: int | None, *, embedded: bool = False) -> dict[str, Any]:
    writing = try_number == ti.try_number and ti.state in LIVE_LOG_STATES
    chunk = _read_log(ti, try_number, offset, writing=writing)
    chunk["text"] = PageMasker().text(chunk["text"])
    chunk["lines"] = render_lines(chunk["text"], timezone.get_current_timezone())
    # Poll while this try may still write (or a tail is left to read); stop once it has finished.
    live = writing or chunk["more"]
    fragment = reverse("runs:task-log-fragment", args=[ti.dag_run.dag.dag_id, ti.dag_run.run_id, ti.task_id])
    return {
        **chunk,
        "live": live,
        "poll_url": fragment
        + _query(
            **{
                "try": try_number,
                "offset": chunk["offset"],
                "map_index": ti.map_index if ti.map_index >= 0 else None,
                "embedded": 1 if embedded else None,
            }
        ),
        "first_content": offset == 0 and bool(chunk["text"]),
        "embedded": embedded,
    }


def _log_try(request: HttpRequest, ti: TaskInstance) -> int:
    """Return the try asked for (``?try=``), within 1..try_number; default the latest."""
    latest = max(ti.try_number, 1)
    wanted = _int_param(request, "try", latest)
    return wanted if 1 <= wanted <= latest else latest


def _log_target(request: HttpRequest, dag_id: str, run_id: str, task_id: str):
    """Return (dag, run, task instance, try number) of a log request; 404/403 as the lookups do."""
    dag = get_dag(request, dag_id)
    run = get_run(dag, run_id)
    run.dag = dag
    ti = get_task_instance(run, task_id, map_index_param(request))
    ti.dag_run = run
    return dag, run, ti, _log_try(request, ti)


def task_log(request: HttpRequest, dag_id: str, run_id: str, task_id: str) -> HttpResponse:
    """Show the log of one try of a task instance, refreshing while it runs."""
    dag, run, ti, try_number = _log_target(request, dag_id, run_id, task_id)
    context = {
        **dag_page_context(dag, ""),
        "run": run,
        "ti": ti,
        "try_number": try_number,
        "tries": range(1, max(ti.try_number, 1) + 1),
        **_log_context(ti, try_number, None),
    }
    return render(request, "runs_app/task_log.html", context)


def task_log_download(request: HttpRequest, dag_id: str, run_id: str, task_id: str) -> HttpResponse:
    """Send the whole log of one try as a file, secrets masked as on the page (line by line,
    streamed: a long log is never held in memory)."""
    _dag, _run, ti, try_number = _log_target(request, dag_id, run_id, task_id)
    try:
        path = ti.log_path(try_number)
        handle = open(path, "rb")  # noqa: SIM115 - closed by the streaming generator
    except (OSError, ValueError):
        raise Http404(f"No log for try {try_number} of {task_id}") from None
    masker = PageMasker()

    def lines() -> Iterator[bytes]:
        with handle:
            for raw in handle:
                yield masker.text(raw.decode("utf-8", "replace")).encode("utf-8")

    suffix = f"-map_index={ti.map_index}" if ti.map_index >= 0 else ""
    name = f"{dag_id}-{run_id}-{task_id}{suffix}-attempt={try_number}.log"
    response = StreamingHttpResponse(lines(), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response


def task_log_fragment(request: HttpRequest, dag_id: str, run_id: str, task_id: str) -> HttpResponse:
    """Return what the try's log gained since ``?offset=`` bytes (no offset: its tail), plus the
    next poller while it runs. ``?embedded=1``: for the task panel's Log tab, which has none of
    the log page's state badge and banners to update."""
    _dag, _run, ti, try_number = _log_target(request, dag_id, run_id, task_id)
    offset = _int_param(request, "offset", 0) if "offset" in request.GET else None
    context = {
        "ti": ti,
        "try_number": try_number,
        "is_fragment": True,
        **_log_context(ti, try_number, offset, embedded=request.GET.get("embedded") == "1"),
    }
    return render(request, "runs_app/partials/log_lines.html", context)

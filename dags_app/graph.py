"""Render a serialized DAG as a graphviz graph (DOT source, SVG, PNG...).

Used by ``dags show`` and the web Graph view. Everything in a serialized DAG is the DAG author's
text, and the SVG is inlined into our pages, so nothing reaches the DOT source unchecked:

- labels and tooltips go through ``graphviz.escape`` (no ``<...>`` HTML label, no ``\\N``
  expansion); the graphviz library then quotes them and ``dot`` escapes them in the SVG;
- colours (an operator's ``ui_color``/``ui_fgcolor``) must look like a colour, else the default
  is used: a value such as ``<black> URL="javascript:..." x=<y>`` would otherwise be passed to
  ``dot`` raw (the library takes ``<...>`` for an HTML string) and add a ``javascript:`` link to
  the node, a stored XSS in the Graph view;
- ``rankdir`` is one of graphviz's four;
- edges are written with quoted node ids ourselves: the library's ``edge()`` reads ``a:b`` as
  node ``a``, port ``b`` (task ids may contain ``:``); a collapsed group's node is ``group <id>``, with a
  space no task id can have.
"""

from __future__ import annotations

import re
from typing import Any

import graphviz
from graphviz.quoting import quote

from dags_app.task_groups import GroupNode, ancestors, group_state, group_tree, groups_by_id, members

# Airflow's state colours, so users recognise them.
STATE_COLORS = {
    "success": "#008000",
    "failed": "#ff0000",
    "running": "#00ff00",
    "queued": "#808080",
    "scheduled": "#d2b48c",
    "up_for_retry": "#ffd700",
    "up_for_reschedule": "#40e0d0",
    "upstream_failed": "#ffa500",
    "skipped": "#ff69b4",
    "removed": "#d3d3d3",
    "none": "#ffffff",
}


# "#rgb", "#rrggbb", "#rrggbbaa" or a colour name ("red", "lightgoldenrodyellow").
_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})|[a-zA-Z]{1,40}")
_RANKDIRS = {"LR", "RL", "TB", "BT"}


def _graphviz_color(value: str | None, default: str) -> str:
    """Return ``value`` as graphviz reads it: CSS's short ``#rgb`` (Airflow's ``#fff``) as ``#rrggbb``.

    Anything that does not look like a colour gives ``default`` (see the module docstring).
    """
    if not isinstance(value, str) or not _COLOR.fullmatch(value):
        value = default
    if len(value) == 4 and value.startswith("#"):
        return "#" + "".join(c * 2 for c in value[1:])
    return value


def dag_to_graph(
    serialized: dict[str, Any],
    *,
    states: dict[str, str] | None = None,
    expanded: set[str] | None = None,
) -> graphviz.Digraph:
    """Return a left-to-right Digraph of the DAG's tasks; ``states`` colour node borders by state.

    Task groups are clusters. A group not in ``expanded`` (None: every group is expanded) is drawn
    as one node (id ``group-<group id>``, its tasks' aggregate state as border) and the edges of
    its tasks end on it; nested groups of a collapsed group are hidden with it.
    """
    states = states or {}
    rankdir = serialized.get("orientation", "LR")
    graph = graphviz.Digraph(
        name=graphviz.escape(str(serialized["dag_id"])),
        graph_attr={"rankdir": rankdir if rankdir in _RANKDIRS else "LR", "bgcolor": "transparent"},
        node_attr={"shape": "rectangle", "style": "filled,rounded", "fontname": "Helvetica", "fontsize": "11"},
        edge_attr={"color": "#6c757d", "arrowsize": "0.7"},
    )
    groups = groups_by_id(serialized)
    group_tasks = members(serialized)

    def is_open(group_id: str) -> bool:
        return expanded is None or group_id in expanded

    def shown_as(task: dict[str, Any]) -> str:
        """The node a task is drawn as: itself, or its outermost collapsed group."""
        for group_id in ancestors(groups, task.get("task_group")):
            if not is_open(group_id):
                return f"group {group_id}"
        return task["task_id"]

    def add_task(target: graphviz.Digraph, task: dict[str, Any]) -> None:
        state = states.get(task["task_id"])
        label = task.get("label") or task["task_id"]
        if task.get("is_setup"):
            label = f"\u2191 {label}"  # Airflow marks setups with an up arrow, teardowns a down one
        elif task.get("is_teardown"):
            label = f"\u2193 {label}"
        if task.get("is_mapped"):
            # As Airflow's graph: a mapped task shows its number of instances in the run, "[ ]" before.
            instances = getattr(states, "mapped", {}).get(task["task_id"])
            label = f"{label} [{len(instances) if instances else ' '}]"
        attrs = {
            "label": graphviz.escape(label),
            "fillcolor": _graphviz_color(task.get("ui_color"), "#ffffff"),
            "fontcolor": _graphviz_color(task.get("ui_fgcolor"), "#000000"),
            "tooltip": graphviz.escape(f"{task['task_id']} ({task.get('operator', '')})"),
            "id": graphviz.escape(f"task-{task['task_id']}"),
            "class": "task-node",
        }
        if state:
            attrs.update({"color": STATE_COLORS.get(state, "#000000"), "penwidth": "3"})
        target.node(graphviz.escape(task["task_id"]), **attrs)

    def add_collapsed(target: graphviz.Digraph, group: dict[str, Any]) -> None:
        group_id = group["group_id"]
        count = len(group_tasks.get(group_id, []))
        state = group_state(states.get(t) for t in group_tasks.get(group_id, [])) if states else None
        tooltip = f"Task group {group_id}: {count} task{'s' if count != 1 else ''}"
        if group.get("tooltip"):
            tooltip += f"\n{group['tooltip']}"
        attrs = {
            "label": graphviz.escape(f"{group.get('label') or group_id}\n{count} task{'s' if count != 1 else ''}"),
            "shape": "box",
            "style": "filled,rounded,bold",
            "fillcolor": _graphviz_color(group.get("ui_color"), "#6495ed"),
            "fontcolor": _graphviz_color(group.get("ui_fgcolor"), "#000000"),
            "tooltip": graphviz.escape(tooltip),
            "id": graphviz.escape(f"group-{group_id}"),
            "class": "group-node",
        }
        if state and state != "none":
            attrs.update({"color": STATE_COLORS.get(state, "#000000"), "penwidth": "3"})
        target.node(graphviz.escape(f"group {group_id}"), **attrs)

    def add_children(target: graphviz.Digraph, node: GroupNode) -> None:
        for child in node.children:
            if not isinstance(child, GroupNode):
                add_task(target, child)
            elif not is_open(child.group_id):
                add_collapsed(target, child.group)
            else:
                group = child.group
                with target.subgraph(name=graphviz.escape(f"cluster_{group['group_id']}")) as cluster:
                    cluster.attr(
                        label=graphviz.escape(group.get("label") or group["group_id"]),
                        tooltip=graphviz.escape(group.get("tooltip") or f"Task group {group['group_id']}"),
                        id=graphviz.escape(f"cluster-{group['group_id']}"),
                        style="rounded,filled",
                        color=_graphviz_color(group.get("ui_color"), "#6495ed"),
                        fillcolor="#6495ed14",
                        fontname="Helvetica",
                        fontsize="11",
                        labeljust="l",
                        **{"class": "task-group"},
                    )
                    add_children(cluster, child)

    add_children(graph, group_tree(serialized))
    tasks = {t["task_id"]: t for t in serialized.get("tasks", [])}
    edges: dict[tuple[str, str], str | None] = {}
    setup_edges: set[tuple[str, str]] = set()
    edge_info = serialized.get("edge_info") or {}
    for task in serialized.get("tasks", []):
        for downstream in task.get("downstream_task_ids", []):
            if downstream in tasks:
                tail, head = shown_as(task), shown_as(tasks[downstream])
                if tail != head:
                    label = (edge_info.get(task["task_id"], {}).get(downstream) or {}).get("label")
                    edges[(tail, head)] = edges.get((tail, head)) or (str(label) if label else None)
                    if task.get("is_setup") and tasks[downstream].get("is_teardown"):
                        setup_edges.add((tail, head))
    for (tail, head), label in edges.items():
        # A Label's text, quoted and escaped like every other string we give dot; a setup's edge
        # to its teardown is dashed, as Airflow draws it.
        parts = [f"label={quote(graphviz.escape(label))}", 'class="edge-label"'] if label else []
        if (tail, head) in setup_edges:
            parts.append("style=dashed")
        attrs = f" [{' '.join(parts)}]" if parts else ""
        graph.body.append(f"\t{quote(graphviz.escape(tail))} -> {quote(graphviz.escape(head))}{attrs}\n")
    return graph


def dag_to_dot(serialized: dict[str, Any]) -> str:
    """Return the DOT source of the DAG, as ``airflow dags show`` prints it."""
    return dag_to_graph(serialized).source

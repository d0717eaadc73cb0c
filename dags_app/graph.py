"""Render a serialized DAG as a graphviz graph (DOT source, SVG, PNG...).

Used by ``dags show`` and the web Graph view. Task ids and DAG ids are user text: every label
goes through ``graphviz.nohtml`` so a ``<...>`` id is never read as an HTML label, and the
graphviz library quotes and escapes identifiers.
"""

from __future__ import annotations

from typing import Any

import graphviz

# Airflow's state colours, so users recognise them.
STATE_COLORS = {
    "success": "#008000",
    "failed": "#ff0000",
    "running": "#00ff00",
    "queued": "#808080",
    "scheduled": "#d2b48c",
    "up_for_retry": "#ffd700",
    "upstream_failed": "#ffa500",
    "skipped": "#ff69b4",
    "removed": "#d3d3d3",
    "none": "#ffffff",
}


def _graphviz_color(value: str | None, default: str) -> str:
    """Return ``value`` as graphviz reads it: CSS's short ``#rgb`` (Airflow's ``#fff``) as ``#rrggbb``."""
    value = value or default
    if len(value) == 4 and value.startswith("#"):
        return "#" + "".join(c * 2 for c in value[1:])
    return value


def dag_to_graph(serialized: dict[str, Any], *, states: dict[str, str] | None = None) -> graphviz.Digraph:
    """Return a left-to-right Digraph of the DAG's tasks; ``states`` colour node borders by state."""
    graph = graphviz.Digraph(
        name=serialized["dag_id"],
        graph_attr={"rankdir": serialized.get("orientation", "LR"), "bgcolor": "transparent"},
        node_attr={"shape": "rectangle", "style": "filled,rounded", "fontname": "Helvetica", "fontsize": "11"},
        edge_attr={"color": "#6c757d", "arrowsize": "0.7"},
    )
    for task in serialized.get("tasks", []):
        state = (states or {}).get(task["task_id"])
        attrs = {
            "label": graphviz.nohtml(task["task_id"]),
            "fillcolor": _graphviz_color(task.get("ui_color"), "#ffffff"),
            "fontcolor": _graphviz_color(task.get("ui_fgcolor"), "#000000"),
            "tooltip": graphviz.nohtml(f"{task['task_id']} ({task.get('operator', '')})"),
            "id": f"task-{task['task_id']}",
            "class": "task-node",
        }
        if state:
            attrs.update({"color": STATE_COLORS.get(state, "#000000"), "penwidth": "3"})
        graph.node(task["task_id"], **attrs)
    for task in serialized.get("tasks", []):
        for downstream in task.get("downstream_task_ids", []):
            graph.edge(task["task_id"], downstream)
    return graph


def dag_to_dot(serialized: dict[str, Any]) -> str:
    """Return the DOT source of the DAG, as ``airflow dags show`` prints it."""
    return dag_to_graph(serialized).source

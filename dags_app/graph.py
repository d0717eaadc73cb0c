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
  node ``a``, port ``b`` (task ids may contain ``:``).
"""

from __future__ import annotations

import re
from typing import Any

import graphviz
from graphviz.quoting import quote

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


def dag_to_graph(serialized: dict[str, Any], *, states: dict[str, str] | None = None) -> graphviz.Digraph:
    """Return a left-to-right Digraph of the DAG's tasks; ``states`` colour node borders by state."""
    rankdir = serialized.get("orientation", "LR")
    graph = graphviz.Digraph(
        name=graphviz.escape(str(serialized["dag_id"])),
        graph_attr={"rankdir": rankdir if rankdir in _RANKDIRS else "LR", "bgcolor": "transparent"},
        node_attr={"shape": "rectangle", "style": "filled,rounded", "fontname": "Helvetica", "fontsize": "11"},
        edge_attr={"color": "#6c757d", "arrowsize": "0.7"},
    )
    for task in serialized.get("tasks", []):
        state = (states or {}).get(task["task_id"])
        attrs = {
            "label": graphviz.escape(task["task_id"]),
            "fillcolor": _graphviz_color(task.get("ui_color"), "#ffffff"),
            "fontcolor": _graphviz_color(task.get("ui_fgcolor"), "#000000"),
            "tooltip": graphviz.escape(f"{task['task_id']} ({task.get('operator', '')})"),
            "id": graphviz.escape(f"task-{task['task_id']}"),
            "class": "task-node",
        }
        if state:
            attrs.update({"color": STATE_COLORS.get(state, "#000000"), "penwidth": "3"})
        graph.node(graphviz.escape(task["task_id"]), **attrs)
    for task in serialized.get("tasks", []):
        for downstream in task.get("downstream_task_ids", []):
            tail, head = quote(graphviz.escape(task["task_id"])), quote(graphviz.escape(downstream))
            graph.body.append(f"\t{tail} -> {head}\n")
    return graph


def dag_to_dot(serialized: dict[str, Any]) -> str:
    """Return the DOT source of the DAG, as ``airflow dags show`` prints it."""
    return dag_to_graph(serialized).source

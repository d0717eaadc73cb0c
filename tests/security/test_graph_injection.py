"""DAG authors' text cannot inject DOT attributes (links, scripts) into the inlined Graph SVG."""

from __future__ import annotations

import pytest

from dags_app.graph import dag_to_graph

pytestmark = pytest.mark.no_database

INJECTION = '<black> URL="javascript:alert(1)" x=<y>'


def serialized(**task_fields) -> dict:
    task = {"task_id": "t", "operator": "BashOperator", "downstream_task_ids": ["u:1"], **task_fields}
    return {
        "dag_id": "d",
        "orientation": 'LR" URL="javascript:alert(2)',
        "tasks": [task, {"task_id": "u:1", "operator": "X", "downstream_task_ids": []}],
    }


def test_colours_that_are_not_colours_fall_back_to_the_defaults_and_reach_no_link():
    svg = dag_to_graph(serialized(ui_color=INJECTION, ui_fgcolor=INJECTION)).pipe(format="svg", encoding="utf-8")

    assert "javascript:" not in svg
    assert "xlink:href" not in svg and "href=" not in svg  # the tooltip makes an <a>, never a link
    assert 'fill="#ffffff"' in svg  # the default fill, not the injected value


def test_real_colours_are_kept_with_css_short_hex_expanded():
    source = dag_to_graph(serialized(ui_color="#fee", ui_fgcolor="darkblue")).source

    assert 'fillcolor="#ffeeee"' in source and "fontcolor=darkblue" in source


def test_task_ids_with_colons_and_quotes_are_nodes_not_ports():
    source = dag_to_graph(serialized()).source

    assert '"u:1"' in source and 't -> "u:1"' in source
    assert "rankdir=LR" in source  # an injected orientation is replaced by the default

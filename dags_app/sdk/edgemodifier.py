"""``Label``: a name on a dependency edge, drawn in the Graph (Airflow's ``EdgeModifier``).

``a >> Label("when valid") >> b`` makes b downstream of a and records the label for that edge
in the DAG (``dag.edge_info``); lists and task groups work on either side.
"""

from __future__ import annotations

from typing import Any

from dags_app.sdk.dependencies import DependencyMixin


class EdgeModifier(DependencyMixin):
    """Stands between two sets of tasks in a ``>>`` chain and labels the edges it makes."""

    is_edge_modifier = True

    def __init__(self, label: str | None = None) -> None:
        self.label = label
        self._upstream: list[Any] = []
        self._downstream: list[Any] = []

    def set_upstream(self, other: Any) -> None:
        """``other >> label``: remember the tasks before the label (linked once the next side comes)."""
        from dags_app.sdk.baseoperator import _flatten_tasks

        ups = _flatten_tasks(other, group_side="leaves")
        self._upstream.extend(ups)
        for down in self._downstream:
            self._link(ups, [down])

    def set_downstream(self, other: Any) -> None:
        """``label >> other``: link every task before the label to ``other``, with the label."""
        from dags_app.sdk.baseoperator import _flatten_tasks

        downs = _flatten_tasks(other, group_side="roots")
        self._downstream.extend(downs)
        self._link(self._upstream, downs)

    def _link(self, ups: list[Any], downs: list[Any]) -> None:
        for up in ups:
            for down in downs:
                up.set_downstream(down)
                if self.label is not None:
                    up.dag.set_edge_info(up.task_id, down.task_id, {"label": self.label})

    def __repr__(self) -> str:
        return f"Label({self.label!r})"


def Label(label: str) -> EdgeModifier:
    """A labelled edge: ``a >> Label("text") >> b``."""
    return EdgeModifier(label)

"""Task groups of a serialized DAG: the tree that the Graph, the Grid and the CLI draw.

A serialized DAG lists its groups (``task_groups``: id, label, parent, tooltip, colours; parents
before children) and each task names its innermost group (``task_group``, None at the top).
Nothing here imports a DAG file or the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# The state a group shows for one run: the first of its tasks' states in this order. Airflow's
# grid uses the same order (www/utils.py ``priority``): trouble first, then work in progress,
# then "not started", and success only when every task succeeded (or was skipped/removed).
GROUP_STATE_PRIORITY = (
    "failed",
    "upstream_failed",
    "up_for_retry",
    "up_for_reschedule",
    "queued",
    "scheduled",
    "deferred",
    "running",
    "restarting",
    "none",
    "success",
    "skipped",
    "removed",
)


def group_state(states: Iterable[str | None]) -> str | None:
    """Return the state a group shows for its tasks' ``states`` (None when there is none)."""
    present = {state or "none" for state in states}
    for state in GROUP_STATE_PRIORITY:
        if state in present:
            return state
    return min(present) if present else None


@dataclass
class GroupNode:
    """One group (``group`` None for the DAG's root) and its children in the DAG's task order."""

    group: dict[str, Any] | None
    children: list[GroupNode | dict[str, Any]] = field(default_factory=list)

    @property
    def group_id(self) -> str | None:
        return self.group["group_id"] if self.group else None

    def tasks(self) -> Iterator[dict[str, Any]]:
        """Every task of the group, nested groups' included, in the DAG's task order."""
        for child in self.children:
            if isinstance(child, GroupNode):
                yield from child.tasks()
            else:
                yield child


def groups_by_id(serialized: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["group_id"]: g for g in serialized.get("task_groups") or []}


def ancestors(serialized_groups: dict[str, dict[str, Any]], group_id: str | None) -> list[str]:
    """Return the ids of ``group_id`` and its parents, outermost first (empty at the top)."""
    chain: list[str] = []
    while group_id is not None and group_id in serialized_groups and group_id not in chain:
        chain.append(group_id)
        group_id = serialized_groups[group_id].get("parent_group_id")
    return chain[::-1]


def group_tree(serialized: dict[str, Any]) -> GroupNode:
    """Return the DAG's root node: groups and tasks nested, each level in the order of its first task.

    Tasks come in the serialized (topological) order, so a group sits where its first task would,
    and empty groups are left out (they have nothing to show).
    """
    groups = groups_by_id(serialized)
    root = GroupNode(None)
    nodes: dict[str, GroupNode] = {}

    def node_for(group_id: str) -> GroupNode:
        node = nodes.get(group_id)
        if node is None:
            node = nodes[group_id] = GroupNode(groups[group_id])
            parent_id = groups[group_id].get("parent_group_id")
            parent = node_for(parent_id) if parent_id in groups else root
            parent.children.append(node)
        return node

    for task in serialized.get("tasks", []):
        group_id = task.get("task_group")
        (node_for(group_id) if group_id in groups else root).children.append(task)
    return root


def members(serialized: dict[str, Any]) -> dict[str, list[str]]:
    """Return every group's task ids, nested groups' included, in the DAG's task order."""
    groups = groups_by_id(serialized)
    found: dict[str, list[str]] = {group_id: [] for group_id in groups}
    for task in serialized.get("tasks", []):
        for group_id in ancestors(groups, task.get("task_group")):
            found[group_id].append(task["task_id"])
    return found

"""Dynamic task mapping in the scheduler: how many instances a mapped task gets in a run.

The serialized task says what it maps over (``expand_input``): literal values (their number is
stored at parse time) or an upstream task's XCom, read here once its upstream tasks are done.
The instances themselves are made by ``transitions.ti_expand``; each one resolves its own values
in the worker (``dags_app.sdk.mappedoperator``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from runs_app.models import DagRun, XCom


class MappingError(Exception):
    """The values a mapped task maps over cannot be counted (the reason is the message)."""


def max_map_length() -> int:
    return int(settings.ORCHESTRATOR["MAX_MAP_LENGTH"])


def _source_length(run: DagRun, source: dict[str, Any]) -> int:
    if "length" in source:
        return int(source["length"])
    rows = list(
        XCom.objects.filter(dag_run=run, task_id=source["task_id"], key=source["key"]).values_list("map_index", "value")
    )
    if source.get("mapped"):
        # Mapping over a mapped task: one value per instance that pushed one (as Airflow counts).
        return len(rows)
    if not rows:
        raise MappingError(f"upstream task {source['task_id']!r} pushed no XCom {source['key']!r} to map over")
    value = rows[0][1]
    if not isinstance(value, list | dict):
        raise MappingError(
            f"upstream task {source['task_id']!r} pushed a {type(value).__name__}, not a list or dict, to map over"
        )
    return len(value)


def mapped_length(run: DagRun, task: dict[str, Any]) -> int:
    """Return how many instances ``task`` (a serialized mapped task) gets in ``run``: the product of
    the lengths of what it expands over. One query per XCom it reads.

    Raises MappingError when an upstream value is missing or not a list/dict, or when the
    number is above ``MAX_MAP_LENGTH``.
    """
    expand = task["expand_input"]
    sources = list(expand["keys"].values()) if expand["kind"] == "dict" else [expand["source"]]
    total = 1
    for source in sources:
        total *= _source_length(run, source)
    if total > max_map_length():
        raise MappingError(f"{total} values to map over, more than max_map_length ({max_map_length()})")
    return total

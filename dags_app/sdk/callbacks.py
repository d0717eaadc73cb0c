"""Callback arguments of tasks and DAGs: their names and their validation at parse time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dags_app.sdk.exceptions import AirflowException

# Task callbacks, called by the worker (on_execute_callback in the task's child before execute).
TASK_CALLBACKS = (
    "on_execute_callback",
    "on_success_callback",
    "on_failure_callback",
    "on_retry_callback",
    "on_skipped_callback",
)
# DAG callbacks, called once when a run finishes (context["reason"] says why).
DAG_CALLBACKS = ("on_success_callback", "on_failure_callback")


def validate_callbacks(name: str, value: Any, owner: str) -> Callable | list[Callable] | None:
    """Return a callback argument as given (a callable or a list of them), or raise naming ``owner``."""
    if value is None:
        return None
    items = list(value) if isinstance(value, list | tuple) else [value]
    bad = [item for item in items if not callable(item)]
    if bad:
        raise AirflowException(f"{name} of '{owner}' must be a callable or a list of callables, got {bad[0]!r}")
    return items if isinstance(value, list | tuple) else value


def defined_callbacks(obj: Any, names: tuple[str, ...]) -> list[str]:
    """The callback names ``obj`` (a task or a DAG) defines: serialized, so that the worker starts
    a child to call them only when there is something to call."""
    return [name for name in names if getattr(obj, name, None)]

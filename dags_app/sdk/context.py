"""The running task's context, reachable from anywhere in the task via ``get_current_context()``."""

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

from dags_app.sdk.exceptions import AirflowException

Context = dict[str, Any]

_current_context: contextvars.ContextVar[Context | None] = contextvars.ContextVar("current_context", default=None)


def get_current_context() -> Context:
    """Return the context of the task being executed.

    Raises AirflowException when called outside a running task.
    """
    context = _current_context.get()
    if context is None:
        raise AirflowException("Current context was requested but no context was found! Are you running within a task?")
    return context


@contextlib.contextmanager
def set_current_context(context: Context) -> Iterator[Context]:
    """Make ``context`` the current one for the duration of the block."""
    token = _current_context.set(context)
    try:
        yield context
    finally:
        _current_context.reset(token)

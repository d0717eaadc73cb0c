"""A run's ``conf``: one parser and one check for every way in (CLI ``-c``, the trigger form, the API).

A conf is a JSON object of at most ``ORCHESTRATOR["MAX_CONF_BYTES"]`` bytes (as JSON) nested at
most ``MAX_CONF_DEPTH`` levels deep. Anything else raises ``ServiceError`` with a message fit to
show a user: never a ``RecursionError`` or a half-stored row.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from dags_app.errors import ServiceError

MAX_CONF_DEPTH = 100


def _max_bytes() -> int:
    return int(settings.ORCHESTRATOR["MAX_CONF_BYTES"])


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion (a deep value must not overflow the stack)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_CONF_DEPTH:
                return depth
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def validate_conf(conf: Any) -> dict[str, Any]:
    """Return ``conf`` if it is a JSON object within the limits; raise ServiceError otherwise."""
    if not isinstance(conf, dict):
        raise ServiceError(f'The conf must be a JSON object, like {{"key": "value"}}, not a {type(conf).__name__}')
    if _depth(conf) > MAX_CONF_DEPTH:
        raise ServiceError(f"The conf is nested more than {MAX_CONF_DEPTH} levels deep")
    try:
        size = len(json.dumps(conf).encode())
    except (TypeError, ValueError, RecursionError) as exc:
        raise ServiceError(f"The conf cannot be stored as JSON: {exc}") from None
    if size > _max_bytes():
        raise ServiceError(f"The conf is {size:,} bytes; the limit is {_max_bytes():,} (MAX_CONF_BYTES)")
    return conf


def parse_conf(raw: str | None) -> dict[str, Any]:
    """Parse the JSON text of a conf (empty: ``{}``) and check it; raise ServiceError when it is not fit."""
    raw = (raw or "").strip()
    if not raw:
        return {}
    if len(raw.encode()) > _max_bytes():
        raise ServiceError(f"The conf is {len(raw.encode()):,} bytes; the limit is {_max_bytes():,} (MAX_CONF_BYTES)")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ServiceError(f"Invalid JSON in the conf: {exc}") from None
    except RecursionError:
        raise ServiceError(f"The conf is nested more than {MAX_CONF_DEPTH} levels deep") from None
    return validate_conf(value)

"""Airflow's ``Variable``: keys and values DAGs read at run time.

``AIRFLOW_VAR_<KEY>`` in the environment wins over the metastore (Airflow's environment-variables
secrets backend, looked up first). The SDK never imports Django: ``runs_app.apps`` gives it the
metastore's get/set/delete through ``configure``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from dags_app.sdk.secrets import mask_secret, should_hide_value_for_key

_NOTSET: Any = object()

_get: Callable[[str], str | None] | None = None
_set: Callable[[str, str, str | None], None] | None = None
_delete: Callable[[str], int] | None = None


def configure(
    *,
    get: Callable[[str], str | None],
    set: Callable[[str, str, str | None], None],
    delete: Callable[[str], int],
) -> None:
    """Give ``Variable`` its metastore (called by ``runs_app.apps``)."""
    global _get, _set, _delete
    _get, _set, _delete = get, set, delete


def env_name(key: str) -> str:
    return f"AIRFLOW_VAR_{key.upper()}"


def _backend() -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    if _get is None or _set is None or _delete is None:
        raise RuntimeError("Variables are only available where the orchestrator runs DAG code")
    return _get, _set, _delete


class Variable:
    """``Variable.get(key, default_var=..., deserialize_json=False)``, ``Variable.set``,
    ``Variable.delete`` (Airflow's class methods and arguments)."""

    @classmethod
    def get(cls, key: str, default_var: Any = _NOTSET, deserialize_json: bool = False, default: Any = _NOTSET) -> Any:
        if default is not _NOTSET and default_var is _NOTSET:
            default_var = default  # Airflow 3's Task SDK spells it ``default``
        value = os.environ.get(env_name(key))
        if value is None:
            value = _backend()[0](key)
        if value is None:
            if default_var is not _NOTSET:
                return default_var
            raise KeyError(f"Variable {key} does not exist")
        if should_hide_value_for_key(key):
            mask_secret(value)  # a sensitive variable's value is masked in the task's log from now on
        if deserialize_json:
            return json.loads(value)
        return value

    @classmethod
    def set(cls, key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        text = json.dumps(value, indent=2) if serialize_json else str(value)
        _backend()[1](key, text, description)

    @classmethod
    def delete(cls, key: str) -> int:
        return _backend()[2](key)

    @classmethod
    def setdefault(cls, key: str, default: Any, description: str | None = None, deserialize_json: bool = False) -> Any:
        value = cls.get(key, default_var=None, deserialize_json=deserialize_json)
        if value is None:
            cls.set(key, default, description=description, serialize_json=deserialize_json)
            return default
        return value


class VariableAccessor:
    """``var.value`` / ``var.json`` in templates: ``{{ var.value.key }}``, ``{{ var.json.key.field }}``,
    ``{{ var.value.get('key', 'fallback') }}``."""

    def __init__(self, *, deserialize_json: bool) -> None:
        self._json = deserialize_json

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return Variable.get(key, deserialize_json=self._json)

    def __getitem__(self, key: str) -> Any:
        return Variable.get(key, deserialize_json=self._json)

    def get(self, key: str, default_var: Any = _NOTSET) -> Any:
        return Variable.get(key, default_var=default_var, deserialize_json=self._json)

    def __repr__(self) -> str:
        return f"<var.{'json' if self._json else 'value'}>"


def template_variables() -> dict[str, VariableAccessor]:
    """The ``var`` entry of a task's template context."""
    return {"value": VariableAccessor(deserialize_json=False), "json": VariableAccessor(deserialize_json=True)}

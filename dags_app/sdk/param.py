"""DAG and task params: a default value, described by a JSON schema (Airflow's ``Param``).

Values are checked with the ``jsonschema`` library, with its format checker (``format: date``,
``date-time``, ``email``, ...), as Airflow does.
"""

from typing import Any

import jsonschema
from jsonschema import FormatChecker

from dags_app.sdk.exceptions import AirflowException


class ParamValidationError(AirflowException, ValueError):
    """A param's value does not fit its schema (Airflow's ``ParamValidationError``)."""


def _plain(value: Any) -> Any:
    """Tuples as lists: JSON has no tuple, and jsonschema's ``array`` is a list."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def validate_value(value: Any, schema: dict[str, Any]) -> None:
    """Raise ParamValidationError when ``value`` does not fit ``schema``."""
    try:
        jsonschema.validate(_plain(value), schema, format_checker=FormatChecker())
    except jsonschema.ValidationError as exc:
        raise ParamValidationError(exc.message) from None
    except jsonschema.SchemaError as exc:
        raise ParamValidationError(f"the schema is not valid: {exc.message}") from None


class Param:
    """A param with a default value, as Airflow's ``Param(5, type="integer", description=...)``."""

    def __init__(self, default: Any = None, description: str | None = None, **schema: Any) -> None:
        self.value = default
        self.description = description
        self.schema = schema

    def resolve(self, value: Any = None, *, use_default: bool = True) -> Any:
        """Return ``value`` (or the default), checked against the schema.

        Raises ParamValidationError (a ValueError) when the value does not fit.
        """
        final = self.value if value is None and use_default else value
        if self.schema:
            validate_value(final, self.schema)
        return final

    def serialize(self) -> dict[str, Any]:
        return {"default": self.value, "description": self.description, "schema": self.schema}

    def dump(self) -> dict[str, Any]:
        """What the metastore keeps of the param: its default, description and schema."""
        return self.serialize()

    def __repr__(self) -> str:
        return f"Param({self.value!r})"


def resolve_params(params: dict[str, Any] | None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return plain values for ``params``, with ``overrides`` (a run's conf) applied on top."""
    resolved: dict[str, Any] = {}
    overrides = overrides or {}
    for key, param in (params or {}).items():
        value = overrides.get(key)
        resolved[key] = param.resolve(value) if isinstance(param, Param) else (param if value is None else value)
    return resolved

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


# ``resolve()`` called without a value: the param's own default is asked for.
_NO_VALUE: Any = object()


class Param:
    """A param with a default value, as Airflow's ``Param(5, type="integer", description=...)``.

    A param without a default (``Param(type="string")`` or ``Param(None, type="string")``) is
    allowed in the DAG file, as in Airflow: it is required, and the trigger check
    (``runs_app.params``) refuses a run whose conf does not give it a value that fits.
    """

    def __init__(self, default: Any = None, description: str | None = None, **schema: Any) -> None:
        self.value = default
        self.description = description
        self.schema = schema

    def resolve(self, value: Any = _NO_VALUE, *, use_default: bool = True) -> Any:
        """Return ``value`` (or, when it is None, the default), checked against the schema.

        Called without a value (the DAG's parse-time check of its defaults), a param with no
        default returns None unchecked: its value comes with each run. Raises
        ParamValidationError (a ValueError) when the value does not fit.
        """
        if value is _NO_VALUE:
            if self.value is None:
                return None
            value = None
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
    """Return plain values for ``params``, with ``overrides`` (a run's conf) applied on top and
    its keys that are not params added.

    Raises ParamValidationError naming the first param whose value does not fit (a required one
    the conf does not give, for a run that skipped the trigger's check).
    """
    resolved: dict[str, Any] = {}
    overrides = overrides or {}
    for key, param in (params or {}).items():
        value = overrides.get(key)
        if not isinstance(param, Param):
            resolved[key] = param if value is None else value
            continue
        try:
            resolved[key] = param.resolve(value)
        except ParamValidationError as exc:
            raise ParamValidationError(f"Invalid input for param {key}: {exc}") from None
    # The conf's other keys are params too (Airflow's dag_run_conf_overrides_params).
    for key, value in overrides.items():
        resolved.setdefault(key, value)
    return resolved

"""A run's params: the DAG's param defaults merged with the run's ``conf``, checked against each
param's JSON schema when the run is triggered (Airflow validates them in ``create_dagrun``)."""

from __future__ import annotations

from typing import Any

from dags_app.errors import ServiceError
from dags_app.sdk.param import ParamValidationError, validate_value


def param_specs(serialized: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return serialized.get("param_specs") or {}


def params_check(serialized: dict[str, Any], conf: dict[str, Any]) -> dict[str, Any]:
    """Return the run's params (defaults, overridden by ``conf``); raise ServiceError naming every
    param whose value does not fit its schema."""
    resolved: dict[str, Any] = {}
    problems = []
    for name, spec in param_specs(serialized).items():
        value = conf.get(name, spec.get("default"))
        resolved[name] = value
        if spec.get("schema"):
            try:
                validate_value(value, spec["schema"])
            except ParamValidationError as exc:
                problems.append(f"{name}: {exc}")
    if problems:
        raise ServiceError("Invalid input for param " + "; ".join(problems))
    return resolved

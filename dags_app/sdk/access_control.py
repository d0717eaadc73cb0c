"""A DAG's ``access_control``: which roles may read it and act on it, normalized and checked.

Airflow's two spellings are accepted::

    access_control={"team_a": {"can_read", "can_edit"}}                      # Airflow 2 (flat)
    access_control={"team_a": {"DAGs": {"can_read"}, "DAG Runs": {"can_create"}}}  # 2.7+ per resource

and become ``{"team_a": ["can_edit", "can_read", "can_trigger"]}``: sorted lists of the four
permissions the orchestrator checks (``PERMISSIONS``). Naming a role with any permission lets it
read the DAG. A flat ``can_edit`` (and ``DAGs: can_edit``) also allows triggering, as in Airflow 2;
``DAG Runs: can_create`` allows triggering alone. A wrong permission or resource name is an
import error of the DAG file, naming what is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dags_app.sdk.exceptions import AirflowException

READ, EDIT, DELETE, TRIGGER = "can_read", "can_edit", "can_delete", "can_trigger"
PERMISSIONS = (READ, EDIT, DELETE, TRIGGER)

# Flat names (Airflow 2, including the 1.10 spellings) -> what they allow here.
_FLAT = {
    "can_read": {READ},
    "can_dag_read": {READ},
    "can_edit": {READ, EDIT, TRIGGER},
    "can_dag_edit": {READ, EDIT, TRIGGER},
    "can_delete": {READ, DELETE},
}
# Per-resource names (Airflow 2.7+) -> what they allow here.
_RESOURCES = {
    "DAGs": _FLAT,
    "DAG Runs": {
        "can_read": {READ},
        "can_create": {READ, TRIGGER},
        "can_edit": {READ, EDIT},
        "can_delete": {READ, DELETE},
    },
}


def _names(value: Any, what: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise AirflowException(f"{what} must be a set of permission names, got {value!r}")
    return [str(v) for v in value]


def _allowed(dag_id: str, role: str, names: list[str], table: dict[str, set[str]], where: str) -> set[str]:
    unknown = sorted(set(names) - table.keys())
    if unknown:
        raise AirflowException(
            f"The access_control of DAG '{dag_id}' gives role '{role}' unknown permissions{where}: "
            f"{', '.join(unknown)}. Valid: {', '.join(sorted(table))}"
        )
    return set().union(*(table[name] for name in names)) if names else set()


def normalize_access_control(dag_id: str, value: Any) -> dict[str, list[str]] | None:
    """Return ``value`` as ``{role: sorted permissions}``, or None when the DAG restricts nobody.

    Raises AirflowException for a value of the wrong shape or an unknown permission or resource.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise AirflowException(f"access_control of DAG '{dag_id}' must be a dict of role -> permissions, got {value!r}")
    result: dict[str, list[str]] = {}
    for role, perms in value.items():
        if not isinstance(role, str) or not role.strip():
            raise AirflowException(f"access_control of DAG '{dag_id}' names a role that is not a name: {role!r}")
        what = f"access_control['{role}'] of DAG '{dag_id}'"
        if isinstance(perms, Mapping):
            unknown = sorted(str(r) for r in perms if r not in _RESOURCES)
            if unknown:
                raise AirflowException(
                    f"The access_control of DAG '{dag_id}' names unknown resources for role '{role}': "
                    f"{', '.join(unknown)}. Valid: {', '.join(_RESOURCES)}"
                )
            allowed: set[str] = set()
            for resource, names in perms.items():
                allowed |= _allowed(dag_id, role, _names(names, what), _RESOURCES[resource], f" on '{resource}'")
        else:
            allowed = _allowed(dag_id, role, _names(perms, what), _FLAT, "")
        if allowed:
            result[role] = sorted(allowed)
    # {} (or only empty sets) is Airflow's "nothing extra": the DAG is open to every role.
    return result or None

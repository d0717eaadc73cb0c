"""DAG and task params: a default value, optionally described by a JSON-schema-like type."""

from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}


class Param:
    """A param with a default value, as Airflow's ``Param(5, type="integer", description=...)``."""

    def __init__(self, default: Any = None, description: str | None = None, **schema: Any) -> None:
        self.value = default
        self.description = description
        self.schema = schema

    def resolve(self, value: Any = None, *, use_default: bool = True) -> Any:
        """Return ``value`` (or the default), checked against the schema's ``type`` and ``enum``.

        Raises ValueError when the value does not fit.
        """
        final = self.value if value is None and use_default else value
        types = self.schema.get("type")
        if types is not None:
            names = [types] if isinstance(types, str) else list(types)
            allowed = tuple(t for name in names for t in _TYPES.get(name, (object,)))
            is_bool_as_number = isinstance(final, bool) and "boolean" not in names
            if not isinstance(final, allowed) or is_bool_as_number:
                raise ValueError(f"Param value {final!r} is not of type {types}")
        enum = self.schema.get("enum")
        if enum is not None and final not in enum:
            raise ValueError(f"Param value {final!r} is not one of {enum}")
        return final

    def serialize(self) -> dict[str, Any]:
        return {"default": self.value, "description": self.description, "schema": self.schema}

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

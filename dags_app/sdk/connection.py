"""Airflow's ``Connection`` and ``BaseHook.get_connection``: how DAG code reaches other systems.

``AIRFLOW_CONN_<ID>`` in the environment (a URI, or JSON) wins over the metastore, as Airflow's
environment-variables secrets backend. The SDK never imports Django: ``runs_app.apps`` gives it
the metastore's lookup through ``configure``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from dags_app.sdk.exceptions import AirflowException
from dags_app.sdk.secrets import mask_secret

FIELDS = ("conn_type", "description", "host", "schema", "login", "password", "port", "extra")

_get: Callable[[str], dict[str, Any] | None] | None = None


class AirflowNotFoundException(AirflowException):
    """The connection (or other object) asked for does not exist."""


def configure(*, get: Callable[[str], dict[str, Any] | None]) -> None:
    """Give ``Connection`` its metastore (called by ``runs_app.apps``)."""
    global _get
    _get = get


def env_name(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


class Connection:
    """A connection's fields; ``extra`` is its JSON text and ``extra_dejson`` the decoded dict."""

    def __init__(
        self,
        conn_id: str | None = None,
        conn_type: str | None = None,
        description: str | None = None,
        host: str | None = None,
        login: str | None = None,
        password: str | None = None,
        schema: str | None = None,
        port: int | None = None,
        extra: str | dict[str, Any] | None = None,
        uri: str | None = None,
    ) -> None:
        self.conn_id = conn_id
        self.description = description
        if uri is not None:
            if any(v is not None for v in (conn_type, host, login, password, schema, port, extra)):
                raise AirflowException("You must create an object using the URI or individual values.")
            parsed = parse_uri(uri)
            conn_type, host, login, password = parsed["conn_type"], parsed["host"], parsed["login"], parsed["password"]
            schema, port, extra = parsed["schema"], parsed["port"], parsed["extra"]
        self.conn_type = conn_type
        self.host = host
        self.login = login
        self.password = password
        self.schema = schema
        self.port = int(port) if port not in (None, "") else None
        self.extra = json.dumps(extra) if isinstance(extra, dict) else (extra or None)

    @property
    def extra_dejson(self) -> dict[str, Any]:
        if not self.extra:
            return {}
        try:
            value = json.loads(self.extra)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def get_uri(self) -> str:
        return build_uri(
            conn_type=self.conn_type or "",
            host=self.host or "",
            login=self.login or "",
            password=self.password or "",
            schema=self.schema or "",
            port=self.port,
            extra=self.extra_dejson,
        )

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ("conn_id", *FIELDS)}

    @classmethod
    def get(cls, conn_id: str) -> Connection:
        """Airflow 3's ``Connection.get(conn_id)``."""
        return get_connection(conn_id)

    def __repr__(self) -> str:
        return f"<Connection {self.conn_id!r} ({self.conn_type})>"


def parse_uri(uri: str) -> dict[str, Any]:
    """Airflow's connection URI: ``type://login:password@host:port/schema?extra_key=value``
    (``__extra__=<JSON>`` for an extra that is not flat text)."""
    parts = urlsplit(uri)
    if not parts.scheme:
        raise AirflowException(f"Invalid connection URI (no connection type): {uri[:40]!r}")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if "__extra__" in query:
        try:
            extra: Any = json.loads(query["__extra__"])
        except ValueError:
            raise AirflowException("Invalid connection URI: __extra__ is not JSON") from None
    else:
        extra = query or None
    try:
        port = parts.port
    except ValueError:
        raise AirflowException("Invalid connection URI: the port is not a number") from None
    return {
        "conn_type": parts.scheme.replace("-", "_"),
        "host": unquote(parts.hostname or ""),
        "login": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "schema": unquote(parts.path[1:]) if parts.path else "",
        "port": port,
        "extra": extra,
    }


def build_uri(
    *, conn_type: str, host: str, login: str, password: str, schema: str, port: int | None, extra: dict[str, Any]
) -> str:
    uri = f"{conn_type.replace('_', '-')}://"
    if login or password:
        uri += quote(login, safe="")
        if password:
            uri += ":" + quote(password, safe="")
        uri += "@"
    uri += quote(host, safe="")
    if port:
        uri += f":{port}"
    if schema:
        uri += "/" + quote(schema, safe="")
    if extra:
        flat = all(isinstance(v, str) for v in extra.values())
        uri += "?" + (urlencode(extra) if flat else urlencode({"__extra__": json.dumps(extra)}))
    return uri


def from_env(conn_id: str) -> Connection | None:
    value = os.environ.get(env_name(conn_id))
    if value is None:
        return None
    if value.lstrip().startswith("{"):
        try:
            fields = json.loads(value)
        except ValueError:
            raise AirflowException(f"{env_name(conn_id)} is neither a connection URI nor valid JSON") from None
        return Connection(conn_id=conn_id, **{k: v for k, v in fields.items() if k in FIELDS})
    return Connection(conn_id=conn_id, uri=value)


def get_connection(conn_id: str) -> Connection:
    """The connection ``conn_id``: from ``AIRFLOW_CONN_<ID>``, else the metastore.

    Its password and the sensitive fields of its extra are masked from then on (``secrets``).
    """
    found = from_env(conn_id)
    if found is None:
        if _get is None:
            raise RuntimeError("Connections are only available where the orchestrator runs DAG code")
        fields = _get(conn_id)
        if fields is None:
            raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")
        found = Connection(conn_id=conn_id, **fields)
    mask_secret(found.password)
    mask_secret(found.extra_dejson)
    return found


class BaseHook:
    """Airflow's ``BaseHook``: ``BaseHook.get_connection(conn_id)``; hooks subclass it."""

    def __init__(self, logger_name: str | None = None) -> None:
        self.logger_name = logger_name

    @classmethod
    def get_connection(cls, conn_id: str) -> Connection:
        return get_connection(conn_id)

    def get_conn(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement get_conn()")


class ConnectionAccessor:
    """``conn`` in templates: ``{{ conn.my_db.host }}``, ``{{ conn.get('my_db').login }}``."""

    def __getattr__(self, conn_id: str) -> Connection:
        if conn_id.startswith("__"):
            raise AttributeError(conn_id)
        return get_connection(conn_id)

    def __getitem__(self, conn_id: str) -> Connection:
        return get_connection(conn_id)

    def get(self, conn_id: str, default_conn: Any = None) -> Any:
        try:
            return get_connection(conn_id)
        except AirflowNotFoundException:
            return default_conn

    def __repr__(self) -> str:
        return "<conn>"

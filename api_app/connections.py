"""``/api/v2/connections`` (Op and Admin only, as in Airflow: connections hold secrets): list, get,
create, patch, delete and bulk, through ``connection_set``/``connection_delete``.

As Airflow's API (and our admin), a secret never leaves the server: a stored password is sent as
``***`` and each sensitive field of the extra as ``***`` (an extra that cannot be read, all of
it). Sent back unchanged as ``***``, they keep the stored values. Testing a connection is off, as
Airflow's default ``[core] test_connection = Disabled``.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import AliasChoices, Field

from api_app.bulk import BulkHandlers, BulkResponse, bulk_body, bulk_permissions, bulk_run
from api_app.common import ApiError, StrictBody, bad_request, invalid, name_filter, not_found, ordered, page
from api_app.schemas import ERRORS, ProblemResponse
from api_app.variables import redacted
from dags_app.errors import Conflict, ServiceError
from dags_app.sdk.secrets import MASK, should_hide_value_for_key
from orchestrator_site import access
from runs_app import services
from runs_app.crypto import FernetKeyError
from runs_app.models import Connection

router = Router(tags=["Connection"])

VIEW, ADD, CHANGE, DELETE = (f"runs_app.{action}_connection" for action in ("view", "add", "change", "delete"))
ORDER = {
    "id": "pk",
    "connection_id": "conn_id",
    "conn_id": "conn_id",
    "conn_type": "conn_type",
    "description": "description",
    "host": "host",
    "port": "port",
}
MAX_ID_LENGTH = Connection._meta.get_field("conn_id").max_length
TEST_DISABLED = "Testing connections is disabled in Airflow configuration. Contact your deployment admin to enable it."
# The body's fields, as the service names them.
FIELDS = {"conn_type", "description", "host", "login", "schema", "port", "password", "extra"}


def _masked_extra(connection: Connection) -> str | None:
    try:
        extra = connection.extra
    except FernetKeyError:
        return MASK
    if not extra:
        return None
    try:
        return json.dumps(redacted(json.loads(extra)))
    except ValueError:
        return MASK  # not JSON: its secrets cannot be told apart


class ConnectionResponse(Schema):
    connection_id: str
    conn_type: str
    description: str | None
    host: str | None
    login: str | None
    # "schema" would shadow BaseModel.schema: read from either name, sent as "schema".
    schema_: str | None = Field(validation_alias=AliasChoices("schema_", "schema"), serialization_alias="schema")
    port: int | None
    password: str | None
    extra: str | None
    team_name: str | None = None

    @classmethod
    def from_connection(cls, connection: Connection) -> ConnectionResponse:
        return cls(
            connection_id=connection.conn_id,
            conn_type=connection.conn_type,
            description=connection.description or None,
            host=connection.host or None,
            login=connection.login or None,
            schema_=connection.schema or None,
            port=connection.port,
            password=MASK if connection.encrypted_password else None,
            extra=_masked_extra(connection),
        )


class ConnectionCollectionResponse(Schema):
    connections: list[ConnectionResponse]
    total_entries: int


class ConnectionBody(StrictBody):
    connection_id: str = Field(max_length=MAX_ID_LENGTH)
    conn_type: str
    description: str | None = None
    host: str | None = None
    login: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    port: int | None = None
    password: str | None = None
    extra: str | None = None
    team_name: str | None = Field(default=None, max_length=50)

    def service_fields(self) -> dict[str, Any]:
        """The fields as ``connection_set`` takes them."""
        return self.model_dump(by_alias=True, exclude={"connection_id", "team_name"})


class ConnectionTestResponse(Schema):
    status: bool
    message: str


BulkBodyConnection = bulk_body(ConnectionBody, "ConnectionBody")


def _connection_or_404(connection_id: str) -> Connection:
    connection = Connection.objects.filter(conn_id=connection_id).first()
    if connection is None:
        raise not_found(f"The Connection with connection_id: `{connection_id}` was not found")
    return connection


def _unmasked_extra(submitted: str | None, stored: str) -> str | None:
    """The submitted extra with each sensitive ``***`` field taking back its stored value."""
    try:
        value, old = json.loads(submitted) if submitted else None, json.loads(stored) if stored else {}
    except ValueError:
        return submitted  # the service reports the bad JSON
    if not isinstance(value, dict) or not isinstance(old, dict):
        return submitted
    return json.dumps(
        {k: old[k] if v == MASK and should_hide_value_for_key(k) and k in old else v for k, v in value.items()}
    )


def _save(request: HttpRequest, body: ConnectionBody, *, stored: Connection | None, fields: set[str]) -> Connection:
    """Create the connection (``stored`` None) or change its ``fields``, through the service."""
    if body.team_name is not None:
        raise bad_request("Multi-team mode is not configured: team_name must be null")
    values = body.service_fields()
    if stored is not None:
        current = services.connection_fields(stored)
        values = {name: values[name] if name in fields else current[name] for name in FIELDS}
        if values["password"] == MASK:
            values["password"] = current["password"]
        values["extra"] = _unmasked_extra(values["extra"], current["extra"])
    try:
        return services.connection_set(
            conn_id=body.connection_id, fields=values, replace=stored is not None, user=request.user, source="api"
        )
    except Conflict as exc:
        raise ApiError(409, str(exc)) from None
    except ServiceError as exc:
        raise invalid("connection_id" if "connection id" in str(exc) else "body", str(exc)) from None


def _update_fields(update_mask: list[str] | None, body: ConnectionBody) -> set[str]:
    if not update_mask:
        return {"schema" if f == "schema_" else f for f in body.model_fields_set} & FIELDS
    fields = {f.strip() for f in update_mask}
    unknown = fields - FIELDS - {"connection_id"}
    if unknown:
        raise bad_request(f"Invalid fields in update_mask: {sorted(unknown)}")
    return fields & FIELDS


@router.get(
    "/connections", response={200: ConnectionCollectionResponse, **ERRORS}, by_alias=True, summary="Get Connections"
)
def get_connections(
    request: HttpRequest,
    limit: int = 50,
    offset: int = 0,
    order_by: list[str] = Query(None),  # noqa: B008
    connection_id_pattern: str | None = None,
    connection_id_prefix_pattern: str | None = None,
) -> ConnectionCollectionResponse:
    access.require(request, VIEW)
    connections = name_filter(Connection.objects.all(), "conn_id", connection_id_pattern, connection_id_prefix_pattern)
    rows, total = page(ordered(connections, order_by, ORDER, "id"), limit, offset)
    return ConnectionCollectionResponse(
        connections=[ConnectionResponse.from_connection(c) for c in rows], total_entries=total
    )


@router.post(
    "/connections/test", response={200: ConnectionTestResponse, **ERRORS}, by_alias=True, summary="Test Connection"
)
def test_connection(request: HttpRequest, body: ConnectionBody) -> Any:
    access.require(request, ADD)
    raise ApiError(403, TEST_DISABLED)


@router.post("/connections/enqueue-test", response={202: None, **ERRORS}, summary="Enqueue Connection Test")
def enqueue_connection_test(request: HttpRequest) -> Any:
    access.require(request, ADD)
    raise ApiError(403, TEST_DISABLED)


@router.get("/connections/enqueue-test", response={200: dict, **ERRORS}, summary="Get Connection Test")
def get_connection_test(request: HttpRequest) -> Any:
    access.require(request, ADD)
    raise ApiError(403, TEST_DISABLED)


@router.post("/connections/defaults", response={204: None, **ERRORS}, summary="Create Default Connections")
def create_default_connections(request: HttpRequest) -> Status[None]:
    """Add the default connections that do not exist yet (``connections create-default-connections``)."""
    access.require(request, ADD)
    services.connections_create_defaults(user=request.user, source="api")
    return Status(204, None)


@router.get(
    "/connections/{connection_id}",
    response={200: ConnectionResponse, **ERRORS},
    by_alias=True,
    summary="Get Connection",
)
def get_connection(request: HttpRequest, connection_id: str) -> ConnectionResponse:
    access.require(request, VIEW)
    return ConnectionResponse.from_connection(_connection_or_404(connection_id))


@router.post(
    "/connections",
    response={201: ConnectionResponse, 409: ProblemResponse, **ERRORS},
    by_alias=True,
    summary="Post Connection",
)
def post_connection(request: HttpRequest, body: ConnectionBody) -> Status[ConnectionResponse]:
    access.require(request, ADD)
    return Status(201, ConnectionResponse.from_connection(_save(request, body, stored=None, fields=FIELDS)))


@router.patch(
    "/connections/{connection_id}",
    response={200: ConnectionResponse, **ERRORS},
    by_alias=True,
    summary="Patch Connection",
)
def patch_connection(
    request: HttpRequest,
    connection_id: str,
    body: ConnectionBody,
    update_mask: list[str] = Query(None),  # noqa: B008
) -> ConnectionResponse:
    """Change the fields named by ``update_mask``, or else those the body sets."""
    access.require(request, CHANGE)
    if body.connection_id != connection_id:
        raise bad_request("The connection_id in the request body does not match the URL parameter")
    stored = _connection_or_404(connection_id)
    fields = _update_fields(update_mask, body)
    return ConnectionResponse.from_connection(_save(request, body, stored=stored, fields=fields))


@router.delete("/connections/{connection_id}", response={204: None, **ERRORS}, summary="Delete Connection")
def delete_connection(request: HttpRequest, connection_id: str) -> Status[None]:
    access.require(request, DELETE)
    if not services.connection_delete(conn_id=connection_id, user=request.user, source="api"):
        raise not_found(f"The Connection with connection_id: `{connection_id}` was not found")
    return Status(204, None)


def bulk_handlers(request: HttpRequest) -> BulkHandlers:
    def create(body: ConnectionBody) -> None:
        stored = Connection.objects.filter(conn_id=body.connection_id).first()
        _save(request, body, stored=stored, fields=FIELDS)

    def update(body: ConnectionBody, mask: list[str] | None) -> None:
        _save(request, body, stored=_connection_or_404(body.connection_id), fields=_update_fields(mask, body))

    return BulkHandlers(
        what="connections with these connection_ids",
        key=lambda body: body.connection_id,
        existing=lambda ids: set(Connection.objects.filter(conn_id__in=ids).values_list("conn_id", flat=True)),
        create=create,
        update=update,
        delete=lambda conn_id: services.connection_delete(conn_id=conn_id, user=request.user, source="api"),
    )


@router.patch("/connections", response={200: BulkResponse, **ERRORS}, summary="Bulk Connections")
def bulk_connections(request: HttpRequest, body: BulkBodyConnection) -> BulkResponse:  # type: ignore[valid-type]
    """Create, update and delete connections in one request; each action succeeds or fails whole."""
    access.require(request, VIEW)
    bulk_permissions(request, body, {"create": ADD, "update": CHANGE, "delete": DELETE})
    return bulk_run(body, bulk_handlers(request))

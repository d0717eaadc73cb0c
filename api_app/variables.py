"""``/api/v2/variables`` (Op and Admin only, as in Airflow: variables hold secrets): list, get,
create, patch, delete and bulk, through ``variable_set``/``variable_delete``.

The value of a sensitive key (``should_hide_value_for_key``) is sent as ``***``, and so is each
sensitive field of a JSON object value; sent back unchanged as ``***``, it keeps the stored value.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field, JsonValue

from api_app.bulk import BulkHandlers, BulkResponse, bulk_body, bulk_permissions, bulk_run
from api_app.common import ApiError, StrictBody, bad_request, invalid, name_filter, not_found, ordered, page
from api_app.schemas import ERRORS, ProblemResponse
from dags_app.errors import ServiceError
from dags_app.sdk.secrets import MASK, should_hide_value_for_key
from orchestrator_site import access
from runs_app import services
from runs_app.models import Variable

router = Router(tags=["Variable"])

VIEW, ADD, CHANGE, DELETE = (f"runs_app.{action}_variable" for action in ("view", "add", "change", "delete"))
ORDER = {"id": "pk", "key": "key", "description": "description"}
MAX_KEY_LENGTH = Variable._meta.get_field("key").max_length


def redacted(value: Any) -> Any:
    """``value`` with the value of each sensitive key of its objects (at any depth) as ``***``."""
    if isinstance(value, dict):
        return {
            k: MASK if should_hide_value_for_key(k) and v not in (None, "") else redacted(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def shown_value(key: str, value: str) -> str:
    """The value as the API shows it: ``***`` for a sensitive key, a JSON value's secrets masked."""
    if should_hide_value_for_key(key):
        return MASK
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    masked = redacted(decoded)
    return value if masked == decoded else json.dumps(masked)


def _unmasked(value: Any, stored: Any) -> Any:
    """A submitted value with each ``***`` that stands for a stored secret replaced by it."""
    if isinstance(value, dict) and isinstance(stored, dict):
        return {
            k: stored[k] if v == MASK and should_hide_value_for_key(k) and k in stored else _unmasked(v, stored.get(k))
            for k, v in value.items()
        }
    return value


def _restored(value: Any, stored: str) -> Any:
    """A submitted value (JSON, or text holding JSON) with the ``***`` of its sensitive fields,
    as ``shown_value`` sent them, back to the stored values."""
    try:
        old = json.loads(stored)
        decoded = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return value
    restored = _unmasked(decoded, old)
    if restored == decoded:
        return value
    return json.dumps(restored) if isinstance(value, str) else restored


class VariableResponse(Schema):
    key: str
    value: str | None
    description: str | None
    is_encrypted: bool = False
    team_name: str | None = None

    @classmethod
    def from_variable(cls, variable: Variable) -> VariableResponse:
        return cls(
            key=variable.key,
            value=shown_value(variable.key, variable.val),
            description=variable.description or None,
            # Stored as text: only connections' secrets are encrypted here.
            is_encrypted=False,
        )


class VariableCollectionResponse(Schema):
    variables: list[VariableResponse]
    total_entries: int


class VariableBody(StrictBody):
    key: str = Field(max_length=MAX_KEY_LENGTH)
    value: JsonValue
    description: str | None = None
    team_name: str | None = Field(default=None, max_length=50)


BulkBodyVariable = bulk_body(VariableBody, "VariableBody")


def _text(value: Any) -> str:
    """The value to store: text as it is, anything else as its JSON (as ``variables import``)."""
    return value if isinstance(value, str) else json.dumps(value, indent=2)


def _variable_or_404(key: str) -> Variable:
    variable = Variable.objects.filter(key=key).first()
    if variable is None:
        raise not_found(f"The Variable with key: `{key}` was not found")
    return variable


def _set(request: HttpRequest, body: VariableBody, *, stored: Variable | None, fields: set[str]) -> Variable:
    if body.team_name is not None:
        raise bad_request("Multi-team mode is not configured: team_name must be null")
    value = body.value
    if stored is not None:
        if "value" not in fields or (value == MASK and should_hide_value_for_key(body.key)):
            value = stored.val
        else:
            value = _restored(value, stored.val)
    description = (body.description or "") if stored is None or "description" in fields else None
    try:
        return services.variable_set(
            key=body.key, value=_text(value), description=description, user=request.user, source="api"
        )
    except ServiceError as exc:
        raise invalid("key", str(exc)) from None


def _update_fields(update_mask: list[str] | None, body: VariableBody) -> set[str]:
    if not update_mask:
        return set(body.model_fields_set) | {"value"}
    fields = {f.strip() for f in update_mask}
    unknown = fields - {"key", "value", "description"}
    if unknown:
        raise bad_request(f"Invalid fields in update_mask: {sorted(unknown)}")
    return fields


@router.get("/variables", response={200: VariableCollectionResponse, **ERRORS}, summary="Get Variables")
def get_variables(
    request: HttpRequest,
    limit: int = 50,
    offset: int = 0,
    order_by: list[str] = Query(None),  # noqa: B008
    variable_key_pattern: str | None = None,
    variable_key_prefix_pattern: str | None = None,
) -> VariableCollectionResponse:
    access.require(request, VIEW)
    variables = name_filter(Variable.objects.all(), "key", variable_key_pattern, variable_key_prefix_pattern)
    rows, total = page(ordered(variables, order_by, ORDER, "id"), limit, offset)
    return VariableCollectionResponse(variables=[VariableResponse.from_variable(v) for v in rows], total_entries=total)


@router.get("/variables/{variable_key}", response={200: VariableResponse, **ERRORS}, summary="Get Variable")
def get_variable(request: HttpRequest, variable_key: str) -> VariableResponse:
    access.require(request, VIEW)
    return VariableResponse.from_variable(_variable_or_404(variable_key))


@router.post("/variables", response={201: VariableResponse, 409: ProblemResponse, **ERRORS}, summary="Post Variable")
def post_variable(request: HttpRequest, body: VariableBody) -> Status[VariableResponse]:
    access.require(request, ADD)
    if Variable.objects.filter(key=body.key).exists():
        raise ApiError(409, f"The Variable with key: `{body.key}` already exists")
    return Status(201, VariableResponse.from_variable(_set(request, body, stored=None, fields=set())))


@router.patch("/variables/{variable_key}", response={200: VariableResponse, **ERRORS}, summary="Patch Variable")
def patch_variable(
    request: HttpRequest,
    variable_key: str,
    body: VariableBody,
    update_mask: list[str] = Query(None),  # noqa: B008
) -> VariableResponse:
    """Change the value and description (or those ``update_mask`` names) of an existing variable."""
    access.require(request, CHANGE)
    if body.key != variable_key:
        raise bad_request("Invalid body, key from request body doesn't match uri parameter")
    stored = _variable_or_404(variable_key)
    variable = _set(request, body, stored=stored, fields=_update_fields(update_mask, body))
    return VariableResponse.from_variable(variable)


@router.delete("/variables/{variable_key}", response={204: None, **ERRORS}, summary="Delete Variable")
def delete_variable(request: HttpRequest, variable_key: str) -> Status[None]:
    access.require(request, DELETE)
    if not services.variable_delete(key=variable_key, user=request.user, source="api"):
        raise not_found(f"The Variable with key: `{variable_key}` was not found")
    return Status(204, None)


def bulk_handlers(request: HttpRequest) -> BulkHandlers:
    def create(body: VariableBody) -> None:
        _set(request, body, stored=Variable.objects.filter(key=body.key).first(), fields={"value", "description"})

    def update(body: VariableBody, mask: list[str] | None) -> None:
        _set(request, body, stored=_variable_or_404(body.key), fields=_update_fields(mask, body))

    return BulkHandlers(
        what="variables with these keys",
        key=lambda body: body.key,
        existing=lambda keys: set(Variable.objects.filter(key__in=keys).values_list("key", flat=True)),
        create=create,
        update=update,
        delete=lambda key: services.variable_delete(key=key, user=request.user, source="api"),
    )


@router.patch("/variables", response={200: BulkResponse, **ERRORS}, summary="Bulk Variables")
def bulk_variables(request: HttpRequest, body: BulkBodyVariable) -> BulkResponse:  # type: ignore[valid-type]
    """Create, update and delete variables in one request; each action succeeds or fails whole."""
    access.require(request, VIEW)
    bulk_permissions(request, body, {"create": ADD, "update": CHANGE, "delete": DELETE})
    return bulk_run(body, bulk_handlers(request))

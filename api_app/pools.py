"""``/api/v2/pools``: list, get, create, patch, delete and bulk, through ``pool_set``/``pool_delete``.

Slot counts come from ``selectors.pool_stats`` (one query for a whole page). There is no deferred
state (a deferrable task waits in its worker, counted as running), so ``deferred_slots`` is 0 and
``include_deferred`` is always false; nor teams, so ``team_name`` is always null.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from api_app.bulk import BulkHandlers, BulkResponse, bulk_body, bulk_permissions, bulk_run
from api_app.common import ApiError, StrictBody, bad_request, invalid, name_filter, not_found, ordered, page
from api_app.schemas import ERRORS, ProblemResponse
from dags_app.errors import NotFound, ServiceError
from orchestrator_site import access
from runs_app import selectors, services
from runs_app.models import Pool

router = Router(tags=["Pool"])

VIEW, ADD, CHANGE, DELETE = (f"runs_app.{action}_pool" for action in ("view", "add", "change", "delete"))
ORDER = {"id": "pk", "name": "name", "pool": "name", "slots": "slots", "description": "description"}
# Pool.name's column length (Airflow allows 256).
MAX_NAME_LENGTH = Pool._meta.get_field("name").max_length


class PoolResponse(Schema):
    name: str
    slots: int
    description: str | None
    include_deferred: bool = False
    occupied_slots: int
    running_slots: int
    queued_slots: int
    scheduled_slots: int
    open_slots: int
    deferred_slots: int = 0
    team_name: str | None = None

    @classmethod
    def from_stats(cls, row: dict[str, Any]) -> PoolResponse:
        unlimited = row["slots"] < 0
        occupied = row["running_slots"] + row["queued_slots"]
        return cls(
            name=row["name"],
            slots=row["slots"],
            description=row["description"] or None,
            occupied_slots=occupied,
            running_slots=row["running_slots"],
            queued_slots=row["queued_slots"],
            scheduled_slots=row["scheduled_slots"],
            # Airflow's open slots of an unlimited pool are -1 (its API does not send infinity).
            open_slots=-1 if unlimited else row["open_slots"],
        )


class PoolCollectionResponse(Schema):
    pools: list[PoolResponse]
    total_entries: int


class PoolBody(StrictBody):
    name: str = Field(max_length=MAX_NAME_LENGTH)
    slots: int = Field(ge=-1)
    description: str | None = None
    include_deferred: bool = False
    team_name: str | None = Field(default=None, max_length=50)


class PoolPatchBody(StrictBody):
    pool: str | None = None
    slots: int | None = Field(default=None, ge=-1)
    description: str | None = None
    include_deferred: bool | None = None
    team_name: str | None = Field(default=None, max_length=50)


BulkBodyPool = bulk_body(PoolBody, "PoolBody")


def _unsupported(include_deferred: bool | None, team_name: str | None) -> None:
    if include_deferred:
        raise bad_request("include_deferred is not supported: deferrable tasks wait in their worker, as running")
    if team_name is not None:
        raise bad_request("Multi-team mode is not configured: team_name must be null")


def _responses(names: list[str]) -> dict[str, PoolResponse]:
    return {row["name"]: PoolResponse.from_stats(row) for row in selectors.pool_stats(names)}


def _pool_or_404(pool_name: str) -> Pool:
    pool = Pool.objects.filter(name=pool_name).first()
    if pool is None:
        raise not_found(f"The Pool with name: `{pool_name}` was not found")
    return pool


def _create(body: PoolBody) -> None:
    _unsupported(body.include_deferred, body.team_name)
    try:
        services.pool_set(name=body.name, slots=body.slots, description=body.description or "")
    except ServiceError as exc:
        raise invalid("name", str(exc)) from None


PATCHABLE = {"pool", "name", "slots", "description", "include_deferred", "team_name"}


def _patch(pool: Pool, values: dict[str, Any], fields: set[str]) -> None:
    """Change the ``fields`` of ``pool`` to ``values`` (renaming is not supported)."""
    unknown = fields - PATCHABLE
    if unknown:
        raise bad_request(f"Invalid fields in update_mask: {sorted(unknown)}")
    new_name = values.get("pool") if "pool" in fields else values.get("name") if "name" in fields else None
    if new_name not in (None, pool.name):
        raise bad_request("A pool cannot be renamed: create the new pool and move the tasks to it")
    changed = {f for f in fields if f not in ("pool", "name")}
    if pool.name == Pool.DEFAULT_POOL_NAME and changed - {"slots", "include_deferred"}:
        raise bad_request("Only slots and included_deferred can be modified on Default Pool")
    _unsupported(values.get("include_deferred") if "include_deferred" in fields else None, values.get("team_name"))
    slots = values.get("slots") if "slots" in fields else pool.slots
    if slots is None:
        raise invalid("slots", "slots may not be null")
    description = (values.get("description") or "") if "description" in fields else pool.description
    services.pool_set(name=pool.name, slots=slots, description=description)


@router.get("/pools", response={200: PoolCollectionResponse, **ERRORS}, summary="Get Pools")
def get_pools(
    request: HttpRequest,
    limit: int = 50,
    offset: int = 0,
    order_by: list[str] = Query(None),  # noqa: B008
    pool_name_pattern: str | None = None,
    pool_name_prefix_pattern: str | None = None,
) -> PoolCollectionResponse:
    """One page of pools with their slot counts (four queries whatever the page size)."""
    access.require(request, VIEW)
    pools = name_filter(Pool.objects.all(), "name", pool_name_pattern, pool_name_prefix_pattern)
    names, total = page(ordered(pools.values_list("name", flat=True), order_by, ORDER, "id"), limit, offset)
    stats = _responses(names)
    return PoolCollectionResponse(pools=[stats[n] for n in names if n in stats], total_entries=total)


@router.get("/pools/{pool_name}", response={200: PoolResponse, **ERRORS}, summary="Get Pool")
def get_pool(request: HttpRequest, pool_name: str) -> PoolResponse:
    access.require(request, VIEW)
    pool = _pool_or_404(pool_name)
    return _responses([pool.name])[pool.name]


@router.post("/pools", response={201: PoolResponse, 409: ProblemResponse, **ERRORS}, summary="Post Pool")
def post_pool(request: HttpRequest, body: PoolBody) -> Status[PoolResponse]:
    access.require(request, ADD)
    if Pool.objects.filter(name=body.name).exists():
        raise ApiError(409, f"The Pool with name: `{body.name}` already exists")
    _create(body)
    return Status(201, _responses([body.name])[body.name])


@router.patch("/pools/{pool_name}", response={200: PoolResponse, **ERRORS}, summary="Patch Pool")
def patch_pool(
    request: HttpRequest,
    pool_name: str,
    body: PoolPatchBody,
    update_mask: list[str] = Query(None),  # noqa: B008
) -> PoolResponse:
    """Change the fields named by ``update_mask``, or else those the body sets."""
    access.require(request, CHANGE)
    pool = _pool_or_404(pool_name)
    fields = {f.strip() for f in update_mask} if update_mask else set(body.model_fields_set)
    try:
        _patch(pool, body.model_dump(), fields)
    except ServiceError as exc:
        raise invalid("slots", str(exc)) from None
    return _responses([pool.name])[pool.name]


@router.delete("/pools/{pool_name}", response={204: None, **ERRORS}, summary="Delete Pool")
def delete_pool(request: HttpRequest, pool_name: str) -> Status[None]:
    access.require(request, DELETE)
    if pool_name == Pool.DEFAULT_POOL_NAME:
        raise bad_request("Default Pool can't be deleted")
    try:
        services.pool_delete(name=pool_name)
    except NotFound:
        raise not_found(f"The Pool with name: `{pool_name}` was not found") from None
    return Status(204, None)


def _bulk_delete(name: str) -> None:
    if name == Pool.DEFAULT_POOL_NAME:
        raise bad_request("Default Pool can't be deleted")
    services.pool_delete(name=name)


BULK = BulkHandlers(
    what="pools with these pool names",
    key=lambda body: body.name,
    existing=lambda names: set(Pool.objects.filter(name__in=names).values_list("name", flat=True)),
    create=_create,
    update=lambda body, mask: _patch(
        _pool_or_404(body.name), body.model_dump(), set(mask) if mask else set(body.model_fields_set) - {"name"}
    ),
    delete=_bulk_delete,
)


@router.patch("/pools", response={200: BulkResponse, **ERRORS}, summary="Bulk Pools")
def bulk_pools(request: HttpRequest, body: BulkBodyPool) -> BulkResponse:  # type: ignore[valid-type]
    """Create, update and delete pools in one request; each action succeeds or fails whole."""
    access.require(request, VIEW)
    bulk_permissions(request, body, {"create": ADD, "update": CHANGE, "delete": DELETE})
    return bulk_run(body, BULK)

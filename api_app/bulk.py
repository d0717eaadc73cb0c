"""Airflow's bulk ``PATCH`` (create, update and delete actions in one request), shared by the
routes of pools, variables and connections: each resource gives its services as ``BulkHandlers``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from django.db import transaction
from django.http import HttpRequest
from ninja import Schema
from pydantic import Field, create_model

from api_app.common import ApiError, StrictBody
from dags_app.errors import Conflict, NotFound, ServiceError
from orchestrator_site import access


class BulkActionResponse(Schema):
    success: list[str] = Field(default_factory=list)
    errors: list[dict[str, Any]] = Field(default_factory=list)


class BulkResponse(Schema):
    create: BulkActionResponse | None = None
    update: BulkActionResponse | None = None
    delete: BulkActionResponse | None = None


def bulk_body(entity: type[Schema], name: str) -> type[Schema]:
    """Airflow's ``BulkBody[<entity>]``: a list of create, update and delete actions."""
    create = create_model(
        f"BulkCreateAction_{name}_",
        __base__=StrictBody,
        action=(Literal["create"], ...),
        entities=(list[entity], ...),
        action_on_existence=(Literal["fail", "skip", "overwrite"], "fail"),
    )
    update = create_model(
        f"BulkUpdateAction_{name}_",
        __base__=StrictBody,
        action=(Literal["update"], ...),
        entities=(list[entity], ...),
        update_mask=(list[str] | None, None),
        action_on_non_existence=(Literal["fail", "skip"], "fail"),
    )
    delete = create_model(
        f"BulkDeleteAction_{name}_",
        __base__=StrictBody,
        action=(Literal["delete"], ...),
        entities=(list[str | entity], ...),
        action_on_non_existence=(Literal["fail", "skip"], "fail"),
    )
    action = Annotated[create | update | delete, Field(discriminator="action")]
    return create_model(f"BulkBody_{name}_", __base__=StrictBody, actions=(list[action], ...))


@dataclass(frozen=True)
class BulkHandlers:
    """How one resource's bulk actions are done: each handler calls the resource's service.

    ``what`` names the keys in messages ("pools with these pool names"); ``existing`` returns
    which of the given keys exist (one query).
    """

    what: str
    key: Callable[[Any], str]
    existing: Callable[[list[str]], set[str]]
    create: Callable[[Any], None]
    update: Callable[[Any, list[str] | None], None]
    delete: Callable[[str], None]


def bulk_permissions(request: HttpRequest, body: Any, permissions: dict[str, str]) -> None:
    """403 unless the user may do every action of ``body`` (an overwriting create also updates)."""
    for action in body.actions:
        access.require(request, permissions[action.action])
        if action.action == "create" and action.action_on_existence == "overwrite":
            access.require(request, permissions["update"])


def _keys(keys: Iterable[str]) -> str:
    return "{" + ", ".join(repr(k) for k in sorted(set(keys))) + "}"


def _apply(action: Any, handlers: BulkHandlers) -> list[str]:
    entities = list(action.entities)
    keys = [e if isinstance(e, str) else handlers.key(e) for e in entities]
    existing = handlers.existing(keys)
    done = []
    if action.action == "create":
        if action.action_on_existence == "fail" and existing:
            raise ApiError(409, f"The {handlers.what}: {_keys(existing)} already exist.")
        for key, entity in zip(keys, entities, strict=True):
            if key in existing and action.action_on_existence == "skip":
                continue
            handlers.create(entity)
            done.append(key)
        return done
    missing = set(keys) - existing
    if missing and action.action_on_non_existence == "fail":
        raise ApiError(404, f"The {handlers.what}: {_keys(missing)} were not found.")
    for key, entity in zip(keys, entities, strict=True):
        if key in missing:
            continue
        if action.action == "update":
            handlers.update(entity, action.update_mask)
        else:
            handlers.delete(key)
        done.append(key)
    return done


def _error(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, ApiError):
        return {"error": str(exc.detail), "status_code": exc.status}
    status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 400
    return {"error": str(exc), "status_code": status}


def bulk_run(body: Any, handlers: BulkHandlers) -> BulkResponse:
    """Do each action of ``body`` in order, each all or nothing: a failing action rolls back,
    is reported in its ``errors`` and the next one still runs (Airflow's bulk semantics)."""
    response = BulkResponse()
    for action in body.actions:
        result = getattr(response, action.action) or BulkActionResponse()
        setattr(response, action.action, result)
        try:
            with transaction.atomic():
                done = _apply(action, handlers)
        except (ApiError, ServiceError) as exc:
            result.errors.append(_error(exc))
        else:
            result.success.extend(done)
    return response

"""What every API route shares: the role checks, paging, ordering, the ``~`` wildcard, Airflow's
``*_pattern`` filters, strict request bodies and the problem-JSON errors (Airflow's
``{"detail": ...}`` with its status codes)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest
from django.urls import register_converter
from pydantic import ConfigDict

from api_app.schemas import RequestBody
from dags_app.models import DagModel
from orchestrator_site import access

WILDCARD = "~"
# Airflow's [api] maximum_page_limit: a larger limit is lowered to it.
MAX_PAGE_LIMIT = 100


class SignedIntConverter:
    """``{signed:map_index}``: a path segment that is an integer (``-1`` included), so that
    ``…/taskInstances/{task_id}/{map_index}`` leaves ``…/{task_id}/xcomEntries`` to its own route."""

    regex = "-?[0-9]+"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(SignedIntConverter, "signed")


class ApiError(Exception):
    """An error answer: ``status`` and Airflow's ``detail``."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status, self.detail = status, detail


def bad_request(detail: str) -> ApiError:
    return ApiError(400, detail)


def not_found(detail: str) -> ApiError:
    return ApiError(404, detail)


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """A date filter's value, aware: one without a timezone is UTC (as Airflow reads it)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def page(queryset: QuerySet, limit: int, offset: int) -> tuple[list, int]:
    """One page of ``queryset`` and the count of all its rows (two queries)."""
    if limit < 0 or offset < 0:
        raise ApiError(422, [{"loc": ["query", "limit" if limit < 0 else "offset"], "msg": "must be >= 0"}])
    limit = min(limit, MAX_PAGE_LIMIT)
    return list(queryset[offset : offset + limit]), queryset.count()


def page_by_keys(queryset: QuerySet, limit: int, offset: int) -> tuple[list, int]:
    """As ``page``, for wide rows (joined) under an ordering no index serves, such as the task
    instances' ``map_index``: the page's keys are sorted alone, narrow, then only those rows are
    read with their joins (three queries; sorting 100,000 joined rows took 90 ms on SQLite)."""
    if limit < 0 or offset < 0:
        raise ApiError(422, [{"loc": ["query", "limit" if limit < 0 else "offset"], "msg": "must be >= 0"}])
    limit = min(limit, MAX_PAGE_LIMIT)
    keys = list(queryset.values_list("pk", flat=True)[offset : offset + limit])
    rows = {row.pk: row for row in queryset.order_by().filter(pk__in=keys)} if keys else {}
    return [rows[key] for key in keys if key in rows], queryset.count()


def ordered(queryset: QuerySet, order_by: list[str] | None, fields: dict[str, str], default: str) -> QuerySet:
    """``order_by`` (Airflow's attribute names, ``-`` for descending) mapped through ``fields``."""
    terms = []
    for item in order_by or [default]:
        for name in str(item).split(","):
            name = name.strip()
            if not name:
                continue
            descending = name.startswith("-")
            key = name.lstrip("-")
            if key not in fields:
                raise bad_request(f"Ordering with '{key}' is disallowed or the attribute does not exist on the model")
            terms.append(("-" if descending else "") + fields[key])
    return queryset.order_by(*terms, "pk")


def dag_or_404(request: HttpRequest, dag_id: str, permission: str = access.READ) -> DagModel:
    """The DAG a user may read (and act on with ``permission``), or 404/403 as the UI does."""
    access.require(request, access.READ)
    dag = DagModel.objects.prefetch_related("tags").filter(dag_id=dag_id).first()
    if dag is None or not access.dag_allows(request.user, dag, access.READ):
        raise not_found(f"The Dag with ID: `{dag_id}` was not found")
    if permission != access.READ:
        access.require(request, permission, dag)
    return dag


def readable_rows(request: HttpRequest, queryset: QuerySet, dag_path: str) -> QuerySet:
    """The rows of ``queryset`` whose DAG (the ``DagModel`` at ``dag_path``) the user may read.

    No condition at all when no DAG is hidden from the user (an Admin; or no DAG's access_control
    leaves the user out): on 100,000 task instances the condition costs more than the query that
    tells there is nothing to hide."""
    access.require(request, access.READ)
    hidden = access.hidden_dags(request.user, DagModel.objects.all())
    if not hidden.exists():
        return queryset
    return queryset.filter(**{f"{dag_path}__in": access.readable(request.user, DagModel.objects.all())})


def readable_dags(request: HttpRequest) -> QuerySet:
    access.require(request, access.READ)
    return access.readable(request.user, DagModel.objects.all())


def _like_regex(term: str) -> str:
    return "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in term)


def name_filter(queryset: QuerySet, field: str, pattern: str | None = None, prefix: str | None = None) -> QuerySet:
    """Airflow's ``<field>_pattern`` (a case-insensitive substring, ``%`` and ``_`` wildcards as in
    SQL ``ILIKE``) and ``<field>_prefix_pattern`` (the start, trailing punctuation dropped); in
    both ``|`` separates alternatives and ``~`` matches everything."""
    if pattern and pattern != WILDCARD:
        condition = Q()
        for term in filter(None, pattern.split("|")):
            lookup = "iregex" if "%" in term or "_" in term else "icontains"
            condition |= Q(**{f"{field}__{lookup}": _like_regex(term) if lookup == "iregex" else term})
        queryset = queryset.filter(condition)
    if prefix and prefix != WILDCARD:
        condition = Q()
        for term in prefix.split("|"):
            condition |= Q(**{f"{field}__startswith": re.sub(r"[^0-9A-Za-z]+$", "", term)})
        queryset = queryset.filter(condition)
    return queryset


class StrictBody(RequestBody):
    """A request body as Airflow's ``StrictBaseModel``: a JSON object, an unknown field a 422."""

    model_config = ConfigDict(extra="forbid")


def invalid(field: str, message: str) -> ApiError:
    """A 422 naming the body's ``field``, as FastAPI words a validation error."""
    return ApiError(422, [{"loc": ["body", field], "msg": message, "type": "value_error"}])


__all__ = ["WILDCARD", "Http404"]

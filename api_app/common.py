"""What every API route shares: the role checks, paging, ordering, the ``~`` wildcard and the
problem-JSON errors (Airflow's ``{"detail": ...}`` with its status codes)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.urls import register_converter

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


__all__ = ["WILDCARD", "Http404"]

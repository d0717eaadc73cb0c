"""What every API route shares: the role checks, paging, ordering, the ``~`` wildcard and the
problem-JSON errors (Airflow's ``{"detail": ...}`` with its status codes)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from dags_app.models import DagModel
from orchestrator_site import access

WILDCARD = "~"
# Airflow's [api] maximum_page_limit: a larger limit is lowered to it.
MAX_PAGE_LIMIT = 100


class ApiError(Exception):
    """An error answer: ``status`` and Airflow's ``detail``."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status, self.detail = status, detail


def bad_request(detail: str) -> ApiError:
    return ApiError(400, detail)


def not_found(detail: str) -> ApiError:
    return ApiError(404, detail)


def page(queryset: QuerySet, limit: int, offset: int) -> tuple[list, int]:
    """One page of ``queryset`` and the count of all its rows (two queries)."""
    if limit < 0 or offset < 0:
        raise ApiError(422, [{"loc": ["query", "limit" if limit < 0 else "offset"], "msg": "must be >= 0"}])
    limit = min(limit, MAX_PAGE_LIMIT)
    return list(queryset[offset : offset + limit]), queryset.count()


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


def readable_dags(request: HttpRequest) -> QuerySet:
    access.require(request, access.READ)
    return access.readable(request.user, DagModel.objects.all())


__all__ = ["WILDCARD", "Http404"]

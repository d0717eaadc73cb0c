"""Read queries over definitions, shared by views, the CLI and the admin."""

from __future__ import annotations

from django.db.models import QuerySet

from dags_app.models import DagImportError, DagModel


def dag_list(*, search: str = "", tag: str = "", paused: bool | None = None) -> QuerySet[DagModel]:
    """Return the active DAGs matching the filters, tags prefetched, ordered by id."""
    # The serialized DAG is large and the list never needs it.
    qs = DagModel.objects.filter(is_active=True).defer("serialized").prefetch_related("tags").order_by("dag_id")
    if search:
        qs = qs.filter(dag_id__icontains=search)
    if tag:
        qs = qs.filter(tags__name=tag)
    if paused is not None:
        qs = qs.filter(is_paused=paused)
    return qs


def import_errors() -> QuerySet[DagImportError]:
    return DagImportError.objects.order_by("filename")

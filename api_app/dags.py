"""``/api/v2/dags``: list (filters, paging, ordering), get, details, pause/unpause, delete, tasks."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Status

from api_app.common import ApiError, dag_or_404, not_found, ordered, page, readable_dags
from api_app.schemas import (
    ERRORS,
    DAGCollectionResponse,
    DAGDetailsResponse,
    DAGPatchBody,
    DAGResponse,
    TaskCollectionResponse,
    TaskResponse,
)
from dags_app.models import DagImportError, DagModel, DagTag
from orchestrator_site import access
from runs_app import services

router = Router(tags=["DAG"])

ORDER_FIELDS = {
    "dag_id": "dag_id",
    "dag_display_name": "dag_display_name",
    "next_dagrun": "next_dagrun",
    "next_dagrun_logical_date": "next_dagrun",
    "last_parsed_time": "last_parsed_time",
    "is_paused": "is_paused",
    "owners": "owners",
    "timetable_summary": "timetable_summary",
}


def _tags(dags: list[DagModel]) -> dict[int, list[str]]:
    tags: dict[int, list[str]] = defaultdict(list)
    for dag_pk, name in DagTag.objects.filter(dag_id__in=[d.pk for d in dags]).values_list("dag_id", "name"):
        tags[dag_pk].append(name)
    return tags


def _with_import_errors(dags: list[DagModel]) -> set[str]:
    files = {d.fileloc for d in dags}
    return set(DagImportError.objects.filter(filename__in=files).values_list("filename", flat=True))


def _response(dag: DagModel, tags: list[str], errors: set[str]) -> DAGResponse:
    response = DAGResponse.from_dag(dag, tags)
    response.has_import_errors = dag.fileloc in errors
    return response


@router.get("/dags", response={200: DAGCollectionResponse, **ERRORS}, summary="Get Dags")
def get_dags(
    request: HttpRequest,
    limit: int = 50,
    offset: int = 0,
    tags: list[str] = Query(None),  # noqa: B008
    tags_match_mode: str | None = None,
    owners: list[str] = Query(None),  # noqa: B008
    dag_id_pattern: str | None = None,
    dag_id_prefix_pattern: str | None = None,
    dag_display_name_pattern: str | None = None,
    exclude_stale: bool = True,
    only_active: bool | None = None,
    paused: bool | None = None,
    has_asset_schedule: bool | None = None,
    order_by: list[str] = Query(None),  # noqa: B008
) -> DAGCollectionResponse:
    """The DAGs the user may read, one page of them (three queries whatever the page size)."""
    dags = readable_dags(request)
    if exclude_stale if only_active is None else only_active:
        dags = dags.filter(is_active=True)
    if paused is not None:
        dags = dags.filter(is_paused=paused)
    if dag_id_pattern:
        dags = dags.filter(dag_id__icontains=dag_id_pattern.replace("%", ""))
    if dag_id_prefix_pattern:
        dags = dags.filter(dag_id__startswith=dag_id_prefix_pattern)
    if dag_display_name_pattern:
        dags = dags.filter(
            Q(dag_display_name__icontains=dag_display_name_pattern) | Q(dag_id__icontains=dag_display_name_pattern)
        )
    if tags:
        if (tags_match_mode or "any") == "all":
            for tag in tags:
                dags = dags.filter(tags__name=tag)
        else:
            dags = dags.filter(tags__name__in=tags).distinct()
    if owners:
        owner_query = Q()
        for owner in owners:
            owner_query |= Q(owners__icontains=owner)
        dags = dags.filter(owner_query)
    if has_asset_schedule is not None:
        scheduled = Q(serialized__asset_condition__isnull=False) & ~Q(serialized__asset_condition=None)
        dags = dags.filter(scheduled) if has_asset_schedule else dags.exclude(scheduled)
    rows, total = page(ordered(dags, order_by, ORDER_FIELDS, "dag_id"), limit, offset)
    tags_of = _tags(rows)
    errors = _with_import_errors(rows)
    return DAGCollectionResponse(dags=[_response(d, tags_of[d.pk], errors) for d in rows], total_entries=total)


@router.get("/dags/{dag_id}", response={200: DAGResponse, **ERRORS}, summary="Get Dag")
def get_dag(request: HttpRequest, dag_id: str) -> DAGResponse:
    dag = dag_or_404(request, dag_id)
    return _response(dag, [t.name for t in dag.tags.all()], _with_import_errors([dag]))


@router.get("/dags/{dag_id}/details", response={200: DAGDetailsResponse, **ERRORS}, summary="Get Dag Details")
def get_dag_details(request: HttpRequest, dag_id: str) -> DAGDetailsResponse:
    dag = dag_or_404(request, dag_id)
    details = DAGDetailsResponse.from_dag(dag, [t.name for t in dag.tags.all()])
    details.active_runs_count = dag.runs.filter(state__in=["queued", "running"]).count()
    return details


@router.patch("/dags/{dag_id}", response={200: DAGResponse, **ERRORS}, summary="Patch Dag")
def patch_dag(
    request: HttpRequest,
    dag_id: str,
    body: DAGPatchBody,
    update_mask: list[str] = Query(None),  # noqa: B008
) -> DAGResponse:
    """Pause or unpause (``is_paused``, the only field Airflow lets you change)."""
    if update_mask and set(update_mask) - {"is_paused"}:
        raise ApiError(400, "Only `is_paused` field can be updated through the REST API")
    dag = dag_or_404(request, dag_id, access.PAUSE)
    services.dag_set_paused(dag=dag, is_paused=body.is_paused, user=request.user, source="api")
    return _response(dag, [t.name for t in dag.tags.all()], _with_import_errors([dag]))


@router.patch("/dags", response={200: DAGCollectionResponse, **ERRORS}, summary="Patch Dags")
def patch_dags(
    request: HttpRequest,
    body: DAGPatchBody,
    dag_id_pattern: str | None = None,
    limit: int = 50,
    offset: int = 0,
    update_mask: list[str] = Query(None),  # noqa: B008
) -> DAGCollectionResponse:
    """Pause or unpause every DAG matching ``dag_id_pattern`` (a page of them) that the user may."""
    if update_mask and set(update_mask) - {"is_paused"}:
        raise ApiError(400, "Only `is_paused` field can be updated through the REST API")
    access.require(request, access.PAUSE)
    dags = readable_dags(request).filter(is_active=True)
    if dag_id_pattern:
        dags = dags.filter(dag_id__icontains=dag_id_pattern)
    rows, total = page(ordered(dags, None, ORDER_FIELDS, "dag_id"), limit, offset)
    rows = [d for d in rows if access.dag_allows(request.user, d, access.PAUSE)]
    for dag in rows:
        services.dag_set_paused(dag=dag, is_paused=body.is_paused, user=request.user, source="api")
    tags_of = _tags(rows)
    errors = _with_import_errors(rows)
    return DAGCollectionResponse(dags=[_response(d, tags_of[d.pk], errors) for d in rows], total_entries=total)


@router.delete("/dags/{dag_id}", response={204: None, **ERRORS}, summary="Delete Dag")
def delete_dag(request: HttpRequest, dag_id: str) -> Status:
    dag_or_404(request, dag_id, access.DELETE)
    services.dag_delete(dag_id=dag_id, user=request.user, source="api")
    return Status(204, None)


@router.get("/dags/{dag_id}/tasks", response={200: TaskCollectionResponse, **ERRORS}, summary="Get Tasks")
def get_tasks(request: HttpRequest, dag_id: str, order_by: str = "task_id") -> TaskCollectionResponse:
    dag = dag_or_404(request, dag_id)
    key = order_by.lstrip("-")
    tasks = list(dag.tasks)
    if tasks and key not in tasks[0] and key != "task_id":
        raise ApiError(400, f"'{dag_id}' DAG has no task attribute {key!r} to order by")
    tasks.sort(key=lambda t: (t.get(key) is None, str(t.get(key))), reverse=order_by.startswith("-"))
    return TaskCollectionResponse(tasks=[TaskResponse.from_task(t) for t in tasks], total_entries=len(tasks))


@router.get("/dags/{dag_id}/tasks/{task_id}", response={200: TaskResponse, **ERRORS}, summary="Get Task")
def get_task(request: HttpRequest, dag_id: str, task_id: str) -> TaskResponse:
    dag = dag_or_404(request, dag_id)
    task = dag.get_task(task_id)
    if task is None:
        raise not_found(f"Task with id {task_id} not found")
    return TaskResponse.from_task(task)


__all__ = ["router", "timezone"]

"""``/api/v2/monitor/health``, ``/api/v2/version``, ``/api/v2/importErrors``, ``/api/v2/eventLogs``."""

from __future__ import annotations

import datetime as dt

from django.db import DatabaseError, connection
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router

from api_app.common import dag_or_404, not_found, ordered, page, utc
from api_app.schemas import (
    ERRORS,
    BaseInfoResponse,
    EventLogCollectionResponse,
    EventLogResponse,
    HealthInfoResponse,
    ImportErrorCollectionResponse,
    ImportErrorResponse,
    SchedulerInfoResponse,
    TriggererInfoResponse,
    VersionInfo,
)
from dags_app.models import DagImportError, DagModel
from dags_app.sdk.airflow_compat import AIRFLOW_VERSION
from orchestrator_site import access
from runs_app.models import AuditLog, Job
from runs_app.services import scheduler_is_healthy
from runs_app.states import JobType

router = Router(tags=["Monitor"])
info_router = Router(tags=["Version"])
errors_router = Router(tags=["Import Error"])
events_router = Router(tags=["Event Log"])


@router.get("/monitor/health", response=HealthInfoResponse, auth=None, summary="Get Health")
def get_health(request: HttpRequest) -> HealthInfoResponse:
    """The metastore's and the scheduler's status, for load balancers and monitors (no login)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "healthy"
        latest = (
            Job.objects.filter(job_type=JobType.SCHEDULER)
            .order_by("-latest_heartbeat")
            .values_list("latest_heartbeat", flat=True)
            .first()
        )
        scheduler = "healthy" if scheduler_is_healthy(now=timezone.now()) else "unhealthy"
    except DatabaseError:
        database, scheduler, latest = "unhealthy", None, None
    return HealthInfoResponse(
        metadatabase=BaseInfoResponse(status=database),
        scheduler=SchedulerInfoResponse(
            status=scheduler, latest_scheduler_heartbeat=latest.isoformat() if latest else None
        ),
        # There is no triggerer: deferrable tasks wait in their worker.
        triggerer=TriggererInfoResponse(status=None, latest_triggerer_heartbeat=None),
        dag_processor=None,
    )


@info_router.get("/version", response=VersionInfo, auth=None, summary="Get Version")
def get_version(request: HttpRequest) -> VersionInfo:
    """The Airflow version whose API this is."""
    return VersionInfo(version=AIRFLOW_VERSION, git_version=None)


IMPORT_ERROR_ORDER = {"id": "pk", "import_error_id": "pk", "timestamp": "timestamp", "filename": "filename"}


@errors_router.get(
    "/importErrors", response={200: ImportErrorCollectionResponse, **ERRORS}, summary="Get Import Errors"
)
def get_import_errors(
    request: HttpRequest,
    limit: int = 50,
    offset: int = 0,
    order_by: list[str] = Query(None),  # noqa: B008
    filename_pattern: str | None = None,
) -> ImportErrorCollectionResponse:
    access.require(request, access.READ)
    rows = access.without_hidden_files(request.user, DagImportError.objects.all())
    if filename_pattern:
        rows = rows.filter(filename__icontains=filename_pattern)
    found, total = page(ordered(rows, order_by, IMPORT_ERROR_ORDER, "id"), limit, offset)
    return ImportErrorCollectionResponse(
        import_errors=[ImportErrorResponse.from_row(r) for r in found], total_entries=total
    )


@errors_router.get(
    "/importErrors/{import_error_id}", response={200: ImportErrorResponse, **ERRORS}, summary="Get Import Error"
)
def get_import_error(request: HttpRequest, import_error_id: int) -> ImportErrorResponse:
    access.require(request, access.READ)
    row = access.without_hidden_files(request.user, DagImportError.objects.filter(pk=import_error_id)).first()
    if row is None:
        raise not_found(f"The ImportError with import_error_id: `{import_error_id}` was not found")
    return ImportErrorResponse.from_row(row)


EVENT_ORDER = {
    "id": "pk",
    "event_log_id": "pk",
    "when": "when",
    "dag_id": "dag_id",
    "event": "event",
    "owner": "username",
}


def _events(request: HttpRequest):
    access.require(request, "runs_app.view_auditlog")
    rows = AuditLog.objects.all()
    hidden = access.hidden_dags(request.user, DagModel.objects.all())
    if hidden.exists():  # one cheap query, not a condition on every line of a large table
        rows = rows.exclude(dag_id__in=hidden.values("dag_id"))
    return rows


@events_router.get("/eventLogs", response={200: EventLogCollectionResponse, **ERRORS}, summary="Get Event Logs")
def get_event_logs(
    request: HttpRequest,
    limit: int = 50,
    offset: int = 0,
    order_by: list[str] = Query(None),  # noqa: B008
    dag_id: str | None = None,
    task_id: str | None = None,
    run_id: str | None = None,
    event: str | None = None,
    owner: str | None = None,
    before: dt.datetime | None = None,
    after: dt.datetime | None = None,
    included_events: list[str] = Query(None),  # noqa: B008
    excluded_events: list[str] = Query(None),  # noqa: B008
) -> EventLogCollectionResponse:
    rows = _events(request)
    for field, value in (("dag_id", dag_id), ("task_id", task_id), ("run_id", run_id), ("event", event)):
        if value is not None:
            rows = rows.filter(**{field: value})
    if owner is not None:
        rows = rows.filter(username=owner)
    if before is not None:
        rows = rows.filter(when__lt=utc(before))
    if after is not None:
        rows = rows.filter(when__gt=utc(after))
    if included_events:
        rows = rows.filter(event__in=included_events)
    if excluded_events:
        rows = rows.exclude(event__in=excluded_events)
    found, total = page(ordered(rows, order_by, EVENT_ORDER, "id"), limit, offset)
    return EventLogCollectionResponse(event_logs=[EventLogResponse.from_row(r) for r in found], total_entries=total)


@events_router.get("/eventLogs/{event_log_id}", response={200: EventLogResponse, **ERRORS}, summary="Get Event Log")
def get_event_log(request: HttpRequest, event_log_id: int) -> EventLogResponse:
    row = _events(request).filter(pk=event_log_id).first()
    if row is None:
        raise not_found(f"The Event Log with id: `{event_log_id}` not found")
    return EventLogResponse.from_row(row)


__all__ = ["dag_or_404", "errors_router", "events_router", "info_router", "router"]

"""``/api/v2/assets``: assets, aliases, events (read, and made by hand with ``asset_event_create``),
the queue of events waiting for the DAGs scheduled on them, and a run's upstream events.

The DAGs an asset names (its scheduled DAGs, producing and consuming tasks) and the runs an event
triggered leave out the DAGs the user may not read. Each list is a fixed number of queries.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Prefetch, QuerySet, Subquery
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from ninja import Query, Router, Schema, Status
from pydantic import Field

from api_app.common import (
    ApiError,
    StrictBody,
    bad_request,
    dag_or_404,
    invalid,
    name_filter,
    not_found,
    ordered,
    page,
    readable_dags,
    utc,
)
from api_app.runs import triggered
from api_app.schemas import ERRORS, DAGRunResponse, MaterializeAssetBody, ProblemResponse
from dags_app.models import AssetAliasModel, AssetModel, DagAssetReference, DagModel
from orchestrator_site import access
from runs_app import assets as asset_services
from runs_app import selectors
from runs_app.masking import PageMasker
from runs_app.models import AssetDagRunQueue, AssetEvent, DagRun

router = Router(tags=["Asset"])

VIEW_ASSET = "dags_app.view_assetmodel"
VIEW_ALIAS = "dags_app.view_assetaliasmodel"
VIEW_EVENT = "runs_app.view_assetevent"
VIEW_QUEUE = "runs_app.view_assetdagrunqueue"

ASSET_ORDER = {
    "id": "pk",
    "name": "name",
    "uri": "uri",
    "group": "group",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "last_asset_event": "last_event_at",
}
ALIAS_ORDER = {"id": "pk", "name": "name", "group": "group"}
EVENT_ORDER = {
    "id": "pk",
    "asset_id": "asset_id",
    "timestamp": "timestamp",
    "source_dag_id": "source_dag_id",
    "source_task_id": "source_task_id",
    "source_run_id": "source_run_id",
    "source_map_index": "source_map_index",
}


# -- shapes ----------------------------------------------------------------------------------------


class DagScheduleAssetReference(Schema):
    dag_id: str
    created_at: dt.datetime
    updated_at: dt.datetime


class TaskOutletAssetReference(Schema):
    dag_id: str
    task_id: str
    created_at: dt.datetime
    updated_at: dt.datetime


class TaskInletAssetReference(TaskOutletAssetReference):
    pass


class AssetAliasResponse(Schema):
    id: int
    name: str
    group: str

    @classmethod
    def from_alias(cls, alias: AssetAliasModel) -> AssetAliasResponse:
        return cls(id=alias.pk, name=alias.name, group=alias.group)


class LastAssetEventResponse(Schema):
    id: int | None = None
    timestamp: dt.datetime | None = None


class AssetResponse(Schema):
    id: int
    name: str
    uri: str
    group: str
    extra: dict[str, Any] | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    scheduled_dags: list[DagScheduleAssetReference]
    producing_tasks: list[TaskOutletAssetReference]
    consuming_tasks: list[TaskInletAssetReference]
    aliases: list[AssetAliasResponse]
    # Assets are updated by tasks and by hand; nothing watches for external events.
    watchers: list[dict[str, Any]] = Field(default_factory=list)
    last_asset_event: LastAssetEventResponse | None = None

    @classmethod
    def from_row(cls, row: selectors.AssetRow) -> AssetResponse:
        asset = row.asset
        # References carry no times of their own: they are rewritten with the asset's DAGs.
        when = {"created_at": asset.created_at, "updated_at": asset.updated_at}
        last_id, last_at = getattr(asset, "last_event_id", None), getattr(asset, "last_event_at", None)
        return cls(
            id=asset.pk,
            name=asset.name,
            uri=asset.uri,
            group=asset.group,
            extra=asset.extra,
            created_at=asset.created_at,
            updated_at=asset.updated_at,
            # Airflow's scheduled DAGs are those naming the asset itself, not one of its aliases.
            scheduled_dags=[DagScheduleAssetReference(dag_id=d, **when) for d, alias in row.consumers if not alias],
            producing_tasks=[TaskOutletAssetReference(dag_id=d, task_id=t, **when) for d, t in row.producers],
            consuming_tasks=[TaskInletAssetReference(dag_id=d, task_id=t, **when) for d, t in row.readers],
            aliases=[AssetAliasResponse.from_alias(a) for a in asset.aliases.all()],
            last_asset_event=LastAssetEventResponse(id=last_id, timestamp=last_at) if last_id else None,
        )


class AssetCollectionResponse(Schema):
    assets: list[AssetResponse]
    total_entries: int


class AssetAliasCollectionResponse(Schema):
    asset_aliases: list[AssetAliasResponse]
    total_entries: int


class DagRunAssetReference(Schema):
    run_id: str
    dag_id: str
    logical_date: dt.datetime | None
    start_date: dt.datetime
    end_date: dt.datetime | None
    state: str
    data_interval_start: dt.datetime | None
    data_interval_end: dt.datetime | None
    partition_key: str | None = None
    triggering: bool

    @classmethod
    def from_run(cls, run: DagRun, *, triggering: bool) -> DagRunAssetReference:
        return cls(
            run_id=run.run_id,
            dag_id=run.dag.dag_id,
            logical_date=run.logical_date,
            # Airflow's field is never null: a run not started yet gives the time it was queued.
            start_date=run.start_date or run.queued_at or run.created_at,
            end_date=run.end_date,
            state=run.state,
            data_interval_start=run.data_interval_start,
            data_interval_end=run.data_interval_end,
            triggering=triggering,
        )


class AssetEventResponse(Schema):
    id: int
    asset_id: int
    uri: str | None
    name: str | None
    group: str | None
    extra: dict[str, Any] | None
    source_task_id: str | None
    source_dag_id: str | None
    source_run_id: str | None
    source_map_index: int
    created_dagruns: list[DagRunAssetReference]
    timestamp: dt.datetime
    partition_key: str | None = None

    @classmethod
    def from_event(
        cls, event: AssetEvent, *, triggered_by: dict[int, int], source_hidden: bool, mask: PageMasker
    ) -> AssetEventResponse:
        """``event`` with its (prefetched) runs; ``triggered_by`` maps a run to its triggering
        event. An event from a DAG hidden from the user keeps its time and extra, not its source."""
        return cls(
            id=event.pk,
            asset_id=event.asset_id,
            uri=event.asset.uri,
            name=event.asset.name,
            group=event.asset.group,
            extra=mask.value(event.extra),
            source_task_id=None if source_hidden else event.source_task_id or None,
            source_dag_id=None if source_hidden else event.source_dag_id or None,
            source_run_id=None if source_hidden else event.source_run_id or None,
            source_map_index=-1 if source_hidden else event.source_map_index,
            created_dagruns=[
                DagRunAssetReference.from_run(run, triggering=triggered_by.get(run.pk) == event.pk)
                for run in event.created_dagruns.all()
            ],
            timestamp=event.timestamp,
        )


class AssetEventCollectionResponse(Schema):
    asset_events: list[AssetEventResponse]
    total_entries: int


class AssetEventAccessControl(StrictBody):
    consumer_teams: list[str] | None = None
    allow_global: bool = True


class CreateAssetEventsBody(StrictBody):
    asset_id: int
    partition_key: str | None = Field(default=None, max_length=250)
    extra: dict[str, Any] = Field(default_factory=dict)
    access_control: AssetEventAccessControl | None = None


class QueuedEventResponse(Schema):
    dag_id: str
    asset_id: int
    created_at: dt.datetime
    dag_display_name: str

    @classmethod
    def from_row(cls, row: AssetDagRunQueue) -> QueuedEventResponse:
        dag = row.target_dag
        return cls(
            dag_id=dag.dag_id, asset_id=row.asset_id, created_at=row.created_at, dag_display_name=dag.display_name
        )


class QueuedEventCollectionResponse(Schema):
    queued_events: list[QueuedEventResponse]
    total_entries: int


# -- helpers ---------------------------------------------------------------------------------------


def _asset_or_404(asset_id: int) -> AssetModel:
    asset = AssetModel.objects.filter(pk=asset_id).first()
    if asset is None:
        raise not_found(f"The Asset with ID: `{asset_id}` was not found")
    return asset


def _assets() -> QuerySet:
    """The selector's assets (event count, last event time) with the last event's id too."""
    last = AssetEvent.objects.filter(asset=OuterRef("pk")).order_by("-timestamp", "-pk").values("pk")[:1]
    return selectors.assets_with_stats().annotate(last_event_id=Subquery(last)).prefetch_related("aliases")


def _events(request: HttpRequest) -> QuerySet:
    """Events with their asset and the runs they took part in triggering (of readable DAGs only),
    as ``selectors.asset_events`` reads one asset's."""
    access.require(request, VIEW_EVENT)
    runs = access.readable(request.user, DagRun.objects.select_related("dag"), "dag")
    runs = runs.order_by("dag__dag_id", "logical_date")
    return AssetEvent.objects.select_related("asset").prefetch_related(Prefetch("created_dagruns", queryset=runs))


def _event_responses(request: HttpRequest, events: list[AssetEvent]) -> list[AssetEventResponse]:
    """The events' responses, as the asset page shows them: one query finds each run's triggering
    event (its latest consumed one), one the source DAGs hidden from the user; a task may have put
    a secret in an extra, masked as in an XCom (the masker's two queries, if an extra is not empty)."""
    run_ids = {run.pk for event in events for run in event.created_dagruns.all()}
    latest: dict[int, tuple[dt.datetime, int]] = {}
    if run_ids:
        consumed = AssetEvent.created_dagruns.through.objects.filter(dagrun_id__in=run_ids)
        for run_id, event_id, when in consumed.values_list("dagrun_id", "assetevent_id", "assetevent__timestamp"):
            if run_id not in latest or (when, event_id) > latest[run_id]:
                latest[run_id] = (when, event_id)
    triggered_by = {run_id: event_id for run_id, (_, event_id) in latest.items()}
    hidden = set()
    sources = {e.source_dag_id for e in events if e.source_dag_id}
    if sources and not access.sees_every_dag(request.user):
        dags = DagModel.objects.filter(dag_id__in=sources).only("dag_id", "access_control")
        hidden = {dag.dag_id for dag in dags if not access.dag_allows(request.user, dag)}
    mask = PageMasker()
    return [
        AssetEventResponse.from_event(e, triggered_by=triggered_by, source_hidden=e.source_dag_id in hidden, mask=mask)
        for e in events
    ]


def _before(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise bad_request(f"Invalid datetime: {value!r}")
    return utc(parsed)


def _queue(request: HttpRequest, before: str | None, **filters: Any) -> QuerySet:
    access.require(request, VIEW_QUEUE)
    rows = AssetDagRunQueue.objects.filter(**filters).select_related("target_dag").order_by("created_at", "pk")
    rows = access.readable(request.user, rows, "target_dag")
    when = _before(before)
    return rows.filter(created_at__lt=when) if when is not None else rows


# -- assets ----------------------------------------------------------------------------------------


@router.get("/assets", response={200: AssetCollectionResponse, **ERRORS}, summary="Get Assets")
def get_assets(
    request: HttpRequest,
    limit: int = 50,
    offset: int = 0,
    name_pattern: str | None = None,
    name_prefix_pattern: str | None = None,
    uri_pattern: str | None = None,
    uri_prefix_pattern: str | None = None,
    dag_ids: list[str] = Query(None),  # noqa: B008
    only_active: bool = True,
    order_by: list[str] = Query(None),  # noqa: B008
) -> AssetCollectionResponse:
    """One page of assets with the DAGs that use them; ``only_active``: named by an active DAG."""
    access.require(request, VIEW_ASSET)
    assets = name_filter(_assets(), "name", name_pattern, name_prefix_pattern)
    assets = name_filter(assets, "uri", uri_pattern, uri_prefix_pattern)
    if dag_ids:
        used = DagAssetReference.objects.filter(asset=OuterRef("pk"), dag__in=readable_dags(request))
        assets = assets.filter(Exists(used.filter(dag__dag_id__in=dag_ids)))
    if only_active:
        assets = assets.filter(Exists(DagAssetReference.objects.filter(asset=OuterRef("pk"), dag__is_active=True)))
    rows, total = page(ordered(assets, order_by, ASSET_ORDER, "id"), limit, offset)
    return AssetCollectionResponse(
        assets=[AssetResponse.from_row(r) for r in selectors.asset_rows(rows, user=request.user)], total_entries=total
    )


@router.get("/assets/aliases", response={200: AssetAliasCollectionResponse, **ERRORS}, summary="Get Asset Aliases")
def get_asset_aliases(
    request: HttpRequest,
    limit: int = 50,
    offset: int = 0,
    name_pattern: str | None = None,
    name_prefix_pattern: str | None = None,
    order_by: list[str] = Query(None),  # noqa: B008
) -> AssetAliasCollectionResponse:
    access.require(request, VIEW_ALIAS)
    aliases = name_filter(AssetAliasModel.objects.all(), "name", name_pattern, name_prefix_pattern)
    rows, total = page(ordered(aliases, order_by, ALIAS_ORDER, "id"), limit, offset)
    return AssetAliasCollectionResponse(
        asset_aliases=[AssetAliasResponse.from_alias(a) for a in rows], total_entries=total
    )


@router.get("/assets/aliases/{asset_alias_id}", response={200: AssetAliasResponse, **ERRORS}, summary="Get Asset Alias")
def get_asset_alias(request: HttpRequest, asset_alias_id: int) -> AssetAliasResponse:
    access.require(request, VIEW_ALIAS)
    alias = AssetAliasModel.objects.filter(pk=asset_alias_id).first()
    if alias is None:
        raise not_found(f"The Asset Alias with ID: `{asset_alias_id}` was not found")
    return AssetAliasResponse.from_alias(alias)


# -- events ----------------------------------------------------------------------------------------


@router.get("/assets/events", response={200: AssetEventCollectionResponse, **ERRORS}, summary="Get Asset Events")
def get_asset_events(
    request: HttpRequest,
    limit: int = 50,
    offset: int = 0,
    order_by: list[str] = Query(None),  # noqa: B008
    asset_id: int | None = None,
    source_dag_id: str | None = None,
    source_task_id: str | None = None,
    source_run_id: str | None = None,
    source_map_index: int | None = None,
    name_pattern: str | None = None,
    name_prefix_pattern: str | None = None,
    timestamp_gte: dt.datetime | None = None,
    timestamp_gt: dt.datetime | None = None,
    timestamp_lte: dt.datetime | None = None,
    timestamp_lt: dt.datetime | None = None,
) -> AssetEventCollectionResponse:
    """One page of events, oldest first by default (Airflow's ``order_by=timestamp``)."""
    events = _events(request)
    filters = {
        "asset_id": asset_id,
        "source_dag_id": source_dag_id,
        "source_task_id": source_task_id,
        "source_run_id": source_run_id,
        "source_map_index": source_map_index,
        "timestamp__gte": timestamp_gte,
        "timestamp__gt": timestamp_gt,
        "timestamp__lte": timestamp_lte,
        "timestamp__lt": timestamp_lt,
    }
    events = events.filter(
        **{
            lookup: utc(value) if "timestamp" in lookup else value
            for lookup, value in filters.items()
            if value is not None
        }
    )
    events = name_filter(events, "asset__name", name_pattern, name_prefix_pattern)
    rows, total = page(ordered(events, order_by, EVENT_ORDER, "timestamp"), limit, offset)
    return AssetEventCollectionResponse(asset_events=_event_responses(request, rows), total_entries=total)


@router.post("/assets/events", response={200: AssetEventResponse, **ERRORS}, summary="Create Asset Event")
def create_asset_event(request: HttpRequest, body: CreateAssetEventsBody) -> AssetEventResponse:
    """Record an event of the asset by hand, as if a task had updated it: the DAGs scheduled on it
    (directly or through an alias) queue it. The user needs the trigger permission, and each of
    those DAGs' access control must let them trigger it."""
    access.require(request, access.TRIGGER)
    if body.partition_key is not None:
        raise invalid("partition_key", "Partitioned assets are not supported")
    if body.access_control is not None and body.access_control.consumer_teams:
        raise invalid("access_control", "Multi-team mode is not configured: consumer_teams must be empty")
    asset = _asset_or_404(body.asset_id)
    consumers = {dag_id for row in selectors.asset_rows([asset]) for dag_id, _ in row.consumers}
    for dag in DagModel.objects.filter(dag_id__in=consumers):
        if not access.dag_allows(request.user, dag, access.TRIGGER):
            raise ApiError(
                403, "The access control of a DAG scheduled on this asset does not allow your roles to trigger it."
            )
    event = asset_services.asset_event_create(asset=asset, extra=body.extra, now=timezone.now())
    return _event_responses(request, [_events(request).get(pk=event.pk)])[0]


@router.get(
    "/dags/{dag_id}/dagRuns/{dag_run_id}/upstreamAssetEvents",
    response={200: AssetEventCollectionResponse, **ERRORS},
    summary="Get Upstream Asset Events",
)
def get_upstream_asset_events(request: HttpRequest, dag_id: str, dag_run_id: str) -> AssetEventCollectionResponse:
    """The events an asset-triggered run consumed, oldest first."""
    dag = dag_or_404(request, dag_id)
    run = DagRun.objects.filter(dag=dag, run_id=dag_run_id).first()
    if run is None:
        raise not_found(f"The DagRun with dag_id: `{dag_id}` and run_id: `{dag_run_id}` was not found")
    events = list(_events(request).filter(created_dagruns=run).order_by("timestamp", "pk"))
    return AssetEventCollectionResponse(asset_events=_event_responses(request, events), total_entries=len(events))


# -- one asset, queued events ----------------------------------------------------------------------


@router.post(
    "/assets/{asset_id}/materialize",
    response={200: DAGRunResponse, 409: ProblemResponse, **ERRORS},
    summary="Materialize Asset",
)
def materialize_asset(request: HttpRequest, asset_id: int, body: MaterializeAssetBody | None = None) -> DAGRunResponse:
    """Trigger a run of the one DAG that produces the asset (a task of it has the asset as an
    outlet), through the trigger service: 404 when no DAG produces it, 409 when several do."""
    asset = _asset_or_404(asset_id)
    producers = DagModel.objects.filter(
        is_active=True,
        asset_references__kind=DagAssetReference.Kind.OUTLET,
        asset_references__asset=asset,
    ).distinct()
    producers = list(producers[:2])
    if not producers:
        raise not_found(f"No Dag materializes asset with ID: {asset_id}")
    if len(producers) > 1:
        raise ApiError(409, f"More than one Dag materializes asset with ID: {asset_id}")
    dag = dag_or_404(request, producers[0].dag_id, access.TRIGGER)
    body = body or MaterializeAssetBody()
    if body.partition_key is not None:
        raise invalid("partition_key", "Partitioned assets are not supported")
    return triggered(request, dag, body)


@router.get("/assets/{asset_id}", response={200: AssetResponse, **ERRORS}, summary="Get Asset")
def get_asset(request: HttpRequest, asset_id: int) -> AssetResponse:
    access.require(request, VIEW_ASSET)
    asset = _assets().filter(pk=asset_id).first()
    if asset is None:
        raise not_found(f"The Asset with ID: `{asset_id}` was not found")
    return AssetResponse.from_row(selectors.asset_rows([asset], user=request.user)[0])


@router.get(
    "/assets/{asset_id}/queuedEvents",
    response={200: QueuedEventCollectionResponse, **ERRORS},
    summary="Get Asset Queued Events",
)
def get_asset_queued_events(
    request: HttpRequest, asset_id: int, before: str | None = None
) -> QueuedEventCollectionResponse:
    """The DAGs (that the user may read) waiting on events of the asset, ``before`` a time if given."""
    asset = _asset_or_404(asset_id)
    rows = list(_queue(request, before, asset=asset))
    return QueuedEventCollectionResponse(
        queued_events=[QueuedEventResponse.from_row(r) for r in rows], total_entries=len(rows)
    )


@router.get(
    "/dags/{dag_id}/assets/queuedEvents",
    response={200: QueuedEventCollectionResponse, **ERRORS},
    summary="Get Dag Asset Queued Events",
)
def get_dag_asset_queued_events(
    request: HttpRequest, dag_id: str, before: str | None = None
) -> QueuedEventCollectionResponse:
    """The assets with events the DAG has not yet run for."""
    dag = dag_or_404(request, dag_id)
    rows = list(_queue(request, before, target_dag=dag))
    return QueuedEventCollectionResponse(
        queued_events=[QueuedEventResponse.from_row(r) for r in rows], total_entries=len(rows)
    )


@router.get(
    "/dags/{dag_id}/assets/{asset_id}/queuedEvents",
    response={200: QueuedEventResponse, **ERRORS},
    summary="Get Dag Asset Queued Event",
)
def get_dag_asset_queued_event(
    request: HttpRequest, dag_id: str, asset_id: int, before: str | None = None
) -> QueuedEventResponse:
    dag = dag_or_404(request, dag_id)
    row = _queue(request, before, target_dag=dag, asset_id=asset_id).first()
    if row is None:
        raise not_found(f"Queued event with dag_id: `{dag_id}` and asset_id: `{asset_id}` was not found")
    return QueuedEventResponse.from_row(row)


def _delete_queue(request: HttpRequest, rows: QuerySet, missing: str) -> Status:
    """Remove the queued events of ``rows`` whose DAG the user may trigger (403 if none may be)."""
    access.require(request, access.TRIGGER)
    rows = list(rows)
    if not rows:
        raise not_found(missing)
    allowed = [r for r in rows if access.dag_allows(request.user, r.target_dag, access.TRIGGER)]
    if not allowed:
        raise PermissionDenied("The access control of these DAGs does not allow your roles this (trigger dag).")
    asset_services.asset_queue_delete(rows=allowed)
    return Status(204, None)


@router.delete("/assets/{asset_id}/queuedEvents", response={204: None, **ERRORS}, summary="Delete Asset Queued Events")
def delete_asset_queued_events(request: HttpRequest, asset_id: int, before: str | None = None) -> Status:
    asset = _asset_or_404(asset_id)
    return _delete_queue(
        request, _queue(request, before, asset=asset), f"Queue event with asset_id: `{asset_id}` was not found"
    )


@router.delete(
    "/dags/{dag_id}/assets/queuedEvents", response={204: None, **ERRORS}, summary="Delete Dag Asset Queued Events"
)
def delete_dag_asset_queued_events(request: HttpRequest, dag_id: str, before: str | None = None) -> Status:
    dag = dag_or_404(request, dag_id, access.TRIGGER)
    return _delete_queue(
        request, _queue(request, before, target_dag=dag), f"Queue event with dag_id: `{dag_id}` was not found"
    )


@router.delete(
    "/dags/{dag_id}/assets/{asset_id}/queuedEvents",
    response={204: None, **ERRORS},
    summary="Delete Dag Asset Queued Event",
)
def delete_dag_asset_queued_event(
    request: HttpRequest, dag_id: str, asset_id: int, before: str | None = None
) -> Status:
    dag = dag_or_404(request, dag_id, access.TRIGGER)
    return _delete_queue(
        request,
        _queue(request, before, target_dag=dag, asset_id=asset_id),
        f"Queued event with dag_id: `{dag_id}` and asset_id: `{asset_id}` was not found",
    )

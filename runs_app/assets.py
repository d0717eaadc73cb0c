"""Asset events: recorded with the success that produced them, queued for the DAGs scheduled on
their assets, turned into asset-triggered runs by the scheduler, read back by tasks.

``asset_events_record`` runs inside the transaction that records a try's success (tries.py), so an
event exists exactly when its producing try succeeded. ``asset_triggered_runs_create`` is the
scheduler's phase: one query for the queue, one for the DAGs, one for the aliases' assets; a run
per DAG whose condition holds, created with the events it consumes in the DAG's own savepoint.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from typing import Any

from django.db.models import Q

from dags_app.models import AssetAliasModel, AssetModel, DagAssetReference, DagModel
from dags_app.sdk.assets import condition_names, evaluate
from dags_app.services import asset_aliases_ensure, assets_ensure
from runs_app.models import AssetDagRunQueue, AssetEvent, DagRun, TaskInstance
from runs_app.states import DagRunType

log = logging.getLogger(__name__)


def _queue_for(assets: list[AssetModel], *, now: dt.datetime) -> int:
    """Queue the new events of ``assets`` for every active DAG scheduled on them (directly or
    through an alias they are attached to); a DAG already queued for an asset keeps its first time."""
    if not assets:
        return 0
    ids = [a.pk for a in assets]
    through_alias = AssetAliasModel.assets.through.objects.filter(assetmodel_id__in=ids).values_list(
        "assetaliasmodel_id", "assetmodel_id"
    )
    alias_assets: dict[int, set[int]] = defaultdict(set)
    for alias_id, asset_id in through_alias:
        alias_assets[alias_id].add(asset_id)
    refs = DagAssetReference.objects.filter(
        Q(asset_id__in=ids) | Q(alias_id__in=list(alias_assets)),
        kind=DagAssetReference.Kind.SCHEDULE,
        dag__is_active=True,
    ).values_list("dag_id", "asset_id", "alias_id")
    pairs = set()
    for dag_id, asset_id, alias_id in refs:
        for target in [asset_id] if asset_id else alias_assets[alias_id]:
            pairs.add((target, dag_id))
    AssetDagRunQueue.objects.bulk_create(
        [AssetDagRunQueue(asset_id=asset_id, target_dag_id=dag_id, created_at=now) for asset_id, dag_id in pairs],
        ignore_conflicts=True,
    )
    return len(pairs)


def asset_events_record(
    *, events: list[dict[str, Any]], now: dt.datetime, ti: TaskInstance | None = None, source: dict | None = None
) -> list[AssetEvent]:
    """Write one AssetEvent per event ref ({name, uri, group, extra, event_extra, alias?}) and queue them.

    ``ti`` is the producing try (its DAG, task, run and map index are copied onto the event);
    ``source`` gives those fields for an event made by hand. An alias named in an event gets the
    asset attached, so DAGs scheduled on the alias follow it from now on.
    """
    if not events:
        return []
    assets = assets_ensure(events)
    alias_names = {e["alias"] for e in events if e.get("alias")}
    if alias_names:
        aliases = asset_aliases_ensure(alias_names)
        through = AssetAliasModel.assets.through
        through.objects.bulk_create(
            [
                through(assetaliasmodel_id=aliases[e["alias"]].pk, assetmodel_id=assets[e["name"]].pk)
                for e in events
                if e.get("alias")
            ],
            ignore_conflicts=True,
        )
    if ti is not None:
        source = {
            "source_task_instance_id": ti.pk,
            "source_dag_id": ti.dag_run.dag.dag_id,
            "source_task_id": ti.task_id,
            "source_run_id": ti.dag_run.run_id,
            "source_map_index": ti.map_index,
        }
    rows = AssetEvent.objects.bulk_create(
        [
            AssetEvent(
                asset=assets[e["name"]],
                extra=e.get("event_extra") or {},
                source_alias=e.get("alias") or "",
                timestamp=now,
                **(source or {}),
            )
            for e in events
        ]
    )
    _queue_for(list({assets[e["name"]].pk: assets[e["name"]] for e in events}.values()), now=now)
    return rows


def asset_event_create(*, asset: AssetModel, extra: dict[str, Any] | None, now: dt.datetime) -> AssetEvent:
    """An event made by hand (the REST API's ``POST /assets/events``): no task produced it."""
    ref = {"name": asset.name, "uri": asset.uri, "group": asset.group, "event_extra": extra or {}}
    return asset_events_record(events=[ref], now=now, source={})[0]


def read_events(kind: str, value: str) -> list[dict[str, Any]]:
    """The events of the asset named (``kind="asset"``) or with URI (``"uri"``) ``value``, or
    emitted through the alias ``value`` (``"alias"``), oldest first, as ``inlet_events`` reads them."""
    if kind == "alias":
        query = Q(source_alias=value)  # the events emitted through the alias, as Airflow's
    elif kind == "uri":
        query = Q(asset__uri=value)
    else:
        query = Q(asset__name=value)
    events = AssetEvent.objects.filter(query).select_related("asset").order_by("timestamp", "pk")
    return [e.as_view() for e in events]


def consumed_events(run: DagRun) -> list[dict[str, Any]]:
    """The events that triggered an asset-triggered run, oldest first (one query)."""
    if run.run_type != DagRunType.ASSET_TRIGGERED:
        return []
    events = run.consumed_asset_events.select_related("asset").order_by("timestamp", "pk")
    return [e.as_view() for e in events]


def _due(queue: dict[int, dict[int, dt.datetime]], dags: dict[int, DagModel]) -> list[DagModel]:
    """The DAGs whose asset condition holds over their queued assets."""
    alias_names = set()
    for dag in dags.values():
        alias_names |= condition_names(dag.serialized.get("asset_condition"))[1]
    aliases: dict[str, set[str]] = defaultdict(set)
    if alias_names:
        for alias, asset in AssetAliasModel.assets.through.objects.filter(
            assetaliasmodel__name__in=alias_names
        ).values_list("assetaliasmodel__name", "assetmodel__name"):
            aliases[alias].add(asset)
    names = dict(AssetModel.objects.filter(pk__in={a for q in queue.values() for a in q}).values_list("pk", "name"))
    due = []
    for dag_pk, queued in queue.items():
        dag = dags.get(dag_pk)
        condition = dag.serialized.get("asset_condition") if dag is not None else None
        if condition and evaluate(condition, {names[a] for a in queued}, aliases):
            due.append(dag)
    return due


def load_due(now: dt.datetime) -> tuple[list[DagModel], dict[int, dict[int, dt.datetime]]]:
    """The unpaused DAGs that have an asset-triggered run due, and each one's queued assets."""
    queue: dict[int, dict[int, dt.datetime]] = defaultdict(dict)
    for dag_pk, asset_pk, created in AssetDagRunQueue.objects.values_list("target_dag_id", "asset_id", "created_at"):
        queue[dag_pk][asset_pk] = created
    return _due(queue, _dags_of(queue, now)) if queue else [], queue


def _dags_of(queue: dict[int, dict[int, dt.datetime]], now: dt.datetime) -> dict[int, DagModel]:
    return {
        d.pk: d
        for d in DagModel.objects.filter(pk__in=list(queue), is_active=True, is_paused=False).filter(
            Q(scheduling_retry_at__isnull=True) | Q(scheduling_retry_at__lte=now)
        )
    }


def anything_queued() -> bool:
    """Whether any asset event waits for a DAG (the scheduler's phase is one query when not)."""
    return AssetDagRunQueue.objects.exists()


def asset_triggered_run_create(dag: DagModel, queued: dict[int, dt.datetime], *, now: dt.datetime) -> DagRun | None:
    """Create ``dag``'s asset-triggered run consuming the events of its queued assets; clear its queue.

    The run's logical date is ``now`` (as in Airflow 2) and its data interval spans the consumed
    events. Returns None when another scheduler took the queue meanwhile; raises ServiceError when
    a run exists at that date (the caller's savepoint then keeps the queue).
    """
    from runs_app.services import dag_run_create

    events = list(
        AssetEvent.objects.filter(
            Q(*[Q(asset_id=asset_pk, timestamp__gte=since) for asset_pk, since in queued.items()], _connector=Q.OR)
        ).only("pk", "timestamp")
    )
    stamps = [e.timestamp for e in events] or [now]
    interval = (min(stamps), max(stamps))
    deleted, _ = AssetDagRunQueue.objects.filter(target_dag=dag, asset_id__in=list(queued)).delete()
    if not deleted:
        return None  # another scheduler took this queue meanwhile
    # A run already at this date (a manual one) raises ServiceError: the scheduler parks the DAG
    # with its savepoint rolled back, queue included, and tries again with a later date.
    run = dag_run_create(
        dag=dag,
        logical_date=now,
        run_type=DagRunType.ASSET_TRIGGERED,
        now=now,
        data_interval=interval,
        triggered_by="asset",
    )
    AssetEvent.created_dagruns.through.objects.bulk_create(
        [AssetEvent.created_dagruns.through(assetevent_id=e.pk, dagrun_id=run.pk) for e in events]
    )
    log.info("tick: %s: asset-triggered run %s from %s event(s)", dag.dag_id, run.run_id, len(events))
    return run


def asset_queue_delete(*, rows: Any) -> int:
    """Forget queued asset events (``rows``: AssetDagRunQueue rows): the DAGs will not run for
    them. Returns how many were removed (the REST API's DELETE .../queuedEvents)."""
    deleted, _ = AssetDagRunQueue.objects.filter(pk__in=[r.pk for r in rows]).delete()
    return deleted

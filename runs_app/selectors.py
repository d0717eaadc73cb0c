"""Read queries over executions shared by views, the CLI and the admin.

Each selector runs a fixed number of queries whatever the number of rows, so list pages keep a
constant query count (tests pin it).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, F, Max, Min, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum

from dags_app.models import AssetModel, DagAssetReference, DagModel
from orchestrator_site.access import readable
from runs_app.models import AssetEvent, DagRun, Pool, TaskInstance
from runs_app.states import TI_FINISHED, DagRunState, TaskInstanceState, aggregate_state


@dataclass
class DagRow:
    """One line of the DAG list: the DAG plus its run and task summaries."""

    dag: DagModel
    run_counts: dict[str, int] = field(default_factory=dict)
    last_run: DagRun | None = None
    task_counts: dict[str, int] = field(default_factory=dict)
    # Filled by the view: links of the row and the (state, count) badges to draw.
    urls: dict[str, str] = field(default_factory=dict)
    run_badges: list[tuple[str, int]] = field(default_factory=list)
    task_badges: list[tuple[str, int]] = field(default_factory=list)


def dag_rows(dags: Sequence[DagModel]) -> list[DagRow]:
    """Return the DAG list rows for ``dags`` in three queries.

    Run counts are per state over all runs; "recent tasks" are the task states of each DAG's
    latest run, as Airflow shows them.
    """
    rows = {dag.pk: DagRow(dag=dag) for dag in dags}
    if not rows:
        return []
    for dag_id, state, n in (
        DagRun.objects.filter(dag_id__in=rows).values_list("dag_id", "state").annotate(n=Count("id")).order_by()
    ):
        rows[dag_id].run_counts[state] = n
    latest = DagRun.objects.filter(dag_id__in=rows).values("dag_id").annotate(latest=Max("logical_date")).order_by()
    latest_dates = {item["dag_id"]: item["latest"] for item in latest}
    if latest_dates:
        from django.db.models import Q

        condition = Q()
        for dag_id, date in latest_dates.items():
            condition |= Q(dag_id=dag_id, logical_date=date)
        last_runs = {run.dag_id: run for run in DagRun.objects.filter(condition)}
        for dag_id, run in last_runs.items():
            rows[dag_id].last_run = run
        for dag_id, state, n in (
            TaskInstance.objects.filter(dag_run__in=[r.pk for r in last_runs.values()])
            .values_list("dag_id", "state")
            .annotate(n=Count("id"))
            .order_by()
        ):
            rows[dag_id].task_counts[state] = n
    return [rows[dag.pk] for dag in dags]


def dag_runs_for_grid(
    dag: DagModel,
    *,
    limit: int = 25,
    before: dt.datetime | None = None,
    up_to: dt.datetime | None = None,
    run_type: str | None = None,
    state: str | None = None,
) -> list[DagRun]:
    """Return the DAG's latest ``limit`` runs, oldest first (grid columns), each with the number
    of the DAG version it was created with (joined, without the version's stored form); only
    those before ``before`` / at or before ``up_to``, of ``run_type`` and in ``state`` if given."""
    qs = (
        DagRun.objects.filter(dag=dag)
        .select_related("dag_version")
        .defer("dag_version__serialized", "dag_version__source")
    )
    if before is not None:
        qs = qs.filter(logical_date__lt=before)
    if up_to is not None:
        qs = qs.filter(logical_date__lte=up_to)
    if run_type:
        qs = qs.filter(run_type=run_type)
    if state:
        qs = qs.filter(state=state)
    return list(reversed(qs.order_by("-logical_date")[:limit]))


def _read_only(*args: object, **kwargs: object) -> None:
    raise RuntimeError("A mapped task's summary is read-only: its state stands for all its instances")


def task_instances_by_run(runs: Sequence[DagRun], *, mapped: bool = True) -> dict[int, dict[str, TaskInstance]]:
    """Return {run pk: {task id: task instance}} for ``runs`` in one query, and one more when the
    DAG has mapped tasks (``mapped``), whatever the number of mapped instances.

    A mapped task is stood for by its first instance, read-only, whose ``state`` is replaced by
    the state its instances add up to (``aggregate_state``); ``mapped_count`` is how many
    instances it has (0 for a task that is not mapped) and ``mapped_states`` {state: count}.
    ``mapped_start``/``mapped_end`` are when its first instance started and its last one ended
    (None while one is unfinished), ``mapped_max_try`` the most tries one of them took.
    """
    result: dict[int, dict[str, TaskInstance]] = defaultdict(dict)
    pks = [r.pk for r in runs]
    for ti in TaskInstance.objects.filter(dag_run__in=pks, map_index__lte=0).defer("rendered_fields"):
        ti.mapped_count = 0
        ti.mapped_states = {}
        ti.mapped_start = ti.mapped_end = None
        ti.mapped_max_try = 0
        result[ti.dag_run_id][ti.task_id] = ti
    if not mapped:
        return result
    counts = (
        TaskInstance.objects.filter(dag_run__in=pks, map_index__gte=0)
        .values_list("dag_run_id", "task_id", "state")
        .annotate(n=Count("id"), start=Min("start_date"), end=Max("end_date"), tries=Max("try_number"))
        .order_by()
    )
    unfinished: set[tuple[int, str]] = set()
    for run_pk, task_id, state, n, start, end, tries in counts:
        ti = result[run_pk].get(task_id)
        if ti is None:
            continue
        ti.mapped_states[state] = n
        ti.mapped_count += n
        ti.mapped_max_try = max(ti.mapped_max_try, tries or 0)
        if start is not None and (ti.mapped_start is None or start < ti.mapped_start):
            ti.mapped_start = start
        if state not in TI_FINISHED:
            unfinished.add((run_pk, task_id))
        elif end is not None and (ti.mapped_end is None or end > ti.mapped_end):
            ti.mapped_end = end
    for run_pk, task_id in unfinished:
        result[run_pk][task_id].mapped_end = None
    for tis in result.values():
        for ti in tis.values():
            if ti.mapped_count:
                ti.state = aggregate_state(list(ti.mapped_states))  # shown only, never saved
                ti.save = _read_only
    return result


def external_states(dag_id: str, task_ids: list[str] | None, logical_dates: list[dt.datetime]) -> list[str]:
    """The states of DAG ``dag_id``'s task instances ``task_ids`` (or of its runs, when None) at
    these logical dates, one per existing row (ExternalTaskSensor's poke; one query)."""
    if task_ids:
        rows = TaskInstance.objects.filter(
            dag__dag_id=dag_id, dag_run__logical_date__in=logical_dates, task_id__in=task_ids
        )
    else:
        rows = DagRun.objects.filter(dag__dag_id=dag_id, logical_date__in=logical_dates)
    return [str(state) for state in rows.values_list("state", flat=True)]


def task_group_task_ids(dag_id: str, group_id: str) -> list[str] | None:
    """The tasks of task group ``group_id`` of DAG ``dag_id``, nested groups included (one query);
    None when the DAG or the group is unknown (ExternalTaskSensor's ``external_task_group_id``)."""
    serialized = DagModel.objects.filter(dag_id=dag_id).values_list("serialized", flat=True).first()
    if not serialized:
        return None
    parents = {g["group_id"]: g.get("parent_group_id") for g in serialized.get("task_groups", [])}
    if group_id not in parents:
        return None

    def inside(group: str | None) -> bool:
        while group is not None:
            if group == group_id:
                return True
            group = parents.get(group)
        return False

    return [t["task_id"] for t in serialized.get("tasks", []) if inside(t.get("task_group"))]


def dag_exists(dag_id: str) -> bool:
    return DagModel.objects.filter(dag_id=dag_id).exists()


def dag_run_state(dag_id: str, run_id: str) -> str | None:
    """The state of one run of ``dag_id`` (TriggerDagRunOperator's wait), or None."""
    state = DagRun.objects.filter(dag__dag_id=dag_id, run_id=run_id).values_list("state", flat=True).first()
    return str(state) if state is not None else None


def pool_stats(names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Each pool (or the ``names`` ones) with its slots and, counted in pool slots, its running,
    queued and scheduled task instances and its open slots (Airflow's pool list). Two queries."""
    pools = Pool.objects.order_by("name")
    if names is not None:
        pools = pools.filter(name__in=list(names))
    rows = list(pools.values("name", "slots", "description"))
    wanted = [TaskInstanceState.RUNNING, TaskInstanceState.QUEUED, TaskInstanceState.SCHEDULED]
    used = {
        (pool, state): slots or 0
        for pool, state, slots in TaskInstance.objects.filter(state__in=wanted, pool__in=[r["name"] for r in rows])
        .values_list("pool", "state")
        .annotate(slots=Sum("pool_slots"))
        .order_by()
    }
    for row in rows:
        running = used.get((row["name"], TaskInstanceState.RUNNING), 0)
        queued = used.get((row["name"], TaskInstanceState.QUEUED), 0)
        row.update(
            running_slots=running,
            queued_slots=queued,
            scheduled_slots=used.get((row["name"], TaskInstanceState.SCHEDULED), 0),
            open_slots="unlimited" if row["slots"] < 0 else row["slots"] - running - queued,
        )
    return rows


@dataclass
class AssetRow:
    """One asset with the DAGs that use it (only those the user may read, active ones).

    ``producers`` and ``readers`` are (dag id, task id) of the tasks with the asset in their
    outlets or inlets; ``consumers`` are (dag id, alias name or "") of the DAGs scheduled on it,
    directly or through an alias the asset is attached to.
    """

    asset: AssetModel
    producers: list[tuple[str, str]] = field(default_factory=list)
    consumers: list[tuple[str, str]] = field(default_factory=list)
    readers: list[tuple[str, str]] = field(default_factory=list)


def assets_with_stats() -> QuerySet[AssetModel]:
    """Assets by name, each annotated with ``event_count`` and ``last_event_at`` (None without events)."""
    return AssetModel.objects.annotate(event_count=Count("events"), last_event_at=Max("events__timestamp")).order_by(
        "name"
    )


def asset_rows(assets: Sequence[AssetModel], *, user: Any = None) -> list[AssetRow]:
    """Return the rows of ``assets`` in two queries, whatever their number: one for the direct
    references (outlets, inlets, schedules), one for the DAGs scheduled through aliases.

    With ``user``, DAGs hidden from them by their access_control are left out.
    """
    rows = {asset.pk: AssetRow(asset=asset) for asset in assets}
    if not rows:
        return []
    direct = DagAssetReference.objects.filter(asset__in=list(rows), dag__is_active=True)
    # One filter() call: alias__assets is a single join that values_list() reuses.
    via_alias = DagAssetReference.objects.filter(
        kind=DagAssetReference.Kind.SCHEDULE, dag__is_active=True, alias__assets__in=list(rows)
    )
    if user is not None:
        direct, via_alias = readable(user, direct, "dag"), readable(user, via_alias, "dag")
    # The parse writes one reference per (DAG, kind, task, asset): no duplicates to drop.
    for asset_id, kind, dag_id, task_id in direct.values_list("asset_id", "kind", "dag__dag_id", "task_id").order_by(
        "dag__dag_id", "task_id"
    ):
        row = rows[asset_id]
        if kind == DagAssetReference.Kind.OUTLET:
            row.producers.append((dag_id, task_id))
        elif kind == DagAssetReference.Kind.INLET:
            row.readers.append((dag_id, task_id))
        else:
            row.consumers.append((dag_id, ""))
    for asset_id, dag_id, alias in via_alias.values_list("alias__assets", "dag__dag_id", "alias__name").order_by(
        "dag__dag_id", "alias__name"
    ):
        row = rows[asset_id]
        if all(existing != dag_id for existing, _ in row.consumers):
            row.consumers.append((dag_id, alias))
    return [rows[asset.pk] for asset in assets]


def asset_find(*, name: str = "", uri: str = "") -> list[AssetModel]:
    """The assets named ``name`` and/or with URI ``uri`` (at most two: enough to tell "more than one")."""
    assets = assets_with_stats()
    if name:
        assets = assets.filter(name=name)
    if uri:
        assets = assets.filter(uri=uri)
    return list(assets[:2])


def asset_events(asset: AssetModel, *, user: Any = None) -> QuerySet[AssetEvent]:
    """The events of ``asset``, newest first, each with the asset-triggered runs it took part in
    triggering (``created_dagruns``, one more query; with ``user``, only runs of DAGs they may read)."""
    runs = DagRun.objects.select_related("dag").order_by("dag__dag_id", "logical_date")
    if user is not None:
        runs = readable(user, runs, "dag")
    return (
        AssetEvent.objects.filter(asset=asset)
        .select_related("asset")
        .order_by("-timestamp", "-pk")
        .prefetch_related(Prefetch("created_dagruns", queryset=runs))
    )


# The DAG list's sortable columns: query parameter -> what it orders by.
DAG_LIST_SORTS = {
    "dag_id": "dag_id",
    "owner": "owners",
    "schedule": "timetable_summary",
    "next_run": "next_dagrun",
    "last_run": "last_run_date",
}


def _live_runs() -> QuerySet[DagRun]:
    return DagRun.objects.filter(dag=OuterRef("pk"), state__in=[DagRunState.QUEUED, DagRunState.RUNNING])


def _latest_run() -> QuerySet[DagRun]:
    return DagRun.objects.filter(dag=OuterRef("pk")).order_by("-logical_date")


def dag_list_counts(qs: QuerySet[DagModel]) -> dict[str, int]:
    """The number of DAGs behind each of the DAG list's pills (all, active, paused, running,
    failed) among ``qs``, in one query: the same tests as ``dag_list_refined``'s filters."""
    counted = qs.order_by().annotate(
        has_live_run=Exists(_live_runs()), latest_state=Subquery(_latest_run().values("state")[:1])
    )
    return counted.aggregate(
        all=Count("pk"),
        active=Count("pk", filter=Q(is_paused=False)),
        paused=Count("pk", filter=Q(is_paused=True)),
        running=Count("pk", filter=Q(has_live_run=True)),
        failed=Count("pk", filter=Q(latest_state=DagRunState.FAILED)),
    )


def dag_list_refined(
    qs: QuerySet[DagModel], *, runs: str = "", sort: str = "dag_id", descending: bool = False
) -> QuerySet[DagModel]:
    """The DAG list's run filters and order on top of ``dags_app.selectors.dag_list``:
    ``runs`` "running" keeps DAGs with a queued or running run, "failed" those whose latest run
    failed (Airflow's Running and Failed pills); ``sort`` one of ``DAG_LIST_SORTS`` (the latest
    logical date for "last_run", from the (dag, -logical_date) index), empty values last."""
    latest = _latest_run()
    if runs == "running":
        qs = qs.filter(Exists(_live_runs()))
    elif runs == "failed":
        qs = qs.annotate(latest_state=Subquery(latest.values("state")[:1])).filter(latest_state=DagRunState.FAILED)
    field = DAG_LIST_SORTS.get(sort, "dag_id")
    if field == "last_run_date":
        qs = qs.annotate(last_run_date=Subquery(latest.values("logical_date")[:1]))
    expression = F(field).desc(nulls_last=True) if descending else F(field).asc(nulls_last=True)
    return qs.order_by(expression, "dag_id")

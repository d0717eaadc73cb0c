"""``/api/v2/dags/{dag_id}/dagRuns`` and their task instances, logs and XComs; ``clearTaskInstances``.

Every action goes through the same services as the UI and the CLI (``runs_app.services``);
``~`` as the DAG or run id means "any" where Airflow allows it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from ninja import Query, Router, Status

from api_app.common import (
    WILDCARD,
    ApiError,
    bad_request,
    dag_or_404,
    not_found,
    ordered,
    page,
    page_by_keys,
    readable_rows,
    utc,
)
from api_app.schemas import (
    ERRORS,
    ClearTaskInstancesBody,
    DAGRunClearBody,
    DAGRunCollectionResponse,
    DAGRunPatchBody,
    DAGRunResponse,
    PatchTaskInstanceBody,
    ProblemResponse,
    TaskInstanceCollectionResponse,
    TaskInstanceResponse,
    TaskInstancesLogResponse,
    TriggerDAGRunPostBody,
    XComCollectionResponse,
    XComResponse,
    XComResponseNative,
    with_version,
)
from dags_app.models import DagModel
from orchestrator_site import access
from runs_app import services
from runs_app.masking import PageMasker
from runs_app.models import DagRun, TaskInstance, XCom
from runs_app.states import DagRunState, DagRunType, TaskInstanceState

router = Router(tags=["DagRun"])
ti_router = Router(tags=["Task Instance"])
xcom_router = Router(tags=["XCom"])

WRITE_ERRORS = {**ERRORS, 409: ProblemResponse}

RUN_ORDER = {
    "id": "pk",
    "dag_id": "dag__dag_id",
    "run_id": "run_id",
    "dag_run_id": "run_id",
    "logical_date": "logical_date",
    "run_after": "data_interval_end",
    "start_date": "start_date",
    "end_date": "end_date",
    "updated_at": "created_at",
    "state": "state",
    "run_type": "run_type",
    "queued_at": "queued_at",
    "conf": "conf",
}
TI_ORDER = {
    "id": "pk",
    "task_id": "task_id",
    "map_index": "map_index",
    "state": "state",
    "start_date": "start_date",
    "end_date": "end_date",
    "duration": "duration",
    "try_number": "try_number",
    "pool": "pool",
    "queue": "queue",
    "priority_weight": "priority_weight",
    "logical_date": "dag_run__logical_date",
    "run_after": "dag_run__data_interval_end",
    "dag_id": "dag__dag_id",
    "run_id": "dag_run__run_id",
    "dag_run_id": "dag_run__run_id",
    "operator": "operator",
}


def _parse_state(value: str, allowed: set[str], what: str) -> str:
    if value not in allowed:
        raise ApiError(422, [{"loc": ["body", what], "msg": f"{what} must be one of {sorted(allowed)}"}])
    return value


def _runs(request: HttpRequest, dag_id: str) -> QuerySet:
    if dag_id == WILDCARD:
        return readable_rows(request, with_version(DagRun.objects.select_related("dag")), "dag")
    return with_version(DagRun.objects.filter(dag=dag_or_404(request, dag_id)).select_related("dag"))


def _run_or_404(request: HttpRequest, dag_id: str, run_id: str, permission: str = access.READ) -> DagRun:
    dag = dag_or_404(request, dag_id, permission)
    run = with_version(DagRun.objects.filter(dag=dag, run_id=run_id).select_related("dag")).first()
    if run is None:
        raise not_found(f"The DagRun with dag_id: `{dag_id}` and run_id: `{run_id}` was not found")
    return run


def _known(name: str, values: list[str], allowed: list[str]) -> list[str]:
    """``values`` of a list filter, each one of ``allowed``: else a 422 as Airflow's enum check."""
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ApiError(
            422, [{"loc": ["query", name], "msg": f"Input should be one of {sorted(allowed)}", "input": unknown[0]}]
        )
    return values


def bounded(queryset: QuerySet, values: Any, fields: dict[str, str]) -> QuerySet:
    """Airflow's ``<name>_gte/_gt/_lte/_lt`` bounds read from ``values`` (a batch body) for
    each ``name`` of ``fields`` (name -> the queryset's field)."""
    for name, field in fields.items():
        bounds = {op: getattr(values, f"{name}_{op}", None) for op in ("gte", "gt", "lte", "lt")}
        queryset = _range(queryset, field, **bounds)
    return queryset


def _range(queryset: QuerySet, field: str, **bounds: Any) -> QuerySet:
    lookups = {"gte": "gte", "gt": "gt", "lte": "lte", "lt": "lt"}
    for name, value in bounds.items():
        if value is not None:
            value = utc(value) if isinstance(value, dt.datetime) else value
            queryset = queryset.filter(**{f"{field}__{lookups[name]}": value})
    return queryset


# -- DAG runs --------------------------------------------------------------------------------------


@router.get("/dags/{dag_id}/dagRuns", response={200: DAGRunCollectionResponse, **ERRORS}, summary="Get Dag Runs")
def get_dag_runs(
    request: HttpRequest,
    dag_id: str,
    limit: int = 50,
    offset: int = 0,
    logical_date_gte: dt.datetime | None = None,
    logical_date_gt: dt.datetime | None = None,
    logical_date_lte: dt.datetime | None = None,
    logical_date_lt: dt.datetime | None = None,
    start_date_gte: dt.datetime | None = None,
    start_date_lte: dt.datetime | None = None,
    end_date_gte: dt.datetime | None = None,
    end_date_lte: dt.datetime | None = None,
    run_type: list[str] = Query(None),  # noqa: B008
    state: list[str] = Query(None),  # noqa: B008
    run_id_pattern: str | None = None,
    order_by: list[str] = Query(None),  # noqa: B008
) -> DAGRunCollectionResponse:
    runs = _runs(request, dag_id)
    runs = _range(
        runs, "logical_date", gte=logical_date_gte, gt=logical_date_gt, lte=logical_date_lte, lt=logical_date_lt
    )
    runs = _range(runs, "start_date", gte=start_date_gte, lte=start_date_lte)
    runs = _range(runs, "end_date", gte=end_date_gte, lte=end_date_lte)
    if run_type:
        runs = runs.filter(run_type__in=_known("run_type", run_type, DagRunType.values))
    if state:
        runs = runs.filter(state__in=_known("state", state, DagRunState.values))
    if run_id_pattern:
        runs = runs.filter(run_id__icontains=run_id_pattern)
    rows, total = page(ordered(runs, order_by, RUN_ORDER, "id"), limit, offset)
    return DAGRunCollectionResponse(dag_runs=[DAGRunResponse.from_run(r) for r in rows], total_entries=total)


@router.get("/dags/{dag_id}/dagRuns/{dag_run_id}", response={200: DAGRunResponse, **ERRORS}, summary="Get Dag Run")
def get_dag_run(request: HttpRequest, dag_id: str, dag_run_id: str) -> DAGRunResponse:
    return DAGRunResponse.from_run(_run_or_404(request, dag_id, dag_run_id))


@router.get(
    "/dags/{dag_id}/dagRuns/{dag_run_id}/wait",
    response={200: Any, **ERRORS},
    summary="Experimental: Wait for a dag run to complete, and return task results if requested.",
    tags=["DagRun", "experimental"],
)
def wait_dag_run_until_finished(
    request: HttpRequest,
    dag_id: str,
    dag_run_id: str,
    interval: float,
    result: list[str] = Query(None),  # noqa: B008
) -> StreamingHttpResponse:
    """Newline-delimited JSON: ``{"state": ...}`` every ``interval`` seconds while the run is
    unfinished, then its final state and, for the tasks named by ``result``, their return values
    (a mapped task's as a list). A client's wait, not the scheduler's: one query per line."""
    if not interval > 0:
        raise ApiError(
            422, [{"loc": ["query", "interval"], "msg": "Input should be greater than 0", "input": interval}]
        )
    run = _run_or_404(request, dag_id, dag_run_id)

    def lines() -> Any:
        while True:
            state = DagRun.objects.filter(pk=run.pk).values_list("state", flat=True).first()
            if state is None:
                yield json.dumps({"state": "deleted"}) + "\n"
                return
            if state in (DagRunState.SUCCESS, DagRunState.FAILED):
                yield json.dumps({"state": state, **_results(run, result)}, default=str) + "\n"
                return
            yield json.dumps({"state": state}) + "\n"
            time.sleep(interval)

    return StreamingHttpResponse(lines(), content_type="application/x-ndjson")


def _results(run: DagRun, task_ids: list[str] | None) -> dict[str, Any]:
    if not task_ids:
        return {}
    values: dict[str, list[Any]] = {}
    xcoms = XCom.objects.filter(dag_run=run, task_id__in=task_ids, key="return_value").order_by("task_id", "map_index")
    mapped: set[str] = set()
    for task_id, map_index, value in xcoms.values_list("task_id", "map_index", "value"):
        values.setdefault(task_id, []).append(value)
        if map_index >= 0:
            mapped.add(task_id)
    masker = PageMasker()
    return {
        "results": {
            task_id: masker.value(found if task_id in mapped else found[0]) for task_id, found in values.items()
        }
    }


@router.post("/dags/{dag_id}/dagRuns", response={200: DAGRunResponse, **WRITE_ERRORS}, summary="Trigger Dag Run")
def trigger_dag_run(request: HttpRequest, dag_id: str, body: TriggerDAGRunPostBody) -> DAGRunResponse:
    """Trigger a run (``logical_date``, ``conf``, ``dag_run_id``): the UI's and CLI's trigger."""
    return triggered(request, dag_or_404(request, dag_id, access.TRIGGER), body)


def triggered(request: HttpRequest, dag: DagModel, body: Any) -> DAGRunResponse:
    """Trigger ``dag`` as ``body`` asks (``logical_date``, ``conf``, ``dag_run_id``) through the
    UI's and CLI's trigger service; the run as the API answers it."""
    run = services.dag_trigger(
        dag=dag,
        now=timezone.now(),
        logical_date=body.logical_date,
        conf=body.conf,
        run_id=body.dag_run_id,
        user=request.user,
        source="api",
    )
    run.refresh_from_db()
    return DAGRunResponse.from_run(run)


@router.patch("/dags/{dag_id}/dagRuns/{dag_run_id}", response={200: DAGRunResponse, **ERRORS}, summary="Patch Dag Run")
def patch_dag_run(
    request: HttpRequest,
    dag_id: str,
    dag_run_id: str,
    body: DAGRunPatchBody,
    update_mask: list[str] = Query(None),  # noqa: B008
) -> DAGRunResponse:
    """Mark the run ``success`` or ``failed`` (or ``queued``: run it again), as the UI's Mark and Clear."""
    run = _run_or_404(request, dag_id, dag_run_id, "runs_app.change_dagrun")
    if update_mask and set(update_mask) - {"state", "note"}:
        raise bad_request(f"Invalid fields in update_mask: {sorted(set(update_mask) - {'state', 'note'})}")
    if body.state is not None:
        state = _parse_state(body.state, {"queued", "success", "failed"}, "state")
        now = timezone.now()
        if state == "queued":
            access.require(request, access.CLEAR, run.dag)
            services.task_instances_clear(tis=run.task_instances.all(), now=now, user=request.user, source="api")
        else:
            access.require(request, access.MARK, run.dag)
            services.dag_run_set_state(run=run, state=DagRunState(state), now=now, user=request.user, source="api")
    run.refresh_from_db()
    return DAGRunResponse.from_run(run)


@router.post(
    "/dags/{dag_id}/dagRuns/{dag_run_id}/clear",
    response={200: DAGRunResponse | TaskInstanceCollectionResponse, **ERRORS},
    summary="Clear Dag Run",
)
def clear_dag_run(request: HttpRequest, dag_id: str, dag_run_id: str, body: DAGRunClearBody) -> Any:
    """Clear the run's task instances (only the failed ones with ``only_failed``); ``dry_run``
    lists what would be cleared."""
    run = _run_or_404(request, dag_id, dag_run_id, access.CLEAR)
    tis = with_version(run.task_instances.select_related("dag_run", "dag_run__dag"), "dag_run__dag_version").order_by(
        "task_id", "map_index"
    )
    if body.only_failed:
        tis = tis.filter(state__in=[TaskInstanceState.FAILED, TaskInstanceState.UPSTREAM_FAILED])
    if body.dry_run:
        rows = list(tis)
        return TaskInstanceCollectionResponse(
            task_instances=[TaskInstanceResponse.from_ti(ti, run=run) for ti in rows], total_entries=len(rows)
        )
    services.task_instances_clear(
        tis=tis, now=timezone.now(), only_failed=body.only_failed, user=request.user, source="api"
    )
    run.refresh_from_db()
    return DAGRunResponse.from_run(run)


@router.delete("/dags/{dag_id}/dagRuns/{dag_run_id}", response={204: None, **ERRORS}, summary="Delete Dag Run")
def delete_dag_run(request: HttpRequest, dag_id: str, dag_run_id: str) -> Status:
    run = _run_or_404(request, dag_id, dag_run_id, "runs_app.delete_dagrun")
    services.dag_run_delete(run=run, user=request.user, source="api")
    return Status(204, None)


# -- task instances --------------------------------------------------------------------------------


def _tis(request: HttpRequest, dag_id: str, dag_run_id: str) -> QuerySet:
    # The DAGs are prefetched, not joined: a page's rows share a few, each read (and its
    # serialized JSON parsed) once.
    tis = with_version(TaskInstance.objects.select_related("dag_run"), "dag_run__dag_version").prefetch_related(
        "dag_run__dag"
    )
    tis = readable_rows(request, tis, "dag") if dag_id == WILDCARD else tis.filter(dag=dag_or_404(request, dag_id))
    if dag_run_id != WILDCARD:
        if dag_id != WILDCARD and not DagRun.objects.filter(dag__dag_id=dag_id, run_id=dag_run_id).exists():
            raise not_found(f"The DagRun with dag_id: `{dag_id}` and run_id: `{dag_run_id}` was not found")
        tis = tis.filter(dag_run__run_id=dag_run_id)
    return tis


@ti_router.get(
    "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances",
    response={200: TaskInstanceCollectionResponse, **ERRORS},
    summary="Get Task Instances",
)
def get_task_instances(
    request: HttpRequest,
    dag_id: str,
    dag_run_id: str,
    task_id: str | None = None,
    state: list[str] = Query(None),  # noqa: B008
    pool: list[str] = Query(None),  # noqa: B008
    queue: list[str] = Query(None),  # noqa: B008
    start_date_gte: dt.datetime | None = None,
    start_date_lte: dt.datetime | None = None,
    end_date_gte: dt.datetime | None = None,
    end_date_lte: dt.datetime | None = None,
    logical_date_gte: dt.datetime | None = None,
    logical_date_lte: dt.datetime | None = None,
    duration_gte: float | None = None,
    duration_lte: float | None = None,
    map_index: list[int] = Query(None),  # noqa: B008
    limit: int = 50,
    offset: int = 0,
    order_by: list[str] = Query(None),  # noqa: B008
) -> TaskInstanceCollectionResponse:
    tis = _tis(request, dag_id, dag_run_id)
    if task_id:
        tis = tis.filter(task_id=task_id)
    tis = ti_filters(tis, state=state, pool=pool, queue=queue, map_index=map_index)
    tis = _range(tis, "start_date", gte=start_date_gte, lte=start_date_lte)
    tis = _range(tis, "end_date", gte=end_date_gte, lte=end_date_lte)
    tis = _range(tis, "dag_run__logical_date", gte=logical_date_gte, lte=logical_date_lte)
    tis = _range(tis, "duration", gte=duration_gte, lte=duration_lte)
    rows, total = page_by_keys(ordered(tis, order_by, TI_ORDER, "map_index"), limit, offset)
    return TaskInstanceCollectionResponse(
        task_instances=[TaskInstanceResponse.from_ti(ti) for ti in rows], total_entries=total
    )


def ti_states(values: list[str | None]) -> list[str]:
    """Airflow's task-instance state filter values, ``none``/``no_status``/null for no state."""
    return [TaskInstanceState.NONE if s in (None, "no_status", "none", "null") else s for s in values]


def ti_filters(
    tis: QuerySet,
    *,
    state: list[str | None] | None = None,
    pool: list[str] | None = None,
    queue: list[str] | None = None,
    map_index: list[int] | None = None,
    try_number: list[int] | None = None,
) -> QuerySet:
    """The list filters every task-instance list shares (query string or batch body)."""
    if state:
        tis = tis.filter(state__in=_known("state", ti_states(state), TaskInstanceState.values))
    if pool:
        tis = tis.filter(pool__in=pool)
    if queue:
        tis = tis.filter(queue__in=queue)
    if map_index:
        tis = tis.filter(map_index__in=map_index)
    if try_number:
        tis = tis.filter(try_number__in=try_number)
    return tis


def _ti_or_404(request: HttpRequest, dag_id: str, dag_run_id: str, task_id: str, map_index: int = -1) -> TaskInstance:
    run = _run_or_404(request, dag_id, dag_run_id)
    ti = (
        with_version(TaskInstance.objects.select_related("dag_run", "dag_run__dag"), "dag_run__dag_version")
        .filter(dag_run=run, task_id=task_id, map_index=map_index)
        .first()
    )
    if ti is None:
        raise not_found(
            f"The Task Instance with dag_id: `{dag_id}`, run_id: `{dag_run_id}`, task_id: `{task_id}` and "
            f"map_index: `{map_index}` was not found"
        )
    return ti


@ti_router.get(
    "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}",
    response={200: TaskInstanceResponse, **ERRORS},
    summary="Get Task Instance",
)
def get_task_instance(request: HttpRequest, dag_id: str, dag_run_id: str, task_id: str) -> TaskInstanceResponse:
    return TaskInstanceResponse.from_ti(_ti_or_404(request, dag_id, dag_run_id, task_id), mask=PageMasker())


@ti_router.get(
    "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{signed:map_index}",
    response={200: TaskInstanceResponse, **ERRORS},
    summary="Get Mapped Task Instance",
)
def get_mapped_task_instance(
    request: HttpRequest, dag_id: str, dag_run_id: str, task_id: str, map_index: int
) -> TaskInstanceResponse:
    ti = _ti_or_404(request, dag_id, dag_run_id, task_id, map_index)
    return TaskInstanceResponse.from_ti(ti, mask=PageMasker())


def _patch(request: HttpRequest, ti: TaskInstance, body: PatchTaskInstanceBody) -> TaskInstanceCollectionResponse:
    dag = ti.dag_run.dag
    if body.new_state is not None:
        state = _parse_state(body.new_state, {"success", "failed", "skipped"}, "new_state")
        access.require(request, access.MARK, dag)
        if state == "skipped":
            raise bad_request("Marking a task instance skipped is not supported; mark it success or failed")
        services.task_instances_set_state(
            tis=[ti],
            state=TaskInstanceState(state),
            now=timezone.now(),
            upstream=body.include_upstream,
            downstream=body.include_downstream,
            user=request.user,
            source="api",
        )
    ti.refresh_from_db()
    return TaskInstanceCollectionResponse(task_instances=[TaskInstanceResponse.from_ti(ti)], total_entries=1)


@ti_router.patch(
    "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}",
    response={200: TaskInstanceCollectionResponse, **ERRORS},
    summary="Patch Task Instance",
)
def patch_task_instance(
    request: HttpRequest,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    body: PatchTaskInstanceBody,
    map_index: int | None = None,
    update_mask: list[str] = Query(None),  # noqa: B008
) -> TaskInstanceCollectionResponse:
    """Mark a task instance success or failed (with its up/downstream), as the UI's Mark."""
    return _patch(
        request, _ti_or_404(request, dag_id, dag_run_id, task_id, -1 if map_index is None else map_index), body
    )


@ti_router.post(
    "/dags/{dag_id}/clearTaskInstances",
    response={200: TaskInstanceCollectionResponse, **ERRORS},
    summary="Post Clear Task Instances",
)
def post_clear_task_instances(
    request: HttpRequest, dag_id: str, body: ClearTaskInstancesBody
) -> TaskInstanceCollectionResponse:
    """Clear task instances of a DAG so they run again: a run's, or those with logical dates in
    ``start_date``..``end_date``; ``task_ids`` (ids or ``[id, map_index]``), ``only_failed``,
    ``only_running``, upstream/downstream; ``dry_run`` (the default) only lists them."""
    dag = dag_or_404(request, dag_id, access.CLEAR if not body.dry_run else access.READ)
    tis = with_version(
        TaskInstance.objects.filter(dag=dag).select_related("dag_run", "dag_run__dag"), "dag_run__dag_version"
    )
    if body.dag_run_id is not None:
        if not DagRun.objects.filter(dag=dag, run_id=body.dag_run_id).exists():
            raise not_found(f"Dag Run id {body.dag_run_id} not found in dag {dag_id}")
        tis = tis.filter(dag_run__run_id=body.dag_run_id)
    tis = _range(tis, "dag_run__logical_date", gte=body.start_date, lte=body.end_date)
    if body.task_ids:
        wanted = Q()
        for item in body.task_ids:
            if isinstance(item, list):
                if len(item) != 2 or not str(item[1]).lstrip("-").isdigit():
                    raise bad_request("Each of task_ids is a task id or a [task id, map index] pair")
                wanted |= Q(task_id=str(item[0]), map_index=int(item[1]))
            else:
                wanted |= Q(task_id=item)
        tis = tis.filter(wanted)
        if body.include_upstream or body.include_downstream:
            related = services.task_ids_related(
                dag,
                {t if isinstance(t, str) else str(t[0]) for t in body.task_ids},
                upstream=body.include_upstream,
                downstream=body.include_downstream,
            )
            base = with_version(
                TaskInstance.objects.filter(dag=dag).select_related("dag_run", "dag_run__dag"), "dag_run__dag_version"
            )
            if body.dag_run_id is not None:
                base = base.filter(dag_run__run_id=body.dag_run_id)
            tis = tis | base.filter(task_id__in=related)
    if body.only_failed:
        tis = tis.filter(state__in=[TaskInstanceState.FAILED, TaskInstanceState.UPSTREAM_FAILED])
    if body.only_running:
        tis = tis.filter(state=TaskInstanceState.RUNNING)
    rows = list(tis.order_by("dag_run__logical_date", "task_id", "map_index"))
    if not body.dry_run and rows:
        services.task_instances_clear(tis=rows, now=timezone.now(), user=request.user, source="api")
    return TaskInstanceCollectionResponse(
        task_instances=[TaskInstanceResponse.from_ti(ti) for ti in rows], total_entries=len(rows)
    )


@ti_router.get(
    "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}",
    response={200: TaskInstancesLogResponse, **ERRORS},
    summary="Get Log",
)
def get_log(
    request: HttpRequest,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    try_number: int,
    full_content: bool = False,
    map_index: int = -1,
    token: str | None = None,
) -> Any:
    """The try's log, its secrets masked: JSON lines (``{"event": line}``), or plain text when the
    ``Accept`` header asks for ``text/plain``."""
    ti = _ti_or_404(request, dag_id, dag_run_id, task_id, map_index)
    if try_number < 1 or try_number > max(ti.try_number, 1):
        raise not_found(f"Log for try {try_number} of {task_id} not found: the task instance is at try {ti.try_number}")
    try:
        path = ti.log_path(try_number)
        text = path.read_text(errors="replace") if path.exists() else ""
    except (OSError, ValueError):
        text = ""
    text = PageMasker().text(text)
    if "text/plain" in request.headers.get("Accept", ""):
        return HttpResponse(text, content_type="text/plain; charset=utf-8")
    return TaskInstancesLogResponse(content=[_structured(line) for line in text.splitlines()], continuation_token=None)


# One line of the task logging's format (runner.LOG_FORMAT): "[2024-01-01 00:00:00,123] {file.py:12} INFO - text".
_LOG_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\] \{([^}]*)\} ([A-Z]+) - (.*)$")


def _structured(line: str) -> dict[str, Any]:
    """Airflow 3's structured log message: ``timestamp``, ``event``, ``level``, ``logger``; a
    line the task printed itself (or a traceback's) is its ``event`` alone."""
    match = _LOG_LINE.match(line)
    if match is None:
        return {"event": line}
    when, millis, logger, level, message = match.groups()
    timestamp = dt.datetime.fromisoformat(f"{when}.{millis}").replace(tzinfo=dt.UTC)
    return {"timestamp": timestamp, "event": message, "level": level.lower(), "logger": logger}


# -- XComs -------------------------------------------------------------------------------------------


@xcom_router.get(
    "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries",
    response={200: XComCollectionResponse, **ERRORS},
    summary="Get Xcom Entries",
)
def get_xcom_entries(
    request: HttpRequest,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    xcom_key: str | None = None,
    map_index: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> XComCollectionResponse:
    xcoms = XCom.objects.select_related("dag_run", "dag_run__dag")
    if dag_id == WILDCARD:
        xcoms = readable_rows(request, xcoms, "dag_run__dag")
    else:
        xcoms = xcoms.filter(dag_run__dag=dag_or_404(request, dag_id))
    if dag_run_id != WILDCARD:
        xcoms = xcoms.filter(dag_run__run_id=dag_run_id)
    if task_id != WILDCARD:
        xcoms = xcoms.filter(task_id=task_id)
    if xcom_key is not None:
        xcoms = xcoms.filter(key=xcom_key)
    if map_index is not None:
        xcoms = xcoms.filter(map_index=map_index)
    rows, total = page(xcoms.order_by("dag_run_id", "task_id", "map_index", "key"), limit, offset)
    return XComCollectionResponse(
        xcom_entries=[XComResponse(**XComResponse.fields_of(x)) for x in rows], total_entries=total
    )


@xcom_router.get(
    "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}",
    response={200: XComResponseNative, **ERRORS},
    summary="Get Xcom Entry",
)
def get_xcom_entry(
    request: HttpRequest,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    xcom_key: str,
    map_index: int = -1,
    deserialize: bool = False,
    stringify: bool = False,
) -> XComResponseNative:
    run = _run_or_404(request, dag_id, dag_run_id)
    xcom = (
        XCom.objects.select_related("dag_run", "dag_run__dag")
        .filter(dag_run=run, task_id=task_id, map_index=map_index, key=xcom_key)
        .first()
    )
    if xcom is None:
        raise not_found(f"XCom entry with key: `{xcom_key}` not found")
    value = PageMasker().value(xcom.value)
    return XComResponseNative(**XComResponse.fields_of(xcom), value=str(value) if stringify else value)


__all__ = ["DagModel", "router", "ti_router", "xcom_router"]

"""More of a task instance in ``/api/v2/``: its tries, its dependencies (why it is not running),
its mapped instances, its extra links, a dry run of a mark, the batch lists (``…/list``) of task
instances and DAG runs, and the XCom writes (create, update, delete).

The reads use the same rows and checks as ``runs.py``; the writes go through ``runs_app.services``
as the UI's and the CLI's do.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import DurationField, ExpressionWrapper, F
from django.http import HttpRequest
from django.urls import reverse
from ninja import Query, Status

from api_app.common import WILDCARD, bad_request, dag_or_404, not_found, ordered, page, page_by_keys, readable_rows
from api_app.runs import (
    RUN_ORDER,
    TI_ORDER,
    WRITE_ERRORS,
    _known,
    _parse_state,
    _range,
    _run_or_404,
    _ti_or_404,
    _tis,
    bounded,
    ti_filters,
    ti_router,
)
from api_app.runs import (
    _patch as patch_ti,
)
from api_app.runs import xcom_router as runs_xcom_router
from api_app.schemas import (
    ERRORS,
    DAGRunCollectionResponse,
    DAGRunResponse,
    DAGRunsBatchBody,
    ExtraLinkCollectionResponse,
    PatchTaskInstanceBody,
    TaskDependencyCollectionResponse,
    TaskDependencyResponse,
    TaskInstanceCollectionResponse,
    TaskInstanceHistoryCollectionResponse,
    TaskInstanceHistoryResponse,
    TaskInstanceResponse,
    TaskInstancesBatchBody,
    XComCreateBody,
    XComResponse,
    XComResponseNative,
    XComUpdateBody,
    with_version,
)
from dags_app.sdk.trigger_dagrun import XCOM_RUN_ID
from orchestrator_site import access
from runs_app import services
from runs_app.masking import PageMasker
from runs_app.models import DagRun, TaskInstance, TaskInstanceHistory, XCom
from runs_app.states import DagRunState, TaskInstanceState, TaskStates
from runs_app.views.dag_views import waiting_dependencies

# The routers of runs.py: a path's methods must share one router (Django resolves the path once,
# so a second router's PATCH on the same path would be a 405).
router, xcom_router = ti_router, runs_xcom_router

TI_PATH = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}"
MAPPED_PATH = TI_PATH + "/{signed:map_index}"
_TI_BOUNDS = {
    "run_after": "dag_run__data_interval_end",
    "logical_date": "dag_run__logical_date",
    "start_date": "start_date",
    "end_date": "end_date",
    "duration": "duration",
}


def _index(map_index: int | None) -> int:
    return -1 if map_index is None else map_index


# -- tries -------------------------------------------------------------------------------------------


def _tries(ti: TaskInstance) -> list[TaskInstanceHistoryResponse]:
    """Every try of ``ti``: the ended ones kept in its history, then its latest (its own row)."""
    kept = TaskInstanceHistory.objects.filter(task_instance=ti, try_number__lt=ti.try_number).order_by("try_number")
    tries = [TaskInstanceHistoryResponse.from_try(ti, row) for row in kept]
    if ti.try_number >= 1:
        tries.append(TaskInstanceHistoryResponse.from_try(ti))
    return tries


def _tries_response(ti: TaskInstance) -> TaskInstanceHistoryCollectionResponse:
    tries = _tries(ti)
    return TaskInstanceHistoryCollectionResponse(task_instances=tries, total_entries=len(tries))


def _try(ti: TaskInstance, try_number: int) -> TaskInstanceHistoryResponse:
    if try_number == ti.try_number and try_number >= 1:
        return TaskInstanceHistoryResponse.from_try(ti)
    row = TaskInstanceHistory.objects.filter(task_instance=ti, try_number=try_number).first()
    if row is None or try_number > ti.try_number:
        raise not_found(
            f"The Task Instance with dag_id: `{ti.dag_run.dag.dag_id}`, run_id: `{ti.dag_run.run_id}`, "
            f"task_id: `{ti.task_id}`, try_number: `{try_number}` and map_index: `{ti.map_index}` was not found"
        )
    return TaskInstanceHistoryResponse.from_try(ti, row)


@router.get(
    TI_PATH + "/tries",
    response={200: TaskInstanceHistoryCollectionResponse, **ERRORS},
    summary="Get Task Instance Tries",
)
def get_task_instance_tries(
    request: HttpRequest, dag_id: str, dag_run_id: str, task_id: str, map_index: int = -1
) -> TaskInstanceHistoryCollectionResponse:
    return _tries_response(_ti_or_404(request, dag_id, dag_run_id, task_id, map_index))


@router.get(
    MAPPED_PATH + "/tries",
    response={200: TaskInstanceHistoryCollectionResponse, **ERRORS},
    summary="Get Mapped Task Instance Tries",
)
def get_mapped_task_instance_tries(
    request: HttpRequest, dag_id: str, dag_run_id: str, task_id: str, map_index: int
) -> TaskInstanceHistoryCollectionResponse:
    return _tries_response(_ti_or_404(request, dag_id, dag_run_id, task_id, map_index))


@router.get(
    TI_PATH + "/tries/{task_try_number}",
    response={200: TaskInstanceHistoryResponse, **ERRORS},
    summary="Get Task Instance Try Details",
)
def get_task_instance_try_details(
    request: HttpRequest, dag_id: str, dag_run_id: str, task_id: str, task_try_number: int, map_index: int = -1
) -> TaskInstanceHistoryResponse:
    return _try(_ti_or_404(request, dag_id, dag_run_id, task_id, map_index), task_try_number)


@router.get(
    MAPPED_PATH + "/tries/{task_try_number}",
    response={200: TaskInstanceHistoryResponse, **ERRORS},
    summary="Get Mapped Task Instance Try Details",
)
def get_mapped_task_instance_try_details(
    request: HttpRequest, dag_id: str, dag_run_id: str, task_id: str, map_index: int, task_try_number: int
) -> TaskInstanceHistoryResponse:
    return _try(_ti_or_404(request, dag_id, dag_run_id, task_id, map_index), task_try_number)


# -- dependencies, links, external log URL -----------------------------------------------------------


def _dependencies(ti: TaskInstance) -> TaskDependencyCollectionResponse:
    """Why ``ti`` is not running, as the task panel says it (the scheduler's own evaluation)."""
    run = ti.dag_run
    states = TaskStates.from_rows(run.task_instances.values_list("task_id", "map_index", "state"))
    pairs = waiting_dependencies(ti=ti, run=run, dag=run.dag, task=run.dag.get_task(ti.task_id), states=states)
    return TaskDependencyCollectionResponse(
        dependencies=[TaskDependencyResponse(name=name, reason=reason) for name, reason in pairs]
    )


@router.get(
    TI_PATH + "/dependencies",
    response={200: TaskDependencyCollectionResponse, **ERRORS},
    summary="Get Task Instance Dependencies",
)
def get_task_instance_dependencies(
    request: HttpRequest, dag_id: str, dag_run_id: str, task_id: str, map_index: int = -1
) -> TaskDependencyCollectionResponse:
    return _dependencies(_ti_or_404(request, dag_id, dag_run_id, task_id, map_index))


@router.get(
    MAPPED_PATH + "/dependencies",
    response={200: TaskDependencyCollectionResponse, **ERRORS},
    summary="Get Mapped Task Instance Dependencies",
)
def get_mapped_task_instance_dependencies(
    request: HttpRequest, dag_id: str, dag_run_id: str, task_id: str, map_index: int
) -> TaskDependencyCollectionResponse:
    return _dependencies(_ti_or_404(request, dag_id, dag_run_id, task_id, map_index))


@router.get(TI_PATH + "/links", response={200: ExtraLinkCollectionResponse, **ERRORS}, summary="Get Extra Links")
def get_extra_links(
    request: HttpRequest, dag_id: str, dag_run_id: str, task_id: str, map_index: int = -1, try_number: int | None = None
) -> ExtraLinkCollectionResponse:
    """The operator's extra links: a TriggerDagRunOperator's "Triggered DAG" (the run it made,
    None until it made one); other operators have none."""
    ti = _ti_or_404(request, dag_id, dag_run_id, task_id, map_index)
    task = ti.dag_run.dag.get_task(ti.task_id) or {}
    links: dict[str, str | None] = {}
    if task.get("operator") == "TriggerDagRunOperator":
        xcom = ti.xcoms.filter(key=XCOM_RUN_ID).only("value").first()
        target = (ti.rendered_fields or {}).get("trigger_dag_id") or (task.get("template_values") or {}).get(
            "trigger_dag_id"
        )
        links["Triggered DAG"] = (
            request.build_absolute_uri(reverse("runs:run", args=[str(target), str(xcom.value)]))
            if xcom is not None and target
            else None
        )
    return ExtraLinkCollectionResponse(extra_links=links, total_entries=len(links))


@router.get(
    TI_PATH + "/externalLogUrl/{try_number}", response={200: dict, 400: Any, **ERRORS}, summary="Get External Log Url"
)
def get_external_log_url(
    request: HttpRequest, dag_id: str, dag_run_id: str, task_id: str, try_number: int, map_index: int = -1
) -> Any:
    """Logs are this server's own (``…/logs/{try_number}``): no external log system to link to,
    which Airflow answers with a 400."""
    _ti_or_404(request, dag_id, dag_run_id, task_id, map_index)
    raise bad_request("Task log handler does not support external logs.")


# -- mapped instances, dry runs ----------------------------------------------------------------------


@router.get(
    TI_PATH + "/listMapped",
    response={200: TaskInstanceCollectionResponse, **ERRORS},
    summary="Get Mapped Task Instances",
)
def get_mapped_task_instances(
    request: HttpRequest,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    state: list[str] = Query(None),  # noqa: B008
    pool: list[str] = Query(None),  # noqa: B008
    queue: list[str] = Query(None),  # noqa: B008
    start_date_gte: dt.datetime | None = None,
    start_date_lte: dt.datetime | None = None,
    end_date_gte: dt.datetime | None = None,
    end_date_lte: dt.datetime | None = None,
    duration_gte: float | None = None,
    duration_lte: float | None = None,
    map_index: list[int] = Query(None),  # noqa: B008
    try_number: list[int] = Query(None),  # noqa: B008
    limit: int = 100,
    offset: int = 0,
    order_by: list[str] = Query(None),  # noqa: B008
) -> TaskInstanceCollectionResponse:
    """The instances of a mapped task in one run (404 for a task that has none)."""
    run = _run_or_404(request, dag_id, dag_run_id)
    if not run.dag.get_task(task_id) and not TaskInstance.objects.filter(dag_run=run, task_id=task_id).exists():
        raise not_found(f"Task id {task_id} not found")
    tis = with_version(TaskInstance.objects.select_related("dag_run"), "dag_run__dag_version").prefetch_related(
        "dag_run__dag"
    )
    tis = tis.filter(dag_run=run, task_id=task_id, map_index__gte=0)
    tis = ti_filters(tis, state=state, pool=pool, queue=queue, map_index=map_index, try_number=try_number)
    tis = _range(tis, "start_date", gte=start_date_gte, lte=start_date_lte)
    tis = _range(tis, "end_date", gte=end_date_gte, lte=end_date_lte)
    tis = _range(tis, "duration", gte=duration_gte, lte=duration_lte)
    rows, total = page(ordered(tis, order_by, TI_ORDER, "map_index"), limit, offset)
    return TaskInstanceCollectionResponse(
        task_instances=[TaskInstanceResponse.from_ti(ti) for ti in rows], total_entries=total
    )


def _dry_run(request: HttpRequest, ti: TaskInstance, body: PatchTaskInstanceBody) -> TaskInstanceCollectionResponse:
    """What the same PATCH would change: the instances a mark would move, or the one a note is for."""
    tis = [ti]
    if body.new_state is not None:
        state = _parse_state(body.new_state, {"success", "failed", "skipped"}, "new_state")
        if state == "skipped":
            raise bad_request("Marking a task instance skipped is not supported; mark it success or failed")
        tis = services.task_instances_mark_plan(
            tis=[ti],
            state=TaskInstanceState(state),
            upstream=body.include_upstream,
            downstream=body.include_downstream,
        )
    return TaskInstanceCollectionResponse(
        task_instances=[TaskInstanceResponse.from_ti(t) for t in tis], total_entries=len(tis)
    )


@router.patch(
    TI_PATH + "/dry_run",
    response={200: TaskInstanceCollectionResponse, **ERRORS},
    summary="Patch Task Instance Dry Run",
)
def patch_task_instance_dry_run(
    request: HttpRequest,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    body: PatchTaskInstanceBody,
    map_index: int | None = None,
    update_mask: list[str] = Query(None),  # noqa: B008
) -> TaskInstanceCollectionResponse:
    return _dry_run(request, _ti_or_404(request, dag_id, dag_run_id, task_id, _index(map_index)), body)


@router.patch(
    MAPPED_PATH + "/dry_run",
    response={200: TaskInstanceCollectionResponse, **ERRORS},
    summary="Patch Mapped Task Instance Dry Run",
)
def patch_mapped_task_instance_dry_run(
    request: HttpRequest,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    map_index: int,
    body: PatchTaskInstanceBody,
    update_mask: list[str] = Query(None),  # noqa: B008
) -> TaskInstanceCollectionResponse:
    return _dry_run(request, _ti_or_404(request, dag_id, dag_run_id, task_id, map_index), body)


@router.patch(MAPPED_PATH, response={200: TaskInstanceCollectionResponse, **ERRORS}, summary="Patch Task Instance")
def patch_mapped_task_instance(
    request: HttpRequest,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    map_index: int,
    body: PatchTaskInstanceBody,
    update_mask: list[str] = Query(None),  # noqa: B008
) -> TaskInstanceCollectionResponse:
    """Mark one mapped instance success or failed, as ``PATCH …/{task_id}?map_index=``."""
    return patch_ti(request, _ti_or_404(request, dag_id, dag_run_id, task_id, map_index), body)


# -- batch lists -------------------------------------------------------------------------------------


@router.post(
    "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/list",
    response={200: TaskInstanceCollectionResponse, **ERRORS},
    summary="Get Task Instances Batch",
)
def get_task_instances_batch(
    request: HttpRequest, dag_id: str, dag_run_id: str, body: TaskInstancesBatchBody
) -> TaskInstanceCollectionResponse:
    """The task instances of many DAGs and runs in one request (the filters in the body)."""
    tis = _tis(request, dag_id, dag_run_id)
    if body.dag_ids:
        tis = tis.filter(dag__dag_id__in=body.dag_ids)
    if body.dag_run_ids:
        tis = tis.filter(dag_run__run_id__in=body.dag_run_ids)
    if body.task_ids:
        tis = tis.filter(task_id__in=body.task_ids)
    tis = ti_filters(tis, state=body.state, pool=body.pool, queue=body.queue)
    if body.executor and not {"", "RQExecutor"} & set(body.executor):
        tis = tis.none()  # every task runs on the one executor, RQ
    tis = bounded(tis, body, _TI_BOUNDS)
    order = [body.order_by] if body.order_by else None
    rows, total = page_by_keys(ordered(tis, order, TI_ORDER, "map_index"), body.page_limit, body.page_offset)
    return TaskInstanceCollectionResponse(
        task_instances=[TaskInstanceResponse.from_ti(ti) for ti in rows], total_entries=total
    )


@router.post(
    "/dags/{dag_id}/dagRuns/list",
    response={200: DAGRunCollectionResponse, **ERRORS},
    summary="Get List Dag Runs Batch",
    tags=["DagRun"],
)
def get_list_dag_runs_batch(request: HttpRequest, dag_id: str, body: DAGRunsBatchBody) -> DAGRunCollectionResponse:
    """The runs of many DAGs in one request; the path's DAG id is ``~`` (the body's ``dag_ids``
    choose), or one DAG."""
    if dag_id == WILDCARD:
        runs = readable_rows(request, with_version(DagRun.objects.select_related("dag")), "dag")
    else:
        runs = with_version(DagRun.objects.filter(dag=dag_or_404(request, dag_id)).select_related("dag"))
    if body.dag_ids:
        runs = runs.filter(dag__dag_id__in=body.dag_ids)
    if body.states:
        wanted = [s for s in body.states if s is not None]
        runs = runs.filter(state__in=_known("states", wanted, DagRunState.values))
    if body.conf_contains:
        runs = runs.filter(conf__icontains=body.conf_contains)
    runs = runs.annotate(run_duration=ExpressionWrapper(F("end_date") - F("start_date"), output_field=DurationField()))
    for op in ("gte", "gt", "lte", "lt"):
        seconds = getattr(body, f"duration_{op}")
        if seconds is not None:
            runs = runs.filter(**{f"run_duration__{op}": dt.timedelta(seconds=seconds)})
    runs = bounded(
        runs,
        body,
        {
            "run_after": "data_interval_end",
            "logical_date": "logical_date",
            "start_date": "start_date",
            "end_date": "end_date",
        },
    )
    order = [body.order_by] if body.order_by else None
    rows, total = page(ordered(runs, order, RUN_ORDER, "id"), body.page_limit, body.page_offset)
    return DAGRunCollectionResponse(dag_runs=[DAGRunResponse.from_run(r) for r in rows], total_entries=total)


# -- XCom writes -------------------------------------------------------------------------------------


def _xcom_ti(
    request: HttpRequest, dag_id: str, dag_run_id: str, task_id: str, map_index: int, permission: str
) -> TaskInstance:
    ti = _ti_or_404(request, dag_id, dag_run_id, task_id, map_index)
    access.require(request, permission, ti.dag_run.dag)
    return ti


def _native(xcom: XCom) -> XComResponseNative:
    return XComResponseNative(**XComResponse.fields_of(xcom), value=PageMasker().value(xcom.value))


@xcom_router.post(
    TI_PATH + "/xcomEntries", response={201: XComResponseNative, **WRITE_ERRORS}, summary="Create Xcom Entry"
)
def create_xcom_entry(
    request: HttpRequest, dag_id: str, dag_run_id: str, task_id: str, body: XComCreateBody
) -> Status[XComResponseNative]:
    """Add an XCom to a task instance (an Op's repair: the value a downstream task pulls)."""
    ti = _xcom_ti(request, dag_id, dag_run_id, task_id, body.map_index, "runs_app.add_xcom")
    xcom = services.xcom_set(ti=ti, key=body.key, value=body.value, create=True, user=request.user, source="api")
    return Status(201, _native(xcom))


@xcom_router.patch(
    TI_PATH + "/xcomEntries/{xcom_key}", response={200: XComResponseNative, **ERRORS}, summary="Update Xcom Entry"
)
def update_xcom_entry(
    request: HttpRequest, dag_id: str, dag_run_id: str, task_id: str, xcom_key: str, body: XComUpdateBody
) -> XComResponseNative:
    ti = _xcom_ti(request, dag_id, dag_run_id, task_id, body.map_index, "runs_app.change_xcom")
    xcom = services.xcom_set(ti=ti, key=xcom_key, value=body.value, create=False, user=request.user, source="api")
    return _native(xcom)


@xcom_router.delete(TI_PATH + "/xcomEntries/{xcom_key}", response={204: None, **ERRORS}, summary="Delete Xcom Entry")
def delete_xcom_entry(
    request: HttpRequest, dag_id: str, dag_run_id: str, task_id: str, xcom_key: str, map_index: int = -1
) -> Status[None]:
    ti = _xcom_ti(request, dag_id, dag_run_id, task_id, map_index, "runs_app.delete_xcom")
    xcom = ti.xcoms.select_related("dag_run", "dag_run__dag").filter(key=xcom_key).first()
    if xcom is None:
        raise not_found(f"XCom entry with key: `{xcom_key}` not found")
    services.xcom_delete(xcom=xcom, user=request.user, source="api")
    return Status(204, None)

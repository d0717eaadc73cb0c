"""The REST API's resource shapes: Airflow 3.3's (``v2-rest-api-generated.yaml``), field for field,
so Airflow's own client (``apache-airflow-client``) reads them. Each ``from_*`` builds one from our
rows without a query of its own: the lists stay one query per page.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from ninja import Schema
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationInfo,
    model_validator,
)

from dags_app.models import DagImportError, DagModel, DagVersion
from dags_app.services import dag_file_token
from runs_app.models import AuditLog, DagRun, TaskInstance, XCom
from runs_app.states import TaskInstanceState

# Our run's ``triggered_by`` (what made it) -> Airflow's DagRunTriggeredByType.
TRIGGERED_BY = {
    "scheduler": "timetable",
    "asset": "asset",
    "backfill": "backfill",
    "dags test": "test",
    "tasks test": "test",
    "cli": "cli",
    "web": "ui",
    "admin": "ui",
    "api": "rest_api",
    "task": "operator",
}


class RequestBody(Schema):
    """A request's JSON body: an object, or a 422 (ninja's ``Schema`` would read a list or a string
    as an object without fields, and so take ``[1]`` for ``{}``)."""

    @model_validator(mode="wrap")
    @classmethod
    def _run_root_validator(cls, values: Any, handler: ModelWrapValidatorHandler, info: ValidationInfo) -> Any:
        if not isinstance(values, dict | BaseModel):
            raise ValueError("The request body must be a JSON object")
        return handler(values)


class ProblemResponse(Schema):
    """Airflow's error body (``HTTPExceptionResponse``)."""

    detail: str | dict[str, Any]


# The error answers every route documents (the OpenAPI document's responses).
ERRORS = {status: ProblemResponse for status in (400, 401, 403, 404, 422)}


class DagTagResponse(Schema):
    name: str
    dag_id: str
    dag_display_name: str


class DAGResponse(Schema):
    dag_id: str
    dag_display_name: str
    is_paused: bool
    is_stale: bool
    last_parsed_time: dt.datetime | None
    last_parse_duration: float | None = None
    last_expired: dt.datetime | None = None
    bundle_name: str | None = "dags-folder"
    bundle_version: str | None = None
    relative_fileloc: str | None
    fileloc: str
    description: str | None
    timetable_summary: str | None
    timetable_description: str | None
    timetable_partitioned: bool = False
    timetable_periodic: bool
    tags: list[DagTagResponse]
    max_active_tasks: int
    max_active_runs: int | None
    max_consecutive_failed_dag_runs: int = 0
    has_task_concurrency_limits: bool
    has_import_errors: bool = False
    next_dagrun_logical_date: dt.datetime | None
    next_dagrun_data_interval_start: dt.datetime | None
    next_dagrun_data_interval_end: dt.datetime | None
    next_dagrun_run_after: dt.datetime | None
    allowed_run_types: list[str] | None = None
    owners: list[str]
    is_backfillable: bool
    file_token: str

    @classmethod
    def fields_of(cls, dag: DagModel, tags: list[str]) -> dict[str, Any]:
        from dags_app.timetables import timetable_from_dict

        serialized = dag.serialized or {}
        try:
            periodic = timetable_from_dict(serialized.get("timetable", {})).periodic
        except ValueError:
            periodic = False
        tasks = serialized.get("tasks", [])
        return {
            "dag_id": dag.dag_id,
            "dag_display_name": dag.display_name,
            "is_paused": dag.is_paused,
            "is_stale": not dag.is_active,
            "last_parsed_time": dag.last_parsed_time,
            "relative_fileloc": _relative(dag.fileloc),
            "fileloc": dag.fileloc,
            "description": dag.description or None,
            "timetable_summary": dag.timetable_summary,
            "timetable_description": dag.timetable_description,
            "timetable_periodic": periodic,
            "tags": [{"name": t, "dag_id": dag.dag_id, "dag_display_name": dag.display_name} for t in sorted(tags)],
            "max_active_tasks": dag.max_active_tasks,
            "max_active_runs": dag.max_active_runs,
            "has_task_concurrency_limits": any(
                t.get("max_active_tis_per_dag") or t.get("max_active_tis_per_dagrun") for t in tasks
            ),
            "next_dagrun_logical_date": dag.next_dagrun,
            "next_dagrun_data_interval_start": dag.next_dagrun_data_interval_start,
            "next_dagrun_data_interval_end": dag.next_dagrun_data_interval_end,
            "next_dagrun_run_after": dag.next_dagrun_create_after,
            "owners": [o.strip() for o in (dag.owners or "").split(",") if o.strip()],
            "is_backfillable": periodic,
            "file_token": dag_file_token(dag.fileloc or ""),
        }

    @classmethod
    def from_dag(cls, dag: DagModel, tags: list[str]) -> DAGResponse:
        return cls(**cls.fields_of(dag, tags))


class DAGCollectionResponse(Schema):
    dags: list[DAGResponse]
    total_entries: int


class DAGDetailsResponse(DAGResponse):
    catchup: bool
    dag_run_timeout: str | None
    asset_expression: dict[str, Any] | None
    doc_md: str | None
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    is_paused_upon_creation: bool | None
    params: dict[str, Any] | None
    render_template_as_native_obj: bool
    template_search_path: list[str] | None
    timezone: str | None
    last_parsed: dt.datetime | None
    default_args: dict[str, Any] | None
    owner_links: dict[str, str] | None = None
    is_favorite: bool = False
    active_runs_count: int = 0
    concurrency: int

    @classmethod
    def from_dag(cls, dag: DagModel, tags: list[str]) -> DAGDetailsResponse:  # type: ignore[override]
        serialized = dag.serialized or {}
        timeout = serialized.get("dagrun_timeout")
        return cls(
            **cls.fields_of(dag, tags),
            catchup=bool(serialized.get("catchup", True)),
            dag_run_timeout=_duration(timeout),
            asset_expression=serialized.get("asset_condition"),
            doc_md=serialized.get("doc_md"),
            start_date=serialized.get("start_date"),
            end_date=serialized.get("end_date"),
            is_paused_upon_creation=serialized.get("is_paused_upon_creation"),
            params={k: v for k, v in (serialized.get("param_specs") or {}).items()},
            render_template_as_native_obj=bool(serialized.get("render_template_as_native_obj")),
            template_search_path=serialized.get("template_searchpath") or None,
            timezone=serialized.get("timezone"),
            last_parsed=dag.last_parsed_time,
            default_args=serialized.get("default_args") or None,
            owner_links=dag.owner_links or None,
            concurrency=dag.max_active_tasks,
        )


class DAGPatchBody(RequestBody):
    is_paused: bool


class DagVersionResponse(Schema):
    id: str
    version_number: int
    dag_id: str
    bundle_name: str | None = "dags-folder"
    bundle_version: str | None = None
    created_at: dt.datetime
    dag_display_name: str
    bundle_url: str | None = None

    @classmethod
    def from_version(cls, version: DagVersion, dag: DagModel) -> DagVersionResponse:
        return cls(
            # Airflow 3's version ids are UUIDs: ours is the row's id as one (reversible).
            id=str(uuid.UUID(int=version.pk)),
            version_number=version.version_number,
            dag_id=dag.dag_id,
            created_at=version.created_at,
            dag_display_name=dag.display_name,
        )


def run_versions(run: DagRun) -> list[DagVersionResponse]:
    """The version a run was created with, from ``with_version`` (none for older runs)."""
    if run.dag_version_id is None:
        return []
    return [DagVersionResponse.from_version(run.dag_version, run.dag)]


def with_version(queryset: Any, path: str = "dag_version") -> Any:
    """``queryset`` with the runs' versions joined (``path`` to them), without their stored form
    and source: the responses name a version, they do not show it."""
    return queryset.select_related(path).defer(f"{path}__serialized", f"{path}__source")


class DAGRunResponse(Schema):
    dag_run_id: str
    dag_id: str
    logical_date: dt.datetime | None
    queued_at: dt.datetime | None
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    duration: float | None
    data_interval_start: dt.datetime | None
    data_interval_end: dt.datetime | None
    run_after: dt.datetime
    last_scheduling_decision: dt.datetime | None = None
    run_type: str
    state: str
    triggered_by: str | None
    triggering_user_name: str | None
    conf: dict[str, Any] | None
    note: str | None = None
    dag_versions: list[DagVersionResponse] = []
    bundle_version: str | None = None
    dag_display_name: str
    partition_key: str | None = None
    partition_date: dt.datetime | None = None

    @classmethod
    def from_run(cls, run: DagRun) -> DAGRunResponse:
        source = TRIGGERED_BY.get(run.triggered_by) or ("operator" if "." in run.triggered_by else None)
        duration = run.duration
        return cls(
            dag_run_id=run.run_id,
            dag_id=run.dag.dag_id,
            logical_date=run.logical_date,
            queued_at=run.queued_at,
            start_date=run.start_date,
            end_date=run.end_date,
            duration=duration.total_seconds() if duration is not None else None,
            data_interval_start=run.data_interval_start,
            data_interval_end=run.data_interval_end,
            run_after=run.data_interval_end or run.logical_date,
            run_type=run.run_type,
            state=run.state,
            # (Runs made before triggering_user_name existed kept the user in triggered_by.)
            triggered_by=source or ("ui" if run.triggered_by else None),
            triggering_user_name=run.triggering_user_name or (None if source else run.triggered_by or None),
            conf=run.conf,
            dag_versions=run_versions(run),
            dag_display_name=run.dag.display_name,
        )


class DAGRunCollectionResponse(Schema):
    dag_runs: list[DAGRunResponse]
    total_entries: int


class TriggerDAGRunPostBody(RequestBody):
    # Airflow's dates here are AwareDatetime: one without a timezone is a 422.
    dag_run_id: str | None = None
    data_interval_start: AwareDatetime | None = None
    data_interval_end: AwareDatetime | None = None
    logical_date: AwareDatetime | None
    run_after: AwareDatetime | None = None
    conf: dict[str, Any] | None = None
    note: str | None = None
    partition_key: str | None = None


class MaterializeAssetBody(RequestBody):
    dag_run_id: str | None = None
    data_interval_start: AwareDatetime | None = None
    data_interval_end: AwareDatetime | None = None
    logical_date: AwareDatetime | None = None
    run_after: AwareDatetime | None = None
    conf: dict[str, Any] | None = None
    note: str | None = None
    partition_key: str | None = None


class DAGRunPatchBody(RequestBody):
    state: str | None = None
    note: str | None = None


class DAGRunClearBody(RequestBody):
    dry_run: bool = True
    only_failed: bool = False
    run_on_latest_version: bool | None = None


class TaskInstanceResponse(Schema):
    id: str
    task_id: str
    dag_id: str
    dag_run_id: str
    map_index: int
    logical_date: dt.datetime | None
    run_after: dt.datetime
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    duration: float | None
    state: str | None
    try_number: int
    max_tries: int
    task_display_name: str
    dag_display_name: str
    hostname: str | None
    unixname: str | None = None
    pool: str
    pool_slots: int
    queue: str | None
    priority_weight: int | None
    operator: str | None
    operator_name: str | None
    queued_when: dt.datetime | None
    scheduled_when: dt.datetime | None = None
    pid: int | None
    executor: str | None = None
    executor_config: str = "{}"
    note: str | None = None
    rendered_map_index: str | None
    rendered_fields: dict[str, Any] = {}
    trigger: dict[str, Any] | None = None
    triggerer_job: dict[str, Any] | None = None
    dag_version: DagVersionResponse | None = None

    @classmethod
    def from_ti(cls, ti: TaskInstance, *, run: DagRun | None = None, mask: Any = None) -> TaskInstanceResponse:
        run = run or ti.dag_run
        task = run.dag.get_task(ti.task_id) or {}
        rendered = ti.rendered_fields or {}
        return cls(
            # Airflow 3's task instance ids are UUIDs: ours is the row's id as one (reversible).
            id=str(uuid.UUID(int=ti.pk)),
            task_id=ti.task_id,
            dag_id=run.dag.dag_id,
            dag_run_id=run.run_id,
            map_index=ti.map_index,
            logical_date=run.logical_date,
            run_after=run.data_interval_end or run.logical_date,
            start_date=ti.start_date,
            end_date=ti.end_date,
            duration=ti.duration,
            state=None if ti.state == TaskInstanceState.NONE else ti.state,
            try_number=ti.try_number,
            max_tries=ti.max_tries,
            task_display_name=task.get("task_display_name") or ti.task_id,
            dag_display_name=run.dag.display_name,
            hostname=ti.hostname or None,
            pool=ti.pool,
            pool_slots=ti.pool_slots,
            queue=ti.queue,
            priority_weight=ti.priority_weight,
            operator=task.get("operator") or ti.operator or None,
            operator_name=task.get("operator") or ti.operator or None,
            queued_when=ti.queued_at,
            pid=ti.pid,
            rendered_map_index=ti.rendered_map_index or (str(ti.map_index) if ti.map_index >= 0 else None),
            rendered_fields=mask.value(rendered) if mask is not None else rendered,
            dag_version=(run_versions(run) or [None])[0],
        )


class TaskInstanceCollectionResponse(Schema):
    task_instances: list[TaskInstanceResponse]
    total_entries: int


class PatchTaskInstanceBody(RequestBody):
    new_state: str | None = None
    note: str | None = None
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False


class ClearTaskInstancesBody(RequestBody):
    dry_run: bool = True
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    only_failed: bool = True
    only_running: bool = False
    reset_dag_runs: bool = True
    task_ids: list[str | list[str | int]] | None = None
    dag_run_id: str | None = None
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False
    run_on_latest_version: bool | None = None
    prevent_running_task: bool = False
    note: str | None = None


class TaskInstancesLogResponse(Schema):
    content: list[dict[str, Any]] | list[str]
    continuation_token: str | None


class XComResponse(Schema):
    key: str
    timestamp: dt.datetime
    logical_date: dt.datetime | None
    map_index: int
    task_id: str
    dag_id: str
    run_id: str
    dag_display_name: str
    task_display_name: str
    run_after: dt.datetime

    @classmethod
    def fields_of(cls, xcom: XCom) -> dict[str, Any]:
        run = xcom.dag_run
        task = run.dag.get_task(xcom.task_id) or {}
        return {
            "key": xcom.key,
            "timestamp": xcom.timestamp,
            "logical_date": run.logical_date,
            "map_index": xcom.map_index,
            "task_id": xcom.task_id,
            "dag_id": run.dag.dag_id,
            "run_id": run.run_id,
            "dag_display_name": run.dag.display_name,
            "task_display_name": task.get("task_display_name") or xcom.task_id,
            "run_after": run.data_interval_end or run.logical_date,
        }


class XComResponseNative(XComResponse):
    value: Any


class XComCollectionResponse(Schema):
    xcom_entries: list[XComResponse]
    total_entries: int


class ImportErrorResponse(Schema):
    import_error_id: int
    timestamp: dt.datetime
    filename: str
    bundle_name: str | None = "dags-folder"
    stack_trace: str

    @classmethod
    def from_row(cls, row: DagImportError) -> ImportErrorResponse:
        return cls(
            import_error_id=row.pk,
            timestamp=row.timestamp,
            filename=_relative(row.filename) or row.filename,
            stack_trace=row.stacktrace or row.message,
        )


class ImportErrorCollectionResponse(Schema):
    import_errors: list[ImportErrorResponse]
    total_entries: int


class EventLogResponse(Schema):
    event_log_id: int
    when: dt.datetime
    dag_id: str | None
    task_id: str | None
    run_id: str | None
    map_index: int | None = None
    try_number: int | None = None
    event: str
    logical_date: dt.datetime | None = None
    owner: str | None
    extra: str | None
    dag_display_name: str | None = None
    task_display_name: str | None = None

    @classmethod
    def from_row(cls, row: AuditLog) -> EventLogResponse:
        import json

        return cls(
            event_log_id=row.pk,
            when=row.when,
            dag_id=row.dag_id or None,
            task_id=row.task_id or None,
            run_id=row.run_id or None,
            event=row.event,
            owner=row.username or row.source or None,
            extra=json.dumps(row.extra) if row.extra else None,
            dag_display_name=row.dag_id or None,
            task_display_name=row.task_id or None,
        )


class EventLogCollectionResponse(Schema):
    event_logs: list[EventLogResponse]
    total_entries: int


class BaseInfoResponse(Schema):
    status: str | None


class SchedulerInfoResponse(Schema):
    status: str | None
    latest_scheduler_heartbeat: str | None


class TriggererInfoResponse(Schema):
    status: str | None
    latest_triggerer_heartbeat: str | None


class DagProcessorInfoResponse(Schema):
    status: str | None
    latest_dag_processor_heartbeat: str | None


class HealthInfoResponse(Schema):
    metadatabase: BaseInfoResponse
    scheduler: SchedulerInfoResponse
    triggerer: TriggererInfoResponse
    dag_processor: DagProcessorInfoResponse | None = None


class VersionInfo(Schema):
    version: str
    git_version: str | None


class TaskResponse(Schema):
    task_id: str | None
    task_display_name: str | None
    owner: str | None
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    trigger_rule: str | None
    depends_on_past: bool
    wait_for_downstream: bool
    retries: float | None
    queue: str | None
    pool: str | None
    pool_slots: float | None
    execution_timeout: dict[str, Any] | None = None
    retry_delay: dict[str, Any] | None = None
    retry_exponential_backoff: float = 0
    priority_weight: float | None
    weight_rule: str | None
    ui_color: str | None
    ui_fgcolor: str | None
    template_fields: list[str] | None
    downstream_task_ids: list[str] | None
    doc_md: str | None
    operator_name: str | None
    params: dict[str, Any] | None
    class_ref: dict[str, Any] | None
    is_mapped: bool | None
    extra_links: list[str] = Field(default_factory=list)

    @classmethod
    def from_task(cls, task: dict[str, Any]) -> TaskResponse:
        module, _, name = (task.get("operator_class") or "").rpartition(".")
        return cls(
            task_id=task["task_id"],
            task_display_name=task.get("task_display_name") or task["task_id"],
            owner=task.get("owner"),
            start_date=task.get("start_date"),
            end_date=task.get("end_date"),
            trigger_rule=task.get("trigger_rule"),
            depends_on_past=bool(task.get("depends_on_past")),
            wait_for_downstream=bool(task.get("wait_for_downstream")),
            retries=task.get("retries"),
            queue=task.get("queue"),
            pool=task.get("pool"),
            pool_slots=task.get("pool_slots"),
            execution_timeout=_time_delta(task.get("execution_timeout")),
            retry_delay=_time_delta(task.get("retry_delay")),
            retry_exponential_backoff=float(bool(task.get("retry_exponential_backoff"))),
            priority_weight=task.get("priority_weight"),
            weight_rule=task.get("weight_rule"),
            ui_color=task.get("ui_color"),
            ui_fgcolor=task.get("ui_fgcolor"),
            template_fields=task.get("template_fields"),
            downstream_task_ids=task.get("downstream_task_ids"),
            doc_md=task.get("doc_md"),
            operator_name=task.get("operator"),
            params=task.get("params") or {},
            class_ref={"module_path": module, "class_name": name} if name else None,
            is_mapped=bool(task.get("is_mapped")),
        )


class TaskCollectionResponse(Schema):
    tasks: list[TaskResponse]
    total_entries: int


def _time_delta(seconds: float | None) -> dict[str, Any] | None:
    if seconds is None:
        return None
    delta = dt.timedelta(seconds=seconds)
    return {"__type": "TimeDelta", "days": delta.days, "seconds": delta.seconds, "microseconds": delta.microseconds}


def _duration(seconds: float | None) -> str | None:
    """An ISO 8601 duration (``P1DT2H3M4S``) as Airflow's ``dag_run_timeout``."""
    if seconds is None:
        return None
    delta = dt.timedelta(seconds=seconds)
    hours, rest = divmod(delta.seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"P{delta.days}DT{hours}H{minutes}M{secs}S"


def _relative(path: str) -> str | None:
    from pathlib import Path

    from django.conf import settings

    try:
        return str(Path(path).resolve().relative_to(Path(settings.DAGS_FOLDER).resolve()))
    except (ValueError, OSError):
        return None


class TaskInstanceHistoryResponse(Schema):
    """One try of a task instance: an ended one from its history, or its latest from its row."""

    task_id: str
    dag_id: str
    dag_run_id: str
    map_index: int
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    duration: float | None
    state: str | None
    try_number: int
    max_tries: int
    task_display_name: str
    dag_display_name: str
    hostname: str | None
    unixname: str | None = None
    pool: str
    pool_slots: int
    queue: str | None
    priority_weight: int | None
    operator: str | None
    operator_name: str | None
    queued_when: dt.datetime | None
    scheduled_when: dt.datetime | None = None
    pid: int | None
    executor: str | None = None
    executor_config: str = "{}"
    dag_version: DagVersionResponse | None = None

    @classmethod
    def from_try(cls, ti: TaskInstance, attempt: Any = None) -> TaskInstanceHistoryResponse:
        """The try ``attempt`` (a ``TaskInstanceHistory`` row) of ``ti``; its latest when None."""
        run = ti.dag_run
        task = run.dag.get_task(ti.task_id) or {}
        row = attempt or ti
        operator = task.get("operator") or row.operator or None
        return cls(
            task_id=ti.task_id,
            dag_id=run.dag.dag_id,
            dag_run_id=run.run_id,
            map_index=ti.map_index,
            start_date=row.start_date,
            end_date=row.end_date,
            duration=row.duration,
            state=None if row.state == TaskInstanceState.NONE else row.state,
            try_number=row.try_number,
            max_tries=row.max_tries,
            task_display_name=task.get("task_display_name") or ti.task_id,
            dag_display_name=run.dag.display_name,
            hostname=row.hostname or None,
            pool=row.pool,
            pool_slots=row.pool_slots,
            queue=row.queue,
            priority_weight=row.priority_weight,
            operator=operator,
            operator_name=operator,
            queued_when=row.queued_at,
            pid=row.pid,
            dag_version=(run_versions(run) or [None])[0],
        )


class TaskInstanceHistoryCollectionResponse(Schema):
    task_instances: list[TaskInstanceHistoryResponse]
    total_entries: int


class TaskDependencyResponse(Schema):
    name: str
    reason: str


class TaskDependencyCollectionResponse(Schema):
    dependencies: list[TaskDependencyResponse]


class ExtraLinkCollectionResponse(Schema):
    extra_links: dict[str, str | None]
    total_entries: int


class XComCreateBody(RequestBody):
    key: str
    value: Any
    map_index: int = -1


class XComUpdateBody(RequestBody):
    value: Any
    map_index: int = -1


class _BatchRanges(RequestBody):
    """The date and duration bounds of Airflow's batch list bodies (strict: an unknown field is a 422)."""

    model_config = ConfigDict(extra="forbid")

    run_after_gte: AwareDatetime | None = None
    run_after_gt: AwareDatetime | None = None
    run_after_lte: AwareDatetime | None = None
    run_after_lt: AwareDatetime | None = None
    logical_date_gte: AwareDatetime | None = None
    logical_date_gt: AwareDatetime | None = None
    logical_date_lte: AwareDatetime | None = None
    logical_date_lt: AwareDatetime | None = None
    start_date_gte: AwareDatetime | None = None
    start_date_gt: AwareDatetime | None = None
    start_date_lte: AwareDatetime | None = None
    start_date_lt: AwareDatetime | None = None
    end_date_gte: AwareDatetime | None = None
    end_date_gt: AwareDatetime | None = None
    end_date_lte: AwareDatetime | None = None
    end_date_lt: AwareDatetime | None = None
    duration_gte: float | None = None
    duration_gt: float | None = None
    duration_lte: float | None = None
    duration_lt: float | None = None
    page_offset: int = Field(0, ge=0)
    page_limit: int = Field(100, ge=0)
    order_by: str | None = None


class TaskInstancesBatchBody(_BatchRanges):
    dag_ids: list[str] | None = None
    dag_run_ids: list[str] | None = None
    task_ids: list[str] | None = None
    state: list[str | None] | None = None
    pool: list[str] | None = None
    queue: list[str] | None = None
    executor: list[str] | None = None


class DAGRunsBatchBody(_BatchRanges):
    dag_ids: list[str] | None = None
    states: list[str | None] | None = None
    conf_contains: str | None = None

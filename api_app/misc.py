"""``/api/v2/dagSources``, ``/dagStats``, ``/dagTags``, ``/jobs``, ``/plugins``, ``/providers``, ``/config``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth import logout as auth_logout
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from ninja import Query, Router, Schema, Status

from api_app.common import (
    WILDCARD,
    ApiError,
    bad_request,
    dag_or_404,
    name_filter,
    not_found,
    ordered,
    page,
    readable_dags,
    utc,
)
from api_app.schemas import ERRORS, DagVersionResponse, ProblemResponse
from dags_app.models import DagModel, DagTag, DagVersion
from dags_app.services import dag_file_from_token, dag_file_request_parse
from dags_app.views import dag_source_bytes
from orchestrator_site import access
from runs_app.models import Job
from runs_app.states import DagRunState, JobType

# One router; each operation names its tag as Airflow's spec groups it.
router = Router()


# -- /auth/login, /auth/logout ----------------------------------------------------------------------


def _redirect(request: HttpRequest, to: str, next_url: str | None) -> HttpResponse:
    if next_url is not None and not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        raise bad_request("Invalid or unsafe next URL")
    location = to + (f"?{urlencode({'next': next_url})}" if next_url else "")
    response = HttpResponse(status=307)
    response["Location"] = location
    return response


@router.get("/auth/login", response={307: None, 400: ProblemResponse}, auth=None, summary="Login", tags=["Login"])
def login(request: HttpRequest, next: str | None = None) -> HttpResponse:
    """To the sign-in page (then to ``next``, a URL of this site)."""
    return _redirect(request, reverse("login"), next)


@router.get("/auth/logout", response={307: None, 400: ProblemResponse}, auth=None, summary="Logout", tags=["Login"])
def logout(request: HttpRequest) -> HttpResponse:
    """End the web session (a bearer token lasts until it expires) and go to the sign-in page."""
    auth_logout(request)
    return _redirect(request, reverse("login"), None)


# -- /parseDagFile ---------------------------------------------------------------------------------


@router.put(
    "/parseDagFile/{file_token}", response={201: None, **ERRORS}, summary="Reparse Dag File", tags=["DAG Parsing"]
)
def reparse_dag_file(request: HttpRequest, file_token: str) -> Status[None]:
    """Import the DAG file again at the scheduler's next folder scan, changed or not (the DAG's
    ``file_token``). The user needs to be allowed to edit each of the file's DAGs."""
    access.require(request, access.READ)
    path = dag_file_from_token(file_token)
    dags = list(DagModel.objects.filter(fileloc=path)) if path else []
    readable = [dag for dag in dags if access.dag_allows(request.user, dag, access.READ)]
    if not readable:
        raise not_found("Dag file not found")
    for dag in readable:
        access.require(request, access.PAUSE, dag)
    if not dag_file_request_parse(path):
        raise not_found("Dag file not found")
    return Status(201, None)


# -- /dagSources -----------------------------------------------------------------------------------


class DAGSourceResponse(Schema):
    content: str | None
    dag_id: str
    version_number: int | None
    dag_display_name: str


def _source_text(dag: DagModel) -> str | None:
    """The DAG file's text, read through the code view's checks; None when it cannot be shown."""
    data, _why = dag_source_bytes(dag)
    return None if data is None else data.decode("utf-8", errors="replace")


@router.get(
    "/dagSources/{dag_id}",
    response={200: DAGSourceResponse, 406: ProblemResponse, **ERRORS},
    summary="Get Dag Source",
    tags=["DagSource"],
)
def get_dag_source(request: HttpRequest, dag_id: str, version_number: int | None = None) -> Any:
    """The DAG file's code: JSON, or the text itself for ``Accept: text/plain``; with
    ``version_number``, the source that version was parsed from."""
    accept = request.headers.get("accept") or "*/*"
    if not accept.startswith("*/*") and "application/json" not in accept and "text/plain" not in accept:
        raise ApiError(406, "Only application/json or text/plain is supported")
    dag = dag_or_404(request, dag_id)
    if version_number is None:
        content, number = _source_text(dag), dag.latest_version.version_number if dag.latest_version_id else None
    else:
        version = DagVersion.objects.filter(dag=dag, version_number=version_number).only("source").first()
        if version is None:
            raise not_found(f"The source code of the DAG {dag_id}, version_number {version_number} was not found")
        content, number = version.source, version_number
    if not accept.startswith("*/*") and "application/json" not in accept:
        return HttpResponse(content or "", content_type="text/plain; charset=utf-8")
    return DAGSourceResponse(
        content=content, dag_id=dag.dag_id, version_number=number, dag_display_name=dag.display_name
    )


# -- /dags/{dag_id}/dagVersions ---------------------------------------------------------------------


class DAGVersionCollectionResponse(Schema):
    dag_versions: list[DagVersionResponse]
    total_entries: int


VERSION_ORDER = {"id": "pk", "version_number": "version_number", "created_at": "created_at", "bundle_name": "pk"}


def _versions(request: HttpRequest, dag_id: str) -> QuerySet:
    versions = DagVersion.objects.select_related("dag").defer("serialized", "source")
    if dag_id == WILDCARD:
        return versions.filter(dag__in=readable_dags(request))
    return versions.filter(dag=dag_or_404(request, dag_id))


@router.get(
    "/dags/{dag_id}/dagVersions",
    response={200: DAGVersionCollectionResponse, **ERRORS},
    summary="Get Dag Versions",
    tags=["DagVersion"],
)
def get_dag_versions(
    request: HttpRequest,
    dag_id: str,
    limit: int = 100,
    offset: int = 0,
    version_number: int | None = None,
    bundle_name: str | None = None,
    bundle_version: str | None = None,
    order_by: list[str] = Query(None),  # noqa: B008
) -> DAGVersionCollectionResponse:
    """The versions of a DAG (``~``: of every DAG), each a parse that changed it. Every DAG is
    in the one bundle of the DAG folder, ``dags-folder``, without bundle versions."""
    versions = _versions(request, dag_id)
    if version_number is not None:
        versions = versions.filter(version_number=version_number)
    if (bundle_name not in (None, "dags-folder")) or bundle_version is not None:
        versions = versions.none()
    rows, total = page(ordered(versions, order_by, VERSION_ORDER, "id"), limit, offset)
    return DAGVersionCollectionResponse(
        dag_versions=[DagVersionResponse.from_version(v, v.dag) for v in rows], total_entries=total
    )


@router.get(
    "/dags/{dag_id}/dagVersions/{version_number}",
    response={200: DagVersionResponse, **ERRORS},
    summary="Get Dag Version",
    tags=["DagVersion"],
)
def get_dag_version(request: HttpRequest, dag_id: str, version_number: int) -> DagVersionResponse:
    version = _versions(request, dag_id).filter(version_number=version_number).first()
    if version is None:
        raise not_found(f"The DagVersion with dag_id: `{dag_id}` and version_number: `{version_number}` was not found")
    return DagVersionResponse.from_version(version, version.dag)


# -- /dagStats -------------------------------------------------------------------------------------


class DagStatsStateResponse(Schema):
    state: str
    count: int


class DagStatsResponse(Schema):
    dag_id: str
    dag_display_name: str
    stats: list[DagStatsStateResponse]


class DagStatsCollectionResponse(Schema):
    dags: list[DagStatsResponse]
    total_entries: int


@router.get(
    "/dagStats", response={200: DagStatsCollectionResponse, **ERRORS}, summary="Get Dag Stats", tags=["DagStats"]
)
def get_dag_stats(request: HttpRequest, dag_ids: list[str] = Query(None)) -> DagStatsCollectionResponse:  # noqa: B008
    """How many runs each DAG (those of ``dag_ids``, or every one the user may read) has in each
    state, every state listed (one query)."""
    access.require(request, "runs_app.view_dagrun")
    dags = readable_dags(request)
    if dag_ids:
        dags = dags.filter(dag_id__in=dag_ids)
    states = list(DagRunState)
    counts = {state.value: Count("runs", filter=Q(runs__state=state)) for state in states}
    rows = dags.order_by("dag_id").values("dag_id", "dag_display_name").annotate(**counts)
    result = [
        DagStatsResponse(
            dag_id=row["dag_id"],
            dag_display_name=row["dag_display_name"] or row["dag_id"],
            stats=[DagStatsStateResponse(state=s.value, count=row[s.value]) for s in states],
        )
        for row in rows
    ]
    return DagStatsCollectionResponse(dags=result, total_entries=len(result))


# -- /dagTags --------------------------------------------------------------------------------------


class DAGTagCollectionResponse(Schema):
    tags: list[str]
    total_entries: int


@router.get("/dagTags", response={200: DAGTagCollectionResponse, **ERRORS}, summary="Get Dag Tags", tags=["DAG"])
def get_dag_tags(
    request: HttpRequest,
    limit: int = 50,
    offset: int = 0,
    order_by: list[str] = Query(None),  # noqa: B008
    tag_name_pattern: str | None = None,
    tag_name_prefix_pattern: str | None = None,
) -> DAGTagCollectionResponse:
    """The distinct tag names of the DAGs the user may read (two queries)."""
    access.require(request, "dags_app.view_dagtag")
    tags = DagTag.objects.filter(dag__in=readable_dags(request))
    tags = name_filter(tags, "name", tag_name_pattern, tag_name_prefix_pattern)
    descending = False
    for term in order_by or ["name"]:
        for name in str(term).split(","):
            if name.strip().lstrip("-") != "name":
                raise ApiError(
                    400, f"Ordering with '{name.strip().lstrip('-')}' is disallowed or the attribute does not exist"
                )
            descending = name.strip().startswith("-")
    names = tags.values_list("name", flat=True).distinct().order_by("-name" if descending else "name")
    found, total = page(names, limit, offset)
    return DAGTagCollectionResponse(tags=found, total_entries=total)


# -- /jobs -----------------------------------------------------------------------------------------

# Our job types as Airflow names its job classes.
JOB_TYPES = {JobType.SCHEDULER: "SchedulerJob", JobType.WORKER: "WorkerJob"}
JOB_RUNNING, JOB_SUCCESS = "running", "success"


class JobResponse(Schema):
    id: int
    dag_id: str | None
    state: str | None
    job_type: str | None
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    latest_heartbeat: dt.datetime | None
    executor_class: str | None
    hostname: str | None
    unixname: str | None
    dag_display_name: str | None = None

    @classmethod
    def from_job(cls, job: Job) -> JobResponse:
        return cls(
            id=job.pk,
            dag_id=None,
            # A job without an end is running (one whose process died keeps that state, as in Airflow).
            state=JOB_RUNNING if job.end_date is None else JOB_SUCCESS,
            job_type=JOB_TYPES.get(job.job_type, job.job_type),
            start_date=job.start_date,
            end_date=job.end_date,
            latest_heartbeat=job.latest_heartbeat,
            executor_class=None,
            hostname=job.hostname or None,
            unixname=None,
        )


class JobCollectionResponse(Schema):
    jobs: list[JobResponse]
    total_entries: int


JOB_ORDER = {
    "id": "pk",
    "job_type": "job_type",
    "state": "end_date",
    "start_date": "start_date",
    "end_date": "end_date",
    "latest_heartbeat": "latest_heartbeat",
    "hostname": "hostname",
}


@router.get("/jobs", response={200: JobCollectionResponse, **ERRORS}, summary="Get Jobs", tags=["Job"])
def get_jobs(
    request: HttpRequest,
    is_alive: bool | None = None,
    start_date_gte: dt.datetime | None = None,
    start_date_gt: dt.datetime | None = None,
    start_date_lte: dt.datetime | None = None,
    start_date_lt: dt.datetime | None = None,
    end_date_gte: dt.datetime | None = None,
    end_date_gt: dt.datetime | None = None,
    end_date_lte: dt.datetime | None = None,
    end_date_lt: dt.datetime | None = None,
    limit: int = 50,
    offset: int = 0,
    order_by: list[str] = Query(None),  # noqa: B008
    job_state: str | None = None,
    job_type: str | None = None,
    hostname: str | None = None,
    executor_class: str | None = None,
) -> JobCollectionResponse:
    """The scheduler and worker processes' heartbeat rows; ``is_alive``: not ended, and a
    heartbeat within the scheduler's health threshold."""
    access.require(request, "runs_app.view_job")
    jobs = Job.objects.all()
    bounds = {
        "start_date__gte": start_date_gte,
        "start_date__gt": start_date_gt,
        "start_date__lte": start_date_lte,
        "start_date__lt": start_date_lt,
        "end_date__gte": end_date_gte,
        "end_date__gt": end_date_gt,
        "end_date__lte": end_date_lte,
        "end_date__lt": end_date_lt,
    }
    jobs = jobs.filter(**{lookup: utc(value) for lookup, value in bounds.items() if value is not None})
    if job_type is not None:
        ours = {airflow: ours for ours, airflow in JOB_TYPES.items()}.get(job_type, job_type)
        jobs = jobs.filter(job_type=ours)
    if job_state is not None:
        states = {JOB_RUNNING: Q(end_date__isnull=True), JOB_SUCCESS: Q(end_date__isnull=False)}
        jobs = jobs.filter(states[job_state]) if job_state in states else jobs.none()
    if hostname is not None:
        jobs = jobs.filter(hostname=hostname)
    if executor_class is not None:
        jobs = jobs.none()  # no job records an executor class
    if is_alive is not None:
        threshold = dt.timedelta(seconds=settings.ORCHESTRATOR["SCHEDULER_HEALTH_THRESHOLD"])
        alive = Q(end_date__isnull=True, latest_heartbeat__gte=timezone.now() - threshold)
        jobs = jobs.filter(alive) if is_alive else jobs.exclude(alive)
    rows, total = page(ordered(jobs, order_by, JOB_ORDER, "id"), limit, offset)
    return JobCollectionResponse(jobs=[JobResponse.from_job(j) for j in rows], total_entries=total)


# -- /plugins, /providers --------------------------------------------------------------------------


class PluginCollectionResponse(Schema):
    plugins: list[dict[str, Any]]
    total_entries: int


class PluginImportErrorCollectionResponse(Schema):
    import_errors: list[dict[str, Any]]
    total_entries: int


@router.get("/plugins", response={200: PluginCollectionResponse, **ERRORS}, summary="Get Plugins", tags=["Plugin"])
def get_plugins(request: HttpRequest, limit: int = 50, offset: int = 0) -> PluginCollectionResponse:
    """No plugins: this orchestrator loads none."""
    access.require(request, access.READ)
    return PluginCollectionResponse(plugins=[], total_entries=0)


@router.get(
    "/plugins/importErrors",
    response={200: PluginImportErrorCollectionResponse, **ERRORS},
    summary="Import Errors",
    tags=["Plugin"],
)
def get_plugin_import_errors(request: HttpRequest) -> PluginImportErrorCollectionResponse:
    access.require(request, access.READ)
    return PluginImportErrorCollectionResponse(import_errors=[], total_entries=0)


class ProviderResponse(Schema):
    package_name: str
    description: str
    version: str
    documentation_url: str | None


class ProviderCollectionResponse(Schema):
    providers: list[ProviderResponse]
    total_entries: int


# The provider whose operators, sensors and decorators the SDK provides (``airflow.providers.standard``).
STANDARD_PROVIDER = ProviderResponse(
    package_name="apache-airflow-providers-standard",
    description="Airflow Standard Provider",
    version="1.21.0",
    documentation_url="https://airflow.apache.org/docs/apache-airflow-providers-standard/1.21.0/",
)


def page_list(items: list, limit: int, offset: int) -> tuple[list, int]:
    """``page`` for a list held in memory."""
    if limit < 0 or offset < 0:
        raise ApiError(422, [{"loc": ["query", "limit" if limit < 0 else "offset"], "msg": "must be >= 0"}])
    return items[offset : offset + limit], len(items)


@router.get(
    "/providers", response={200: ProviderCollectionResponse, **ERRORS}, summary="Get Providers", tags=["Provider"]
)
def get_providers(request: HttpRequest, limit: int = 50, offset: int = 0) -> ProviderCollectionResponse:
    access.require(request, access.READ)
    found, total = page_list([STANDARD_PROVIDER], limit, offset)
    return ProviderCollectionResponse(providers=found, total_entries=total)


# -- /config ---------------------------------------------------------------------------------------

CONFIG_NOT_EXPOSED = (
    "Your Airflow administrator chose not to expose the configuration, most likely for security reasons."
)


@router.get("/config", response={403: ProblemResponse, **ERRORS}, summary="Get Config", tags=["Config"])
def get_config(request: HttpRequest, section: str | None = None) -> Any:
    """Never shown, as Airflow's default ``[api] expose_config = False``: settings hold secrets."""
    raise ApiError(403, CONFIG_NOT_EXPOSED)


@router.get(
    "/config/section/{section}/option/{option}",
    response={403: ProblemResponse, **ERRORS},
    summary="Get Config Value",
    tags=["Config"],
)
def get_config_value(request: HttpRequest, section: str, option: str) -> Any:
    raise ApiError(403, CONFIG_NOT_EXPOSED)

"""The REST API: Airflow 3.3's stable API v2 at ``/api/v2/``, built with django-ninja, which makes
the OpenAPI document (``/api/v2/openapi.json``) and the browsable docs (``/api/v2/docs``) from
this code. Every route authenticates (a bearer token from ``/auth/token``, or the web session),
checks the same roles and DAG access controls as the UI, and acts through the same services.

Errors are Airflow's ``{"detail": ...}`` with its status codes: 400 a request that cannot be done,
401 no or a bad token, 403 a role or DAG access control that does not allow it, 404 an unknown
id, 409 what exists already, 413 a body too large, 422 a value of the wrong shape. A bug is a
500 with a one-line detail: the traceback goes to the server's log, never to the client.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.operation import PathView
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder

from api_app import assets, connections, dags, misc, monitor, pools, runs, task_instances, variables
from api_app.auth import BearerAuth, WebSessionAuth
from api_app.common import ApiError
from dags_app.errors import Conflict, NotFound, ServiceError
from dags_app.sdk.airflow_compat import AIRFLOW_VERSION

log = logging.getLogger(__name__)


class _Encoder(NinjaJSONEncoder):
    """Datetimes with their microseconds, UTC as ``Z`` (as Airflow's API; Django's encoder cuts
    them to milliseconds, which breaks ``*_gte`` round trips)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, dt.datetime):
            text = o.isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text
        return super().default(o)


class _Renderer(JSONRenderer):
    encoder_class = _Encoder


api = NinjaAPI(
    title="Airflow API",
    version=AIRFLOW_VERSION,
    description=(
        "Airflow's stable REST API (v2), served by this orchestrator. Authenticate with a token from "
        "`POST /auth/token` (`Authorization: Bearer <token>`) or the web session."
    ),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=[BearerAuth(), WebSessionAuth()],
    renderer=_Renderer(),
)

assert task_instances.router is runs.ti_router  # its routes are on runs.py's routers

for router in (
    dags.router,
    runs.router,
    runs.ti_router,
    runs.xcom_router,
    monitor.router,
    monitor.info_router,
    monitor.errors_router,
    monitor.events_router,
    pools.router,
    variables.router,
    connections.router,
    assets.router,
    misc.router,
):
    api.add_router("", router)


def _problem(request: HttpRequest, status: int, detail: Any) -> HttpResponse:
    return api.create_response(request, {"detail": detail}, status=status)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return _problem(request, exc.status, exc.detail)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _problem(request, 401, "Not authenticated")


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _problem(request, 403, str(exc) or "Forbidden")


@api.exception_handler(Http404)
def _http_404(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _problem(request, 404, str(exc) or "Not Found")


@api.exception_handler(ServiceError)
def _service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 400
    return _problem(request, status, str(exc))


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = []
    for error in exc.errors:
        error = dict(error)
        loc = list(error.get("loc") or [])
        if loc[:2] == ["body", "body"]:
            loc = loc[1:]  # ninja names the body parameter too; Airflow's loc is ["body", field]
        error["loc"] = loc
        errors.append(error)
    return _problem(request, 422, errors)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _problem(request, exc.status_code, str(exc))


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _problem(request, 413, "Request body too large")


@api.exception_handler(Exception)
def _bug(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("api: %s %s failed", request.method, request.path)
    return _problem(request, 500, f"Internal Server Error ({type(exc).__name__})")


def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """An unknown path under /api/v2/: Airflow's 404 body, not the UI's page."""
    return HttpResponse(b'{"detail": "Not Found"}', status=404, content_type="application/json")


not_found.login_required = False  # type: ignore[attr-defined]


def urls() -> tuple[list, str, str]:
    """The API's URL patterns; each view answers for itself (401, not the login page)."""
    patterns, app_name, namespace = api.urls
    patterns = sorted(patterns, key=_literal_first)
    for index, pattern in enumerate(patterns):
        route = str(pattern.pattern)
        shadowed = [p for p in patterns[index + 1 :] if str(p.pattern) != route and p.pattern.match(route)]
        if shadowed:
            pattern.callback = _falling_back(pattern.callback, shadowed[0])
        pattern.callback.login_required = False
    return patterns, app_name, namespace


def _methods(callback: Any) -> set[str]:
    """The HTTP methods of a ninja path view (the ``PathView`` its view function closes over)."""
    views = [cell.cell_contents for cell in callback.__closure__ or () if isinstance(cell.cell_contents, PathView)]
    return {method for view in views for operation in view.operations for method in operation.methods}


def _falling_back(callback: Any, fallback: Any) -> Any:
    """``callback`` for its own methods; any other method goes to ``fallback``'s view, the
    parameter path it shadows (``PATCH /connections/test`` is the connection named "test", as
    FastAPI matches a path and a method together)."""
    methods = _methods(callback)

    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method in methods or request.method == "OPTIONS":
            return callback(request, *args, **kwargs)
        path = request.path_info.lstrip("/")
        for start in [0] + [i + 1 for i, c in enumerate(path) if c == "/"]:
            match = fallback.pattern.match(path[start:])
            if match is not None and match[0] == "":
                return fallback.callback(request, *match[1], **match[2])
        return callback(request, *args, **kwargs)

    view.csrf_exempt = True  # type: ignore[attr-defined]  # as ninja's own views: auth checks CSRF
    return view


def _literal_first(pattern: Any) -> tuple[int, ...]:
    """Order the paths so a literal segment is tried before a parameter in its place
    (``dagRuns/list`` before ``dagRuns/{dag_run_id}``), as FastAPI's routing lets Airflow's
    spec have both: Django takes the first pattern that matches. Two paths that can match the
    same URL have as many segments, so only their order changes."""
    return tuple(1 if segment.startswith("<") else 0 for segment in str(pattern.pattern).split("/"))

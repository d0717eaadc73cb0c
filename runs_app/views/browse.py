"""Browse pages: DAG runs, task instances, XComs and the audit log, with filters.

Each page is a django-filter FilterSet (``runs_app/filters.py``) over one ``select_related``
queryset, paginated by ``PAGE_SIZE``: the number of SQL queries does not grow with the rows.
Untrusted text (conf, XCom values, audit extras, ids) is passed to the templates as plain
strings, so Django's autoescaping applies; nothing here is marked safe.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from dags_app.models import DagModel
from orchestrator_site.access import READ, hidden_dags, readable, require, sees_every_dag
from runs_app.filters import AuditLogFilter, BrowseFilterSet, DagRunFilter, TaskInstanceFilter, XComFilter
from runs_app.masking import PageMasker
from runs_app.models import AuditLog, DagRun, TaskInstance, XCom
from runs_app.views import bulk

PAGE_SIZE = 50
CONF_CHARS = 120  # a run's conf in the runs table
XCOM_CHARS = 600  # an XCom value, pretty-printed
EXTRA_CHARS = 160  # an audit log row's extra


def json_text(value: Any, *, limit: int, pretty: bool = False) -> tuple[str, bool]:
    """Return ``value`` as JSON text cut to ``limit`` characters, and whether it was cut.

    Values that are not JSON (they cannot be stored, but be safe) fall back to ``repr``.
    """
    try:
        text = json.dumps(value, indent=2 if pretty else None, sort_keys=True, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) <= limit:
        return text, False
    return text[: limit - 1] + "\u2026", True


def _browse(
    request: HttpRequest,
    *,
    filterset_class: type[BrowseFilterSet],
    queryset: QuerySet,
    title: str,
    dag_path: str | None,
) -> dict[str, Any]:
    """Filter and paginate ``queryset``; return the context every browse page needs.

    Rows of DAGs hidden from the user by their access_control are left out: through the DagModel
    at ``dag_path``, or (``dag_path`` None: rows that keep the DAG id as text) by that id.
    """
    require(request, READ)
    if dag_path is not None:
        queryset = readable(request.user, queryset, dag_path)
    elif not sees_every_dag(request.user):
        queryset = queryset.exclude(dag_id__in=hidden_dags(request.user, DagModel.objects.all()).values("dag_id"))
    filterset = filterset_class(request.GET or None, queryset=queryset)
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "title": title,
        "filter": filterset,
        "page": page,
        "rows": list(page.object_list),
        "filtered": any(value for name, value in request.GET.items() if name != "page"),
        # Suggestions for the DAG id filter: one query, whatever the number of rows.
        "dag_ids": readable(request.user, DagModel.objects.order_by("dag_id")).values_list("dag_id", flat=True),
    }
    return context


def _bulk_context(request: HttpRequest, actions: dict[str, bulk.BulkAction], url_name: str) -> dict[str, Any]:
    """The bulk actions the user's role allows (none: no checkboxes), and where the form posts."""
    allowed = [(key, action) for key, action in actions.items() if request.user.has_perm(action.permission)]
    return {"bulk_actions": allowed, "bulk_url": reverse(url_name)}


def dag_runs(request: HttpRequest) -> HttpResponse:
    """List DAG runs, newest first; filter by DAG, state, run type and logical date; tick rows
    to clear, mark or delete them."""
    context = _browse(
        request,
        filterset_class=DagRunFilter,
        queryset=DagRun.objects.select_related("dag").order_by("-logical_date", "-pk"),
        title="DAG Runs",
        dag_path="dag",
    )
    for run in context["rows"]:
        run.conf_text, run.conf_cut = json_text(run.conf, limit=CONF_CHARS) if run.conf else ("", False)
    context.update(_bulk_context(request, bulk.RUN_ACTIONS, "runs:browse-runs-bulk"))
    return render(request, "runs_app/browse/dag_runs.html", context)


def task_instances(request: HttpRequest) -> HttpResponse:
    """List task instances of the newest runs first; filter by DAG, task, state, pool, queue,
    operator, date; tick rows to clear or mark them."""
    context = _browse(
        request,
        filterset_class=TaskInstanceFilter,
        queryset=TaskInstance.objects.select_related("dag", "dag_run").order_by(
            "-dag_run__logical_date", "dag_run_id", "task_id"
        ),
        title="Task Instances",
        dag_path="dag",
    )
    context.update(_bulk_context(request, bulk.TI_ACTIONS, "runs:browse-task-instances-bulk"))
    return render(request, "runs_app/browse/task_instances.html", context)


def xcoms(request: HttpRequest) -> HttpResponse:
    """List XComs, newest first, values pretty-printed and cut; filter by DAG, run, task and key."""
    context = _browse(
        request,
        filterset_class=XComFilter,
        queryset=XCom.objects.select_related("dag_run", "dag_run__dag").order_by("-timestamp", "-pk"),
        title="XComs",
        dag_path="dag_run__dag",
    )
    mask = PageMasker()
    for xcom in context["rows"]:
        xcom.value_text, xcom.value_cut = json_text(mask.value(xcom.value), limit=XCOM_CHARS, pretty=True)
    return render(request, "runs_app/browse/xcoms.html", context)


def audit_log(request: HttpRequest) -> HttpResponse:
    """List audit log rows, newest first; filter by event, user, DAG, source and date.

    Rows keep ids as text so they outlive deletes: a DAG or run is linked only if it still
    exists (two queries for the whole page).
    """
    context = _browse(
        request,
        filterset_class=AuditLogFilter,
        queryset=AuditLog.objects.order_by("-when", "-pk"),
        title="Audit Log",
        dag_path=None,
    )
    rows: list[AuditLog] = context["rows"]
    dag_ids = {row.dag_id for row in rows if row.dag_id}
    existing_dags = set(DagModel.objects.filter(dag_id__in=dag_ids).values_list("dag_id", flat=True))
    run_ids = {row.run_id for row in rows if row.run_id}
    existing_runs = set(
        DagRun.objects.filter(dag__dag_id__in=existing_dags, run_id__in=run_ids).values_list("dag__dag_id", "run_id")
    )
    for row in rows:
        row.dag_exists = row.dag_id in existing_dags
        row.run_exists = (row.dag_id, row.run_id) in existing_runs
        row.task_ids = [t for t in row.task_id.split(",") if t]
        row.extra_text, row.extra_cut = json_text(row.extra, limit=EXTRA_CHARS) if row.extra else ("", False)
    return render(request, "runs_app/browse/audit_log.html", context)

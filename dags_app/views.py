"""Views of definitions: a DAG's code and details.

They read DagModel rows only; DAG files are never imported here. The code view reads the file
the parser recorded (``DagModel.fileloc``) as text, and only inside ``settings.DAGS_FOLDER``.
Definitions never import executions (import-linter contract): the per-DAG tabs come from
``orchestrator_site.navigation`` and run counts go through the ``DagModel.runs`` relation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.dateparse import parse_datetime
from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from dags_app.models import DagAssetReference, DagModel, DagVersion
from orchestrator_site.access import get_dag
from orchestrator_site.navigation import DAG_TABS

# Larger files are not shown: a DAG file this big is a mistake, and highlighting it would stall the page.
MAX_CODE_BYTES = 2 * 1024 * 1024


def _page_context(dag: DagModel, active: str) -> dict[str, Any]:
    return {"dag": dag, "dag_tabs": DAG_TABS, "active_tab": active}


@dataclass
class DagSource:
    """The DAG file as the code view shows it: highlighted HTML, or why it cannot be shown."""

    path: str
    html: SafeString | None = None
    error: str = ""
    lines: int = 0
    changed_since_parse: bool = False


def dag_source_bytes(dag: DagModel) -> tuple[bytes | None, str]:
    """The bytes of the file recorded for ``dag`` and "" or, when it cannot be shown, None and why.

    Only the path stored in the database is read, and only if it resolves (symlinks followed)
    inside ``settings.DAGS_FOLDER``; a missing, unreadable or oversized file is a message. The
    code page and the REST API's dagSources read through this one check.
    """
    if not dag.fileloc:
        return None, "No file is recorded for this DAG."
    folder = Path(settings.DAGS_FOLDER).resolve()
    path = Path(dag.fileloc).resolve()
    if not path.is_relative_to(folder):
        return None, "The DAG's file is outside the DAG folder; it is not shown."
    try:
        if path.stat().st_size > MAX_CODE_BYTES:
            return None, f"The DAG's file is larger than {MAX_CODE_BYTES // (1024 * 1024)} MiB; it is not shown."
        return path.read_bytes(), ""
    except FileNotFoundError:
        return None, "The DAG's file no longer exists."
    except OSError as exc:
        return None, f"The DAG's file cannot be read ({exc.strerror or type(exc).__name__})."


def _highlighted(source: DagSource, text: str) -> DagSource:
    source.lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    formatter = HtmlFormatter(linenos="table", cssclass="highlight", lineanchors="L", anchorlinenos=True)
    # Pygments escapes every token of the source; nothing unescaped reaches the page.
    source.html = mark_safe(highlight(text, PythonLexer(), formatter))
    return source


def dag_source_read(dag: DagModel) -> DagSource:
    """Read (``dag_source_bytes``) and highlight the file recorded for ``dag``, without importing
    it: the text is highlighted by Pygments, which escapes it; the result is safe HTML."""
    source = DagSource(path=dag.fileloc)
    data, source.error = dag_source_bytes(dag)
    if data is None:
        return source
    source.changed_since_parse = bool(dag.source_hash) and hashlib.sha256(data).hexdigest() != dag.source_hash
    return _highlighted(source, data.decode("utf-8", errors="replace"))


def dag_version_source(version: DagVersion) -> DagSource:
    """The source a version of the DAG was parsed from, as stored with it, highlighted."""
    source = DagSource(path=version.fileloc)
    if not version.source:
        source.error = "The source of this version was not recorded."
        return source
    return _highlighted(source, version.source)


def dag_code(request: HttpRequest, dag_id: str) -> HttpResponse:
    """Show the DAG file's source, highlighted (read as text, never imported); ``?version=N``
    shows the source version N was parsed from (a run's page links its own version here)."""
    dag = get_dag(request, dag_id)
    versions = list(dag.versions.order_by("-version_number").only("version_number", "created_at", "source_hash"))
    wanted = request.GET.get("version", "")
    version = None
    if wanted:
        version = next((v for v in versions if str(v.version_number) == wanted), None)
        if version is None:
            raise Http404(f"DAG {dag.dag_id} has no version {wanted}")
        version = DagVersion.objects.get(pk=version.pk)
    source = dag_version_source(version) if version is not None else dag_source_read(dag)
    context = {**_page_context(dag, "Code"), "source": source, "versions": versions, "version": version}
    return render(request, "dags_app/code.html", context)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _date(value: Any) -> Any:
    """Return an ISO datetime string from the serialized DAG as a datetime (the text if it is not one)."""
    if isinstance(value, str):
        return parse_datetime(value) or value
    return value


def dag_details(request: HttpRequest, dag_id: str) -> HttpResponse:
    """Show the DAG's attributes, documentation, tasks and run counts by state."""
    dag = get_dag(request, dag_id)
    data = dag.serialized or {}
    run_model = dag.runs.model
    counts = dict(dag.runs.values_list("state").annotate(n=Count("id")).order_by())
    run_states = [(value, counts.get(value, 0)) for value, _label in run_model._meta.get_field("state").choices]
    tasks = [
        {
            "task_id": task.get("task_id", ""),
            "operator": task.get("operator", ""),
            "trigger_rule": task.get("trigger_rule", ""),
            "retries": task.get("retries", 0),
            "retry_delay": task.get("retry_delay"),
            "queue": task.get("queue", ""),
            "pool": task.get("pool", ""),
            "owner": task.get("owner", ""),
            "priority_weight": task.get("priority_weight"),
            "upstream": task.get("upstream_task_ids", []),
            "downstream": task.get("downstream_task_ids", []),
            "doc_md": task.get("doc_md") or "",
        }
        for task in dag.tasks
    ]
    # schedule=<assets>: the assets and aliases it waits on, linked to their Assets pages.
    schedule_refs = (
        list(dag.asset_references.filter(kind=DagAssetReference.Kind.SCHEDULE).select_related("asset", "alias"))
        if data.get("asset_condition")
        else []
    )
    acl = dag.access_control or {}
    existing_roles = set(Group.objects.filter(name__in=acl).values_list("name", flat=True)) if acl else set()
    access = [
        {"role": role, "permissions": ", ".join(perms), "exists": role in existing_roles}
        for role, perms in sorted(acl.items())
    ]
    return render(
        request,
        "dags_app/details.html",
        {
            **_page_context(dag, "Details"),
            "data": data,
            "doc_md": data.get("doc_md") or "",
            "start_date": _date(data.get("start_date")),
            "end_date": _date(data.get("end_date")),
            "tags": data.get("tags") or [],
            "params_json": _json(data.get("params") or {}),
            "default_args_json": _json(data.get("default_args") or {}),
            "tasks": tasks,
            "run_states": run_states,
            "run_total": sum(counts.values()),
            "access": access,
            "schedule_refs": sorted(schedule_refs, key=lambda ref: str(ref.asset or ref.alias)),
        },
    )

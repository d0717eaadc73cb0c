"""Views of definitions. They read DagModel rows only; DAG files are never imported here."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dags_app import selectors


@login_required
def dag_list(request: HttpRequest) -> HttpResponse:
    """List the active DAGs, with search, tag and paused filters."""
    search = request.GET.get("search", "").strip()
    tag = request.GET.get("tag", "").strip()
    status = request.GET.get("status", "all")
    paused = {"active": False, "paused": True}.get(status)
    page = Paginator(selectors.dag_list(search=search, tag=tag, paused=paused), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "dags_app/dag_list.html",
        {
            "page": page,
            "search": search,
            "tag": tag,
            "status": status,
            "import_errors": list(selectors.import_errors()[:20]),
        },
    )

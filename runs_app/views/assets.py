"""The Assets pages (Airflow 3's Assets view): every asset with its producers and consumers, and
one asset's definition, aliases and events.

Assets are not owned by a DAG: every role that reads DAGs sees all of them, but the producing and
consuming DAGs, the events' sources and the runs they triggered are shown only for DAGs the user
may read (access_control), as the other pages do. Query counts do not grow with the rows: the
list is one page query plus ``selectors.asset_rows``' two, the detail page a fixed handful.
Event extras are masked with the stored secrets (as XComs are) and passed to the template as JSON
text, so autoescaping applies.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from dags_app.models import DagModel
from orchestrator_site.access import READ, dag_allows, require
from runs_app import selectors
from runs_app.filters import AssetFilter
from runs_app.masking import PageMasker
from runs_app.models import AssetEvent, DagRun
from runs_app.views.browse import PAGE_SIZE, json_text

EVENTS_PAGE_SIZE = 25
EXTRA_CHARS = 600  # an event's extra, pretty-printed


def asset_list(request: HttpRequest) -> HttpResponse:
    """List assets by name with their producing tasks, consuming DAGs and latest event; search by
    name or URI."""
    require(request, READ)
    filterset = AssetFilter(request.GET or None, queryset=selectors.assets_with_stats())
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "title": "Assets",
        "filter": filterset,
        "page": page,
        "rows": selectors.asset_rows(list(page.object_list), user=request.user),
        "filtered": any(value for name, value in request.GET.items() if name != "page"),
    }
    return render(request, "runs_app/assets/asset_list.html", context)


def _link_sources(events: list[AssetEvent], request: HttpRequest) -> None:
    """Set on each event whether its source DAG and run still exist (and are readable), and its
    masked extra as text: two queries, and the masker's two when an extra is not empty.

    The source fields are copies, so an event outlives its DAG and run; its task instance link
    (``source_task_instance``) is cleared by the database when that row goes. An event from a DAG
    hidden from the user keeps its time and extra but not its source.
    """
    dag_ids = {e.source_dag_id for e in events if e.source_dag_id}
    dags = DagModel.objects.filter(dag_id__in=dag_ids).only("dag_id", "access_control")
    visible, hidden = set(), set()
    for dag in dags:
        (visible if dag_allows(request.user, dag) else hidden).add(dag.dag_id)
    run_ids = {e.source_run_id for e in events if e.source_dag_id in visible}
    runs = set(DagRun.objects.filter(dag__dag_id__in=visible, run_id__in=run_ids).values_list("dag__dag_id", "run_id"))
    mask = PageMasker()  # a task may have put a secret in an event's extra, as in an XCom
    for event in events:
        event.source_hidden = event.source_dag_id in hidden
        event.dag_exists = event.source_dag_id in visible
        event.run_exists = (event.source_dag_id, event.source_run_id) in runs
        event.ti_exists = event.run_exists and event.source_task_instance_id is not None
        event.extra_text, event.extra_cut = json_text(mask.value(event.extra), limit=EXTRA_CHARS, pretty=True)
        event.triggered_runs = list(event.created_dagruns.all())


def asset_detail(request: HttpRequest, asset_id: int) -> HttpResponse:
    """Show one asset: its definition, producers, consumers, aliases and its events, newest first."""
    require(request, READ)
    asset = selectors.assets_with_stats().filter(pk=asset_id).first()
    if asset is None:
        raise Http404(f"Asset {asset_id} does not exist")
    row = selectors.asset_rows([asset], user=request.user)[0]
    page = Paginator(selectors.asset_events(asset, user=request.user), EVENTS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    events = list(page.object_list)
    _link_sources(events, request)
    context = {
        "title": asset.name,
        "asset": asset,
        "row": row,
        "aliases": list(asset.aliases.order_by("name")),
        "extra_text": json_text(asset.extra, limit=10_000, pretty=True)[0] if asset.extra else "",
        "page": page,
        "events": events,
    }
    return render(request, "runs_app/assets/asset_detail.html", context)

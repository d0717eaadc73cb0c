"""The DAG list and the DAG-level actions: pause/unpause, trigger, delete."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from dags_app import selectors as dag_selectors
from dags_app.errors import ServiceError
from dags_app.models import DagTag
from orchestrator_site.access import DELETE, PAUSE, READ, TRIGGER, can, dag_can, get_dag, readable, require
from runs_app import selectors, services
from runs_app.forms import TriggerForm
from runs_app.params import param_specs
from runs_app.states import DagRunState, TaskInstanceState
from runs_app.views.common import safe_next

PAGE_SIZE = 25
REFRESH_SECONDS = 5
# The status pills: all, by pause state, and by runs (Airflow's Running and Failed).
# The list's columns before Actions: (sort key or "" when it does not sort, label).
SORT_COLUMNS = [
    ("dag_id", "DAG"), ("owner", "Owner"), ("", "Runs"), ("schedule", "Schedule"),
    ("last_run", "Last Run"), ("next_run", "Next Run"), ("", "Recent Tasks"),
]  # fmt: skip
DAG_STATUSES = {"all": "All", "active": "Active", "paused": "Paused", "running": "Running", "failed": "Failed"}


def _sort_links(*, search: str, tag: str, status: str, sort: str, descending: bool) -> dict[str, dict[str, str]]:
    """For each sortable column: the URL that sorts by it (a second click reverses) and its arrow."""
    links = {}
    for key in selectors.DAG_LIST_SORTS:
        flip = key == sort and not descending
        query = {"search": search, "tag": tag, "status": status, "sort": key, "order": "desc" if flip else "asc"}
        arrow = ("bi-sort-down" if descending else "bi-sort-up") if key == sort else ""
        links[key] = {"url": "?" + urlencode({k: v for k, v in query.items() if v}), "icon": arrow}
    return links


_ROW_URLS = [
    "runs:grid",
    "runs:graph",
    "runs:gantt",
    "runs:calendar",
    "runs:durations",
    "runs:tries",
    "runs:landing-times",
    "runs:dag-trigger",
    "runs:dag-delete",
    "runs:dag-pause",
    "dags:code",
    "dags:details",
]


def dag_list(request: HttpRequest) -> HttpResponse:
    """List the active DAGs with runs, schedule, last/next run, recent tasks, actions and links."""
    require(request, READ)
    search = request.GET.get("search", "").strip()
    tag = request.GET.get("tag", "").strip()
    status = request.GET.get("status", "all")
    if status not in DAG_STATUSES:
        status = "all"
    paused = {"active": False, "paused": True}.get(status)
    sort = request.GET.get("sort", "dag_id")
    if sort not in selectors.DAG_LIST_SORTS:
        sort = "dag_id"
    descending = request.GET.get("order") == "desc"
    matching = readable(request.user, dag_selectors.dag_list(search=search, tag=tag))
    counts = selectors.dag_list_counts(matching)
    if paused is not None:
        matching = matching.filter(is_paused=paused)
    dags = selectors.dag_list_refined(
        matching, runs=status if status in ("running", "failed") else "", sort=sort, descending=descending
    )
    paginator = Paginator(dags, PAGE_SIZE)
    paginator.count = counts[status]  # already counted, with the pills: no second COUNT(*)
    page = paginator.get_page(request.GET.get("page"))
    rows = selectors.dag_rows(list(page.object_list))
    # URLs built once per page and filled in per DAG: ids are validated to URL-safe characters,
    # and a reverse() per link per row costs more than the rest of the page.
    patterns = {name: reverse(name, args=["__DAG__"]) for name in _ROW_URLS}
    run_states = [s.value for s in DagRunState]
    task_states = [s.value for s in TaskInstanceState]
    for row in rows:
        row.urls = {
            name.split(":")[1].replace("-", "_"): url.replace("__DAG__", row.dag.dag_id)
            for name, url in patterns.items()
        }
        row.run_badges = [(state, row.run_counts.get(state, 0)) for state in run_states]
        row.task_badges = [(state, row.task_counts.get(state, 0)) for state in task_states]
        row.can = dag_can(request.user, row.dag)
    return render(
        request,
        "runs_app/dag_list.html",
        {
            "page": page,
            "rows": rows,
            "browse_runs_url": reverse("runs:browse-runs"),
            "search": search,
            "tag": tag,
            "status": status,
            "statuses": [(key, label, counts[key]) for key, label in DAG_STATUSES.items()],
            # While a listed DAG has a queued or running run, the list refreshes itself.
            "live": counts["running"] > 0,
            "refresh_seconds": REFRESH_SECONDS,
            "sort": sort,
            "order": "desc" if descending else "asc",
            "sort_columns": SORT_COLUMNS,
            "sort_links": _sort_links(search=search, tag=tag, status=status, sort=sort, descending=descending),
            "all_tags": readable(request.user, DagTag.objects.all(), "dag")
            .values_list("name", flat=True)
            .distinct()
            .order_by("name"),
        },
    )


@require_POST
def dag_pause(request: HttpRequest, dag_id: str) -> HttpResponse:
    """Pause or unpause (``is_paused`` = "true"/"false" in the POST)."""
    dag = get_dag(request, dag_id)
    require(request, PAUSE, dag)
    is_paused = request.POST.get("is_paused", "true").lower() in {"1", "true", "on", "yes"}
    services.dag_set_paused(dag=dag, is_paused=is_paused, user=request.user, source="web")
    messages.success(request, f"DAG {dag.dag_id} is now {'paused' if is_paused else 'active'}.")
    return redirect(safe_next(request, reverse("runs:dag-list")))


def dag_trigger(request: HttpRequest, dag_id: str) -> HttpResponse:
    """Show the trigger form (GET) or trigger a run (POST); bad date or JSON is a form error."""
    dag = get_dag(request, dag_id)
    require(request, TRIGGER, dag)
    form = TriggerForm(request.POST or None, params=param_specs(dag.serialized))
    if request.method == "POST" and form.is_valid():
        try:
            run = services.dag_trigger(
                dag=dag,
                now=timezone.now(),
                logical_date=form.cleaned_data["logical_date"],
                conf=form.cleaned_data["conf"],
                run_id=form.cleaned_data["run_id"] or None,
                user=request.user,
                source="web",
            )
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            if dag.is_paused and request.POST.get("unpause") and can(request)["pause"]:
                services.dag_set_paused(dag=dag, is_paused=False, user=request.user, source="web")
            messages.success(request, f"Triggered {dag.dag_id}: run {run.run_id}.")
            if dag.is_paused:
                messages.warning(request, f"DAG {dag.dag_id} is paused: the run starts once it is unpaused.")
            return redirect(f"{reverse('runs:grid', args=[dag.dag_id])}?{urlencode({'run_id': run.run_id})}")
    return render(request, "runs_app/trigger.html", {"dag": dag, "form": form})


def dag_delete(request: HttpRequest, dag_id: str) -> HttpResponse:
    """Ask for confirmation (GET), then delete the DAG's metadata (POST)."""
    dag = get_dag(request, dag_id)
    require(request, DELETE, dag)
    if request.method == "POST":
        deleted = services.dag_delete(dag_id=dag.dag_id, user=request.user, source="web")
        messages.success(request, f"Deleted DAG {dag.dag_id} and {deleted} record(s). It returns if its file stays.")
        return redirect("runs:dag-list")
    return render(
        request,
        "runs_app/confirm.html",
        {
            "title": f"Delete DAG {dag.dag_id}?",
            "message": "This deletes all its runs, task instances, XComs and logs. If the DAG file still "
            "exists the DAG reappears, without history, at the next parse.",
            "button": "Delete",
            "danger": True,
            "cancel_url": reverse("runs:dag-list"),
        },
    )

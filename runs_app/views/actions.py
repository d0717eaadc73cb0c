"""Actions on runs and task instances: a confirmation page (GET) and the change (POST).

Each action checks the role's permission (403 otherwise, for GET and POST alike), shows what it
will change on ``confirm.html``, and on a POST carrying ``confirmed`` calls the one service that
does it (``runs_app.services``), then redirects to ``next`` (if it stays on this site) with a
message. The options chosen in a task panel (upstream, downstream, failed only) arrive as GET
parameters and prefill the confirmation form.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods

from dags_app.errors import ServiceError
from orchestrator_site.access import CLEAR, MARK, TRIGGER, get_dag, require
from runs_app import services
from runs_app.forms import ClearForm, MarkForm
from runs_app.models import DagRun, TaskInstance
from runs_app.states import TI_FAILED_LIKE, DagRunState, TaskInstanceState
from runs_app.views.common import get_run, get_task_instance, map_index_param, safe_next

MARKABLE = {"success", "failed"}


class RunClearForm(ClearForm):
    """Clear a whole run: every task instance, or only the failed ones."""

    upstream = None
    downstream = None


class TaskRunForm(forms.Form):
    """Options of the panel's Run: queue the task's next try now."""

    ignore_dependencies = forms.BooleanField(
        required=False,
        initial=True,
        label="Ignore dependencies",
        help_text="Run even if the trigger rule of its upstream tasks is not met (Airflow's Ignore All Deps).",
    )


def _graph_url(run: DagRun) -> str:
    return f"{reverse('runs:graph', args=[run.dag.dag_id])}?{urlencode({'run_id': run.run_id})}"


def _run_url(run: DagRun) -> str:
    return reverse("runs:run", args=[run.dag.dag_id, run.run_id])


def _load_ti(request: HttpRequest, dag_id: str, run_id: str, task_id: str, permission: str) -> TaskInstance:
    """Return the task instance for a user holding ``permission``; 403 / 404 otherwise."""
    dag = get_dag(request, dag_id)
    require(request, permission, dag)
    run = get_run(dag, run_id)
    run.dag = dag
    ti = get_task_instance(run, task_id, map_index_param(request))
    ti.dag_run = run
    return ti


def _title(request: HttpRequest, ti: TaskInstance) -> str:
    return ti.display_name if map_index_param(request) is not None else ti.task_id


def _selected(request: HttpRequest, ti: TaskInstance) -> list[TaskInstance]:
    """What a clear or mark acts on: the instance named by ``?map_index=``, else every instance
    of the task (all of a mapped task's, as Airflow's "all mapped instances")."""
    if map_index_param(request) is not None:
        return [ti]
    tis = list(TaskInstance.objects.filter(dag_run=ti.dag_run, task_id=ti.task_id).order_by("map_index"))
    for other in tis:
        other.dag_run = ti.dag_run
    return tis or [ti]


def _load_run(request: HttpRequest, dag_id: str, run_id: str, permission: str) -> DagRun:
    dag = get_dag(request, dag_id)
    require(request, permission, dag)
    run = get_run(dag, run_id)
    run.dag = dag
    return run


def _options_form(form_class: type[forms.Form], request: HttpRequest) -> forms.Form:
    """Bind the POST; on GET bind the options a panel sent (``options=1``), else show the defaults."""
    if request.method == "POST":
        return form_class(request.POST)
    if request.GET.get("options"):
        return form_class(request.GET)
    return form_class()


def _options(form: forms.Form) -> dict[str, bool]:
    """Return the form's options: cleaned when valid, else the initial values."""
    if form.is_bound and form.is_valid():
        return form.cleaned_data
    return {name: bool(field.initial) for name, field in form.fields.items()}


def _confirmed(request: HttpRequest, form: forms.Form) -> bool:
    return request.method == "POST" and bool(request.POST.get("confirmed")) and form.is_valid()


def _confirm(request: HttpRequest, *, next_url: str, **context) -> HttpResponse:
    return render(request, "runs_app/confirm.html", {"next": next_url, "cancel_url": next_url, **context})


def _affected(
    tis: list[TaskInstance], *, upstream: bool, downstream: bool, only_failed: bool = False, clear: bool = False
) -> list[str]:
    """Return "task_id [map index] (state)" for the task instances the options select, from the
    selected instances of one task (one instance of a mapped task, or all)."""
    ti = tis[0]
    run = ti.dag_run
    # The same traversal the services use, so the list shown is the list changed.
    ids = services.task_ids_related(run.dag, {ti.task_id}, upstream=upstream, downstream=downstream)
    if clear:  # a clear takes the tasks' setups and teardowns with it
        ids |= services.setups_and_teardowns(run.dag, ids)
    order = {task_id: i for i, task_id in enumerate(run.dag.task_ids)}
    rows = run.task_instances.filter(task_id__in=ids).values_list("task_id", "map_index", "state")
    if only_failed:
        rows = rows.filter(state__in=TI_FAILED_LIKE)
    chosen = {t.map_index for t in tis}
    rows = [r for r in rows if r[0] != ti.task_id or r[1] in chosen]
    return [
        f"{task_id}{f' [{index}]' if index >= 0 else ''} ({state})"
        for task_id, index, state in sorted(rows, key=lambda r: (order.get(r[0], len(order)), r[1]))
    ]


# -- task instance actions -------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def ti_run(request: HttpRequest, dag_id: str, run_id: str, task_id: str) -> HttpResponse:
    """Queue the task instance's next try now (the panel's Run)."""
    ti = _load_ti(request, dag_id, run_id, task_id, TRIGGER)
    next_url = safe_next(request, _graph_url(ti.dag_run))
    form = _options_form(TaskRunForm, request)
    if _confirmed(request, form):
        try:
            services.task_instance_run(
                ti=ti,
                now=timezone.now(),
                ignore_dependencies=form.cleaned_data["ignore_dependencies"],
                user=request.user,
                source="web",
            )
        except ServiceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Queued {ti.task_id} (try {ti.try_number}) of run {ti.dag_run.run_id}.")
        return redirect(next_url)
    return _confirm(
        request,
        next_url=next_url,
        title=f"Run {ti.display_name}?",
        message=f"Queue the next try of {ti.task_id} in run {ti.dag_run.run_id} now (it is {ti.state}).",
        button="Run",
        danger=False,
        form=form,
    )


@require_http_methods(["GET", "POST"])
def ti_clear(request: HttpRequest, dag_id: str, run_id: str, task_id: str) -> HttpResponse:
    """Clear the task instance (and, as chosen, its upstream / downstream, failed only) so it runs again."""
    ti = _load_ti(request, dag_id, run_id, task_id, CLEAR)
    next_url = safe_next(request, _graph_url(ti.dag_run))
    form = _options_form(ClearForm, request)
    if _confirmed(request, form):
        try:
            cleared = services.task_instances_clear(
                tis=_selected(request, ti), now=timezone.now(), user=request.user, source="web", **form.cleaned_data
            )
        except ServiceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Cleared {cleared} task instance(s) of run {ti.dag_run.run_id}.")
        return redirect(next_url)
    return _confirm(
        request,
        next_url=next_url,
        title=f"Clear {_title(request, ti)}?",
        message=f"These task instances of run {ti.dag_run.run_id} will be scheduled to run again, "
        "with the options chosen:",
        items=_affected(_selected(request, ti), clear=True, **_options(form)) or ["(none with these options)"],
        button="Clear",
        danger=False,
        form=form,
    )


@require_http_methods(["GET", "POST"])
def ti_mark(request: HttpRequest, dag_id: str, run_id: str, task_id: str, state: str) -> HttpResponse:
    """Mark the task instance (and, as chosen, its upstream / downstream) success or failed."""
    if state not in MARKABLE:
        raise Http404(f"A task instance cannot be marked {state}")
    ti = _load_ti(request, dag_id, run_id, task_id, MARK)
    next_url = safe_next(request, _graph_url(ti.dag_run))
    form = _options_form(MarkForm, request)
    if _confirmed(request, form):
        try:
            changed = services.task_instances_set_state(
                tis=_selected(request, ti),
                state=TaskInstanceState(state),
                now=timezone.now(),
                user=request.user,
                source="web",
                **form.cleaned_data,
            )
        except ServiceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Marked {changed} task instance(s) of run {ti.dag_run.run_id} {state}.")
        return redirect(next_url)
    return _confirm(
        request,
        next_url=next_url,
        title=f"Mark {_title(request, ti)} {state}?",
        message=f"These task instances of run {ti.dag_run.run_id} will be marked {state}, with the options chosen:",
        items=_affected(_selected(request, ti), **_options(form)) or ["(none)"],
        button=f"Mark {state}",
        danger=state == "failed",
        form=form,
    )


# -- run actions -----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def run_clear(request: HttpRequest, dag_id: str, run_id: str) -> HttpResponse:
    """Clear every task instance of the run (or only the failed ones) so the run runs again."""
    run = _load_run(request, dag_id, run_id, CLEAR)
    next_url = safe_next(request, _run_url(run))
    form = _options_form(RunClearForm, request)
    if _confirmed(request, form):
        try:
            cleared = services.task_instances_clear(
                tis=run.task_instances.all(),
                now=timezone.now(),
                only_failed=form.cleaned_data["only_failed"],
                user=request.user,
                source="web",
            )
        except ServiceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Cleared {cleared} task instance(s) of run {run.run_id}.")
        return redirect(next_url)
    only_failed = _options(form)["only_failed"]
    rows = run.task_instances.values_list("task_id", "state")
    if only_failed:
        rows = rows.filter(state__in=TI_FAILED_LIKE)
    return _confirm(
        request,
        next_url=next_url,
        title=f"Clear run {run.run_id}?",
        message="These task instances will be scheduled to run again, with the options chosen:",
        items=[f"{task_id} ({state})" for task_id, state in rows] or ["(none with these options)"],
        button="Clear",
        danger=False,
        form=form,
    )


@require_http_methods(["GET", "POST"])
def run_mark(request: HttpRequest, dag_id: str, run_id: str, state: str) -> HttpResponse:
    """Mark the whole run success (its tasks success) or failed (running ones failed, the rest skipped)."""
    if state not in MARKABLE:
        raise Http404(f"A DAG run cannot be marked {state}")
    run = _load_run(request, dag_id, run_id, MARK)
    next_url = safe_next(request, _run_url(run))
    if request.method == "POST" and request.POST.get("confirmed"):
        try:
            services.dag_run_set_state(
                run=run, state=DagRunState(state), now=timezone.now(), user=request.user, source="web"
            )
        except ServiceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Marked run {run.run_id} {state}.")
        return redirect(next_url)
    # The same plan the service carries out, so the list shown is the list changed.
    plan = services.dag_run_mark_plan(run, state=state)
    if state == "success":
        message = "Every task instance of the run that has not succeeded will be marked success:"
    else:
        message = (
            "Its running task instances will be marked failed, and every other unfinished one "
            "(queued included: it never started) skipped:"
        )
    return _confirm(
        request,
        next_url=next_url,
        title=f"Mark run {run.run_id} {state}?",
        message=message,
        items=[f"{task_id} ({now} → {after})" for task_id, (now, after) in plan.items()]
        or ["(no task instance changes; the run's state does)"],
        button=f"Mark {state}",
        danger=state == "failed",
    )

"""Bulk actions of the Browse pages: the rows ticked on DAG Runs or Task Instances, cleared,
marked or deleted together.

The browse table is a POST form to these views: its ``pk`` checkboxes and an ``action``. The
first POST shows ``confirm.html`` with what will change; the confirmation (``confirmed``) calls
the same services as the run and task pages, the admin's actions and the API, then returns to
the browse page (``next``, with its filters) with a message. Like the admin's actions:

- the role needs the action's permission (403 otherwise);
- rows whose DAG's access control does not allow it are left out, and the message says how many;
- rows the user may not read do not exist for them (as on the lists);
- at most ``MAX_ROWS`` rows at once (a page holds 50).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from dags_app.errors import ServiceError
from orchestrator_site.access import CLEAR, MARK, READ, actionable, readable, require
from runs_app import services
from runs_app.models import DagRun, TaskInstance
from runs_app.states import DagRunState, TaskInstanceState
from runs_app.views.common import safe_next

MAX_ROWS = 200
RUN_DELETE = "runs_app.delete_dagrun"


@dataclass(frozen=True)
class BulkAction:
    label: str  # the menu's text
    permission: str
    question: str
    note: str
    button: str
    perform: Callable[[HttpRequest, QuerySet], str]  # returns the success message
    danger: bool = False


def _clear_runs(request: HttpRequest, runs: QuerySet[DagRun], *, only_failed: bool) -> str:
    runs = list(runs)
    cleared = services.dag_runs_clear(
        runs=runs, now=timezone.now(), only_failed=only_failed, user=request.user, source="web"
    )
    return f"Cleared {cleared} task instance(s) of {len(runs)} DAG run(s)."


def _mark_runs(request: HttpRequest, runs: QuerySet[DagRun], *, state: DagRunState) -> str:
    done, errors = services.dag_runs_set_state(
        runs=runs.select_related("dag"), state=state, now=timezone.now(), user=request.user, source="web"
    )
    for error in errors:
        messages.error(request, error)
    return f"Marked {done} DAG run(s) {state.label}."


def _delete_runs(request: HttpRequest, runs: QuerySet[DagRun]) -> str:
    done = 0
    for run in runs.select_related("dag"):
        services.dag_run_delete(run=run, user=request.user, source="web")
        done += 1
    return f"Deleted {done} DAG run(s) with their task instances and XComs."


def _clear_tis(request: HttpRequest, tis: QuerySet[TaskInstance], *, downstream: bool) -> str:
    cleared = services.task_instances_clear(
        tis=tis, now=timezone.now(), downstream=downstream, user=request.user, source="web"
    )
    return f"Cleared {cleared} task instance(s)."


def _mark_tis(request: HttpRequest, tis: QuerySet[TaskInstance], *, state: TaskInstanceState) -> str:
    changed = services.task_instances_set_state(
        tis=tis, state=state, now=timezone.now(), user=request.user, source="web"
    )
    return f"Marked {changed} task instance(s) {state.label}."


RUN_ACTIONS: dict[str, BulkAction] = {
    "clear": BulkAction(
        "Clear", CLEAR, "Clear every task instance of these DAG runs so that they run again?",
        "A finished run goes back to running.", "Yes, clear",
        lambda request, runs: _clear_runs(request, runs, only_failed=False),
    ),
    "clear_failed": BulkAction(
        "Clear failed tasks", CLEAR, "Clear the failed and upstream-failed task instances of these DAG runs?",
        "Only those run again; the run goes back to running.", "Yes, clear failed",
        lambda request, runs: _clear_runs(request, runs, only_failed=True),
    ),
    "mark_success": BulkAction(
        "Mark success", MARK, "Mark these DAG runs success?",
        "Every task instance not yet successful becomes success.", "Yes, mark success",
        lambda request, runs: _mark_runs(request, runs, state=DagRunState.SUCCESS),
    ),
    "mark_failed": BulkAction(
        "Mark failed", MARK, "Mark these DAG runs failed?",
        "Queued and running task instances become failed, the other unfinished ones skipped.", "Yes, mark failed",
        lambda request, runs: _mark_runs(request, runs, state=DagRunState.FAILED), danger=True,
    ),
    "delete": BulkAction(
        "Delete", RUN_DELETE, "Delete these DAG runs?",
        "Their task instances, XComs and log records go with them; a try still running records nothing.",
        "Yes, delete", _delete_runs, danger=True,
    ),
}  # fmt: skip

TI_ACTIONS: dict[str, BulkAction] = {
    "clear": BulkAction(
        "Clear", CLEAR, "Clear these task instances so that they run again?",
        "A finished run goes back to running.", "Yes, clear",
        lambda request, tis: _clear_tis(request, tis, downstream=False),
    ),
    "clear_downstream": BulkAction(
        "Clear with downstream", CLEAR, "Clear these task instances, and every task downstream of them?",
        "A finished run goes back to running.", "Yes, clear",
        lambda request, tis: _clear_tis(request, tis, downstream=True),
    ),
    "mark_success": BulkAction(
        "Mark success", MARK, "Mark these task instances success?",
        "Their upstream-failed downstream tasks are evaluated again, so they can run.", "Yes, mark success",
        lambda request, tis: _mark_tis(request, tis, state=TaskInstanceState.SUCCESS),
    ),
    "mark_failed": BulkAction(
        "Mark failed", MARK, "Mark these task instances failed?",
        "Their downstream tasks become upstream failed.", "Yes, mark failed",
        lambda request, tis: _mark_tis(request, tis, state=TaskInstanceState.FAILED), danger=True,
    ),
}  # fmt: skip


def _bulk(
    request: HttpRequest,
    *,
    actions: dict[str, BulkAction],
    queryset: QuerySet,
    describe: Callable[[object], str],
    noun: str,
    back: str,
) -> HttpResponse:
    require(request, READ)
    if not any(request.user.has_perm(a.permission) for a in actions.values()):
        raise PermissionDenied("Your role does not allow changing these rows.")
    next_url = safe_next(request, back)
    action = actions.get(request.POST.get("action", ""))
    if action is None:
        messages.error(request, "Choose an action for the selected rows.")
        return redirect(next_url)
    require(request, action.permission)
    pks = [pk for pk in request.POST.getlist("pk") if pk.isdigit()]
    if not pks:
        messages.error(request, f"Select at least one {noun} first.")
        return redirect(next_url)
    if len(pks) > MAX_ROWS:
        messages.error(request, f"Select at most {MAX_ROWS} {noun}s at once.")
        return redirect(next_url)
    selected = readable(request.user, queryset.filter(pk__in=pks), "dag")
    allowed = actionable(request.user, selected, action.permission, "dag")
    rows = list(allowed)
    skipped = len(set(pks)) - len(rows)
    if not rows:
        messages.error(
            request, f"None of the selected {noun}s can be changed: they are gone or their DAG does not allow it."
        )
        return redirect(next_url)
    if request.POST.get("confirmed"):
        if skipped:
            messages.warning(
                request,
                f"Skipped {skipped} selected {noun}(s): gone, or their DAG's access control "
                "does not give your roles this.",
            )
        try:
            messages.success(request, action.perform(request, queryset.filter(pk__in=[row.pk for row in rows])))
        except ServiceError as exc:
            messages.error(request, str(exc))
        return redirect(next_url)
    message = action.question
    if skipped:
        message += f" ({skipped} selected {noun}(s) are left out: gone, or their DAG does not allow it.)"
    return render(
        request,
        "runs_app/confirm.html",
        {
            "title": f"{action.label}: {len(rows)} {noun}{'s' if len(rows) != 1 else ''}",
            "message": message,
            "note": action.note,
            "items": [describe(row) for row in rows],
            "hidden": [("action", request.POST["action"]), *(("pk", row.pk) for row in rows)],
            "button": action.button,
            "danger": action.danger,
            "next": next_url,
            "cancel_url": next_url,
        },
    )


@require_POST
def dag_runs_bulk(request: HttpRequest) -> HttpResponse:
    """Clear, mark or delete the DAG runs ticked on Browse > DAG Runs."""
    return _bulk(
        request,
        actions=RUN_ACTIONS,
        queryset=DagRun.objects.select_related("dag").order_by("-logical_date", "-pk"),
        describe=lambda run: f"{run.dag.dag_id} / {run.run_id} ({run.state})",
        noun="DAG run",
        back=reverse("runs:browse-runs"),
    )


@require_POST
def task_instances_bulk(request: HttpRequest) -> HttpResponse:
    """Clear or mark the task instances ticked on Browse > Task Instances."""
    return _bulk(
        request,
        actions=TI_ACTIONS,
        queryset=TaskInstance.objects.select_related("dag", "dag_run").order_by(
            "-dag_run__logical_date", "dag_run_id", "task_id", "map_index"
        ),
        describe=lambda ti: f"{ti.dag.dag_id} / {ti.dag_run.run_id} / {ti.display_name} ({ti.state})",
        noun="task instance",
        back=reverse("runs:browse-task-instances"),
    )

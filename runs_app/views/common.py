"""Helpers shared by the execution views: lookups that 404, the per-DAG page header."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from dags_app.models import DagModel
from orchestrator_site.navigation import DAG_TABS
from runs_app.models import DagRun, TaskInstance


def _runs_with_version(dag: DagModel):
    """The DAG's runs with the version each was created with (its number, not its stored form)."""
    return (
        DagRun.objects.filter(dag=dag)
        .select_related("dag", "dag_version")
        .defer("dag_version__serialized", "dag_version__source")
    )


def get_run(dag: DagModel, run_id: str) -> DagRun:
    run = _runs_with_version(dag).filter(run_id=run_id).first()
    if run is None:
        raise Http404(f"DAG run {run_id} of {dag.dag_id} does not exist")
    return run


def map_index_param(request: HttpRequest) -> int | None:
    """The ``?map_index=`` of a request (None when absent); 404 when it is not a whole number."""
    value = request.GET.get("map_index", "")
    if value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise Http404(f"Bad map index {value!r}") from None


def get_task_instance(run: DagRun, task_id: str, map_index: int | None = None) -> TaskInstance:
    """The instance of ``task_id`` in ``run``: of a mapped task, instance ``map_index`` (by default
    its first one)."""
    tis = TaskInstance.objects.filter(dag_run=run, task_id=task_id).select_related("dag_run", "dag_run__dag")
    if map_index is not None:
        tis = tis.filter(map_index=map_index)
    ti = tis.order_by("map_index").first()
    if ti is None:
        index = f" [{map_index}]" if map_index is not None else ""
        raise Http404(f"Task {task_id}{index} has no instance in run {run.run_id}")
    return ti


def selected_run(dag: DagModel, request: HttpRequest) -> DagRun | None:
    """Return the run named by ``?run_id=``, or the DAG's latest run, or None."""
    run_id = request.GET.get("run_id")
    if run_id:
        return get_run(dag, run_id)
    return _runs_with_version(dag).order_by("-logical_date").first()


def safe_next(request: HttpRequest, default: str) -> str:
    """Return the ``next`` parameter if it points into this site, else ``default`` (no open redirect)."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        return target
    return default


def dag_page_context(dag: DagModel, active: str) -> dict:
    """Return the context every per-DAG page's header needs."""
    return {"dag": dag, "dag_tabs": DAG_TABS, "active_tab": active}

"""Per-DAG execution views: grid, graph, run and task instance pages, task logs."""

from django.http import Http404


def _todo(*args, **kwargs):
    raise Http404("This page is not built yet")


grid = grid_fragment = graph = graph_states = run_detail = task_instance = task_log = task_log_fragment = _todo

"""Browse pages: DAG runs, task instances, XComs and the audit log, with filters."""

from django.http import Http404


def _todo(*args, **kwargs):
    raise Http404("This page is not built yet")


dag_runs = task_instances = xcoms = audit_log = _todo

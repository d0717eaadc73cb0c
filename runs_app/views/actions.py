"""Actions on runs and task instances: a confirmation page (GET) and the change (POST)."""

from django.http import Http404


def _todo(*args, **kwargs):
    raise Http404("This page is not built yet")


run_clear = run_mark = ti_run = ti_clear = ti_mark = _todo

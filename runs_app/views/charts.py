"""Per-DAG charts: Gantt, calendar, durations, tries, landing times (server-rendered SVG)."""

from django.http import Http404


def _todo(*args, **kwargs):
    raise Http404("This page is not built yet")


gantt = calendar = durations = tries = landing_times = _todo

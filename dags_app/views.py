"""Views of definitions. They read DagModel rows only; DAG files are never imported here."""

from django.http import Http404


def _todo(*args, **kwargs):
    raise Http404("This page is not built yet")


dag_code = dag_details = _todo

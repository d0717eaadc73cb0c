"""Template context every page gets: the user's allowed actions and the health banners."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from orchestrator_site.access import can, without_hidden_files


def orchestrator(request: HttpRequest) -> dict:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    from dags_app.selectors import import_errors
    from runs_app.scheduling import broker_is_healthy
    from runs_app.services import scheduler_is_healthy

    return {
        "can": can(request),
        "scheduler_healthy": scheduler_is_healthy(now=timezone.now()),
        "broker_healthy": broker_is_healthy(),
        # Lazy: a page that never shows the banner runs no query for it (nor for the user's roles).
        "import_errors": SimpleLazyObject(lambda: list(without_hidden_files(request.user, import_errors())[:50])),
    }

"""The user's UI preferences: the time zone of the navbar's selector."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from dags_app.errors import ServiceError
from orchestrator_site.timezones import user_timezone_set
from runs_app.views.common import safe_next


@require_POST
def set_timezone(request: HttpRequest) -> HttpResponse:
    """Store the chosen zone (``timezone``, an IANA name) and go back to ``next``."""
    try:
        user_timezone_set(request.user, request.POST.get("timezone", ""), request=request)
    except ServiceError as exc:
        messages.error(request, str(exc))  # as every action: the message on the page it came from
    return redirect(safe_next(request, reverse("runs:dag-list")))

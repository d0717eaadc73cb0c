"""The time zone pages show times in: chosen per user in the navbar, UTC until then.

The choice is stored per user (``runs_app.models.UserPreference``) and copied into the session at
login and when it changes, so a page activates it from the session it loads anyway: no query.
Django then shows every aware datetime of a template (``|date``) and form in that zone.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable

from django.contrib.auth.signals import user_logged_in
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from dags_app.errors import ServiceError

SESSION_KEY = "orchestrator_timezone"
DEFAULT = "UTC"


@functools.cache
def available() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {DEFAULT}


def check(name: str) -> str:
    """Return the IANA zone ``name`` (stripped); ServiceError if it is not one."""
    name = (name or "").strip()
    if name not in available():
        raise ServiceError(f"Unknown time zone {name!r}: give an IANA name such as UTC or Europe/Paris")
    return name


def user_timezone(user) -> str:
    from runs_app.models import UserPreference

    pref = UserPreference.objects.filter(user=user).only("timezone").first()
    return pref.timezone if pref is not None and pref.timezone in available() else DEFAULT


def user_timezone_set(user, name: str, *, request: HttpRequest | None = None) -> str:
    """Store ``user``'s time zone (and in ``request``'s session); return the checked name."""
    from runs_app.models import UserPreference

    name = check(name)
    UserPreference.objects.update_or_create(user=user, defaults={"timezone": name})
    if request is not None:
        request.session[SESSION_KEY] = name
    return name


def _copy_at_login(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = user_timezone(user)


user_logged_in.connect(_copy_at_login, dispatch_uid="orchestrator_timezone_at_login")


class TimezoneMiddleware:
    """Activate the session's time zone for the request (after the session middleware)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
        if name and name != DEFAULT and name in available():
            timezone.activate(zoneinfo.ZoneInfo(name))
        else:
            timezone.deactivate()  # settings.TIME_ZONE: UTC
        return self.get_response(request)

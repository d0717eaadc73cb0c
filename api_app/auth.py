"""Authentication of the REST API, as Airflow 3's: ``POST /auth/token`` turns a username and
password into a short-lived JWT, sent back as ``Authorization: Bearer <token>``; a browser's web
session works too (with its CSRF token for writes).

The token is signed (HS512) with ``API_JWT_SECRET`` (by default derived from ``SECRET_KEY``) and
names the user by id; a user made inactive or deleted is refused at once, whatever the token.
Logins go through Django's ``authenticate`` and so through django-axes: failed attempts are
counted and lock the username out as on the login page.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import jwt
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from ninja.security import HttpBearer, SessionAuth

ALGORITHM = "HS512"
AUDIENCE = "apache-airflow"


def _secret() -> str:
    return settings.API_JWT_SECRET


def token_for(user: Any, *, now: dt.datetime | None = None) -> str:
    """A signed access token for ``user``, valid for ``API_JWT_EXPIRATION`` seconds."""
    now = now or timezone.now()
    claims = {
        "sub": str(user.pk),
        "aud": AUDIENCE,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int(now.timestamp()) + int(settings.API_JWT_EXPIRATION),
    }
    return jwt.encode(claims, _secret(), algorithm=ALGORITHM)


def user_for(token: str) -> Any | None:
    """The active user a valid, unexpired token names; None otherwise."""
    try:
        claims = jwt.decode(token, _secret(), algorithms=[ALGORITHM], audience=AUDIENCE)
    except jwt.PyJWTError:
        return None
    user = get_user_model().objects.filter(pk=claims.get("sub"), is_active=True).first()
    return user


class BearerAuth(HttpBearer):
    """``Authorization: Bearer <token>`` from ``/auth/token``."""

    def authenticate(self, request: HttpRequest, token: str) -> Any | None:
        user = user_for(token)
        if user is not None:
            request.user = user
        return user


class WebSessionAuth(SessionAuth):
    """The browser's session (the UI calling the API); writes need the CSRF token."""


def _credentials(request: HttpRequest) -> tuple[Any, Any]:
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return None, None
        if not isinstance(body, dict):
            return None, None
        return body.get("username"), body.get("password")
    return request.POST.get("username"), request.POST.get("password")


@csrf_exempt
@login_not_required
@require_http_methods(["POST"])
def token(request: HttpRequest) -> JsonResponse:
    """``POST /auth/token`` with ``{"username", "password"}``: 201 ``{"access_token"}``, or 401."""
    username, password = _credentials(request)
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        return JsonResponse({"detail": "Give a username and a password (JSON or form fields)"}, status=400)
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        return JsonResponse({"detail": "Invalid credentials"}, status=401)
    return JsonResponse({"access_token": token_for(user)}, status=201)

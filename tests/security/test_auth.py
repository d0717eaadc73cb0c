"""Sign-in and sessions: throttling (django-axes), session rotation, logout, open redirects, and the
production profile's headers and ``check --deploy``."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/login/"


def attempt(client: Client, username: str, password: str, *, ip: str = "10.0.0.1", path: str = LOGIN):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_too_many_failed_logins_lock_that_username_from_that_address_only(client, admin_user, viewer_user):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "alice", "wrong").status_code == 200  # the form again, with its error
    assert attempt(client, "alice", "wrong").status_code == 429  # the last allowed failure locks

    locked = attempt(client, "alice", PASSWORD)  # even the right password, now

    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # Not everyone is locked out: another user from that address, the same user from another.
    assert attempt(Client(), "victor", PASSWORD).status_code == 302
    assert attempt(Client(), "alice", PASSWORD, ip="10.0.0.2").status_code == 302


def test_the_admin_login_is_throttled_too(client, admin_user):
    path = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "alice", "wrong", path=path)

    assert attempt(client, "alice", PASSWORD, path=path).status_code == 429


def test_a_successful_login_resets_the_failure_count(client, admin_user):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "alice", "wrong")
    assert attempt(client, "alice", PASSWORD).status_code == 302
    client.post("/logout/")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "alice", "wrong")

    assert attempt(client, "alice", PASSWORD).status_code == 302


def test_the_session_key_changes_at_login(client, admin_user):
    client.get(LOGIN)
    client.session.save()
    before = client.session.session_key

    attempt(client, "alice", PASSWORD)

    assert client.session.session_key != before
    assert client.session["_auth_user_id"] == str(admin_user.pk)


def test_logout_is_post_only_and_ends_the_session(client, admin_user):
    attempt(client, "alice", PASSWORD)
    key = client.session.session_key

    assert client.get("/logout/").status_code == 405
    assert client.get("/").status_code == 200  # still signed in
    assert client.post("/logout/").status_code == 302

    from django.contrib.sessions.models import Session

    assert not Session.objects.filter(session_key=key).exists()
    assert client.get("/").status_code == 302  # to the login page


def test_a_password_change_ends_the_user_s_other_sessions_and_keeps_this_one(admin_user):
    here, elsewhere = Client(), Client()
    attempt(here, "alice", PASSWORD)
    attempt(elsewhere, "alice", PASSWORD, ip="10.0.0.9")
    assert elsewhere.get("/").status_code == 200

    response = here.post(
        reverse("admin:password_change"),
        {"old_password": PASSWORD, "new_password1": "a-new-long-password-1", "new_password2": "a-new-long-password-1"},
    )

    assert response.status_code == 302
    assert here.get("/").status_code == 200
    assert elsewhere.get("/").status_code == 302


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:///evil.example",
        " https://evil.example",
    ],
)
def test_login_never_redirects_off_site(client, admin_user, target):
    response = client.post(
        LOGIN + "?next=" + target, {"username": "alice", "password": PASSWORD, "next": target}, REMOTE_ADDR="10.0.0.3"
    )

    assert response.status_code == 302
    assert response["Location"] == settings.LOGIN_REDIRECT_URL


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example/"])
def test_actions_never_redirect_off_site(client, admin_user, dag_file, sync, target):
    from tests.web.test_dag_views import DAG_ID, write_dag

    write_dag(dag_file, sync)
    client.force_login(admin_user)
    path = reverse("runs:dag-pause", args=[DAG_ID])

    response = client.post(path, {"is_paused": "true", "next": target})

    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


def test_pages_carry_the_security_headers(client, admin_user):
    client.force_login(admin_user)

    response = client.get("/")

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";") if part.strip())
    # Scripts only from our own files: no inline script, no eval, no other origin.
    assert policy["script-src"] == "'self'"
    assert (policy["object-src"], policy["frame-ancestors"], policy["base-uri"]) == ("'none'", "'none'", "'self'")


def test_no_template_has_an_inline_script_or_event_handler():
    """The policy refuses inline scripts: a template that uses one would silently break."""
    import re
    from pathlib import Path

    offenders = []
    for path in sorted((Path(settings.BASE_DIR) / "templates").rglob("*.html")):
        text = path.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(r"\son[a-z]+=\"", text):
            offenders.append(str(path.relative_to(settings.BASE_DIR)))
    assert offenders == []


def test_the_session_and_csrf_cookies_are_http_only_and_same_site(client, admin_user):
    client.get(LOGIN)
    csrf = client.cookies[settings.CSRF_COOKIE_NAME]
    response = attempt(client, "alice", PASSWORD)

    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["httponly"] and session["samesite"] == "Lax"
    assert csrf["httponly"] and csrf["samesite"] == "Lax"


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "FERNET_KEY", "ORCHESTRATOR_PRODUCTION", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


PRODUCTION = {
    "ORCHESTRATOR_PRODUCTION": "1",
    "ALLOWED_HOSTS": "orchestrator.example.com",
    "FERNET_KEY": "h4Zx1kqv0XQp3eW2bQdYcR6b7p9pQnZ2Jf8a0tM5n1E=",
}


@pytest.mark.slow
def test_check_deploy_is_clean_in_the_production_profile():
    done = _manage("check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=secrets.token_urlsafe(50), **PRODUCTION)

    assert done.returncode == 0, done.stderr + done.stdout
    assert "System check identified no issues" in done.stdout


@pytest.mark.slow
def test_check_deploy_warns_outside_the_production_profile():
    done = _manage("check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=secrets.token_urlsafe(50))

    assert done.returncode != 0 and "security.W004" in done.stderr + done.stdout  # no HSTS


@pytest.mark.slow
def test_the_production_profile_refuses_to_start_without_a_secret_key():
    done = _manage("check", **PRODUCTION)

    assert done.returncode != 0
    assert "ORCHESTRATOR_PRODUCTION=1 needs SECRET_KEY" in done.stderr


@pytest.mark.slow
def test_the_production_profile_refuses_to_start_without_a_fernet_key():
    without = {k: v for k, v in PRODUCTION.items() if k != "FERNET_KEY"}
    done = _manage("check", SECRET_KEY=secrets.token_urlsafe(50), **without)

    assert done.returncode != 0
    assert "ORCHESTRATOR_PRODUCTION=1 needs FERNET_KEY" in done.stderr


def test_the_api_token_route_is_throttled_with_a_problem_json(admin_user):
    import json

    client = Client()

    def token(password: str):
        body = json.dumps({"username": "alice", "password": password})
        return client.post("/auth/token", body, content_type="application/json", REMOTE_ADDR="10.0.0.9")

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert token("wrong").status_code == 401
    token("wrong")
    locked = token(PASSWORD)

    assert locked.status_code == 429
    assert locked["Content-Type"] == "application/json"
    assert locked.json()["detail"].startswith("Too many failed logins for this user from this address")
    assert int(locked["Retry-After"]) == int(settings.AXES_COOLOFF_TIME.total_seconds())

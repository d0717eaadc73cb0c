"""User and role services: users with roles, and team roles for DAGs' access_control.

The four base roles (``roles.py``) say what a user may do; further roles made with
``role_create`` hold no permission of their own and say which DAGs a user may see and act on,
when a DAG's ``access_control`` names them. The CLI (``users``, ``roles``) and any web page call
these; both show ``ServiceError`` messages as they are.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import IntegrityError, transaction
from django.db.models import Count

from dags_app.errors import NotFound, ServiceError
from orchestrator_site.roles import ADMIN, ROLE_NAMES


def _role_group(role: str) -> Group:
    group = Group.objects.filter(name=role).first()
    if group is not None:
        return group
    if role in ROLE_NAMES:
        raise ServiceError(f"Role {role} does not exist yet: run `python manage.py migrate` first")
    known = ", ".join(Group.objects.order_by("name").values_list("name", flat=True)) or ", ".join(ROLE_NAMES)
    raise ServiceError(f"{role} is not a valid role. Valid roles are: {known}")


def user_create(
    *, username: str, email: str, first_name: str, last_name: str, password: str, role: str
) -> AbstractUser:
    """Create a user in ``role``; Admins also get Django admin's superuser rights.

    Every role may open Django admin (``is_staff``); what each may do there follows its group.
    The email is any non-blank text, as Airflow's ``users create`` takes it (the seed's first
    user is ``--email ps``); it must be unique, as in Airflow.
    Raises ServiceError for an unknown role, a taken username or email, or a blank email.
    """
    group = _role_group(role)
    email = email.strip()
    if not email:
        raise ServiceError("The email must not be empty")
    if not username:
        raise ServiceError("The username must not be empty")
    if not password:
        raise ServiceError("The password must not be empty")
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        raise ServiceError(f'Username "{username}" already exists')
    if user_model.objects.filter(email__iexact=email).exists():
        raise ServiceError(f'Email "{email}" is already used by another user')
    try:
        with transaction.atomic():
            user = user_model.objects.create_user(
                username=username,
                email=email,
                first_name=first_name,
                last_name=last_name,
                password=password,
                is_staff=True,
                is_superuser=role == ADMIN,
            )
            user.groups.set([group])
    except IntegrityError:
        raise ServiceError(f'Username "{username}" already exists') from None
    return user


def user_delete(*, username: str | None = None, email: str | None = None) -> str:
    """Delete the user with ``username`` (or ``email``); return the username.

    Raises NotFound when no user matches and ServiceError when neither is given.
    """
    user = _find_user(username, email)
    name = user.get_username()
    user.delete()
    return name


def user_roles(user: AbstractUser) -> list[str]:
    return sorted(g.name for g in user.groups.all())


def _find_user(username: str | None, email: str | None) -> AbstractUser:
    user_model = get_user_model()
    if username:
        user = user_model.objects.filter(username=username).first()
    elif email:
        user = user_model.objects.filter(email__iexact=email).first()
    else:
        raise ServiceError("Give a username (-u) or an email (-e)")
    if user is None:
        raise NotFound(f"User {username or email} does not exist")
    return user


def user_add_role(*, role: str, username: str | None = None, email: str | None = None) -> AbstractUser:
    """Add ``role`` to a user (Admin also grants Django admin's superuser rights).

    Raises NotFound for an unknown user, ServiceError for an unknown role or one the user has.
    """
    user, group = _find_user(username, email), _role_group(role)
    if user.groups.filter(pk=group.pk).exists():
        raise ServiceError(f'User "{user.get_username()}" is already a member of role "{role}"')
    with transaction.atomic():
        user.groups.add(group)
        if role == ADMIN and not user.is_superuser:
            user.is_superuser = True
            user.save(update_fields=["is_superuser"])
    return user


def user_remove_role(*, role: str, username: str | None = None, email: str | None = None) -> AbstractUser:
    """Remove ``role`` from a user (removing Admin also ends the superuser rights)."""
    user, group = _find_user(username, email), _role_group(role)
    if not user.groups.filter(pk=group.pk).exists():
        raise ServiceError(f'User "{user.get_username()}" is not a member of role "{role}"')
    with transaction.atomic():
        user.groups.remove(group)
        if role == ADMIN and user.is_superuser:
            user.is_superuser = False
            user.save(update_fields=["is_superuser"])
    return user


def _role_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 150:
        raise ServiceError("A role name must have 1 to 150 characters")
    return name


def role_create(*, name: str) -> tuple[Group, bool]:
    """Create a team role (no permissions of its own); return it and whether it is new."""
    return Group.objects.get_or_create(name=_role_name(name))


def role_delete(*, name: str) -> None:
    """Delete a team role; the four base roles cannot be deleted (``migrate`` would recreate them)."""
    if name in ROLE_NAMES:
        raise ServiceError(f"{name} is a base role and cannot be deleted")
    deleted, _ = Group.objects.filter(name=name).delete()
    if not deleted:
        raise NotFound(f"Role {name} does not exist")


def role_list() -> list[dict]:
    """Every role with its users and permission count, base roles first."""
    groups = Group.objects.annotate(
        users=Count("user", distinct=True), permissions_count=Count("permissions", distinct=True)
    )
    rows = [
        {"name": g.name, "base_role": g.name in ROLE_NAMES, "users": g.users, "permissions": g.permissions_count}
        for g in groups
    ]
    return sorted(rows, key=lambda r: (not r["base_role"], r["name"]))


def lockout_response(request: Any, original_response: Any = None, credentials: dict | None = None) -> Any:
    """django-axes' answer to a locked-out sign-in (``AXES_LOCKOUT_CALLABLE``): the REST API's
    ``/auth/token`` and ``/api/`` get Airflow's problem JSON, the login pages the lockout page,
    both with status 429 and a ``Retry-After`` header."""
    from axes.helpers import get_client_username, get_cool_off, get_failure_limit
    from django.http import JsonResponse
    from django.shortcuts import render

    cool_off = get_cool_off(request)
    minutes = max(1, round(cool_off.total_seconds() / 60)) if cool_off else None
    if request.path.startswith(("/auth/", "/api/")):
        wait = f"; try again in {minutes} minutes" if minutes else ""
        response = JsonResponse({"detail": f"Too many failed logins for this user from this address{wait}"}, status=429)
    else:
        context = {
            "failure_limit": get_failure_limit(request, credentials),
            "username": get_client_username(request, credentials) or "",
            "cooloff_timedelta": cool_off,
        }
        response = render(request, "registration/locked_out.html", context, status=429)
    if cool_off:
        response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response

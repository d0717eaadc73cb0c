"""User services: create, list and delete users with one of the four roles.

The CLI (``users create``) and any later web page call these; both show ``ServiceError``
messages as they are.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from dags_app.errors import NotFound, ServiceError
from orchestrator_site.roles import ADMIN, ROLE_NAMES


def _role_group(role: str) -> Group:
    if role not in ROLE_NAMES:
        raise ServiceError(f"{role} is not a valid role. Valid roles are: {', '.join(ROLE_NAMES)}")
    group = Group.objects.filter(name=role).first()
    if group is None:
        raise ServiceError(f"Role {role} does not exist yet: run `python manage.py migrate` first")
    return group


def user_create(
    *, username: str, email: str, first_name: str, last_name: str, password: str, role: str
) -> AbstractUser:
    """Create a user in ``role``; Admins also get Django admin's superuser rights.

    Every role may open Django admin (``is_staff``); what each may do there follows its group.
    Raises ServiceError for an unknown role, a taken username or email, or an invalid email.
    """
    group = _role_group(role)
    try:
        validate_email(email)
    except ValidationError:
        raise ServiceError(f"Invalid email address: {email}") from None
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
    user_model = get_user_model()
    if username:
        user = user_model.objects.filter(username=username).first()
    elif email:
        user = user_model.objects.filter(email__iexact=email).first()
    else:
        raise ServiceError("Give a username (-u) or an email (-e)")
    if user is None:
        raise NotFound(f"User {username or email} does not exist")
    name = user.get_username()
    user.delete()
    return name


def user_roles(user: AbstractUser) -> list[str]:
    return [g.name for g in user.groups.all() if g.name in ROLE_NAMES]

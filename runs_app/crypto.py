"""Encryption at rest of Connections' secrets with Fernet (Airflow's ``fernet_key``).

``settings.FERNET_KEY`` holds one or more comma-separated keys: the first encrypts, every one
decrypts (``MultiFernet``), so a key is rotated by putting the new one first, running
``rotate-fernet-key`` and then dropping the old one.
"""

from __future__ import annotations

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from dags_app.errors import ServiceError


class FernetKeyError(ServiceError):
    """The configured FERNET_KEY is not a key, or no configured key opens a stored value."""


@functools.cache
def _fernet(keys: str) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.strip().encode()) for key in keys.split(",") if key.strip()])
    except (ValueError, TypeError) as exc:
        raise FernetKeyError(f"FERNET_KEY is not a valid Fernet key: {exc}") from None


def fernet() -> MultiFernet:
    if not settings.FERNET_KEY:
        raise FernetKeyError("FERNET_KEY is empty: connections' secrets cannot be encrypted")
    return _fernet(settings.FERNET_KEY)


def encrypt(value: str) -> str:
    """The Fernet token of ``value`` ("" stays "": nothing to hide)."""
    return fernet().encrypt(value.encode()).decode() if value else ""


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise FernetKeyError(
            "A stored secret cannot be decrypted with the configured FERNET_KEY (was the key changed "
            "without rotate-fernet-key?)"
        ) from None


def rotate(token: str) -> str:
    """``token`` encrypted again with the first key."""
    return fernet().rotate(token.encode()).decode() if token else ""

"""Airflow's ``timezone`` helpers (``airflow.utils.timezone``, ``airflow.sdk.timezone``), on pendulum."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum

utc = pendulum.UTC


def utcnow() -> dt.datetime:
    """The current time, aware, in UTC."""
    return pendulum.now(utc)


def datetime(*args: Any, **kwargs: Any) -> dt.datetime:
    """``datetime.datetime(...)`` in UTC unless a ``tzinfo`` is given (Airflow's ``timezone.datetime``)."""
    kwargs.setdefault("tzinfo", utc)
    return dt.datetime(*args, **kwargs)


def is_localized(value: dt.datetime) -> bool:
    return value.utcoffset() is not None


def is_naive(value: dt.datetime) -> bool:
    return value.utcoffset() is None


def make_aware(value: dt.datetime, timezone: dt.tzinfo | None = None) -> dt.datetime:
    """A naive datetime read in ``timezone`` (UTC by default); an aware one is refused, as in Airflow."""
    if is_localized(value):
        raise ValueError(f"make_aware expects a naive datetime, got {value}")
    return value.replace(tzinfo=timezone or utc)


def make_naive(value: dt.datetime, timezone: dt.tzinfo | None = None) -> dt.datetime:
    if is_naive(value):
        raise ValueError("make_naive() cannot be applied to a naive datetime")
    return value.astimezone(timezone or utc).replace(tzinfo=None)


def convert_to_utc(value: dt.datetime | None) -> dt.datetime | None:
    """``value`` in UTC; a naive one is taken as UTC."""
    if value is None:
        return None
    if is_naive(value):
        value = value.replace(tzinfo=utc)
    return value.astimezone(utc)


def parse(string: str, timezone: Any = None) -> dt.datetime:
    """Parse an ISO 8601 string (naive values in ``timezone``, UTC by default)."""
    return pendulum.parse(string, tz=timezone or utc)  # type: ignore[return-value]


def days_ago(n: int, hour: int = 0, minute: int = 0, second: int = 0, microsecond: int = 0) -> dt.datetime:
    """Midnight UTC today (or the given time of day) ``n`` days ago (Airflow 2's ``dates.days_ago``)."""
    today = utcnow().replace(hour=hour, minute=minute, second=second, microsecond=microsecond)
    return today - dt.timedelta(days=n)

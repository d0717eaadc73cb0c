"""Identifier rules shared by the SDK (at DAG-definition time) and the models."""

import re

from dags_app.sdk.exceptions import AirflowException

# Airflow's KEY_REGEX plus the characters run ids need ("manual__2022-01-01T00:00:00+00:00").
KEY_PATTERN = r"^(?!\.{1,2}$)[A-Za-z0-9_.~:+-]+$"
_KEY_RE = re.compile(KEY_PATTERN)
MAX_KEY_LENGTH = 250


class InvalidKeyError(AirflowException, ValueError):
    """An id breaks the rules: an AirflowException as in Airflow, and a ValueError for older callers."""


def validate_key(kind: str, value: object) -> str:
    """Return ``value`` if it is a valid DAG/task/run id.

    Raises TypeError for a non-string and InvalidKeyError (an AirflowException and a ValueError)
    naming ``kind`` otherwise.
    """
    if not isinstance(value, str):
        raise TypeError(f"The {kind} must be a string, not {type(value).__name__}: {value!r}")
    if len(value) > MAX_KEY_LENGTH:
        raise InvalidKeyError(f"The {kind} {value[:40]!r}... is longer than {MAX_KEY_LENGTH} characters")
    if not _KEY_RE.match(value):
        raise InvalidKeyError(
            f"The {kind} {value!r} has to be made of letters, digits, and the characters _ . ~ : + -"
            " (and may not be '.' or '..')"
        )
    return value

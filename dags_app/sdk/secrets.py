"""Which names are sensitive (Airflow's list): their values are shown as ``***``."""

from __future__ import annotations

# Airflow's DEFAULT_SENSITIVE_FIELDS: a variable or connection field whose name contains one of
# these (case-insensitive) holds a secret.
SENSITIVE_FIELDS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "authorization",
        "passphrase",
        "passwd",
        "password",
        "private_key",
        "secret",
        "token",
        "keyfile_dict",
        "service_account",
    }
)

MASK = "***"


def should_hide_value_for_key(name: str) -> bool:
    """Whether the value of a variable (or extra field) called ``name`` is a secret."""
    lowered = str(name).lower()
    return any(field in lowered for field in SENSITIVE_FIELDS)

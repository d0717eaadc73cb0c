"""Secrets: which names are sensitive (Airflow's list), and the masker that shows known secret values as ``***``."""

from __future__ import annotations

import re
from typing import Any

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


# Shorter values are not masked: masking "a" or "1234" would garble every log line.
MIN_MASKED_LENGTH = 5


class SecretsMasker:
    """The secret values known to this process, and ``redact`` replacing each by ``***``.

    Values are registered when a task fetches them (a Connection's password, a sensitive
    Variable, ``mask_secret``); the web registers the stored ones before it shows task data.
    """

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: Any, name: str | None = None) -> None:
        """Register ``value``; a dict or list registers its strings (a dict's only under
        sensitive keys, unless ``name`` itself says the whole value is secret)."""
        if isinstance(value, dict):
            for key, item in value.items():
                if name is not None or should_hide_value_for_key(key):
                    self.add(item, name or str(key))
                elif isinstance(item, dict | list | tuple):
                    self.add(item)
            return
        if isinstance(value, list | tuple | set):
            for item in value:
                self.add(item, name)
            return
        if value is None or isinstance(value, bool):
            return
        text = str(value)
        if len(text) < MIN_MASKED_LENGTH or text in self._values:
            return
        new = {text}
        for line in text.splitlines():  # a multi-line secret (a key file) is masked line by line too
            if len(line.strip()) >= MIN_MASKED_LENGTH:
                new.add(line.strip())
        self._values |= new
        self._pattern = None

    def __bool__(self) -> bool:
        return bool(self._values)

    def redact_text(self, text: str) -> str:
        if not self._values or not text:
            return text
        if self._pattern is None:
            # Longest first, so a secret that contains another is masked whole.
            self._pattern = re.compile("|".join(re.escape(v) for v in sorted(self._values, key=len, reverse=True)))
        return self._pattern.sub(MASK, text)

    def redact(self, value: Any, name: str | None = None) -> Any:
        """``value`` with every known secret masked, and whatever sits under a sensitive key hidden."""
        if name is not None and should_hide_value_for_key(name) and value not in (None, ""):
            return MASK
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, dict):
            return {k: self.redact(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.redact(v) for v in value)
        return value


_masker = SecretsMasker()


def masker() -> SecretsMasker:
    """This process's masker."""
    return _masker


def mask_secret(secret: Any, name: str | None = None) -> None:
    """Airflow's ``mask_secret``: from now on ``secret`` is shown as ``***`` in this task's log,
    its rendered fields and its error."""
    _masker.add(secret, name)


def redact(value: Any, name: str | None = None) -> Any:
    return _masker.redact(value, name)

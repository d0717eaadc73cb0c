"""Secrets masked in what the web shows: task logs, rendered fields, XComs, failure reasons.

A task masks what it fetched while it ran (``dags_app.sdk.secrets``), so its log and rendered
fields are stored masked. The web also masks with every *stored* secret: each Connection's
password and the sensitive fields of its extra, and each Variable whose key looks sensitive. So
a value a task printed without fetching it, an XCom (kept whole for the tasks that pull it), or
a log written before the secret existed is masked on the page too.

Building the masker costs two queries; the decrypted values are kept per process and rebuilt only
when the stored (encrypted) values change. ``PageMasker`` builds it on first use, so a page with
nothing to mask pays nothing.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from typing import Any

from django.db.models import Q

from dags_app.sdk.secrets import SENSITIVE_FIELDS, SecretsMasker
from runs_app.crypto import decrypt
from runs_app.models import Connection, Variable

_built: dict[str, Any] = {"fingerprint": None, "masker": SecretsMasker()}


def _sensitive_keys() -> Q:
    return functools.reduce(lambda q, field: q | Q(key__icontains=field), SENSITIVE_FIELDS, Q())


def stored_secrets_masker() -> SecretsMasker:
    """A masker knowing every stored secret (two queries; decryption only when they changed)."""
    connections = list(Connection.objects.order_by("pk").values_list("encrypted_password", "encrypted_extra"))
    variables = list(Variable.objects.filter(_sensitive_keys()).order_by("pk").values_list("val", flat=True))
    digest = hashlib.sha256(json.dumps([connections, variables]).encode()).hexdigest()
    if digest != _built["fingerprint"]:
        masker = SecretsMasker()
        for encrypted_password, encrypted_extra in connections:
            masker.add(_decrypt(encrypted_password))
            extra = _decrypt(encrypted_extra)
            if extra:
                with contextlib.suppress(ValueError):  # an extra that is not JSON holds no fields
                    masker.add(json.loads(extra))
        for value in variables:
            masker.add(value)
        _built.update(fingerprint=digest, masker=masker)
    return _built["masker"]


def _decrypt(token: str) -> str:
    try:
        return decrypt(token) if token else ""
    except Exception:  # a token of a lost key: nothing of it can be shown anyway
        return ""


class PageMasker:
    """Masks values for one page; the stored secrets are read on the first value to mask."""

    def __init__(self) -> None:
        self._masker: SecretsMasker | None = None

    def _get(self) -> SecretsMasker:
        if self._masker is None:
            self._masker = stored_secrets_masker()
        return self._masker

    def text(self, text: str) -> str:
        return self._get().redact_text(text) if text else text

    def value(self, value: Any) -> Any:
        return self._get().redact(value) if value not in (None, "", [], {}) else value

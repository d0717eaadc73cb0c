"""``python manage.py rotate-fernet-key``: Airflow's ``airflow rotate-fernet-key``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dags_app.errors import ServiceError
from runs_app import services


class Command(BaseCommand):
    help = (
        "Rotate encrypted connection credentials: put the new key first in FERNET_KEY "
        "(new_key,old_key), run this, then drop the old key"
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = services.fernet_key_rotate()
        except ServiceError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Re-encrypted the secrets of {count} connection(s) with the first FERNET_KEY")

"""``python manage.py db init|migrate|check``: Airflow's ``airflow db`` subcommands."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError, connection

from runs_app.cli import SubcommandCommand


def _no_args(parser: CommandParser) -> None:
    pass


class Command(SubcommandCommand):
    help = "Database operations: init, migrate, check."

    subcommands = {
        "init": ("Initialize the metadata database (same as migrate)", _no_args),
        "migrate": ("Migrate the metadata database to the latest version", _no_args),
        "check": ("Check if the database can be reached", _no_args),
    }

    def handle_init(self, **options: Any) -> None:
        self.handle_migrate(**options)
        self.stdout.write("Initialization done")

    def handle_migrate(self, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=options.get("verbosity", 1), stdout=self.stdout)
        self.stdout.write("Database migrating done!")

    def handle_check(self, **_: Any) -> None:
        try:
            connection.ensure_connection()
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError as exc:
            raise CommandError(f"Connection failed: {exc}") from None
        self.stdout.write(f"Connection successful ({connection.vendor}).")

"""``python manage.py roles create|delete|list``: Airflow's ``airflow roles`` subcommands.

Team roles made here hold no permission of their own: a DAG's ``access_control`` names them to
say who may see and act on it (``orchestrator_site.access``); ``users add-role`` puts people in.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from orchestrator_site import accounts
from runs_app.cli import SubcommandCommand, add_output_argument


def _names_args(parser: CommandParser) -> None:
    parser.add_argument("role", nargs="+", help="The name of a role")


def _list_args(parser: CommandParser) -> None:
    add_output_argument(parser)


class Command(SubcommandCommand):
    help = "Manage roles: create, delete, list."

    subcommands = {
        "create": ("Create role", _names_args),
        "delete": ("Delete role", _names_args),
        "list": ("List roles", _list_args),
    }

    def handle_create(self, *, role: list[str], **_: Any) -> None:
        for name in role:
            _, created = accounts.role_create(name=name)
            self.stdout.write(f'Role "{name}" created' if created else f'Role "{name}" already exists')

    def handle_delete(self, *, role: list[str], **_: Any) -> None:
        for name in role:
            accounts.role_delete(name=name)
            self.stdout.write(f'Role "{name}" deleted')

    def handle_list(self, *, output: str, **_: Any) -> None:
        self.out(accounts.role_list(), output=output, columns=["name", "base_role", "users", "permissions"])

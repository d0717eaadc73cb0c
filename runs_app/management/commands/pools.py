"""``python manage.py pools set|get|delete|list|import|export``: Airflow's ``airflow pools``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from runs_app import selectors, services
from runs_app.cli import SubcommandCommand, add_output_argument, read_json_file, write_json_file

COLUMNS = ["pool", "slots", "description", "running_slots", "queued_slots", "scheduled_slots", "open_slots"]


def _name_args(parser: CommandParser) -> None:
    parser.add_argument("pool", metavar="NAME", help="Pool name")


def _get_args(parser: CommandParser) -> None:
    _name_args(parser)
    add_output_argument(parser)


def _set_args(parser: CommandParser) -> None:
    _name_args(parser)
    parser.add_argument("slots", metavar="SLOTS", help="Pool slots (-1 for unlimited)")
    parser.add_argument("description", metavar="DESCRIPTION", help="Pool description")
    add_output_argument(parser)


def _file_args(parser: CommandParser) -> None:
    parser.add_argument("file", metavar="FILEPATH", help="A JSON file ('-' for standard input/output)")


class Command(SubcommandCommand):
    help = "Manage pools: set, get, delete, list, import, export."

    subcommands = {
        "set": ("Configure pool", _set_args),
        "get": ("Get pool size", _get_args),
        "delete": ("Delete pool", _name_args),
        "list": ("List pools", add_output_argument),
        "import": ("Import pools", _file_args),
        "export": ("Export all pools", _file_args),
    }

    def _show(self, names: list[str] | None, output: str) -> None:
        rows = [{"pool": r.pop("name"), **r} for r in selectors.pool_stats(names)]
        self.out(rows, output=output, columns=COLUMNS)

    def handle_set(self, *, pool: str, slots: str, description: str, output: str, **_: Any) -> None:
        services.pool_set(name=pool, slots=slots, description=description)
        self._show([pool], output)

    def handle_get(self, *, pool: str, output: str, **_: Any) -> None:
        if not selectors.pool_stats([pool]):
            raise CommandError(f"Pool {pool} does not exist")
        self._show([pool], output)

    def handle_delete(self, *, pool: str, **_: Any) -> None:
        services.pool_delete(name=pool)
        self.stdout.write(f"Pool {pool} deleted")

    def handle_list(self, *, output: str, **_: Any) -> None:
        self._show(None, output)

    def handle_import(self, *, file: str, **_: Any) -> None:
        data = read_json_file(file, what="pools")
        count = services.pools_import(data=data)
        self.stdout.write(f"Uploaded {count} pool(s)")

    def handle_export(self, *, file: str, **_: Any) -> None:
        data = services.pools_export()
        if write_json_file(self.stdout, file, data):
            self.stdout.write(f"Exported {len(data)} pools to {file}")

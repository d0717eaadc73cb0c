"""``python manage.py variables get|set|delete|list|import|export``: Airflow's ``airflow variables``."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from dags_app.sdk.variable import Variable
from runs_app import services
from runs_app.cli import SubcommandCommand, add_output_argument, read_json_file, write_json_file
from runs_app.models import Variable as VariableRow


def _get_args(parser: CommandParser) -> None:
    parser.add_argument("key", help="Variable key")
    parser.add_argument("-d", "--default", help="Default value returned if variable does not exist")
    parser.add_argument("-j", "--json", action="store_true", help="Deserialize JSON variable")


def _set_args(parser: CommandParser) -> None:
    parser.add_argument("key", help="Variable key")
    parser.add_argument("value", help="Variable value")
    parser.add_argument("--description", help="Variable description, optional when setting a variable")
    parser.add_argument("-j", "--json", action="store_true", help="Serialize JSON variable")


def _delete_args(parser: CommandParser) -> None:
    parser.add_argument("key", help="Variable key")


def _import_args(parser: CommandParser) -> None:
    parser.add_argument("file", help="Import variables from a JSON file ('-' reads standard input)")
    parser.add_argument(
        "-a",
        "--action-on-existing-key",
        choices=services.VARIABLE_IMPORT_ACTIONS,
        default="overwrite",
        help="Action to take if we encounter a variable key that already exists.",
    )


def _export_args(parser: CommandParser) -> None:
    parser.add_argument("file", help="Export all variables to a JSON file ('-' writes to standard output)")


class Command(SubcommandCommand):
    help = "Manage variables: get, set, delete, list, import, export."

    subcommands = {
        "get": ("Get variable", _get_args),
        "set": ("Set variable", _set_args),
        "delete": ("Delete variable", _delete_args),
        "list": ("List variables", add_output_argument),
        "import": ("Import variables", _import_args),
        "export": ("Export all variables", _export_args),
    }

    def handle_get(self, *, key: str, default: str | None, json: bool, **_: Any) -> None:
        marker = object()
        try:
            value = Variable.get(key, default_var=marker if default is None else default, deserialize_json=json)
        except ValueError as exc:
            raise CommandError(f"Variable {key} is not valid JSON: {exc}") from None
        if value is marker:
            raise CommandError(f"Variable {key} does not exist")
        self.stdout.write(_dumps(value) if json and not isinstance(value, str) else str(value))

    def handle_set(self, *, key: str, value: str, description: str | None, json: bool, **_: Any) -> None:
        if json:
            try:
                value = _dumps(_loads(value))
            except ValueError as exc:
                raise CommandError(f"The value of {key} is not valid JSON: {exc}") from None
        services.variable_set(key=key, value=value, description=description, source="cli")
        self.stdout.write(f"Variable {key} created")

    def handle_delete(self, *, key: str, **_: Any) -> None:
        if not services.variable_delete(key=key, source="cli"):
            raise CommandError(f"Variable {key} does not exist")
        self.stdout.write(f"Variable {key} deleted")

    def handle_list(self, *, output: str, **_: Any) -> None:
        rows = VariableRow.objects.order_by("key").values("key", "description")
        self.out(rows, output=output, columns=["key", "description"])

    def handle_import(self, *, file: str, action_on_existing_key: str, **_: Any) -> None:
        data = read_json_file(file, what="variables")
        counts = services.variables_import(data=data, action_on_existing_key=action_on_existing_key, source="cli")
        done = counts["created"] + counts["updated"]
        self.stdout.write(
            f"{done} of {len(data)} variables successfully updated"
            + (f" ({counts['skipped']} existing skipped)" if counts["skipped"] else "")
        )

    def handle_export(self, *, file: str, **_: Any) -> None:
        data = services.variables_export()
        if write_json_file(self.stdout, file, data):
            self.stdout.write(f"{len(data)} variables successfully exported to {file}")


def _loads(text: str) -> Any:
    return json.loads(text)


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=4, sort_keys=True)

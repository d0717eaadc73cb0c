"""``python manage.py connections add|get|delete|list|import|export|create-default-connections``:
Airflow's ``airflow connections``.

Listing and getting show a password as ``***``; only ``export`` writes secrets in clear (it is for
moving connections elsewhere).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import CommandError, CommandParser

from dags_app.sdk.connection import build_uri, parse_uri
from dags_app.sdk.exceptions import AirflowException
from dags_app.sdk.secrets import MASK
from runs_app import services
from runs_app.cli import SubcommandCommand, add_output_argument, read_json_file, write_json_file, write_text_file
from runs_app.models import Connection

COLUMNS = ["conn_id", "conn_type", "description", "host", "schema", "login", "password", "port", "extra"]


def _add_args(parser: CommandParser) -> None:
    parser.add_argument("conn_id", help="Connection id, required to get/add/delete/test a connection")
    parser.add_argument("--conn-uri", help="Connection URI, required to add a connection without conn_type")
    parser.add_argument("--conn-json", help="Connection JSON, required to add a connection using JSON representation")
    parser.add_argument("--conn-type", help="Connection type, required to add a connection without conn_uri")
    parser.add_argument("--conn-description", help="Connection description, optional when adding a connection")
    parser.add_argument("--conn-host", help="Connection host, optional when adding a connection")
    parser.add_argument("--conn-login", help="Connection login, optional when adding a connection")
    parser.add_argument("--conn-password", help="Connection password, optional when adding a connection")
    parser.add_argument("--conn-schema", help="Connection schema, optional when adding a connection")
    parser.add_argument("--conn-port", help="Connection port, optional when adding a connection")
    parser.add_argument("--conn-extra", help="Connection `Extra` field, optional when adding a connection")


def _get_args(parser: CommandParser) -> None:
    parser.add_argument("conn_id", help="Connection id")
    add_output_argument(parser)


def _delete_args(parser: CommandParser) -> None:
    parser.add_argument("conn_id", help="Connection id")


def _list_args(parser: CommandParser) -> None:
    add_output_argument(parser)
    parser.add_argument("--conn-id", help="If passed, only items with the specified connection ID will be displayed")


FILE_FORMATS = ["json", "yaml", "env"]


def _import_args(parser: CommandParser) -> None:
    parser.add_argument(
        "file", help="Import connections from a file: .json, .yaml/.yml or .env ('-' reads JSON from standard input)"
    )
    parser.add_argument("--overwrite", action="store_true", help="Overwrite existing entries if a conflict occurs")


def _export_args(parser: CommandParser) -> None:
    parser.add_argument("file", help="Output file path for exporting the connections ('-' for standard output)")
    parser.add_argument(
        "--file-format", choices=FILE_FORMATS, help="File format for the export (default: from the file's extension)"
    )
    parser.add_argument("--format", choices=FILE_FORMATS, help="Deprecated -- use --file-format instead")
    parser.add_argument(
        "--serialization-format",
        choices=["json", "uri"],
        help="When exporting as .env, each connection as a URI (the default) or a JSON object",
    )


def _file_format(file: str, given: str | None) -> str:
    if given:
        return given
    suffix = Path(file).suffix.lower()
    return {".yaml": "yaml", ".yml": "yaml", ".env": "env"}.get(suffix, "json")


def _env_lines(text: str, file: str) -> dict[str, Any]:
    """``conn_id=uri`` or ``conn_id={json}`` lines (blank lines and # comments skipped)."""
    data: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        conn_id, sep, value = line.partition("=")
        if not sep or not conn_id.strip():
            raise CommandError(f"Invalid connections file {file}: line {number} is not conn_id=value")
        value = value.strip()
        try:
            data[conn_id.strip()] = json.loads(value) if value.startswith("{") else value
        except ValueError as exc:
            raise CommandError(f"Invalid connections file {file}: line {number}: {exc}") from None
    return data


_URI_FIELDS = ("conn_type", "host", "login", "password", "schema")


def _row(connection: Connection) -> dict[str, Any]:
    return {
        "conn_id": connection.conn_id,
        "conn_type": connection.conn_type,
        "description": connection.description,
        "host": connection.host,
        "schema": connection.schema,
        "login": connection.login,
        "password": MASK if connection.encrypted_password else "",
        "port": connection.port,
        "extra": "***" if connection.encrypted_extra else "",
    }


class Command(SubcommandCommand):
    help = "Manage connections: add, get, delete, list, import, export."

    subcommands = {
        "add": ("Add a connection", _add_args),
        "get": ("Get a connection", _get_args),
        "delete": ("Delete a connection", _delete_args),
        "list": ("List connections", _list_args),
        "import": ("Import connections from a file", _import_args),
        "export": ("Export all connections", _export_args),
        "create-default-connections": ("Create all the default connections", lambda parser: None),
    }

    def handle_add(self, *, conn_id: str, conn_uri: str | None, conn_json: str | None, **options: Any) -> None:
        given = {
            name: options.get(name if name == "conn_type" else f"conn_{name}") for name in services.CONNECTION_FIELDS
        }
        given = {name: value for name, value in given.items() if value is not None}
        if conn_uri and conn_json:
            raise CommandError("Cannot supply both conn-uri and conn-json")
        if (conn_uri or conn_json) and given.get("conn_type"):
            raise CommandError("Cannot supply conn-type together with conn-uri or conn-json")
        fields: dict[str, Any] = {}
        if conn_uri:
            try:
                fields = parse_uri(conn_uri)
            except AirflowException as exc:
                raise CommandError(str(exc)) from None
        elif conn_json:
            try:
                fields = json.loads(conn_json)
            except ValueError as exc:
                raise CommandError(f"The connection JSON is not valid: {exc}") from None
            if not isinstance(fields, dict):
                raise CommandError("The connection JSON must be an object of fields")
        elif not given.get("conn_type"):
            raise CommandError("Must supply either conn-uri or conn-json if not supplying conn-type")
        fields = {**fields, **given}
        services.connection_set(conn_id=conn_id, fields=fields, source="cli")
        self.stdout.write(
            f"Successfully added `conn_id`={conn_id} : {fields.get('conn_type')}://{fields.get('host') or ''}"
        )

    def handle_create_default_connections(self, **_: Any) -> None:
        created = services.connections_create_defaults(source="cli")
        for conn_id in created:
            self.stdout.write(f"Successfully added `conn_id`={conn_id}")
        if not created:
            self.stdout.write("The default connections exist already")

    def handle_get(self, *, conn_id: str, output: str, **_: Any) -> None:
        connection = Connection.objects.filter(conn_id=conn_id).first()
        if connection is None:
            raise CommandError(f"Connection not found: {conn_id}")
        self.out([_row(connection)], output=output, columns=COLUMNS)

    def handle_delete(self, *, conn_id: str, **_: Any) -> None:
        if not services.connection_delete(conn_id=conn_id, source="cli"):
            raise CommandError(f"Did not find a connection with `conn_id`={conn_id}")
        self.stdout.write(f"Successfully deleted connection with `conn_id`={conn_id}")

    def handle_list(self, *, output: str, conn_id: str | None, **_: Any) -> None:
        connections = Connection.objects.order_by("conn_id")
        if conn_id:
            connections = connections.filter(conn_id=conn_id)
        self.out([_row(c) for c in connections], output=output, columns=COLUMNS)

    def handle_import(self, *, file: str, overwrite: bool, **_: Any) -> None:
        file_format = "json" if file == "-" else _file_format(file, None)
        if file_format == "json":
            data = read_json_file(file, what="connections")
        else:
            try:
                text = Path(file).read_text()
            except OSError as exc:
                raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
            if file_format == "env":
                data = _env_lines(text, file)
            else:
                try:
                    data = yaml.safe_load(text)
                except yaml.YAMLError as exc:
                    raise CommandError(f"Invalid connections file {file}: {exc}") from None
        counts = services.connections_import(data=data, overwrite=overwrite, source="cli")
        self.stdout.write(
            f"Imported {counts['imported']} connection(s)"
            + (f"; {counts['skipped']} existing skipped (use --overwrite)" if counts["skipped"] else "")
        )

    def handle_export(
        self, *, file: str, file_format: str | None, format: str | None, serialization_format: str | None, **_: Any
    ) -> None:
        data = services.connections_export()
        chosen = _file_format(file, file_format or format)
        if chosen == "json":
            written = write_json_file(self.stdout, file, data, private=True)  # secrets in clear: mode 0600
        else:
            if chosen == "yaml":
                text = yaml.safe_dump(data, sort_keys=True)
            else:
                lines = []
                for conn_id, fields in data.items():
                    if serialization_format == "json":
                        value = json.dumps(fields, sort_keys=True)
                    else:
                        value = build_uri(
                            **{k: fields.get(k) or "" for k in _URI_FIELDS},
                            port=fields.get("port"),
                            extra=fields.get("extra") or {},
                        )
                    lines.append(f"{conn_id}={value}")
                text = "\n".join(lines) + ("\n" if lines else "")
            written = write_text_file(self.stdout, file, text, private=True)
        if written:
            self.stdout.write(f"{len(data)} connections successfully exported to {file}.")

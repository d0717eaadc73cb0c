"""Shared pieces of the Airflow-style management commands: output formats, parsing, subcommands.

Commands are interfaces: they parse arguments, call one service or selector, and print. A user
mistake is a ``CommandError`` with one clear line (exit 1, no traceback).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pendulum
import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich import box
from rich.console import Console
from rich.table import Table

from dags_app.errors import ServiceError
from dags_app.models import DagModel

OUTPUT_FORMATS = ("table", "json", "yaml", "plain")


def add_output_argument(parser: CommandParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=OUTPUT_FORMATS,
        default="table",
        help="Output format. Allowed values: json, yaml, plain, table (default: table)",
    )


def to_text(value: Any) -> str:
    """Return ``value`` as a table cell shows it."""
    if value is None:
        return "None"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(to_text(v) for v in value)
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def render(stdout: Any, rows: Sequence[dict[str, Any]], *, output: str, columns: Sequence[str] | None = None) -> None:
    """Print ``rows`` (dicts with the same keys) in the chosen output format."""
    columns = list(columns or (rows[0].keys() if rows else []))
    if output == "json":
        stdout.write(json.dumps([_jsonable(r) for r in rows], indent=None, ensure_ascii=False))
        return
    if output == "yaml":
        stdout.write(yaml.safe_dump([_jsonable(r) for r in rows], sort_keys=False, allow_unicode=True).rstrip())
        return
    if not rows:
        stdout.write("No data found")
        return
    if output == "plain":
        cells = [[to_text(r.get(c)) for c in columns] for r in rows]
        widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
        stdout.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
        for row in cells:
            stdout.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        return
    table = Table(*columns, box=box.ASCII_DOUBLE_HEAD, show_header=True, header_style="bold")
    for row in rows:
        table.add_row(*(to_text(row.get(c)) for c in columns))
    is_tty = hasattr(stdout, "isatty") and stdout.isatty()
    console = Console(file=stdout, width=None if is_tty else 100_000, no_color=not is_tty, highlight=False)
    console.print(table, crop=False, overflow="ignore")


def parse_datetime(value: str, *, option: str = "date") -> dt.datetime:
    """Return an aware UTC datetime from an ISO-like string; raise CommandError naming ``option``."""
    try:
        parsed = pendulum.parse(value, tz="UTC", strict=False)
    except (ValueError, pendulum.parsing.exceptions.ParserError) as exc:
        raise CommandError(f"Invalid {option} '{value}': expected an ISO date such as 2022-01-01 ({exc})") from None
    if isinstance(parsed, pendulum.DateTime):
        return dt.datetime.fromtimestamp(parsed.timestamp(), tz=dt.UTC)
    if isinstance(parsed, pendulum.Date):
        return dt.datetime(parsed.year, parsed.month, parsed.day, tzinfo=dt.UTC)
    raise CommandError(f"Invalid {option} '{value}': expected a date or a date and time")


def parse_conf(value: str | None) -> dict[str, Any]:
    """Return the JSON object ``value`` (``runs_app.conf``'s checks); raise a one-line CommandError."""
    from runs_app.conf import parse_conf as parse

    try:
        return parse(value)
    except ServiceError as exc:
        raise CommandError(str(exc)) from None


def get_dag_or_error(dag_id: str, *, active_only: bool = True) -> DagModel:
    """Return the DagModel ``dag_id``; raise CommandError when there is no such DAG."""
    qs = DagModel.objects.all()
    if active_only:
        qs = qs.filter(is_active=True)
    dag = qs.filter(dag_id=dag_id).first()
    if dag is None:
        raise CommandError(f"Dag id {dag_id} not found in DagModel")
    return dag


def confirm(question: str, *, yes: bool) -> None:
    """Ask ``question`` on the terminal unless ``yes``; raise CommandError when not confirmed."""
    if yes:
        return
    if not sys.stdin or not sys.stdin.isatty():
        raise CommandError(f"{question} Pass -y/--yes to confirm when not running in a terminal.")
    answer = input(f"{question} (y/n) ").strip().lower()
    if answer not in {"y", "yes"}:
        raise CommandError("Cancelled, nothing was changed.")


def _one_line_error(parser: CommandParser, message: str) -> NoReturn:
    """Report an argument error as one line (argparse would print the usage block first)."""
    if parser.called_from_command_line:
        parser.exit(2, f"{parser.prog}: error: {message} (see --help)\n")
    raise CommandError(f"Error: {message}")


class OneLineErrorParser(CommandParser):
    """A CommandParser whose errors (a missing flag, a bad choice) are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        _one_line_error(self, message)


class SubcommandCommand(BaseCommand):
    """A command with Airflow-style subcommands (``dags list``), each a method ``handle_<name>``.

    Subclasses define ``subcommands``: name -> (help, function adding the subparser's arguments).
    ``ServiceError`` from a service becomes a one-line ``CommandError``.
    """

    subcommands: dict[str, tuple[str, Callable[[CommandParser], None]]] = {}
    # Subcommands that only read the database and print (the DAG folder is synced first).
    requires_system_checks: Sequence[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        # Django builds the top-level parser; its errors, and its subparsers', are one line too.
        parser.error = functools.partial(_one_line_error, parser)  # type: ignore[method-assign]
        sub = parser.add_subparsers(
            dest="subcommand", metavar="COMMAND", required=True, parser_class=OneLineErrorParser
        )
        for name, (help_text, add_args) in self.subcommands.items():
            subparser = sub.add_parser(name, help=help_text, description=help_text)
            add_args(subparser)

    def handle(self, *args: Any, **options: Any) -> None:
        name = options.pop("subcommand")
        method = getattr(self, "handle_" + name.replace("-", "_"))
        try:
            method(**options)
        except ServiceError as exc:
            raise CommandError(str(exc)) from None

    def out(self, rows: Iterable[dict[str, Any]], *, output: str, columns: Sequence[str] | None = None) -> None:
        render(self.stdout, list(rows), output=output, columns=columns)


def read_json_file(file: str, *, what: str) -> Any:
    """The JSON value in ``file`` (``-``: standard input) for an ``import`` subcommand; a missing
    file or bad JSON is one CommandError line naming ``what``."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text()
    except OSError as exc:
        raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(f"Invalid {what} file {file}: {exc}") from None


def write_json_file(stdout: Any, file: str, data: Any, *, private: bool = False) -> bool:
    """Write ``data`` as indented JSON to ``file`` (``-``: ``stdout``) for an ``export``
    subcommand; ``private`` makes the file mode 0600 (it holds secrets). Returns whether a file
    was written (the caller then says so)."""
    return write_text_file(stdout, file, json.dumps(data, indent=4, sort_keys=True) + "\n", private=private)


def write_text_file(stdout: Any, file: str, text: str, *, private: bool = False) -> bool:
    """``write_json_file`` for text already formatted (YAML, .env lines)."""
    if file == "-":
        stdout.write(text, ending="")
        return False
    try:
        path = Path(file)
        path.write_text(text)
        if private:
            path.chmod(0o600)
    except OSError as exc:
        raise CommandError(f"Cannot write {file}: {exc.strerror}") from None
    return True

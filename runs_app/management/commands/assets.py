"""``python manage.py assets list|details|events``: Airflow 3's ``airflow assets``.

``list`` and ``details`` take Airflow's options (``--alias``, ``--columns``, ``--name``,
``--uri``); ``events`` is this project's addition: an asset's events, newest first. Airflow's
``materialize`` is not offered. The DAG folder is synced first, as ``dags list`` does, so the
assets a new DAG file names are listed without a scheduler.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from dags_app.models import AssetAliasModel, AssetModel
from dags_app.services import dag_folder_sync
from runs_app import selectors
from runs_app.cli import SubcommandCommand, add_output_argument

LIST_COLUMNS = ["name", "uri", "group", "extra"]
# Every field of ``_asset_data`` (Airflow's AssetResponse, plus event_count): what --columns may name.
ASSET_COLUMNS = [
    "id",
    "name",
    "uri",
    "group",
    "extra",
    "created_at",
    "updated_at",
    "scheduled_dags",
    "producing_tasks",
    "consuming_tasks",
    "aliases",
    "event_count",
    "last_asset_event",
]
ALIAS_COLUMNS = ["id", "name", "group"]
EVENT_COLUMNS = [
    "id",
    "timestamp",
    "source_dag_id",
    "source_task_id",
    "source_run_id",
    "source_map_index",
    "extra",
    "triggered_runs",
]
DEFAULT_EVENT_LIMIT = 100


def _columns(value: str) -> list[str]:
    return [c.strip() for c in value.split(",") if c.strip()]


def _alias_arg(parser: CommandParser) -> None:
    parser.add_argument("--alias", action="store_true", help="Show asset alias")


def _name_args(parser: CommandParser) -> None:
    parser.add_argument("--name", default="", help="Asset name")
    parser.add_argument("--uri", default="", help="Asset URI")


def _list_args(parser: CommandParser) -> None:
    _alias_arg(parser)
    add_output_argument(parser)
    parser.add_argument(
        "--columns",
        type=_columns,
        default=LIST_COLUMNS,
        help=f"List of columns to render, comma-separated. (default: {','.join(LIST_COLUMNS)})",
    )


def _details_args(parser: CommandParser) -> None:
    _alias_arg(parser)
    _name_args(parser)
    add_output_argument(parser)


def _events_args(parser: CommandParser) -> None:
    _name_args(parser)
    parser.add_argument(
        "--limit", type=int, default=DEFAULT_EVENT_LIMIT, help=f"Newest events to show (default: {DEFAULT_EVENT_LIMIT})"
    )
    add_output_argument(parser)


def _asset_data(row: selectors.AssetRow) -> dict[str, Any]:
    """An asset as Airflow's AssetResponse shows it (plus its event count)."""
    asset = row.asset
    return {
        "id": asset.pk,
        "name": asset.name,
        "uri": asset.uri,
        "group": asset.group,
        "extra": asset.extra,
        "created_at": asset.created_at,
        "updated_at": asset.updated_at,
        "scheduled_dags": [{"dag_id": d, **({"alias": a} if a else {})} for d, a in row.consumers],
        "producing_tasks": [{"dag_id": d, "task_id": t} for d, t in row.producers],
        "consuming_tasks": [{"dag_id": d, "task_id": t} for d, t in row.readers],
        "aliases": [{"id": a.pk, "name": a.name, "group": a.group} for a in asset.aliases.all()],
        "event_count": asset.event_count,
        "last_asset_event": {"timestamp": asset.last_event_at} if asset.last_event_at else None,
    }


def _isoformat(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _as_text(rows: list[dict[str, Any]], output: str) -> list[dict[str, Any]]:
    """For table and plain output, write dicts and lists as JSON (a table cell is one line of text)."""
    if output in ("json", "yaml"):
        return rows

    def cell(value: Any) -> Any:
        if isinstance(value, dict | list):
            return json.dumps(value, sort_keys=True, default=_isoformat, ensure_ascii=False)
        return value

    return [{key: cell(value) for key, value in row.items()} for row in rows]


class Command(SubcommandCommand):
    help = "Manage assets: list, details, events."

    subcommands = {
        "list": ("List assets", _list_args),
        "details": ("Show asset details", _details_args),
        "events": ("List an asset's events, newest first", _events_args),
    }

    def _sync(self) -> None:
        """Bring the metastore up to date with the DAG folder: assets come from the parse."""
        dag_folder_sync(now=timezone.now())

    def _asset(self, *, name: str, uri: str) -> AssetModel:
        """The one asset named ``name`` and/or with URI ``uri``; CommandError when none or several."""
        if not name and not uri:
            raise CommandError("Either --name or --uri is required")
        which = " and ".join(part for part in (name and f"name {name}", uri and f"URI {uri}") if part)
        found = selectors.asset_find(name=name, uri=uri)
        if not found:
            raise CommandError(f"Asset with {which} does not exist.")
        if len(found) > 1:
            raise CommandError(f"More than one asset exists with {which}.")
        return found[0]

    def handle_list(self, *, alias: bool, output: str, columns: list[str], **_: Any) -> None:
        unknown = [c for c in columns if c not in ASSET_COLUMNS]
        if unknown:
            raise CommandError(f"Unknown columns: {', '.join(unknown)} (choose from {', '.join(ASSET_COLUMNS)})")
        self._sync()
        if alias:
            rows = [{"id": a.pk, "name": a.name, "group": a.group} for a in AssetAliasModel.objects.order_by("name")]
            # As Airflow, an alias shows the asked columns it has (name and group by default).
            wanted = [c for c in columns if c in ALIAS_COLUMNS]
        else:
            rows = [
                _asset_data(r)
                for r in selectors.asset_rows(list(selectors.assets_with_stats().prefetch_related("aliases")))
            ]
            wanted = columns
        self.out(_as_text([{c: r[c] for c in wanted} for r in rows], output), output=output, columns=wanted)

    def handle_details(self, *, alias: bool, name: str, uri: str, output: str, **_: Any) -> None:
        self._sync()
        if alias:
            if not name:
                raise CommandError("Required --name with --alias")
            if uri:
                raise CommandError("Cannot use --uri with --alias")
            found = AssetAliasModel.objects.filter(name=name).first()
            if found is None:
                raise CommandError(f"Asset alias with name {name} does not exist.")
            data = {"id": found.pk, "name": found.name, "group": found.group}
            data["assets"] = [{"name": a.name, "uri": a.uri} for a in found.assets.order_by("name")]
        else:
            asset = self._asset(name=name, uri=uri)
            data = _asset_data(selectors.asset_rows([asset])[0])
        if output in ("table", "plain"):
            rows = [{"property_name": key, "property_value": value} for key, value in data.items()]
            self.out(_as_text(rows, output), output=output, columns=["property_name", "property_value"])
        else:
            self.out([data], output=output)

    def handle_events(self, *, name: str, uri: str, limit: int, output: str, **_: Any) -> None:
        if limit < 1:
            raise CommandError(f"--limit must be at least 1, got {limit}")
        self._sync()
        asset = self._asset(name=name, uri=uri)
        rows = [
            {
                "id": event.pk,
                "timestamp": event.timestamp,
                "source_dag_id": event.source_dag_id or None,
                "source_task_id": event.source_task_id or None,
                "source_run_id": event.source_run_id or None,
                "source_map_index": event.source_map_index,
                "extra": event.extra,
                "triggered_runs": [{"dag_id": r.dag.dag_id, "run_id": r.run_id} for r in event.created_dagruns.all()],
            }
            for event in selectors.asset_events(asset)[:limit]
        ]
        if output in ("table", "plain"):
            for row in rows:
                row["triggered_runs"] = ", ".join(f"{r['dag_id']}/{r['run_id']}" for r in row["triggered_runs"])
        self.out(_as_text(rows, output), output=output, columns=EVENT_COLUMNS)

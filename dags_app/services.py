"""Services over definitions: keep the metastore in step with the DAG folder.

``dag_folder_sync`` is the only writer of ``DagModel``'s definition fields, ``DagTag``,
``DagImportError`` and ``DagFile``. The scheduler calls it every parse interval, and the CLI
before it reads DAGs, so ``dags list`` is right even when no scheduler runs.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Max

from dags_app.dagbag import DagFileProcessorPool, FileResult, file_hash, list_dag_files
from dags_app.models import (
    AssetAliasModel,
    AssetModel,
    DagAssetReference,
    DagFile,
    DagImportError,
    DagModel,
    DagTag,
    DagVersion,
)
from dags_app.sdk.assets import condition_names
from dags_app.timetables import DataInterval, TimeRestriction, timetable_from_dict

log = logging.getLogger(__name__)

# DAG fields that decide when runs are due; a change to any of them recomputes the next run.
_SCHEDULE_KEYS = ("timetable", "start_date", "end_date", "catchup")


@dataclass(frozen=True)
class SyncReport:
    """Counts of one sync of the DAG folder."""

    files: int = 0
    parsed: int = 0
    skipped: int = 0
    removed_files: int = 0
    dags_added: int = 0
    dags_updated: int = 0
    dags_deactivated: int = 0
    import_errors: int = 0
    duration: float = 0.0


def _parse_datetime(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def compute_next_dagrun(
    serialized: dict[str, Any], *, last_automated_data_interval: DataInterval | None, now: dt.datetime
) -> dict[str, dt.datetime | None]:
    """Return the ``next_dagrun*`` field values for a serialized DAG after the given interval."""
    timetable = timetable_from_dict(serialized["timetable"])
    restriction = TimeRestriction(
        earliest=_parse_datetime(serialized.get("start_date")),
        latest=_parse_datetime(serialized.get("end_date")),
        catchup=bool(serialized.get("catchup", True)),
    )
    info = timetable.next_dagrun_info(
        last_automated_data_interval=last_automated_data_interval, restriction=restriction, now=now
    )
    if info is None:
        return {
            "next_dagrun": None,
            "next_dagrun_data_interval_start": None,
            "next_dagrun_data_interval_end": None,
            "next_dagrun_create_after": None,
        }
    return {
        "next_dagrun": info.logical_date,
        "next_dagrun_data_interval_start": info.data_interval.start,
        "next_dagrun_data_interval_end": info.data_interval.end,
        "next_dagrun_create_after": info.run_after,
    }


def _schedule_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return any(old.get(key) != new.get(key) for key in _SCHEDULE_KEYS)


def _apply_dag(
    data: dict[str, Any],
    existing: DagModel | None,
    *,
    now: dt.datetime,
    source_hash: str,
    source: Callable[[], str] = lambda: "",
) -> tuple[DagModel, bool]:
    """Create or update the DagModel for one serialized DAG; return it and whether it is new."""
    previous = existing.serialized if existing is not None else {}
    dag, created = _apply_dag_fields(data, existing, now=now, source_hash=source_hash)
    _sync_asset_references(dag, data, previous)
    _record_version(dag, data, previous, now=now, source_hash=source_hash, source=source)
    return dag, created


def serialized_hash(data: dict[str, Any]) -> str:
    """The sha256 of a serialized DAG (keys sorted): equal forms, equal hashes."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _record_version(
    dag: DagModel,
    data: dict[str, Any],
    previous: dict[str, Any],
    *,
    now: dt.datetime,
    source_hash: str,
    source: Callable[[], str],
) -> None:
    """A new version of ``dag`` when its serialized form changed (or it has none yet)."""
    digest = serialized_hash(data)
    if dag.latest_version_id is not None and serialized_hash(previous) == digest:
        return
    number = (DagVersion.objects.filter(dag=dag).aggregate(n=Max("version_number"))["n"] or 0) + 1
    version = DagVersion.objects.create(
        dag=dag,
        version_number=number,
        serialized=data,
        serialized_hash=digest,
        source_hash=source_hash,
        fileloc=data["fileloc"],
        source=source(),
        created_at=now,
    )
    DagModel.objects.filter(pk=dag.pk).update(latest_version=version)
    dag.latest_version = version


def _apply_dag_fields(
    data: dict[str, Any], existing: DagModel | None, *, now: dt.datetime, source_hash: str
) -> tuple[DagModel, bool]:
    fields: dict[str, Any] = {
        "fileloc": data["fileloc"],
        "owners": data["owner"],
        "dag_display_name": data.get("dag_display_name") or "",
        "owner_links": data.get("owner_links") or {},
        "description": data.get("description") or "",
        "schedule": data["schedule"],
        "timetable_summary": data["timetable_summary"],
        "timetable_description": data["timetable_description"],
        "is_active": True,
        "max_active_runs": data["max_active_runs"],
        "max_active_tasks": data["max_active_tasks"],
        "serialized": data,
        "access_control": data.get("access_control"),
        "source_hash": source_hash,
        "last_parsed_time": now,
    }
    if existing is None:
        paused = data.get("is_paused_upon_creation")
        if paused is None:
            paused = settings.ORCHESTRATOR["DAGS_ARE_PAUSED_AT_CREATION"]
        schedule = compute_next_dagrun(data, last_automated_data_interval=None, now=now)
        try:
            with transaction.atomic():
                dag = DagModel.objects.create(dag_id=data["dag_id"], is_paused=paused, **fields, **schedule)
            return dag, True
        except IntegrityError:
            # Another parser (a second scheduler, `dags reserialize`) created it meanwhile: that row
            # is updated like any known one; its pause state and next run are left as they are.
            existing = DagModel.objects.get(dag_id=data["dag_id"])
    if not existing.is_active or _schedule_changed(existing.serialized, data):
        last = None
        if existing.next_dagrun_data_interval_start is not None:
            # Runs up to the pending one have been made: continue from there under the new schedule.
            start = existing.next_dagrun_data_interval_start
            last = DataInterval(start=start, end=start)
        fields.update(compute_next_dagrun(data, last_automated_data_interval=last, now=now))
    # Only the parsed fields are written: a whole-row save would revert what another process
    # changed meanwhile (a user's pause or unpause, the scheduler's next run).
    DagModel.objects.filter(pk=existing.pk).update(**fields)
    for name, value in fields.items():
        setattr(existing, name, value)
    return existing, False


def _asset_references(data: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, task_id, asset or alias ref) for each use of an asset a serialized DAG makes."""
    refs: list[tuple[str, str, dict[str, Any]]] = [
        (DagAssetReference.Kind.SCHEDULE, "", ref) for ref in data.get("schedule_assets") or []
    ]
    refs += [
        (DagAssetReference.Kind.SCHEDULE, "", {"alias": name})
        for name in sorted(condition_names(data.get("asset_condition"))[1])
    ]
    for task in data.get("tasks", []):
        for kind, key in ((DagAssetReference.Kind.OUTLET, "outlets"), (DagAssetReference.Kind.INLET, "inlets")):
            refs += [(kind, task["task_id"], ref) for ref in task.get(key) or []]
    return refs


def assets_ensure(refs: list[dict[str, Any]]) -> dict[str, AssetModel]:
    """The AssetModel rows for asset refs ({name, uri, group, extra}), created when new; by name."""
    wanted = {ref["name"]: ref for ref in refs}
    rows = {a.name: a for a in AssetModel.objects.filter(name__in=list(wanted))}
    missing = [name for name in wanted if name not in rows]
    if missing:
        AssetModel.objects.bulk_create(
            [
                AssetModel(
                    name=name,
                    uri=wanted[name].get("uri") or name,
                    group=wanted[name].get("group") or "asset",
                    extra=wanted[name].get("extra") or {},
                )
                for name in missing
            ],
            ignore_conflicts=True,  # another parser or worker may create the same asset meanwhile
        )
        rows.update({a.name: a for a in AssetModel.objects.filter(name__in=missing)})
    return rows


def asset_aliases_ensure(names: set[str]) -> dict[str, AssetAliasModel]:
    """The AssetAliasModel rows named ``names``, created when new."""
    rows = {a.name: a for a in AssetAliasModel.objects.filter(name__in=list(names))}
    missing = names - set(rows)
    if missing:
        AssetAliasModel.objects.bulk_create([AssetAliasModel(name=n) for n in sorted(missing)], ignore_conflicts=True)
        rows.update({a.name: a for a in AssetAliasModel.objects.filter(name__in=list(missing))})
    return rows


def _sync_asset_references(dag: DagModel, data: dict[str, Any], previous: dict[str, Any]) -> None:
    """Rewrite the DAG's asset references when its parse names assets (or named some before).

    A DAG that never names an asset costs no query here.
    """
    refs = _asset_references(data)
    if not refs and not _asset_references(previous):
        return
    asset_refs = [ref for _, _, ref in refs if "alias" not in ref]
    for ref in (r for r in asset_refs if not r.get("by_name")):
        # A definition the DAG file changed (its URI or extra) is stored as the file says now.
        defined = {"uri": ref["uri"], "group": ref.get("group") or "asset", "extra": ref.get("extra") or {}}
        AssetModel.objects.filter(name=ref["name"]).exclude(**defined).update(**defined)
    assets = assets_ensure(asset_refs)
    aliases = asset_aliases_ensure({ref["alias"] for _, _, ref in refs if "alias" in ref})
    DagAssetReference.objects.filter(dag=dag).delete()
    rows = {
        (kind, task_id, ref.get("alias"), ref.get("name")): DagAssetReference(
            dag=dag,
            kind=kind,
            task_id=task_id,
            asset=assets[ref["name"]] if "alias" not in ref else None,
            alias=aliases[ref["alias"]] if "alias" in ref else None,
        )
        for kind, task_id, ref in refs
    }
    DagAssetReference.objects.bulk_create(list(rows.values()))


@dataclass
class _Index:
    """What the sync knows of the rows its batch touches, loaded once instead of per file."""

    dags: dict[str, DagModel]
    by_file: dict[str, set[str]]
    tags: dict[int, set[str]]
    errors: set[str]
    files: dict[str, DagFile]
    batch: set[str]

    @classmethod
    def load(cls, results: list[FileResult], files: dict[str, DagFile]) -> _Index:
        paths = [r.path for r in results]
        ids = [d["dag_id"] for r in results for d in r.dags]
        dags: dict[str, DagModel] = {}
        for chunk in _chunks(paths):
            dags.update({d.dag_id: d for d in DagModel.objects.filter(fileloc__in=chunk)})
        for chunk in _chunks(ids):
            dags.update({d.dag_id: d for d in DagModel.objects.filter(dag_id__in=chunk)})
        by_file: dict[str, set[str]] = {}
        for dag in dags.values():
            by_file.setdefault(dag.fileloc, set()).add(dag.dag_id)
        tags: dict[int, set[str]] = {}
        for chunk in _chunks([d.pk for d in dags.values()]):
            for dag_pk, name in DagTag.objects.filter(dag_id__in=chunk).values_list("dag_id", "name"):
                tags.setdefault(dag_pk, set()).add(name)
        errors: set[str] = set()
        for chunk in _chunks(paths):
            errors.update(DagImportError.objects.filter(filename__in=chunk).values_list("filename", flat=True))
        return cls(dags=dags, by_file=by_file, tags=tags, errors=errors, files=files, batch=set(paths))


def _chunks(values: list, size: int = 500) -> list[list]:
    """Split ``values`` so no query carries more parameters than every database accepts."""
    return [values[i : i + size] for i in range(0, len(values), size)]


def _sync_tags(dag: DagModel, tags: list[str], index: _Index) -> None:
    current = index.tags.get(dag.pk, set())
    wanted = set(tags)
    if current == wanted:
        return
    if current - wanted:
        dag.tags.filter(name__in=current - wanted).delete()
    # ignore_conflicts: another parser may have added the same tags meanwhile.
    DagTag.objects.bulk_create([DagTag(dag=dag, name=name) for name in sorted(wanted - current)], ignore_conflicts=True)
    index.tags[dag.pk] = wanted


def _read_text(path: str) -> str:
    """The file's text for its DAGs' new version ("" if it cannot be read now)."""
    try:
        return Path(path).read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _record_error(path: str, message: str, stacktrace: str, now: dt.datetime) -> None:
    DagImportError.objects.update_or_create(
        filename=path, defaults={"message": message, "stacktrace": stacktrace, "timestamp": now}
    )


def _batch_owners(results: list[FileResult]) -> dict[str, str]:
    """Return, for each dag_id the parsed files define, the file that keeps it (``results`` in path order).

    The file that holds the DAG now keeps it if it still defines it; otherwise the first path
    does, so a DAG moved from one file to another in a single edit moves with it.
    """
    ids = {d["dag_id"] for r in results if r.error is None for d in r.dags}
    holders = dict(DagModel.objects.filter(dag_id__in=ids, is_active=True).values_list("dag_id", "fileloc"))
    owners: dict[str, str] = {}
    for result in results:
        if result.error is not None:
            continue
        for data in result.dags:
            dag_id = data["dag_id"]
            if dag_id not in owners or holders.get(dag_id) == result.path:
                owners[dag_id] = result.path
    return owners


def _store_result(
    result: FileResult,
    *,
    stat: tuple[float, int],
    source_hash: str,
    now: dt.datetime,
    counts: dict[str, int],
    owners: dict[str, str],
    index: _Index,
) -> None:
    """Write one file's parse result: its DAGs, its import error, its bookkeeping row.

    ``owners`` says who keeps each dag_id of the batch; a dag_id also held by an active DAG of a
    file not re-parsed now stays with that file.
    """
    previous = index.by_file.get(result.path, set())
    error, stacktrace = result.error, result.traceback
    dags = result.dags
    if error is None:
        ids = [d["dag_id"] for d in dags]
        clash = next(((i, owners[i]) for i in ids if owners.get(i, result.path) != result.path), None)
        if clash is None:
            clash = next(
                (
                    (i, index.dags[i].fileloc)
                    for i in ids
                    if i in index.dags
                    and index.dags[i].is_active
                    and index.dags[i].fileloc != result.path
                    and index.dags[i].fileloc not in index.batch
                ),
                None,
            )
        if clash is not None:
            error = (
                f"AirflowDagDuplicatedIdException: Ignoring DAG {clash[0]} from {result.path} - "
                f"also found in {clash[1]}"
            )
            stacktrace, dags = "", []
    if error is not None:
        _record_error(result.path, error, stacktrace, now)
        index.errors.add(result.path)
        counts["import_errors"] += 1
        kept: set[str] = set()
    else:
        if result.path in index.errors:
            DagImportError.objects.filter(filename=result.path).delete()
            index.errors.discard(result.path)
        source = functools.cache(lambda: _read_text(result.path))
        for data in dags:
            dag, created = _apply_dag(
                data, index.dags.get(data["dag_id"]), now=now, source_hash=source_hash, source=source
            )
            if dag.dag_id in index.dags and index.dags[dag.dag_id].fileloc != result.path:
                index.by_file.get(index.dags[dag.dag_id].fileloc, set()).discard(dag.dag_id)
            index.dags[dag.dag_id] = dag
            _sync_tags(dag, data.get("tags", []), index)
            counts["dags_added" if created else "dags_updated"] += 1
        kept = {d["dag_id"] for d in dags}
    gone = [
        dag_id
        for dag_id in previous
        if dag_id not in kept and index.dags[dag_id].is_active and index.dags[dag_id].fileloc == result.path
    ]
    if gone:
        counts["dags_deactivated"] += DagModel.objects.filter(dag_id__in=gone).update(is_active=False)
        for dag_id in gone:
            index.dags[dag_id].is_active = False
    index.by_file[result.path] = set(kept)
    fields = {
        "mtime": stat[0],
        "size": stat[1],
        "source_hash": source_hash,
        "last_parsed": now,
        "dag_ids": sorted(kept),
    }
    row = index.files.get(result.path)
    if row is not None and DagFile.objects.filter(pk=row.pk).update(**fields):
        return
    index.files[result.path] = DagFile.objects.update_or_create(path=result.path, defaults=fields)[0]


def dag_folder_sync(*, now: dt.datetime, folder: Path | None = None, force: bool = False) -> SyncReport:
    """Re-import the DAG files that changed since the last sync and store their DAGs.

    1. List the ``.py`` files of the folder; a file whose modification time and size match its
       ``DagFile`` row is skipped without reading it; one whose content hash matches is skipped
       after reading it (only its ``mtime`` is updated). ``force`` re-imports every file.
    2. Files gone from disk: forget their rows and import errors, deactivate their DAGs.
    3. Import the changed files in child processes with the parse timeout (``dagbag.py``).
    4. Per file, in a transaction: store its DAGs (new DAGs start paused unless configured
       otherwise), or its import error; DAGs the file no longer defines become inactive.

    Returns a SyncReport of counts.
    """
    started = time.monotonic()
    folder = Path(folder or settings.DAGS_FOLDER).resolve()
    paths = list_dag_files(folder)
    known = {f.path: f for f in DagFile.objects.all()}
    counts = dict.fromkeys(("dags_added", "dags_updated", "dags_deactivated", "import_errors"), 0)
    to_parse: dict[str, tuple[tuple[float, int], str]] = {}
    skipped = 0
    for path in paths:
        key = str(path)
        try:
            stat = path.stat()
            stat_key = (stat.st_mtime, stat.st_size)
            row = known.get(key)
            if not force and row is not None and (row.mtime, row.size) == stat_key:
                skipped += 1
                continue
            digest = file_hash(path)
        except OSError:
            continue  # removed while listing; handled as gone on the next sync
        if not force and row is not None and row.source_hash == digest:
            DagFile.objects.filter(pk=row.pk).update(mtime=stat_key[0], size=stat_key[1])
            skipped += 1
            continue
        to_parse[key] = (stat_key, digest)

    on_disk = {str(p) for p in paths}
    gone_files = [path for path in known if path not in on_disk]
    # Files that vanished: DAGs still pointing at them are inactive. Done before storing the new
    # parse results, so a DAG whose file was renamed or moved is not a duplicate of itself.
    with transaction.atomic():
        if gone_files:
            DagFile.objects.filter(path__in=gone_files).delete()
        stale_errors = DagImportError.objects.exclude(filename__in=on_disk)
        stale_errors.delete()
        counts["dags_deactivated"] += (
            DagModel.objects.filter(is_active=True).exclude(fileloc__in=on_disk).update(is_active=False)
        )

    if to_parse:
        options = settings.ORCHESTRATOR
        with DagFileProcessorPool(processes=options["PARSE_PROCESSES"], timeout=options["PARSE_TIMEOUT"]) as pool:
            # The pool yields in completion order; store in path order, so that when two files
            # define the same dag_id the first path keeps it, whichever child finished first.
            results = sorted(pool.parse(sorted(to_parse)), key=lambda r: r.path)
        owners = _batch_owners(results)
        index = _Index.load(results, known)
        # A transaction per file keeps each file's rows consistent; a failure in one file's
        # write leaves the others stored.
        for result in results:
            stat_key, digest = to_parse[result.path]
            with transaction.atomic():
                _store_result(
                    result, stat=stat_key, source_hash=digest, now=now, counts=counts, owners=owners, index=index
                )
            if result.error:
                log.warning("parse: %s: %s", result.path, result.error)

    return SyncReport(
        files=len(paths),
        parsed=len(to_parse),
        skipped=skipped,
        removed_files=len(gone_files),
        duration=time.monotonic() - started,
        **counts,
    )


_FILE_TOKEN_SALT = "dags_app.file_token"


def dag_file_token(fileloc: str) -> str:
    """An opaque, signed name of a DAG file for URLs (Airflow's ``file_token``): the path is
    never taken from a request, only from a token this server signed."""
    return signing.dumps(fileloc, salt=_FILE_TOKEN_SALT, compress=False)


def dag_file_from_token(token: str) -> str | None:
    """The path a ``dag_file_token`` names; None for a token this server did not sign."""
    try:
        value = signing.loads(token, salt=_FILE_TOKEN_SALT)
    except signing.BadSignature:
        return None
    return value if isinstance(value, str) else None


def dag_file_request_parse(path: str) -> bool:
    """Have the next folder scan import ``path`` again even if it looks unchanged (Airflow's
    parse request); False when it is not a known DAG file."""
    return bool(DagFile.objects.filter(path=path).update(mtime=-1.0, size=-1, source_hash=""))

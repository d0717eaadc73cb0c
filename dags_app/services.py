"""Services over definitions: keep the metastore in step with the DAG folder.

``dag_folder_sync`` is the only writer of ``DagModel``'s definition fields, ``DagTag``,
``DagImportError`` and ``DagFile``. The scheduler calls it every parse interval, and the CLI
before it reads DAGs, so ``dags list`` is right even when no scheduler runs.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from dags_app.dagbag import DagFileProcessorPool, FileResult, file_hash, list_dag_files
from dags_app.models import DagFile, DagImportError, DagModel, DagTag
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
    data: dict[str, Any], existing: DagModel | None, *, now: dt.datetime, source_hash: str
) -> tuple[DagModel, bool]:
    """Create or update the DagModel for one serialized DAG; return it and whether it is new."""
    fields: dict[str, Any] = {
        "fileloc": data["fileloc"],
        "owners": data["owner"],
        "description": data.get("description") or "",
        "schedule": data["schedule"],
        "timetable_summary": data["timetable_summary"],
        "timetable_description": data["timetable_description"],
        "is_active": True,
        "max_active_runs": data["max_active_runs"],
        "max_active_tasks": data["max_active_tasks"],
        "serialized": data,
        "source_hash": source_hash,
        "last_parsed_time": now,
    }
    if existing is None:
        paused = data.get("is_paused_upon_creation")
        if paused is None:
            paused = settings.ORCHESTRATOR["DAGS_ARE_PAUSED_AT_CREATION"]
        fields.update(compute_next_dagrun(data, last_automated_data_interval=None, now=now))
        dag = DagModel.objects.create(dag_id=data["dag_id"], is_paused=paused, **fields)
        return dag, True
    if not existing.is_active or _schedule_changed(existing.serialized, data):
        last = None
        if existing.next_dagrun_data_interval_start is not None:
            # Runs up to the pending one have been made: continue from there under the new schedule.
            start = existing.next_dagrun_data_interval_start
            last = DataInterval(start=start, end=start)
        fields.update(compute_next_dagrun(data, last_automated_data_interval=last, now=now))
    for name, value in fields.items():
        setattr(existing, name, value)
    existing.save()
    return existing, False


def _sync_tags(dag: DagModel, tags: list[str]) -> None:
    current = set(dag.tags.values_list("name", flat=True))
    wanted = set(tags)
    if current == wanted:
        return
    dag.tags.filter(name__in=current - wanted).delete()
    DagTag.objects.bulk_create([DagTag(dag=dag, name=name) for name in sorted(wanted - current)])


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
    batch: set[str],
) -> None:
    """Write one file's parse result: its DAGs, its import error, its bookkeeping row.

    ``batch`` is every file parsed in this sync and ``owners`` who keeps each of their dag_ids;
    a dag_id also held by a file not re-parsed now stays with that file.
    """
    previous = {d.dag_id: d for d in DagModel.objects.filter(fileloc=result.path)}
    error, stacktrace = result.error, result.traceback
    dags = result.dags
    if error is None:
        ids = [d["dag_id"] for d in dags]
        clash = next(((i, owners[i]) for i in ids if owners.get(i, result.path) != result.path), None)
        if clash is None:
            row = DagModel.objects.filter(dag_id__in=ids, is_active=True).exclude(fileloc__in=batch).first()
            clash = (row.dag_id, row.fileloc) if row is not None else None
        if clash is not None:
            error = (
                f"AirflowDagDuplicatedIdException: Ignoring DAG {clash[0]} from {result.path} - "
                f"also found in {clash[1]}"
            )
            stacktrace, dags = "", []
    if error is not None:
        _record_error(result.path, error, stacktrace, now)
        counts["import_errors"] += 1
        kept: set[str] = set()
    else:
        DagImportError.objects.filter(filename=result.path).delete()
        existing_by_id = {d.dag_id: d for d in DagModel.objects.filter(dag_id__in=[d["dag_id"] for d in dags])}
        for data in dags:
            dag, created = _apply_dag(data, existing_by_id.get(data["dag_id"]), now=now, source_hash=source_hash)
            _sync_tags(dag, data.get("tags", []))
            counts["dags_added" if created else "dags_updated"] += 1
        kept = {d["dag_id"] for d in dags}
    gone = [dag_id for dag_id, dag in previous.items() if dag_id not in kept and dag.is_active]
    if gone:
        counts["dags_deactivated"] += DagModel.objects.filter(dag_id__in=gone).update(is_active=False)
    DagFile.objects.update_or_create(
        path=result.path,
        defaults={
            "mtime": stat[0],
            "size": stat[1],
            "source_hash": source_hash,
            "last_parsed": now,
            "dag_ids": sorted(kept),
        },
    )


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
        for result in results:
            stat_key, digest = to_parse[result.path]
            with transaction.atomic():
                _store_result(
                    result,
                    stat=stat_key,
                    source_hash=digest,
                    now=now,
                    counts=counts,
                    owners=owners,
                    batch=set(to_parse),
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

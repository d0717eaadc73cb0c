"""The scheduler step: ``tick(now=...)`` does one pass; the ``scheduler`` command loops over it.

Phases, in order:

1. reparse the DAG files that changed (in child processes, with a timeout) when ``reparse``;

Each phase is a function taking ``now`` and returning counts; no phase reads the clock or sleeps,
so tests drive the scheduler with a chosen ``now``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from dataclasses import dataclass

from django.db import transaction

from dags_app.services import SyncReport, dag_folder_sync
from runs_app.models import Job
from runs_app.states import JobType

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TickReport:
    """Counts of what one tick did."""

    parsed_files: int = 0
    import_errors: int = 0

    @property
    def did_work(self) -> bool:
        return any(getattr(self, name) for name in self.__dataclass_fields__)


def _phase_reparse(*, now: dt.datetime) -> SyncReport:
    return dag_folder_sync(now=now)


def tick(*, now: dt.datetime, reparse: bool = True) -> TickReport:
    """Run one scheduler pass at ``now`` and return what it did."""
    sync = _phase_reparse(now=now) if reparse else SyncReport()
    return TickReport(parsed_files=sync.parsed, import_errors=sync.import_errors)


def job_start(*, job_type: JobType, now: dt.datetime) -> Job:
    """Record a running scheduler or worker process."""
    return Job.objects.create(
        job_type=job_type, hostname=socket.gethostname(), pid=os.getpid(), start_date=now, latest_heartbeat=now
    )


def job_heartbeat(*, job: Job, now: dt.datetime) -> None:
    Job.objects.filter(pk=job.pk).update(latest_heartbeat=now)
    job.latest_heartbeat = now


def job_end(*, job: Job, now: dt.datetime) -> None:
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).update(latest_heartbeat=now, end_date=now)

"""``python manage.py scheduler``: the loop around ``runs_app.scheduler.tick``.

The loop only keeps time: it records its heartbeat, calls ``tick`` (reparsing the DAG folder
every parse interval), logs the report, and sleeps only when a tick found nothing to do.
SIGINT/SIGTERM set a flag; the loop finishes its tick and exits.

A database outage (SQLite locked, PostgreSQL restarting) never ends the process: each failed
tick logs one line, the connection is dropped, and the loop tries again after ``--interval``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, close_old_connections, connections
from django.utils import timezone

from runs_app import scheduler, services
from runs_app.states import JobType

log = logging.getLogger("runs_app.scheduler")


class Command(BaseCommand):
    help = "Start a scheduler: parse DAG files, create due runs, queue ready tasks, repair."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-n", "--num-runs", type=int, default=-1, help="Exit after this many ticks (-1: forever)")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds to sleep when a tick found nothing")

    def handle(self, *args: Any, num_runs: int, interval: float, **options: Any) -> None:
        stop = threading.Event()

        def _stop(signum: int, frame: Any) -> None:
            log.info("scheduler: received signal %s, stopping after this tick", signum)
            stop.set()

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        self.stdout.write(f"Starting the scheduler (pid {os.getpid()}, DAGs folder {settings.DAGS_FOLDER})")
        parse_interval = settings.ORCHESTRATOR["PARSE_INTERVAL"]
        last_parse = float("-inf")
        ticks = 0
        job = None
        down_since: float | None = None
        try:
            while not stop.is_set() and (num_runs < 0 or ticks < num_runs):
                now = timezone.now()
                reparse = time.monotonic() - last_parse >= parse_interval
                report = scheduler.TickReport()
                try:
                    if job is None:
                        job = services.job_start(job_type=JobType.SCHEDULER, now=now)
                    if reparse:
                        last_parse = time.monotonic()
                    report = scheduler.tick(now=now, reparse=reparse)
                    services.job_heartbeat(job=job, now=timezone.now())
                    if down_since is not None:
                        log.warning("scheduler: database is back after %.1f s", time.monotonic() - down_since)
                        down_since = None
                except DatabaseError as exc:
                    # One line per tick, no traceback: the outage is not a bug, and it may last.
                    if down_since is None:
                        down_since = time.monotonic()
                    log.error("scheduler: database unavailable, retrying in %g s: %s", interval, exc)
                    for conn in connections.all(initialized_only=True):
                        conn.close_if_unusable_or_obsolete()
                    close_old_connections()
                except Exception:
                    # One bad pass must not stop the scheduler; the next tick retries.
                    log.exception("scheduler: tick failed")
                ticks += 1
                if report.did_work:
                    log.info("scheduler: %s", report)
                elif num_runs < 0 or ticks < num_runs:
                    stop.wait(interval)
        finally:
            if job is not None:
                try:
                    services.job_end(job=job, now=timezone.now())
                except DatabaseError as exc:
                    log.error("scheduler: could not record its end: %s", exc)
            self.stdout.write("Scheduler stopped")

"""``python manage.py scheduler``: the loop around ``runs_app.scheduler.tick``.

The loop only keeps time: it records its heartbeat, calls ``tick`` (reparsing the DAG folder
every parse interval), logs the report, and sleeps only when a tick found nothing to do.
SIGINT/SIGTERM set a flag; the loop finishes its tick and exits.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from runs_app import scheduler
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
        job = scheduler.job_start(job_type=JobType.SCHEDULER, now=timezone.now())
        self.stdout.write(f"Starting the scheduler (pid {job.pid}, DAGs folder {settings.DAGS_FOLDER})")
        parse_interval = settings.ORCHESTRATOR["PARSE_INTERVAL"]
        last_parse = float("-inf")
        ticks = 0
        try:
            while not stop.is_set() and (num_runs < 0 or ticks < num_runs):
                now = timezone.now()
                reparse = time.monotonic() - last_parse >= parse_interval
                if reparse:
                    last_parse = time.monotonic()
                try:
                    report = scheduler.tick(now=now, reparse=reparse)
                except Exception:
                    # One bad pass must not stop the scheduler; the next tick retries.
                    log.exception("scheduler: tick failed")
                    report = scheduler.TickReport()
                scheduler.job_heartbeat(job=job, now=timezone.now())
                ticks += 1
                if report.did_work:
                    log.info("scheduler: %s", report)
                elif num_runs < 0 or ticks < num_runs:
                    stop.wait(interval)
        finally:
            scheduler.job_end(job=job, now=timezone.now())
            self.stdout.write("Scheduler stopped")

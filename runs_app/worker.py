"""The RQ worker and job classes our queues need, for ``manage.py rqworker`` and plain ``rq worker``.

- JSON serializer, always: RQ's default pickle would let anyone who can write to Redis run code,
  and ``manage.py rqworker`` uses pickle unless told otherwise.
- Only our jobs run (a try, a run's DAG callbacks, the task callbacks a repaired try owes): a
  job naming any other function, a callback or a webhook is refused before anything is
  imported (a forged job cannot run code or make the worker call out).
- No fork per job (``SimpleWorker``): the runner forks its own supervised child per task, with
  the DAG already imported in the worker, which saves most of RQ's per-job fork cost.
- The worker records a heartbeat row (``dags list-jobs``) while it lives.

Plain ``rq worker`` imports this module by name (``-w runs_app.worker.OrchestratorWorker``), so
it sets Django up itself.
"""

from __future__ import annotations

import os
import time
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")
django.setup()

from django.db import InterfaceError, OperationalError, close_old_connections  # noqa: E402
from django.utils import timezone  # noqa: E402
from rq.job import Job  # noqa: E402
from rq.serializers import JSONSerializer  # noqa: E402
from rq.worker import SimpleWorker  # noqa: E402

# Our jobs (runs_app.jobs.JOB_FUNCTIONS), named here so that nothing is imported to check one.
ALLOWED_FUNCTIONS = frozenset(
    {"runs_app.jobs.run_task_instance", "runs_app.jobs.run_dag_callbacks", "runs_app.jobs.run_task_callbacks"}
)


class ForbiddenJob(Exception):
    """A job that is not one of ours reached the worker."""


class OrchestratorJob(Job):
    """A job that can only call the task runner, with no callbacks and no webhooks."""

    @property
    def func(self) -> Any:
        name = self.func_name
        if name not in ALLOWED_FUNCTIONS or self.instance is not None:
            allowed = ", ".join(sorted(ALLOWED_FUNCTIONS))
            raise ForbiddenJob(f"Refusing job {self.id}: only {allowed} may run here, not {name!r}")
        from runs_app.jobs import JOB_FUNCTIONS

        return JOB_FUNCTIONS[name]

    @property
    def success_callback(self) -> None:
        return None

    @property
    def failure_callback(self) -> None:
        return None

    @property
    def stopped_callback(self) -> None:
        return None

    def send_webhooks(self, *args: Any, **kwargs: Any) -> None:
        return None


class OrchestratorWorker(SimpleWorker):
    """RQ's SimpleWorker with our job class, the JSON serializer and a heartbeat row."""

    job_class = OrchestratorJob
    heartbeat_every = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["serializer"] = JSONSerializer
        kwargs["job_class"] = OrchestratorJob
        super().__init__(*args, **kwargs)
        self._job_row = None
        self._last_beat = 0.0
        # A long task keeps RQ from heartbeating; the runner's own heartbeat keeps our row fresh.
        from runs_app import runner

        runner.heartbeat_hooks.append(self._record_heartbeat)

    @property
    def dequeue_timeout(self) -> int:
        """Wake up every few seconds while idle, so the heartbeat row stays fresh (RQ: ~7 min)."""
        return max(1, int(self.heartbeat_every))

    def heartbeat(self, *args: Any, **kwargs: Any) -> Any:
        result = super().heartbeat(*args, **kwargs)
        self._record_heartbeat()
        return result

    def _record_heartbeat(self) -> None:
        from runs_app.services import job_heartbeat, job_start
        from runs_app.states import JobType

        if time.monotonic() - self._last_beat < self.heartbeat_every:
            return
        self._last_beat = time.monotonic()
        try:
            if self._job_row is None:
                self._job_row = job_start(job_type=JobType.WORKER, now=timezone.now())
            else:
                job_heartbeat(job=self._job_row, now=timezone.now())
        except (OperationalError, InterfaceError) as exc:
            # The database is briefly unavailable (a PostgreSQL restart): one line, no
            # traceback, and the next beat retries on a fresh connection.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.log.warning("worker: could not record heartbeat (database unavailable: %s)", first)
            close_old_connections()
        except Exception:
            self.log.warning("worker: could not record heartbeat", exc_info=True)

    def teardown(self) -> None:
        from runs_app.services import job_end

        if self._job_row is not None:
            try:
                job_end(job=self._job_row, now=timezone.now())
            except Exception:
                self.log.warning("worker: could not record its end", exc_info=True)
        super().teardown()

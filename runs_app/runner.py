"""Execute one try of one task instance: claim it, run it in a supervised child, record, follow.

1. Claim: ``queued -> running`` for exactly this try (``tries.task_instance_claim``); if another
   process claimed it, or the try is no longer current, do nothing.
2. Fork a child in a process group of its own. The child imports the DAG file, renders the
   templated fields, runs ``execute(context)`` with stdout, stderr and logging going to this try's
   log file, pushes the return value to XCom, and reports its outcome through a pipe. DAG code
   never runs in the worker's own process: a DAG file that hangs, exits or crashes at import
   costs one failed try, never the worker.
3. The parent heartbeats while it waits; it kills the child's whole process group when the
   ``execution_timeout`` passes or when the row was changed by someone else (cleared, marked).
4. Record the final state (success, skipped, up_for_retry, failed) for this try only, apply the
   skips a branch or short-circuit asked for, then fast-follow: schedule the run's now-ready
   downstream tasks in the same transaction (``tries.task_instance_record_outcome``).

A crash of the child (segfault, ``os._exit``, OOM kill) is a failure of the try, not of the
worker. A crash of the worker itself leaves the row ``running`` without heartbeats; the
scheduler's zombie repair takes it from there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import json
import logging
import os
import resource
import select
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pendulum
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from django.db.models import F
from django.utils import timezone

from dags_app.dagbag import file_hash, load_dags
from dags_app.mail import send_mail
from dags_app.models import DagVersion
from dags_app.sdk.assets import InletEventsAccessors, Metadata, OutletEventAccessors, TriggeringAssetEvents
from dags_app.sdk.baseoperator import BaseOperator
from dags_app.sdk.connection import ConnectionAccessor
from dags_app.sdk.context import set_current_context
from dags_app.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
)
from dags_app.sdk.macros import macros
from dags_app.sdk.mappedoperator import check_pushed_for_mapping
from dags_app.sdk.param import resolve_params
from dags_app.sdk.secrets import masker, redact
from dags_app.sdk.templating import render_value
from dags_app.sdk.variable import template_variables
from dags_app.serialization import json_safe
from runs_app import transitions
from runs_app.assets import consumed_events
from runs_app.models import DagRun, TaskInstance, XCom
from runs_app.scheduling import OUTAGE_ERRORS, Executor, dag_run_schedule_locked
from runs_app.states import DagRunState, TaskInstanceState
from runs_app.tries import (
    CALLBACK_FOR_STATE,
    Outcome,
    alert_email_wanted,
    append_log,
    task_instance_claim,
    task_instance_record_outcome,
)

log = logging.getLogger(__name__)

LOG_FORMAT = "[%(asctime)s] {%(filename)s:%(lineno)d} %(levelname)s - %(message)s"
RETURN_VALUE = "return_value"

# -- loading tasks ---------------------------------------------------------------------------------


class TaskLoadError(Exception):
    """The task cannot be loaded from its DAG file."""


def load_task(*, fileloc: str, dag_id: str, task_id: str) -> BaseOperator:
    """Import the DAG file in this process and return the task object (call it in a child only).

    Raises TaskLoadError describing what is missing or what the import raised.
    """
    if not os.path.isfile(fileloc):
        raise TaskLoadError(f"DAG file {fileloc} cannot be read: it does not exist")
    try:
        dags = load_dags(fileloc)
    except TaskLoadError:
        raise
    except BaseException as exc:
        raise TaskLoadError(f"DAG file {fileloc} failed to import: {type(exc).__name__}: {exc}") from exc
    dag = dags.get(dag_id)
    if dag is None:
        raise TaskLoadError(f"DAG {dag_id} is not defined in {fileloc} any more")
    if not dag.has_task(task_id):
        raise TaskLoadError(f"Task {task_id} is not in DAG {dag_id} any more")
    return dag.get_task(task_id)


# -- the context a task sees -----------------------------------------------------------------------


@dataclass
class RunContext:
    """The ``dag_run`` of the template context: the run's fields, read-only for the task."""

    dag_id: str
    run_id: str
    run_type: str
    logical_date: Any
    data_interval_start: Any
    data_interval_end: Any
    conf: dict[str, Any]
    start_date: Any
    external_trigger: bool

    @property
    def execution_date(self) -> Any:
        return self.logical_date


def _pendulum(value: dt.datetime | None) -> Any:
    return pendulum.instance(value) if value is not None else None


class RuntimeTaskInstance:
    """The ``ti`` of the template context: the try being executed, with XCom access."""

    def __init__(
        self, *, ti: TaskInstance, run: DagRun, task: BaseOperator, test_mode: bool = False, state: str = "running"
    ) -> None:
        self._ti = ti
        self._run = run
        self.task = task
        self.task_id = ti.task_id
        self.dag_id = run.dag.dag_id
        self.run_id = run.run_id
        self.try_number = ti.try_number
        self.max_tries = ti.max_tries
        self.map_index = ti.map_index
        self.state = state  # a callback after the try sees the state just committed
        self.hostname = socket.gethostname()
        self.logical_date = _pendulum(run.logical_date)
        self.execution_date = self.logical_date
        self.start_date = _pendulum(ti.start_date)
        # A rescheduled sensor: when its first poke of this try started, and its poke number.
        self.first_poke_at = _pendulum(ti.first_poke_at or ti.start_date)
        self.poke_number = ti.reschedule_count + 1
        self.test_mode = test_mode
        self.skipped: set[str] = set()
        # XComs of this try: sent with the outcome and written by the supervisor in the
        # transaction that records the try's state (never lost to a database outage mid-write).
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any, execution_date: Any = None) -> None:
        """Store ``value`` under ``key`` for this task instance; raises TypeError for non-JSON values."""
        try:
            value = json.loads(json.dumps(value))
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"XCom value for key '{key}' of task '{self.task_id}' is not JSON serializable: {exc}"
            ) from None
        self.pushed[key] = value

    def xcom_pull(
        self,
        task_ids: str | list[str] | tuple[str, ...] | None = None,
        dag_id: str | None = None,
        key: str = RETURN_VALUE,
        include_prior_dates: bool = False,
        default: Any = None,
        map_indexes: int | list[int] | None = None,
        **_: Any,
    ) -> Any:
        """Return the XCom value(s) of ``task_ids`` in this run (a list for a list of ids)."""
        qs = XCom.objects.filter(dag_run=self._run, key=key) if self._run.pk else XCom.objects.none()
        if task_ids is None:
            if key in self.pushed:
                return self.pushed[key]
            row = qs.order_by("-timestamp").first()
            return row.value if row is not None else default
        ids = [task_ids] if isinstance(task_ids, str) else list(task_ids)
        rows = qs.filter(task_id__in=ids)
        if map_indexes is not None:
            indexes = [map_indexes] if isinstance(map_indexes, int) else list(map_indexes)
            rows = rows.filter(map_index__in=indexes)
        found: dict[str, Any] = {}
        for task_id, map_index, value in rows.order_by("task_id", "map_index").values_list(
            "task_id", "map_index", "value"
        ):
            if map_index < 0 or isinstance(map_indexes, int):
                found[task_id] = value
            else:
                # A mapped task: its instances' values, by map index (Airflow's lazy sequence).
                found.setdefault(task_id, []).append(value)
        if self.task_id in ids and key in self.pushed:
            found[self.task_id] = self.pushed[key]
        if isinstance(task_ids, str):
            return found.get(task_ids, default)
        return [found.get(tid, default) for tid in ids]

    def skip_tasks(self, task_ids: list[str]) -> None:
        """Ask for these tasks of the run to be skipped once this try ends successfully."""
        self.skipped.update(task_ids)

    def __repr__(self) -> str:
        return f"<TaskInstance: {self.dag_id}.{self.task_id} {self.run_id} [{self.state}]>"


def build_context(
    *, ti: TaskInstance, run: DagRun, task: BaseOperator, test_mode: bool = False, state: str = "running"
) -> dict[str, Any]:
    """Return the template and ``execute`` context, with Airflow's names."""
    logical = _pendulum(run.logical_date)
    runtime = RuntimeTaskInstance(ti=ti, run=run, task=task, test_mode=test_mode, state=state)
    dag = task.dag
    params = resolve_params({**dag.params, **task.params}, run.conf)
    dag_run = RunContext(
        dag_id=run.dag.dag_id,
        run_id=run.run_id,
        run_type=run.run_type,
        logical_date=logical,
        data_interval_start=_pendulum(run.data_interval_start),
        data_interval_end=_pendulum(run.data_interval_end),
        conf=dict(run.conf or {}),
        start_date=_pendulum(run.start_date),
        external_trigger=run.run_type == "manual",
    )
    triggering = TriggeringAssetEvents(consumed_events(run))
    return {
        "dag": dag,
        "task": task,
        "ti": runtime,
        "task_instance": runtime,
        "dag_run": dag_run,
        "run_id": run.run_id,
        "logical_date": logical,
        "execution_date": logical,
        "data_interval_start": dag_run.data_interval_start,
        "data_interval_end": dag_run.data_interval_end,
        "ds": logical.strftime("%Y-%m-%d"),
        "ds_nodash": logical.strftime("%Y%m%d"),
        "ts": logical.isoformat(),
        "ts_nodash": logical.strftime("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": logical.isoformat().replace("-", "").replace(":", ""),
        "params": params,
        "conf": dag_run.conf,
        "macros": macros,
        "var": template_variables(),
        "conn": ConnectionAccessor(),
        "test_mode": test_mode,
        "try_number": ti.try_number,
        "templates_dict": None,
        "task_instance_key_str": f"{run.dag.dag_id}__{task.task_id}__{logical.strftime('%Y%m%d')}",
        "inlets": list(task.inlets),
        "outlets": list(task.outlets),
        "outlet_events": OutletEventAccessors(),
        "inlet_events": InletEventsAccessors(task.inlets),
        "triggering_asset_events": triggering,
        "triggering_dataset_events": triggering,
    }


# -- the child that runs the task --------------------------------------------------------------


def _forget_inherited_connections() -> None:
    """Make Django open fresh database connections in a forked child.

    The parent's connection objects are kept referenced (never closed or collected here): closing
    them would end the parent's session on the server for a shared socket.
    """
    inherited = []
    for conn in connections.all(initialized_only=True):
        inherited.append(conn.connection)
        conn.connection = None
        conn.in_atomic_block = False
        conn.savepoint_ids = []
        conn.needs_rollback = False
        conn.run_on_commit = []
    _forget_inherited_connections.kept = inherited  # type: ignore[attr-defined]


class _MaskingPipe:
    """The task child's fds (1 and 2: its prints, its logging, the commands it runs) write into a
    pipe; a thread writes each line on to ``target`` with every secret known so far as ``***``.

    Secrets are known once the task fetched them (a Connection's password, a sensitive Variable,
    ``mask_secret``), in this same process, so a line printed after the fetch is masked. Lines
    are masked whole (a secret is never split across two writes of the thread).
    """

    LIMIT = 1 << 16

    def __init__(self, target_fd: int, fds: tuple[int, ...]) -> None:
        self.target, self.fds = target_fd, fds
        self.read_fd, write_fd = os.pipe()
        for fd in fds:
            os.dup2(write_fd, fd)
        os.close(write_fd)
        self.thread = threading.Thread(target=self._pump, name="log-masking", daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        pending = b""
        while chunk := os.read(self.read_fd, self.LIMIT):
            pending += chunk
            if b"\n" in pending:
                head, _, pending = pending.rpartition(b"\n")
                self._write(head + b"\n")
            if len(pending) >= self.LIMIT:
                self._write(pending)
                pending = b""
        if pending:
            self._write(pending)

    def _write(self, data: bytes) -> None:
        masked = masker().redact_text(data.decode("utf-8", "surrogateescape"))
        view = memoryview(masked.encode("utf-8", "surrogateescape"))
        while view:
            view = view[os.write(self.target, view) :]

    def close(self, timeout: float = 2.0) -> None:
        """Let the thread write what is left: the task's own fds go to /dev/null, so the pipe
        ends once the commands the task started (which hold it too) have ended, or ``timeout``."""
        null = os.open(os.devnull, os.O_WRONLY)
        for fd in self.fds:
            os.dup2(null, fd)
        os.close(null)
        self.thread.join(timeout)


_outputs: list[_MaskingPipe] = []


def _close_child_output() -> None:
    """Write the rest of the task's output (masked) before the child reports its outcome."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    while _outputs:
        _outputs.pop().close()


def _setup_child_output(log_path: Path | None) -> None:
    if log_path:
        # Both streams into the try's log file, through one pipe: their lines keep their order.
        target = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        _outputs.append(_MaskingPipe(target, (1, 2)))
    else:
        # dags test, tasks test: the terminal's stdout and stderr stay apart.
        _outputs.extend(_MaskingPipe(os.dup(fd), (fd,)) for fd in (1, 2))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    # Loggers configured by Django settings write to the old streams; route them to the root.
    for name in list(logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True


def _run_task(task: BaseOperator, context: dict[str, Any]) -> dict[str, Any]:
    """Execute ``task`` here and return the outcome as a JSON-able dict (never raises)."""
    ti: RuntimeTaskInstance = context["ti"]
    outcome: dict[str, Any] = {"state": TaskInstanceState.FAILED.value, "retry": True, "skip": [], "rendered": {}}
    try:
        with set_current_context(context):
            task.render_template_fields(context)
            outcome["rendered"] = {f: json_safe(getattr(task, f, None)) for f in task.template_fields}
            run_callbacks(task, context, "on_execute_callback")
            task.pre_execute(context)
            result = task.execute(context)
            if inspect.isgenerator(result):
                result = _drain_metadata(result, context["outlet_events"])
            task.post_execute(context, result)
            if task.do_xcom_push and result is not None:
                ti.xcom_push(key=RETURN_VALUE, value=result)
            for key, value in ti.pushed.items():
                check_pushed_for_mapping(task, key, value, map_index=ti.map_index)
            if task.map_index_template and ti.map_index >= 0:
                outcome["rendered_map_index"] = str(
                    render_value(task.map_index_template, context, task.dag.get_template_env())
                )
        outcome["asset_events"] = json_safe(context["outlet_events"].events(task.outlets))
        outcome.update(state=TaskInstanceState.SUCCESS.value, skip=sorted(ti.skipped))
        log.info(
            "Marking task as SUCCESS. dag_id=%s, task_id=%s, run_id=%s%s",
            ti.dag_id,
            ti.task_id,
            ti.run_id,
            f", map_index={ti.map_index}" if ti.map_index >= 0 else "",
        )
    except AirflowSkipException as exc:
        outcome.update(state=TaskInstanceState.SKIPPED.value)
        log.info("Skipping task %s: %s", ti.task_id, exc)
    except AirflowRescheduleException as exc:
        outcome.update(state=TaskInstanceState.UP_FOR_RESCHEDULE.value, reschedule_at=exc.reschedule_date.isoformat())
        log.info("Rescheduling task, marking task as UP_FOR_RESCHEDULE; next poke at %s", exc.reschedule_date)
    except (AirflowFailException, AirflowSensorTimeout) as exc:
        # A sensor's timeout fails the task at once, as in Airflow: retrying would wait again.
        outcome.update(
            retry=False, error=f"{type(exc).__name__}: {exc}" if isinstance(exc, AirflowSensorTimeout) else str(exc)
        )
        log.error("Task failed without retries: %s", exc, exc_info=True)
    except BaseException as exc:
        outcome.update(error=f"{type(exc).__name__}: {exc}")
        log.error("Task failed with exception", exc_info=True)
    # What it pushed before failing is kept too, as in Airflow.
    outcome["xcoms"] = ti.pushed
    return outcome


def _drain_metadata(result: Any, outlet_events: OutletEventAccessors) -> Any:
    """Run a task callable that yields: ``Metadata`` gives an outlet event its extra; anything else
    it yields is the return value (a list, or None when it yielded only metadata)."""
    values = []
    for item in result:
        if isinstance(item, Metadata):
            outlet_events.take(item)
        else:
            values.append(item)
    return values or None


def run_callbacks(task: BaseOperator, context: dict[str, Any], name: str) -> int:
    """Call the task's callback(s) ``name`` with ``context``; an error in one is logged (to the try's
    log: this runs in the child) and the others still run. Never raises; returns how many ran."""
    callbacks = getattr(task, name, None)
    if not callbacks:
        return 0
    ran = 0
    for callback in callbacks if isinstance(callbacks, list | tuple) else [callbacks]:
        try:
            with set_current_context(context):
                callback(context)
            ran += 1
        except Exception:
            log.exception("Error when executing %s %s", name, getattr(callback, "__qualname__", repr(callback)))
    return ran


def _callbacks_body(name: str) -> Body:
    def body(task: BaseOperator, context: dict[str, Any]) -> dict[str, Any]:
        log.info("Running %s", name)
        return {"state": "callbacks", "ran": run_callbacks(task, context, name)}

    return body


def run_task_callbacks(*, ti: TaskInstance, state: str, error: str = "", log_path: Path | None) -> None:
    """After the try's state is committed: call the task's callback for that state in a child that
    imports the DAG file (DAG code never runs in the worker's own process). Only when the DAG
    file defines one (the serialized task lists them), so a task without callbacks costs nothing."""
    name = CALLBACK_FOR_STATE.get(state)
    run = ti.dag_run
    if name is None or name not in ((run.dag.get_task(ti.task_id) or {}).get("callbacks") or []):
        return
    base = _prepare_from_file(ti=ti, run=run, state=state)

    def prepare() -> tuple[BaseOperator, dict[str, Any]]:
        task, context = base()
        if error:
            # Airflow passes the exception; the child only knows its text.
            context["exception"] = AirflowException(error)
        return task, context

    supervise(
        prepare=prepare,
        log_path=log_path,
        heartbeat=None,
        timeout=float(settings.ORCHESTRATOR["CALLBACK_TIMEOUT"]),
        body=_callbacks_body(name),
    )


def execute_task_callbacks(*, request_id: int) -> str:
    """Send the alert email and call the task callback that a try ended by the scheduler's repair
    (a zombie, a try stuck in ``queued``) owes (the RQ job's body), once: the request is taken
    first, so a second delivery does nothing. They go to that try's log, as a worker's would."""
    request = transitions.ti_take_callbacks(request_id)
    if request is None:
        log.info("runner: task callback request %s is not pending; nothing to do", request_id)
        return "not pending"
    ti = TaskInstance.objects.select_related("dag_run", "dag_run__dag").filter(pk=request.task_instance_id).first()
    if ti is None:
        return "gone"
    # The context and the log are the ended try's, even if a retry has started since (the
    # context's state is the ended one too: run_task_callbacks gives it).
    ti.try_number = request.try_number
    log_path = ti.log_path()
    append_log(
        log_path,
        f"Calling the callbacks of try {ti.try_number} ({request.ended_state}), which the scheduler ended "
        f"(no worker was left to), on {socket.gethostname()} pid {os.getpid()}",
    )
    send_alert_email(ti=ti, state=request.ended_state, error=request.error, log_path=log_path)
    run_task_callbacks(ti=ti, state=request.ended_state, error=request.error, log_path=log_path)
    return request.ended_state


def send_alert_email(*, ti: TaskInstance, state: str, error: str, log_path: Path | None) -> bool:
    """Airflow's alert email: to the task's ``email`` when a try fails for good
    (``email_on_failure``) or is up for retry (``email_on_retry``), both on by default. No DAG
    code is involved, so it is sent from the worker itself; a mail error is logged to the try."""
    task = ti.dag_run.dag.get_task(ti.task_id) or {}
    if not alert_email_wanted(task, state):
        return False
    to = list(task.get("email") or [])
    run = ti.dag_run
    label = "failed" if state == TaskInstanceState.FAILED else "up_for_retry"
    subject = f"Airflow alert: <TaskInstance: {run.dag.dag_id}.{ti.task_id} {run.run_id} [{label}]>"
    text = (
        f"Try {ti.try_number} out of {ti.max_tries + 1}\n"
        f"Exception:\n{error or '(none recorded)'}\n"
        f"Log: {log_path or '(stdout)'}\n"
        f"Host: {socket.gethostname()}\n"
    )
    try:
        send_mail(subject=subject, text=text, html=None, to=to, cc=[], bcc=[], from_email=None)
    except Exception as exc:
        append_log(log_path, f"ERROR - Could not send the alert email to {', '.join(to)}: {exc}")
        return False
    append_log(log_path, f"Sent the {label} alert email to {', '.join(to)}")
    return True


def _dag_callbacks_body(name: str) -> Body:
    def body(task: BaseOperator, context: dict[str, Any]) -> dict[str, Any]:
        return {"state": "callbacks", "ran": run_callbacks(task.dag, context, name)}

    return body


def _callback_context_ti(run: DagRun, reason: str) -> TaskInstance | None:
    """The task instance whose context a DAG callback gets: for a failure the failed one that
    ended last, else the one that ended last (Airflow passes "the last" of the run's)."""
    tis = run.task_instances.exclude(state=TaskInstanceState.REMOVED).select_related("dag_run", "dag_run__dag")
    if reason != transitions.REASON_SUCCESS:
        failed = tis.filter(state=TaskInstanceState.FAILED)
        ti = failed.order_by(F("end_date").desc(nulls_last=True), "-pk").first()
        if ti is not None:
            return ti
    return tis.order_by(F("end_date").desc(nulls_last=True), "-pk").first()


@contextlib.contextmanager
def _echoed(log_path: Path, echo: bool) -> Iterator[None]:
    """Copy what a try (or callback) appends to ``log_path`` to stdout when it is done, if
    ``echo``: ``dags test`` shows every log on the console and still keeps it in the try's file,
    so the UI's tab for the try it claimed has its log."""
    if not echo:
        yield
        return
    start = log_path.stat().st_size if log_path.exists() else 0
    try:
        yield
    finally:
        with contextlib.suppress(OSError), open(log_path, "rb") as handle:
            handle.seek(start)
            sys.stdout.write(handle.read().decode("utf-8", "replace"))
            sys.stdout.flush()


def execute_dag_callbacks(*, run_id: int, echo_logs: bool = False) -> str:
    """Call a finished run's pending DAG callback (the RQ job's body), once: the pending mark is
    taken first, so a second delivery does nothing. The DAG file is imported in a child, as for a
    task; what the callback logs, and any error, goes to the run's ``dag_callbacks.log``."""
    reason = transitions.run_take_callback(run_id)
    if reason is None:
        log.info("runner: run %s has no DAG callback pending; nothing to do", run_id)
        return "not pending"
    run = DagRun.objects.select_related("dag").get(pk=run_id)
    log_path = run.callback_log_path()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with _echoed(log_path, echo_logs):
        return _execute_dag_callbacks(run=run, reason=reason, log_path=log_path)


def _execute_dag_callbacks(*, run: DagRun, reason: str, log_path: Path) -> str:
    name = "on_success_callback" if reason == transitions.REASON_SUCCESS else "on_failure_callback"
    ti = _callback_context_ti(run, reason)
    if ti is None:
        append_log(log_path, f"ERROR - Run {run.run_id} has no task instance to give {name} a context; not called")
        return "no context"
    append_log(
        log_path,
        f"Running DAG {name} of {run.dag.dag_id} run {run.run_id} (reason: {reason}) "
        f"on {socket.gethostname()} pid {os.getpid()}",
    )
    base = _prepare_from_file(ti=ti, run=run, state=ti.state)

    def prepare() -> tuple[BaseOperator, dict[str, Any]]:
        task, context = base()
        context["reason"] = reason
        return task, context

    outcome = supervise(
        prepare=prepare,
        log_path=log_path,
        heartbeat=None,
        timeout=float(settings.ORCHESTRATOR["CALLBACK_TIMEOUT"]),
        body=_dag_callbacks_body(name),
    )
    append_log(log_path, f"DAG {name} done" if outcome.state == "callbacks" else f"DAG {name} did not complete")
    return name


def _end_with_supervisor(alive_fd: int) -> None:
    """Kill this child's whole process group as soon as its supervising parent is gone.

    The parent holds the only write end of the ``alive_fd`` pipe and never writes to it: the read
    returns (EOF) when the parent exits or is killed, even by SIGKILL. Without this, a task whose
    worker was killed runs on unsupervised (no heartbeat, no timeout) beside the retry that the
    zombie repair starts, and can still write its XComs when it ends.
    """

    def watch() -> None:
        with contextlib.suppress(OSError):
            os.read(alive_fd, 1)
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


# What the child calls to get its task and context: it imports the DAG file (user code) there.
Prepare = Callable[[], tuple[BaseOperator, dict[str, Any]]]
# What the child does with the loaded task: run it (``_run_task``) or call its callbacks.
Body = Callable[[BaseOperator, dict[str, Any]], dict[str, Any]]


def _prepare_within(prepare: Prepare, seconds: float) -> tuple[BaseOperator, dict[str, Any]]:
    """Call ``prepare()`` (the DAG file's import) with a time limit, as the parser has one:
    a file that hangs at import fails this try with a reason instead of holding the worker."""

    def expired(signum: int, frame: Any) -> None:
        raise TaskLoadError(f"Importing the DAG file took more than {seconds:g} s (PARSE_TIMEOUT)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return prepare()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _limit_memory() -> None:
    """Cap the child's data size at ``TASK_MEMORY_LIMIT_MB`` (0: no cap), so a DAG file or task that
    allocates without bound fails its try with a MemoryError instead of starving the machine."""
    limit_mb = settings.ORCHESTRATOR.get("TASK_MEMORY_LIMIT_MB") or 0
    if limit_mb > 0:
        limit = int(limit_mb * 1024 * 1024)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _child_main(prepare: Prepare, log_path: Path | None, write_fd: int, alive_fd: int, body: Body) -> None:
    code = 0
    me = os.getpid()
    try:
        os.setsid()
        _end_with_supervisor(alive_fd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        _forget_inherited_connections()
        _setup_child_output(log_path)
        _limit_memory()
        try:
            task, context = _prepare_within(prepare, settings.ORCHESTRATOR["PARSE_TIMEOUT"])
        except TaskLoadError as exc:
            if os.getpid() != me:
                os._exit(0)
            log.error("%s", exc)
            outcome: dict[str, Any] = {"state": TaskInstanceState.FAILED.value, "error": str(exc)}
        else:
            if os.getpid() != me:
                # A process the DAG file forked at import: it must not run the task a second time.
                os._exit(0)
            outcome = body(task, context)
        if os.getpid() != me:
            os._exit(0)  # forked by the task itself: only the child reports the outcome
        for key in ("error", "rendered"):
            if key in outcome:
                outcome[key] = redact(outcome[key])
        _close_child_output()
        with os.fdopen(write_fd, "w") as pipe:
            pipe.write(json.dumps(outcome))
        connections.close_all()
    except BaseException:
        if os.getpid() != me:
            os._exit(0)
        traceback.print_exc()
        code = 1
    finally:
        if os.getpid() == me:
            _close_child_output()
        os._exit(code)


# -- the supervising parent --------------------------------------------------------------------


def _kill_group(pid: int, grace: float = 2.0) -> None:
    """SIGTERM the child's process group, then SIGKILL what is left after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


# Called at every task heartbeat (the worker records its own liveness there during long tasks).
heartbeat_hooks: list[Callable[[], None]] = []


def _heartbeat(ti_id: int, try_number: int) -> bool:
    """Record that the try is alive; return False when the row is no longer this running try."""
    for hook in heartbeat_hooks:
        hook()
    return transitions.ti_heartbeat(ti_id=ti_id, try_number=try_number, now=timezone.now())


def supervise(
    *,
    prepare: Prepare,
    log_path: Path | None,
    heartbeat: Callable[[], bool] | None,
    timeout: float | None,
    body: Body | None = None,
) -> Outcome:
    """Run ``prepare()``'s task in a forked child and wait for it, heartbeating, within ``timeout`` s.

    ``body`` is what the child does with the task (default: run it, ``_run_task``)."""
    for conn in connections.all(initialized_only=True):
        # Nothing of the parent's transaction state may leak into the child.
        if conn.in_atomic_block:
            raise RuntimeError("supervise() must not be called inside a transaction")
    read_fd, write_fd = os.pipe()
    # The child watches alive_read: EOF there means this process died (see _end_with_supervisor).
    alive_read, alive_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        os.close(alive_write)
        _child_main(prepare, log_path, write_fd, alive_read, body or _run_task)
    os.close(write_fd)
    os.close(alive_read)
    pidfd = os.pidfd_open(pid)
    interval = settings.ORCHESTRATOR["HEARTBEAT_INTERVAL"]
    started = time.monotonic()
    deadline = started + timeout if timeout else None
    next_beat = started + interval
    chunks: list[bytes] = []
    status = None
    read_open = True
    try:
        while status is None:
            now = time.monotonic()
            waits = [next_beat - now] + ([deadline - now] if deadline else [])
            ready, _, _ = select.select([pidfd] + ([read_fd] if read_open else []), [], [], max(0.0, min(waits)))
            if read_fd in ready:
                data = os.read(read_fd, 65536)
                if data:
                    chunks.append(data)
                else:
                    read_open = False
            if pidfd in ready:
                _, status = os.waitpid(pid, 0)
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                _kill_group(pid)
                _, status = os.waitpid(pid, 0)
                what = "Task" if body is None else "Callback"
                limit = "execution_timeout" if body is None else "ORCHESTRATOR_CALLBACK_TIMEOUT"
                message = f"{what} timed out after {timeout:g} seconds ({limit}); its processes were killed"
                append_log(log_path, f"ERROR - {message}")
                return Outcome(state=TaskInstanceState.FAILED.value, error=f"AirflowTaskTimeout: {message}")
            if now >= next_beat:
                next_beat = now + interval
                alive = True
                if heartbeat is not None:
                    try:
                        alive = heartbeat()
                    except DatabaseError as exc:
                        # A brief database outage must not kill a healthy task: the zombie
                        # threshold is the limit, and the next beat tries again.
                        log.warning("runner: heartbeat failed: %s", exc)
                        close_old_connections()
                if not alive:
                    _kill_group(pid)
                    _, status = os.waitpid(pid, 0)
                    append_log(log_path, "State of this instance has been externally set. Terminating instance.")
                    return Outcome(state="", superseded=True)
        # The task is over: what it left running in its process group goes with it (a process
        # it forked would otherwise hold the outcome pipe open, and run on unsupervised).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        drain_until = time.monotonic() + 2.0
        while read_open:
            ready, _, _ = select.select([read_fd], [], [], max(0.0, drain_until - time.monotonic()))
            if not ready:
                break  # a process that left the group still holds the pipe: read what came
            data = os.read(read_fd, 65536)
            if not data:
                break
            chunks.append(data)
    finally:
        if status is None:
            # Interrupted (RQ's job timeout, a signal): the task must not run on unsupervised.
            _kill_group(pid, grace=0.5)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        os.close(read_fd)
        os.close(pidfd)
        os.close(alive_write)
    raw = b"".join(chunks)
    if not raw:
        if os.WIFSIGNALED(status):
            reason = f"killed by signal {os.WTERMSIG(status)}"
        else:
            reason = f"exit code {os.WEXITSTATUS(status)}"
        message = f"The task process ended without reporting an outcome ({reason})"
        append_log(log_path, f"ERROR - {message}")
        return Outcome(state=TaskInstanceState.FAILED.value, error=message)
    try:
        data = json.loads(raw)
    except ValueError:
        message = "The task process reported an outcome that cannot be read"
        append_log(log_path, f"ERROR - {message}")
        return Outcome(state=TaskInstanceState.FAILED.value, error=message)
    return Outcome(
        state=data["state"],
        retry=data.get("retry", True),
        error=data.get("error", ""),
        skip=data.get("skip", []),
        rendered=data.get("rendered", {}),
        xcoms=data.get("xcoms", {}),
        reschedule_at=data.get("reschedule_at", ""),
        rendered_map_index=data.get("rendered_map_index", ""),
        asset_events=data.get("asset_events", []),
    )


# -- one try, end to end ---------------------------------------------------------------------------


def _log_version_drift(run: DagRun) -> None:
    """Say in the try's log when the DAG file is not the one the run was created with: the task
    runs the file as it is now (as in Airflow without versioned bundles)."""
    if run.dag_version_id is None:
        return
    if "dag_version" in run._state.fields_cache:  # loaded with the claim
        version = run.dag_version
        expected, number = version.source_hash, version.version_number
    else:
        found = DagVersion.objects.filter(pk=run.dag_version_id).values_list("source_hash", "version_number").first()
        if found is None:
            return
        expected, number = found
    try:
        current = file_hash(Path(run.dag.fileloc))
    except OSError:
        return  # load_task says why the file cannot be read
    if expected and current != expected:
        log.warning(
            "The DAG file %s changed since this run was created with version %s of DAG %s: "
            "this try runs the file as it is now",
            run.dag.fileloc,
            number,
            run.dag.dag_id,
        )


def _prepare_from_file(*, ti: TaskInstance, run: DagRun, test_mode: bool = False, state: str = "running") -> Prepare:
    """Return the child's loader: import the run's DAG file, then build the task's context."""

    def prepare() -> tuple[BaseOperator, dict[str, Any]]:
        _log_version_drift(run)
        task = load_task(fileloc=run.dag.fileloc, dag_id=run.dag.dag_id, task_id=ti.task_id)
        context = build_context(ti=ti, run=run, task=task, test_mode=test_mode, state=state)
        if task.is_mapped:
            # This instance's operator: the partial arguments and the values of its map index.
            if ti.map_index < 0:
                raise TaskLoadError(f"Task {ti.task_id} is mapped; this instance has no map index")
            try:
                task = task.unmap(task.expand_input.resolve(context, ti.map_index))
            except Exception as exc:
                raise TaskLoadError(
                    f"Cannot build instance {ti.map_index} of mapped task {ti.task_id}: {type(exc).__name__}: {exc}"
                ) from exc
            context["task"] = context["ti"].task = task
        return task, context

    return prepare


def _execution_timeout(run: DagRun, task_id: str) -> float | None:
    """The task's ``execution_timeout`` in seconds, from the serialized DAG (no DAG code here)."""
    return (run.dag.get_task(task_id) or {}).get("execution_timeout")


def _record_outcome(*, ti: TaskInstance, outcome: Outcome, executor: Executor | None, log_path: Path | None) -> Any:
    """Record the try's outcome, waiting out a database outage (a PostgreSQL restart) meanwhile.

    The task has run: losing its result would make the zombie repair run it again. So the write
    is retried, with a doubling pause, for up to the zombie threshold; it stays conditional on
    the try still running, so a repair or a user's mark made meanwhile wins. Only this failure
    path waits; a normal write is one transaction.
    """
    deadline = time.monotonic() + max(float(settings.ORCHESTRATOR["ZOMBIE_THRESHOLD"]), 10.0)
    pause = 0.2
    while True:
        try:
            return task_instance_record_outcome(ti=ti, outcome=outcome, now=timezone.now(), executor=executor)
        except OUTAGE_ERRORS as exc:
            if time.monotonic() + pause > deadline:
                append_log(log_path, f"ERROR - The database stayed unavailable; this try's result is lost: {exc}")
                raise
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            append_log(log_path, f"WARNING - Database unavailable while recording the outcome ({first_line}); retrying")
            log.warning(
                "runner: database unavailable while recording %s: %s; retrying in %.1f s", ti, first_line, pause
            )
            for conn in connections.all(initialized_only=True):
                with contextlib.suppress(DatabaseError):
                    conn.close()
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def execute_task_instance(*, ti_id: int, try_number: int, executor: Executor | None = None) -> str:
    """Run one queued try end to end (the RQ job's body); return what happened, for RQ's result."""
    ti = task_instance_claim(ti_id=ti_id, try_number=try_number, now=timezone.now())
    if ti is None:
        log.info("runner: task instance %s try %s is not queued for us; nothing to do", ti_id, try_number)
        return "not claimed"
    return execute_claimed(ti=ti, executor=executor)


def execute_claimed(
    *, ti: TaskInstance, executor: Executor | None = None, echo_logs: bool = False, test_mode: bool = False
) -> str:
    """Run a claimed (``running``) try, record its outcome and fast-follow; return the final state.

    The try's log goes to its file; ``echo_logs`` also copies it to stdout when the try is done."""
    log_path = ti.log_path()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with _echoed(log_path, echo_logs):
        return _execute_claimed(ti=ti, executor=executor, log_path=log_path, test_mode=test_mode)


def _execute_claimed(*, ti: TaskInstance, executor: Executor | None, log_path: Path, test_mode: bool) -> str:
    run = ti.dag_run
    dag = run.dag
    append_log(
        log_path,
        f"Starting attempt {ti.try_number} of {ti.max_tries + 1} of {dag.dag_id}.{ti.task_id}"
        f"{f' map_index={ti.map_index}' if ti.map_index >= 0 else ''} "
        f"(run {run.run_id}) on {socket.gethostname()} pid {os.getpid()}",
    )
    outcome = supervise(
        prepare=_prepare_from_file(ti=ti, run=run, test_mode=test_mode),
        log_path=log_path,
        heartbeat=None if test_mode else (lambda: _heartbeat(ti.pk, ti.try_number)),
        timeout=_execution_timeout(run, ti.task_id),
    )
    if outcome.superseded:
        return "superseded"
    if test_mode:
        return outcome.state
    result = _record_outcome(ti=ti, outcome=outcome, executor=executor, log_path=log_path)
    if result is None:
        append_log(log_path, "The task instance changed while running; this try's result was not recorded.")
        return "superseded"
    append_log(log_path, f"Task exited; state recorded: {ti.state}")
    send_alert_email(ti=ti, state=ti.state, error=outcome.error, log_path=log_path)
    run_task_callbacks(ti=ti, state=ti.state, error=outcome.error, log_path=log_path)
    return ti.state


def dag_run_execute_inline(
    *, run: DagRun, echo_logs: bool = False, max_wait: float = 3600.0, executor: Any = None
) -> str:
    """Run every task of ``run`` in this process, one after another, until the run ends, then
    its DAG callback (as a worker would).

    For ``dags test`` and tests: the same scheduling and execution as the scheduler and workers,
    without Redis. Waits for retry delays (up to ``max_wait`` seconds in all). Returns the run's
    final state.
    """
    state = _execute_inline(run=run, echo_logs=echo_logs, max_wait=max_wait, executor=executor)
    if state in (DagRunState.SUCCESS, DagRunState.FAILED):
        execute_dag_callbacks(run_id=run.pk, echo_logs=echo_logs)
    return state


def _execute_inline(*, run: DagRun, echo_logs: bool, max_wait: float, executor: Any) -> str:
    from runs_app.scheduling import InlineExecutor

    executor = executor or InlineExecutor()
    started = time.monotonic()
    transitions.run_start(run, now=timezone.now())
    while True:
        dag_run_schedule_locked(run_id=run.pk, now=timezone.now(), executor=executor)
        if not executor.queued:
            run.refresh_from_db(fields=["state"])
            if run.state != DagRunState.RUNNING:
                return run.state
        while executor.queued:
            ti_id, try_number = executor.queued.pop(0)
            ti = task_instance_claim(ti_id=ti_id, try_number=try_number, now=timezone.now())
            if ti is not None:
                execute_claimed(ti=ti, executor=executor, echo_logs=echo_logs)
        run.refresh_from_db(fields=["state"])
        if run.state != DagRunState.RUNNING:
            return run.state
        waiting = (
            TaskInstance.objects.filter(
                dag_run=run, state__in=[TaskInstanceState.UP_FOR_RETRY, TaskInstanceState.UP_FOR_RESCHEDULE]
            )
            .order_by("next_retry_at")
            .values_list("next_retry_at", flat=True)
            .first()
        )
        if waiting is None:
            # Nothing to wait for: one more pass finishes the run or finds the tasks left ready.
            dag_run_schedule_locked(run_id=run.pk, now=timezone.now(), executor=executor)
            if not executor.queued:
                run.refresh_from_db(fields=["state"])
                return run.state
            continue
        if time.monotonic() - started > max_wait:
            return run.state
        time.sleep(max(0.0, min((waiting - timezone.now()).total_seconds(), 5.0)) + 0.01)


def task_test(*, run: DagRun, ti: TaskInstance) -> Outcome:
    """Run one task in a child for ``tasks test``: log to stdout, record nothing.

    XCom values the task pushes stay in memory; pulls read the run's stored values if the run
    exists. Dependencies are not checked.
    """
    return supervise(
        prepare=_prepare_from_file(ti=ti, run=run, test_mode=True),
        log_path=None,
        heartbeat=None,
        timeout=_execution_timeout(run, ti.task_id),
    )

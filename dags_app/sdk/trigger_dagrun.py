"""``TriggerDagRunOperator``: start a run of another DAG from a task (Airflow's standard provider).

The run is made through the same service as ``dags trigger`` and the UI's Trigger (the metastore
is handed to this package at Django start-up, ``configure``, as the SDK never imports Django).
With ``wait_for_completion`` the task waits, poking every ``poke_interval`` seconds, until the
run reaches one of ``allowed_states`` (success) or ``failed_states`` (the task fails).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from dags_app.sdk.baseoperator import BaseOperator
from dags_app.sdk.exceptions import AirflowException, AirflowSkipException

log = logging.getLogger(__name__)

XCOM_LOGICAL_DATE_ISO = "trigger_logical_date_iso"
XCOM_RUN_ID = "trigger_run_id"


class DagRunAlreadyExists(AirflowException):
    """The DAG already has a run with that run id or logical date."""


class DagNotFound(AirflowException):
    """No DAG has that id."""


# Given by runs_app at Django start-up.
_hooks: dict[str, Callable[..., Any]] = {}


def configure(*, trigger: Callable[..., tuple[str, str]], run_state: Callable[[str, str], str | None]) -> None:
    """``trigger(dag_id=, run_id=, logical_date=, conf=, reset=, fail_when_paused=, triggered_by=)``
    makes (or resets) the run and returns (run_id, logical date ISO), raising DagNotFound,
    DagRunAlreadyExists or AirflowException; ``run_state(dag_id, run_id)`` reads its state."""
    _hooks.update(trigger=trigger, run_state=run_state)


def _as_datetime(value: Any, task_id: str) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise AirflowException(f"Task '{task_id}': logical_date {value!r} is not an ISO 8601 date") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    raise AirflowException(f"Task '{task_id}': logical_date must be a datetime or an ISO string, not {value!r}")


class TriggerDagRunOperator(BaseOperator):
    """Trigger a run of ``trigger_dag_id`` (with ``conf``, at ``logical_date``), and optionally wait for it."""

    template_fields = ("trigger_dag_id", "trigger_run_id", "logical_date", "conf")
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        trigger_dag_id: str,
        trigger_run_id: str | None = None,
        conf: dict[str, Any] | None = None,
        logical_date: str | dt.datetime | None = None,
        execution_date: str | dt.datetime | None = None,
        reset_dag_run: bool = False,
        wait_for_completion: bool = False,
        poke_interval: float = 60,
        allowed_states: Iterable[str] | None = None,
        failed_states: Iterable[str] | None = None,
        skip_when_already_exists: bool = False,
        fail_when_dag_is_paused: bool = False,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # There is no triggerer: deferrable=True waits in the worker like wait_for_completion does.
        self.deferrable = deferrable
        if conf is not None and not isinstance(conf, dict):
            raise AirflowException(f"Task '{self.task_id}': conf must be a dict")
        self.trigger_dag_id = trigger_dag_id
        self.trigger_run_id = trigger_run_id
        self.conf = conf
        # Airflow 2 named it execution_date.
        self.logical_date = logical_date if logical_date is not None else execution_date
        self.reset_dag_run = bool(reset_dag_run)
        self.wait_for_completion = bool(wait_for_completion)
        self.poke_interval = float(poke_interval)
        self.allowed_states = [str(s) for s in (allowed_states or ["success"])]
        self.failed_states = [str(s) for s in (failed_states or ["failed"])]
        self.skip_when_already_exists = bool(skip_when_already_exists)
        self.fail_when_dag_is_paused = bool(fail_when_dag_is_paused)

    def execute(self, context: dict[str, Any]) -> None:
        if "trigger" not in _hooks:
            raise AirflowException("TriggerDagRunOperator needs the metastore (run it through a worker or dags test)")
        logical_date = _as_datetime(self.logical_date, self.task_id)
        source = f"{context['dag'].dag_id}.{self.task_id}"
        try:
            run_id, logical_iso = _hooks["trigger"](
                dag_id=str(self.trigger_dag_id),
                run_id=str(self.trigger_run_id) if self.trigger_run_id else None,
                logical_date=logical_date,
                conf=self.conf,
                reset=self.reset_dag_run,
                fail_when_paused=self.fail_when_dag_is_paused,
                triggered_by=source,
            )
        except DagRunAlreadyExists as exc:
            if self.skip_when_already_exists:
                raise AirflowSkipException(f"{exc}; skipping (skip_when_already_exists)") from None
            raise
        log.info("Triggered DAG %s: run %s at %s", self.trigger_dag_id, run_id, logical_iso)
        ti = context["ti"]
        ti.xcom_push(key=XCOM_LOGICAL_DATE_ISO, value=logical_iso)
        ti.xcom_push(key=XCOM_RUN_ID, value=run_id)
        if not self.wait_for_completion:
            return
        while True:
            state = _hooks["run_state"](str(self.trigger_dag_id), run_id)
            log.info("Waiting for DAG %s run %s: it is %s", self.trigger_dag_id, run_id, state)
            if state in self.failed_states:
                raise AirflowException(f"{self.trigger_dag_id} failed with failed state {state}")
            if state in self.allowed_states:
                log.info("%s finished with allowed state %s", self.trigger_dag_id, state)
                return
            time.sleep(self.poke_interval)

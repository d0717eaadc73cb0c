"""Sensors: tasks that wait for a condition (Airflow's ``BaseSensorOperator`` and its family).

A sensor's ``poke(context)`` says whether the condition holds (``True``, or a ``PokeReturnValue``
with an XCom value). Until it does:

- ``mode="poke"`` (default): the task sleeps ``poke_interval`` seconds in its worker slot and
  pokes again;
- ``mode="reschedule"``: the try ends as ``up_for_reschedule``, its worker slot is freed, and
  the scheduler queues the *same* try again at the next poke time (the try number does not grow).

``timeout`` (seconds or a timedelta, from the first poke of the try) fails the task at once with
``AirflowSensorTimeout`` (no retries), or skips it with ``soft_fail=True``.
``exponential_backoff`` lengthens the interval between pokes, up to ``max_wait``.

``ExternalTaskSensor`` reads other runs' states: the metastore is handed to this package at Django
start-up (``configure``), as the SDK itself never imports Django.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import logging
import os
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from dags_app.sdk.baseoperator import BaseOperator
from dags_app.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
)

log = logging.getLogger(__name__)

# Given by runs_app at Django start-up: (dag_id, task_ids or None, logical dates) -> states of the
# matching task instances (or of the runs, when task_ids is None), one per existing row.
_external_states: Callable[[str, list[str] | None, list[dt.datetime]], list[str]] | None = None
_dag_exists: Callable[[str], bool] | None = None


def configure(
    *,
    external_states: Callable[[str, list[str] | None, list[dt.datetime]], list[str]],
    dag_exists: Callable[[str], bool],
) -> None:
    """Give the sensors their view of the metastore (called by ``runs_app.apps``)."""
    global _external_states, _dag_exists
    _external_states = external_states
    _dag_exists = dag_exists


def _seconds(name: str, value: Any, task_id: str) -> float:
    if isinstance(value, dt.timedelta):
        value = value.total_seconds()
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise AirflowException(f"{name} of sensor '{task_id}' must be a number of seconds or a timedelta") from None
    if seconds < 0:
        raise AirflowException(f"{name} of sensor '{task_id}' cannot be negative")
    return seconds


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PokeReturnValue:
    """What ``poke`` may return instead of a bool: whether it is done, and the XCom to push."""

    def __init__(self, is_done: bool, xcom_value: Any = None) -> None:
        self.is_done = bool(is_done)
        self.xcom_value = xcom_value

    def __bool__(self) -> bool:
        return self.is_done


class BaseSensorOperator(BaseOperator):
    """Wait until ``poke(context)`` is true, in the worker slot or rescheduled (see the module)."""

    ui_color = "#e6f1f2"
    valid_modes = ("poke", "reschedule")

    def __init__(
        self,
        *,
        poke_interval: float | dt.timedelta = 60,
        timeout: float | dt.timedelta = 7 * 24 * 60 * 60,
        soft_fail: bool = False,
        mode: str = "poke",
        exponential_backoff: bool = False,
        max_wait: float | dt.timedelta | None = None,
        silent_fail: bool = False,
        never_fail: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.poke_interval = _seconds("poke_interval", poke_interval, self.task_id)
        self.timeout = _seconds("timeout", timeout, self.task_id)
        self.max_wait = _seconds("max_wait", max_wait, self.task_id) if max_wait is not None else None
        if mode not in self.valid_modes:
            raise AirflowException(
                f"The mode must be one of {list(self.valid_modes)}, '{self.dag_id_or_none}.{self.task_id}'; "
                f"received '{mode}'."
            )
        if soft_fail and never_fail:
            raise AirflowException("soft_fail and never_fail cannot both be set")
        self.mode = mode
        self.soft_fail = soft_fail
        self.exponential_backoff = exponential_backoff
        self.silent_fail = silent_fail
        self.never_fail = never_fail

    @property
    def dag_id_or_none(self) -> str | None:
        return self._dag.dag_id if self._dag is not None else None

    @property
    def reschedule(self) -> bool:
        return self.mode == "reschedule"

    def poke(self, context: dict[str, Any]) -> bool | PokeReturnValue:
        """Whether the condition holds; subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement poke()")

    def _next_interval(self, started: dt.datetime, poke_number: int, elapsed: float) -> float:
        """Airflow's interval: ``poke_interval``, or with ``exponential_backoff`` a doubling one
        (with a deterministic jitter per try and poke), capped by what is left of the timeout and
        by ``max_wait``."""
        if not self.exponential_backoff:
            return self.poke_interval
        min_backoff = max(int(self.poke_interval * (2 ** (poke_number - 2))), 1)
        seed = f"{self.dag_id_or_none}#{self.task_id}#{started.isoformat()}#{poke_number}"
        modded = min_backoff + int(hashlib.sha1(seed.encode()).hexdigest(), 16) % min_backoff
        interval = min(max(self.timeout - elapsed, 0.0), float(modded))
        if self.max_wait is not None:
            interval = min(interval, self.max_wait)
        return interval

    def _poke_once(self, context: dict[str, Any]) -> PokeReturnValue:
        try:
            result = self.poke(context)
        except (AirflowSensorTimeout, AirflowTaskTimeout, AirflowFailException) as exc:
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(f"Skipping due to soft_fail is set to True: {exc}") from exc
            raise
        except (AirflowSkipException, AirflowRescheduleException):
            raise
        except Exception as exc:
            if self.never_fail:
                raise AirflowSkipException(f"Skipping due to never_fail is set to True: {exc}") from exc
            if self.silent_fail:
                log.error("Sensor poke failed; silent_fail is set, so this counts as not done", exc_info=True)
                return PokeReturnValue(False)
            raise
        return result if isinstance(result, PokeReturnValue) else PokeReturnValue(bool(result))

    def execute(self, context: dict[str, Any]) -> Any:
        ti = context["ti"]
        # Reschedule mode counts from the first poke of this try; poke mode from now.
        started = getattr(ti, "first_poke_at", None) if self.reschedule else None
        started = started or _utcnow()
        poke_number = getattr(ti, "poke_number", 1) if self.reschedule else 1
        began = time.monotonic()
        while True:
            log.info("Poking (poke %s)", poke_number)
            result = self._poke_once(context)
            if result.is_done:
                log.info("Success criteria met. Exiting.")
                return result.xcom_value
            elapsed = (_utcnow() - started).total_seconds() if self.reschedule else time.monotonic() - began
            if elapsed > self.timeout:
                message = (
                    f"Sensor has timed out; run duration of {elapsed:.1f} seconds exceeds the specified "
                    f"timeout of {self.timeout:g}."
                )
                if self.soft_fail or self.never_fail:
                    raise AirflowSkipException(f"Skipping due to soft_fail is set to True. {message}")
                raise AirflowSensorTimeout(message)
            interval = self._next_interval(started, poke_number, elapsed)
            if self.reschedule:
                raise AirflowRescheduleException(_utcnow() + dt.timedelta(seconds=interval))
            time.sleep(interval)
            poke_number += 1


class PythonSensor(BaseSensorOperator):
    """Wait for ``python_callable`` (called like PythonOperator's) to return a truthy value."""

    template_fields = ("templates_dict", "op_args", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise AirflowException(f"`python_callable` param of sensor '{self.task_id}' must be callable")
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict

    def poke(self, context: dict[str, Any]) -> bool | PokeReturnValue:
        from dags_app.sdk.operators import determine_kwargs
        from dags_app.sdk.xcom_arg import resolve_xcom_args

        op_args = resolve_xcom_args(self.op_args, context)
        op_kwargs = resolve_xcom_args(self.op_kwargs, context)
        merged = {**context, "templates_dict": self.templates_dict, **op_kwargs}
        log.info("Poking callable: %s", getattr(self.python_callable, "__name__", self.python_callable))
        result = self.python_callable(*op_args, **determine_kwargs(self.python_callable, op_args, merged))
        return result if isinstance(result, PokeReturnValue) else PokeReturnValue(bool(result))


class DecoratedSensorOperator(PythonSensor):
    """What ``@task.sensor`` makes: the function is the poke."""

    custom_operator_name = "@task.sensor"

    def __init__(self, *, multiple_outputs: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.multiple_outputs = multiple_outputs


class FileSensor(BaseSensorOperator):
    """Wait for a file (or a glob pattern; a folder that holds a file) to exist."""

    template_fields = ("filepath",)
    ui_color = "#91818a"

    def __init__(self, *, filepath: str, fs_conn_id: str = "fs_default", recursive: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        if fs_conn_id != "fs_default":
            raise AirflowException(
                f"FileSensor '{self.task_id}': fs_conn_id is not supported yet (Connections arrive later); "
                "give an absolute filepath"
            )
        self.filepath = filepath
        self.fs_conn_id = fs_conn_id
        self.recursive = recursive

    def poke(self, context: dict[str, Any]) -> bool:
        path = str(self.filepath)
        log.info("Poking for file %s", path)
        for match in glob.glob(path, recursive=self.recursive):
            if os.path.isfile(match):
                log.info("Found File %s last modified: %s", match, dt.datetime.fromtimestamp(os.path.getmtime(match)))
                return True
            for _, _, files in os.walk(match):
                if files:
                    return True
        return False


class DateTimeSensor(BaseSensorOperator):
    """Wait until ``target_time`` (a datetime, or a templated ISO string) has passed."""

    template_fields = ("target_time",)

    def __init__(self, *, target_time: str | dt.datetime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(target_time, dt.datetime):
            target_time = target_time.isoformat()
        elif not isinstance(target_time, str):
            raise TypeError(f"Expected str or datetime.datetime type for target_time. Got {type(target_time)}")
        self.target_time = target_time

    def poke(self, context: dict[str, Any]) -> bool:
        target = dt.datetime.fromisoformat(str(self.target_time))
        if target.tzinfo is None:
            target = target.replace(tzinfo=dt.UTC)
        log.info("Checking if the time (%s) has come", target)
        return _utcnow() > target


class TimeDeltaSensor(BaseSensorOperator):
    """Wait until ``delta`` after the run's data interval ends (Airflow's TimeDeltaSensor)."""

    def __init__(self, *, delta: dt.timedelta, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(delta, dt.timedelta):
            raise AirflowException(f"delta of sensor '{self.task_id}' must be a timedelta")
        self.delta = delta

    def poke(self, context: dict[str, Any]) -> bool:
        base = context.get("data_interval_end") or context["logical_date"]
        target = base + self.delta
        log.info("Checking if the time (%s) has come", target)
        return _utcnow() > target


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


class ExternalTaskSensor(BaseSensorOperator):
    """Wait for a task, several tasks or a whole run of another DAG at the same logical date (or
    one shifted by ``execution_delta`` / computed by ``execution_date_fn``).

    Done when every matching instance (or the run) is in ``allowed_states`` (default success);
    fails when any is in ``failed_states``, skips when any is in ``skipped_states``.
    """

    template_fields = ("external_dag_id", "external_task_id", "external_task_ids")
    ui_color = "#4db7db"

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str | None = None,
        external_task_ids: Collection[str] | None = None,
        external_task_group_id: str | None = None,
        allowed_states: Iterable[str] | None = None,
        skipped_states: Iterable[str] | None = None,
        failed_states: Iterable[str] | None = None,
        execution_delta: dt.timedelta | None = None,
        execution_date_fn: Callable[..., Any] | None = None,
        check_existence: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if external_task_id is not None and external_task_ids is not None:
            raise ValueError("Only one of `external_task_id` or `external_task_ids` may be provided")
        if external_task_group_id is not None:
            raise AirflowException(
                f"ExternalTaskSensor '{self.task_id}': external_task_group_id is not supported yet; "
                "list the group's tasks in external_task_ids"
            )
        if execution_delta is not None and execution_date_fn is not None:
            raise ValueError("Only one of `execution_delta` or `execution_date_fn` may be provided")
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.external_task_ids = list(external_task_ids) if external_task_ids is not None else None
        self.allowed_states = list(allowed_states or ["success"])
        self.skipped_states = list(skipped_states or [])
        self.failed_states = list(failed_states or [])
        overlap = set(self.allowed_states) & (set(self.failed_states) | set(self.skipped_states))
        if overlap:
            raise AirflowException(
                f"Duplicate values provided across allowed_states, skipped_states and failed_states: {sorted(overlap)}"
            )
        self.execution_delta = execution_delta
        self.execution_date_fn = execution_date_fn
        self.check_existence = check_existence

    def _dates(self, context: dict[str, Any]) -> list[dt.datetime]:
        logical = context["logical_date"]
        if self.execution_delta is not None:
            dates: Any = logical - self.execution_delta
        elif self.execution_date_fn is not None:
            from dags_app.sdk.operators import determine_kwargs

            dates = self.execution_date_fn(logical, **determine_kwargs(self.execution_date_fn, [logical], context))
        else:
            dates = logical
        return list(dates) if isinstance(dates, list | tuple) else [dates]

    def poke(self, context: dict[str, Any]) -> bool:
        if _external_states is None or _dag_exists is None:
            raise AirflowException("ExternalTaskSensor has no metastore here: it runs in a worker or `dags test`")
        task_ids = _as_list(self.external_task_ids) or _as_list(self.external_task_id)
        dates = self._dates(context)
        if self.check_existence and not _dag_exists(str(self.external_dag_id)):
            raise AirflowException(f"The external DAG {self.external_dag_id} does not exist.")
        what = f"{self.external_dag_id}.{task_ids}" if task_ids else f"DAG {self.external_dag_id}"
        log.info("Poking for %s on %s", what, ", ".join(d.isoformat() for d in dates))
        states = _external_states(str(self.external_dag_id), task_ids, dates)
        if self.failed_states and any(s in self.failed_states for s in states):
            message = f"The external {what} failed (states {sorted(set(states))})"
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowException(message)
        if self.skipped_states and any(s in self.skipped_states for s in states):
            raise AirflowSkipException(f"The external {what} was skipped")
        expected = len(dates) * (len(task_ids) if task_ids else 1)
        done = sum(1 for s in states if s in self.allowed_states)
        return done == expected

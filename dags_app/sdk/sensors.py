"""Sensors: tasks that wait for a condition (Airflow's ``BaseSensorOperator`` and its family).

A sensor's ``poke(context)`` says whether the condition holds (``True``, or a ``PokeReturnValue``
with an XCom value). Until it does:

- ``mode="poke"`` (default): the task sleeps ``poke_interval`` seconds in its worker slot and
  pokes again;
- ``mode="reschedule"``: the try ends as ``up_for_reschedule``, its worker slot is freed, and
  the scheduler queues the *same* try again at the next poke time (the try number does not grow).

``deferrable=True`` (Airflow hands the wait to its triggerer) is accepted by every sensor and
means ``mode="reschedule"`` here: there is no triggerer, and rescheduling frees the worker slot in
the same way. The sensor still pokes every ``poke_interval`` and its ``timeout`` still applies.

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
import subprocess
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from dags_app.sdk.baseoperator import BaseOperator
from dags_app.sdk.branch import WeekDay
from dags_app.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
)
from dags_app.sdk.operators import EmptyOperator

log = logging.getLogger(__name__)

# Given by runs_app at Django start-up: (dag_id, task_ids or None, logical dates) -> states of the
# matching task instances (or of the runs, when task_ids is None), one per existing row.
_external_states: Callable[[str, list[str] | None, list[dt.datetime]], list[str]] | None = None
_dag_exists: Callable[[str], bool] | None = None
# (dag_id, task group id) -> the ids of the group's tasks (nested groups included), or None when
# the DAG or the group is unknown: ExternalTaskSensor's ``external_task_group_id``.
_task_group_task_ids: Callable[[str, str], list[str] | None] | None = None


def configure(
    *,
    external_states: Callable[[str, list[str] | None, list[dt.datetime]], list[str]],
    dag_exists: Callable[[str], bool],
    task_group_task_ids: Callable[[str, str], list[str] | None] | None = None,
) -> None:
    """Give the sensors their view of the metastore (called by ``runs_app.apps``)."""
    global _external_states, _dag_exists, _task_group_task_ids
    _external_states = external_states
    _dag_exists = dag_exists
    _task_group_task_ids = task_group_task_ids


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
    """Wait until ``poke(context)`` is true, in the worker slot or rescheduled (see the module).

    ``deferrable=True`` runs the sensor as ``mode="reschedule"``, whatever ``mode`` says: there is
    no triggerer to defer to, and a rescheduled sensor frees its worker slot between pokes too.
    """

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
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.deferrable = bool(deferrable)
        if self.deferrable:
            mode = "reschedule"
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
            # The last wait ends at the timeout (Airflow would wait a whole poke_interval past
            # it): a sensor with timeout=3 and the default 60 s interval ends after 3 s, not 60.
            interval = min(self._next_interval(started, poke_number, elapsed), self.timeout - elapsed + 0.01)
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


class DateTimeSensorAsync(DateTimeSensor):
    """Airflow's deferring DateTimeSensor: a DateTimeSensor with ``deferrable=True``, so rescheduled
    here (see the module). The trigger's own options are accepted and have no effect."""

    def __init__(
        self,
        *,
        start_from_trigger: bool = False,
        end_from_trigger: bool = False,
        trigger_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs["deferrable"] = True
        super().__init__(**kwargs)


class TimeSensor(BaseSensorOperator):
    """Wait until ``target_time``, a time of day in the DAG's time zone, has passed.

    As in Airflow, the day is the one on which the task is built (the worker parses the DAG file
    again before each try): the target is that day at ``target_time``, so once the time of day has
    passed the sensor is done at its first poke. The trigger's own options are accepted and have no
    effect.
    """

    def __init__(
        self,
        *,
        target_time: dt.time,
        start_from_trigger: bool = False,
        end_from_trigger: bool = False,
        trigger_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(target_time, dt.time):
            raise TypeError(f"Expected datetime.time type for target_time. Got {type(target_time)}")
        zone = ZoneInfo(self._dag.timezone) if self._dag is not None else dt.UTC
        today = _utcnow().astimezone(zone).date()
        self.target_time = target_time
        # The DAG's time zone wins over one the time may carry, as in Airflow.
        self.target_datetime = dt.datetime.combine(today, target_time, tzinfo=zone).astimezone(dt.UTC)

    def poke(self, context: dict[str, Any]) -> bool:
        log.info("Checking if the time (%s) has come", self.target_datetime)
        return _utcnow() > self.target_datetime


class TimeSensorAsync(TimeSensor):
    """Airflow's deprecated deferring TimeSensor: a TimeSensor with ``deferrable=True``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["deferrable"] = True
        super().__init__(**kwargs)


class TimeDeltaSensor(BaseSensorOperator):
    """Wait until ``delta`` after the run's data interval ends (Airflow's TimeDeltaSensor)."""

    def __init__(self, *, delta: dt.timedelta, end_from_trigger: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(delta, dt.timedelta):
            raise AirflowException(f"delta of sensor '{self.task_id}' must be a timedelta")
        self.delta = delta

    def poke(self, context: dict[str, Any]) -> bool:
        base = context.get("data_interval_end") or context["logical_date"]
        target = base + self.delta
        log.info("Checking if the time (%s) has come", target)
        return _utcnow() > target


class TimeDeltaSensorAsync(TimeDeltaSensor):
    """Airflow's deprecated deferring TimeDeltaSensor: a TimeDeltaSensor with ``deferrable=True``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["deferrable"] = True
        super().__init__(**kwargs)


class DayOfWeekSensor(BaseSensorOperator):
    """Wait until the day of the week is one of ``week_day`` (a name, a ``WeekDay``, or a set of
    them): today's in UTC, or with ``use_task_logical_date`` the run's logical date's."""

    def __init__(
        self,
        *,
        week_day: str | WeekDay | Iterable[str | WeekDay],
        use_task_logical_date: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.week_day = week_day
        self.use_task_logical_date = use_task_logical_date
        self._week_day_num = WeekDay.convert(week_day)

    def poke(self, context: dict[str, Any]) -> bool:
        today = _utcnow().isoweekday()
        log.info("Poking until weekday is in %s, Today is %s", self.week_day, WeekDay(today).name)
        if self.use_task_logical_date:
            return context["logical_date"].isoweekday() in self._week_day_num
        return today in self._week_day_num


class BashSensor(BaseSensorOperator):
    """Run ``bash_command`` (templated) at each poke, in a new temporary folder: exit code 0 means done.

    As in Airflow: without ``retry_exit_code`` every other exit code means "not yet" (the sensor
    only ends by its timeout); with it, that code means "not yet" and any other non-zero code
    fails the task at once with ``AirflowFailException`` (no retries; skipped with ``soft_fail``).
    ``env``, when given, replaces the worker's environment. The command stays in the task's
    process group, so the worker's timeout or kill of the task stops it.
    """

    template_fields = ("bash_command", "env")

    def __init__(
        self,
        *,
        bash_command: str,
        env: dict[str, str] | None = None,
        output_encoding: str = "utf-8",
        retry_exit_code: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.output_encoding = output_encoding
        self.retry_exit_code = retry_exit_code

    def poke(self, context: dict[str, Any]) -> bool:
        with tempfile.TemporaryDirectory(prefix="orchestrator-bash-sensor-") as tmp:
            log.info("Running command: %s", self.bash_command)
            with subprocess.Popen(
                ["bash", "-c", str(self.bash_command)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=tmp,
                env=self.env,
            ) as process:
                assert process.stdout is not None
                log.info("Output:")
                for raw in iter(process.stdout.readline, b""):
                    log.info("%s", raw.decode(self.output_encoding, errors="backslashreplace").rstrip())
                code = process.wait()
        log.info("Command exited with return code %s", code)
        if code == 0:
            return True
        if self.retry_exit_code is None or code == self.retry_exit_code:
            log.info("Not done yet (exit code %s); poking again later", code)
            return False
        raise AirflowFailException(f"Command exited with return code {code}")


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


class ExternalTaskSensor(BaseSensorOperator):
    """Wait for a task, several tasks, a task group or a whole run of another DAG at the same
    logical date (or one shifted by ``execution_delta`` / computed by ``execution_date_fn``).

    Done when every matching instance (or the run) is in ``allowed_states`` (default success);
    fails when any is in ``failed_states``, skips when any is in ``skipped_states``. For a task
    group (``external_task_group_id``), as in Airflow, a logical date counts for a list of states
    when every instance of the group's tasks at that date is in one of them.
    """

    template_fields = ("external_dag_id", "external_task_id", "external_task_ids", "external_task_group_id")
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
        poll_interval: float | None = None,
        **kwargs: Any,
    ) -> None:
        if poll_interval is not None:
            kwargs.setdefault("poke_interval", poll_interval)  # Airflow's deprecated spelling
        super().__init__(**kwargs)
        if external_task_id is not None and external_task_ids is not None:
            raise ValueError("Only one of `external_task_id` or `external_task_ids` may be provided")
        if external_task_group_id is not None and (external_task_id is not None or external_task_ids):
            raise ValueError("Only one of `external_task_group_id` or `external_task_ids` may be provided")
        if execution_delta is not None and execution_date_fn is not None:
            raise ValueError("Only one of `execution_delta` or `execution_date_fn` may be provided")
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.external_task_ids = list(external_task_ids) if external_task_ids is not None else None
        self.external_task_group_id = external_task_group_id
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

    def _group_task_ids(self, dag_id: str) -> list[str]:
        """The ids of the external task group's tasks; an empty list when the group is unknown (the sensor
        then waits, as in Airflow, unless ``check_existence`` is set)."""
        group_id = str(self.external_task_group_id)
        if _task_group_task_ids is None:
            raise AirflowException(
                f"ExternalTaskSensor '{self.task_id}': this process cannot read other DAGs' task groups; "
                "list the group's tasks in external_task_ids"
            )
        task_ids = _task_group_task_ids(dag_id, group_id) or []
        if not task_ids and self.check_existence:
            raise AirflowException(f"The external task group '{group_id}' in DAG '{dag_id}' does not exist.")
        return task_ids

    def poke(self, context: dict[str, Any]) -> bool:
        """Read the external states and return whether all are allowed.

        1. Find the logical dates and what to look at: tasks, a task group's tasks, or the run.
        2. Count the matches of each list of states: one per task instance (or run) in a state of
           the list; for a task group, one per logical date whose instances all are.
        3. Fail (skip with ``soft_fail``) on a match of ``failed_states``; skip on a match of
           ``skipped_states``; be done when the allowed matches are all expected.

        Raises AirflowException without the metastore (outside a worker or ``dags test``).
        """
        if _external_states is None or _dag_exists is None:
            raise AirflowException("ExternalTaskSensor has no metastore here: it runs in a worker or `dags test`")
        dag_id = str(self.external_dag_id)
        dates = self._dates(context)
        if self.check_existence and not _dag_exists(dag_id):
            raise AirflowException(f"The external DAG {dag_id} does not exist.")
        log_dates = ", ".join(d.isoformat() for d in dates)
        if self.external_task_group_id is not None:
            group_ids = self._group_task_ids(dag_id)
            what = f"task group '{self.external_task_group_id}' of DAG {dag_id}"
            log.info("Poking for %s on %s", what, log_dates)
            per_date = [_external_states(dag_id, group_ids, [d]) if group_ids else [] for d in dates]
            states = [s for date_states in per_date for s in date_states]
            expected = len(dates)

            def matches(wanted: list[str]) -> int:
                return sum(1 for found in per_date if found and all(s in wanted for s in found))

        else:
            task_ids = _as_list(self.external_task_ids) or _as_list(self.external_task_id)
            what = f"{dag_id}.{task_ids}" if task_ids else f"DAG {dag_id}"
            log.info("Poking for %s on %s", what, log_dates)
            states = _external_states(dag_id, task_ids, dates)
            expected = len(dates) * (len(task_ids) if task_ids else 1)

            def matches(wanted: list[str]) -> int:
                return sum(1 for s in states if s in wanted)

        if self.failed_states and matches(self.failed_states):
            message = f"The external {what} failed (states {sorted(set(states))})"
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowException(message)
        if self.skipped_states and matches(self.skipped_states):
            raise AirflowSkipException(f"The external {what} was skipped")
        return matches(self.allowed_states) == expected


class ExternalTaskMarker(EmptyOperator):
    """Say that ``external_task_id`` of ``external_dag_id`` depends on this task (Airflow's
    ``ExternalTaskMarker``); it runs as a no-op.

    In Airflow, clearing this task with its downstream tasks also clears the external task at
    ``logical_date`` (templated; default this run's), and follows the markers found there up to
    ``recursion_depth`` levels. Clearing does not cross DAGs here yet.

    Raises TypeError for a ``logical_date`` that is neither a string nor a datetime, and ValueError
    for a ``recursion_depth`` below 1.
    """

    template_fields = ("external_dag_id", "external_task_id", "logical_date")
    ui_color = "#4db7db"

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str,
        logical_date: str | dt.datetime | None = "{{ logical_date.isoformat() }}",
        recursion_depth: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(logical_date, dt.datetime):
            logical_date = logical_date.isoformat()
        elif not isinstance(logical_date, str):
            raise TypeError(f"Expected str or datetime.datetime type for logical_date. Got {type(logical_date)}")
        if recursion_depth <= 0:
            raise ValueError("recursion_depth should be a positive integer")
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.logical_date = logical_date
        self.recursion_depth = recursion_depth

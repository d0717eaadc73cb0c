"""Airflow's branch operators that choose without a callable: by subclass, by time, by weekday,
and ``LatestOnlyOperator`` (which follows its downstream tasks only in the latest interval)."""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Iterable
from typing import Any

from dags_app.sdk.baseoperator import BaseOperator
from dags_app.sdk.exceptions import AirflowException
from dags_app.sdk.operators import BranchMixIn
from dags_app.timetables import DataInterval, TimeRestriction, Timetable

log = logging.getLogger("dags_app.task")


class BaseBranchOperator(BaseOperator, BranchMixIn):
    """Subclass it and implement ``choose_branch(context)``: the task id(s) returned are followed,
    every other direct downstream task is skipped."""

    def choose_branch(self, context: dict[str, Any]) -> str | Iterable[str] | None:
        raise NotImplementedError(f"{type(self).__name__} must implement choose_branch()")

    def execute(self, context: dict[str, Any]) -> Any:
        return self.do_branch(context, self.choose_branch(context))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _now(context: dict[str, Any], use_logical_date: bool) -> dt.datetime:
    if use_logical_date:
        return context["logical_date"]
    return _utcnow()


class BranchDateTimeOperator(BaseBranchOperator):
    """Follow ``follow_task_ids_if_true`` when now (or the logical date) lies between
    ``target_lower`` and ``target_upper`` (datetimes, or times of day), else the other branch."""

    def __init__(
        self,
        *,
        follow_task_ids_if_true: str | Iterable[str],
        follow_task_ids_if_false: str | Iterable[str],
        target_lower: dt.datetime | dt.time | None,
        target_upper: dt.datetime | dt.time | None,
        use_task_logical_date: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if target_lower is None and target_upper is None:
            raise AirflowException(
                "Both target_upper and target_lower are None. At least one must be defined to be compared "
                "to the current datetime"
            )
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false
        self.target_lower = target_lower
        self.target_upper = target_upper
        self.use_task_logical_date = use_task_logical_date

    def choose_branch(self, context: dict[str, Any]) -> str | Iterable[str]:
        now = _now(context, self.use_task_logical_date)
        lower, upper = (self._on(now, t) for t in (self.target_lower, self.target_upper))
        if upper is not None and lower is not None and upper < lower:
            # Times of day that wrap over midnight (22:00 to 02:00).
            if now < upper:
                lower -= dt.timedelta(days=1)
            else:
                upper += dt.timedelta(days=1)
        inside = (lower is None or lower <= now) and (upper is None or now <= upper)
        return self.follow_task_ids_if_true if inside else self.follow_task_ids_if_false

    @staticmethod
    def _on(now: dt.datetime, target: dt.datetime | dt.time | None) -> dt.datetime | None:
        if target is None:
            return None
        if isinstance(target, dt.datetime):
            return target if target.tzinfo else target.replace(tzinfo=now.tzinfo)
        return dt.datetime.combine(now.date(), target, tzinfo=target.tzinfo or now.tzinfo)


class WeekDay(enum.IntEnum):
    """Airflow's ``WeekDay`` (ISO weekday numbers)."""

    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7

    @classmethod
    def get_weekday_number(cls, week_day_str: str) -> int:
        try:
            return cls[week_day_str.upper()]
        except KeyError:
            raise AttributeError(f'Invalid Week Day passed: "{week_day_str}"') from None

    @classmethod
    def convert(cls, day: str | WeekDay | Iterable[str | WeekDay]) -> set[int]:
        if isinstance(day, WeekDay):
            return {int(day)}
        if isinstance(day, str):
            return {cls.get_weekday_number(day)}
        return {int(d) if isinstance(d, WeekDay) else cls.get_weekday_number(d) for d in day}


class BranchDayOfWeekOperator(BaseBranchOperator):
    """Follow ``follow_task_ids_if_true`` on the given ``week_day``(s), else the other branch."""

    def __init__(
        self,
        *,
        follow_task_ids_if_true: str | Iterable[str],
        follow_task_ids_if_false: str | Iterable[str],
        week_day: str | WeekDay | Iterable[str | WeekDay],
        use_task_logical_date: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false
        self.week_day = week_day
        self.use_task_logical_date = use_task_logical_date
        self._week_day_num = WeekDay.convert(week_day)

    def choose_branch(self, context: dict[str, Any]) -> str | Iterable[str]:
        now = _now(context, self.use_task_logical_date)
        if now.isoweekday() in self._week_day_num:
            return self.follow_task_ids_if_true
        return self.follow_task_ids_if_false


def latest_window(
    timetable: Timetable, interval: DataInterval, *, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime] | None:
    """Return ``(left, right)``: a run of ``interval`` is the latest while ``left < now <= right``.

    As Airflow's LatestOnlyOperator:

    1. ``left`` is the end of the interval the timetable places before this one, if it places
       one ending by this one's end; else this interval's start. (For the data-interval and cron
       trigger timetables it is always the start.)
    2. ``right`` is the end of the interval the timetable schedules after this one.

    Returns None when the timetable schedules nothing after it (``schedule=None``, ``@once``,
    asset schedules): every run is then the latest. ``now`` is only handed to the timetable.
    """
    before = timetable.next_dagrun_info(
        last_automated_data_interval=interval,
        restriction=TimeRestriction(earliest=None, latest=interval.end - dt.timedelta(microseconds=1), catchup=True),
        now=now,
    )
    left = before.data_interval.end if before is not None else interval.start
    after = timetable.next_dagrun_info(
        last_automated_data_interval=interval,
        restriction=TimeRestriction(earliest=interval.end, latest=None, catchup=True),
        now=now,
    )
    if after is None:
        return None
    return left, after.data_interval.end


class LatestOnlyOperator(BaseBranchOperator):
    """Skip the direct downstream tasks unless this run covers the latest scheduled interval.

    As in Airflow: a manual run (``dags trigger``, ``dags test``, the trigger button) always
    proceeds; any other run (scheduled, backfill, asset-triggered) proceeds only while now lies in
    its ``latest_window`` (after its interval's start, up to the end of the next interval). A
    run of a DAG whose timetable schedules nothing after it proceeds too. Later tasks follow
    their trigger rules (an ``all_done`` task after a skipped one still runs).
    """

    ui_color = "#e9ffdb"

    def choose_branch(self, context: dict[str, Any]) -> str | Iterable[str] | None:
        proceed = sorted(self.downstream_task_ids)
        dag_run = context["dag_run"]
        if dag_run.run_type == "manual":  # runs_app's DagRunType.MANUAL (the SDK never imports runs_app)
            log.info("Manually triggered DAG_Run: allowing execution to proceed.")
            return proceed
        start = dag_run.data_interval_start or dag_run.logical_date
        end = dag_run.data_interval_end or dag_run.logical_date
        now = _utcnow()
        window = latest_window(self.dag.timetable, DataInterval(start=start, end=end), now=now)
        if window is None:
            log.info("Last scheduled execution: allowing execution to proceed.")
            return proceed
        left, right = window
        log.info("Checking latest only with left_window: %s right_window: %s now: %s", left, right, now)
        if not left < now <= right:
            log.info("Not latest execution, skipping downstream.")
            return []
        log.info("Latest, allowing execution to proceed.")
        return proceed

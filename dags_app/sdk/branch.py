"""Airflow's branch operators that choose without a callable: by subclass, by time, by weekday."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from typing import Any

from dags_app.sdk.baseoperator import BaseOperator
from dags_app.sdk.exceptions import AirflowException
from dags_app.sdk.operators import BranchMixIn


class BaseBranchOperator(BaseOperator, BranchMixIn):
    """Subclass it and implement ``choose_branch(context)``: the task id(s) returned are followed,
    every other direct downstream task is skipped."""

    def choose_branch(self, context: dict[str, Any]) -> str | Iterable[str] | None:
        raise NotImplementedError(f"{type(self).__name__} must implement choose_branch()")

    def execute(self, context: dict[str, Any]) -> Any:
        return self.do_branch(context, self.choose_branch(context))


def _now(context: dict[str, Any], use_logical_date: bool) -> dt.datetime:
    if use_logical_date:
        return context["logical_date"]
    return dt.datetime.now(dt.UTC)


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

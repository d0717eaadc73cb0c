"""Timetables: turn a DAG's ``schedule`` into data intervals, as Airflow 2 does.

A scheduled run covers a *data interval* and is due once that interval has ended: a ``@daily`` run
with logical date 2024-01-01 covers ``[2024-01-01, 2024-01-02)`` and may start once 2024-01-02
00:00 has passed. The classes mirror Airflow 2's ``NullTimetable``, ``OnceTimetable``,
``CronDataIntervalTimetable`` and ``DeltaDataIntervalTimetable``.

The module is framework-free (stdlib and croniter only) so DAG files can import it in any process,
and it never reads the clock: callers pass ``now``. Every datetime it returns is an aware UTC
``datetime.datetime``; naive inputs are taken as UTC and pendulum datetimes are accepted.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

UTC = dt.UTC

# Airflow's ``airflow.utils.dates.cron_presets``, plus croniter's ``@annually`` alias.
CRON_PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

_PRESET_DESCRIPTIONS: dict[str, str] = {
    "@hourly": "Every hour, at minute 0",
    "@daily": "Every day at 00:00",
    "@weekly": "Every Sunday at 00:00",
    "@monthly": "On day 1 of every month at 00:00",
    "@quarterly": "On day 1 of January, April, July and October at 00:00",
    "@yearly": "Every year on January 1 at 00:00",
    "@annually": "Every year on January 1 at 00:00",
}

_WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_WEEKDAY_ABBREVIATIONS = {name[:3].lower(): index for index, name in enumerate(_WEEKDAYS[:7])}
_MONTHS = [
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_MONTH_ABBREVIATIONS = {name[:3].lower(): index for index, name in enumerate(_MONTHS) if name}

# Any fixed instant works: croniter only needs a start to prove the expression ever fires.
_VALIDATION_ANCHOR = dt.datetime(2000, 1, 1)


class InvalidScheduleError(ValueError):
    """Raised when a DAG's ``schedule`` (or a serialized timetable) cannot be turned into a timetable."""


@dataclass(frozen=True)
class DataInterval:
    """The span of data a run processes: ``[start, end)``."""

    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class TimeRestriction:
    """Bounds on automated runs: the DAG's ``start_date``, ``end_date`` and ``catchup``."""

    earliest: dt.datetime | None
    latest: dt.datetime | None
    catchup: bool


@dataclass(frozen=True)
class DagRunInfo:
    """The next automated run: when it becomes due and the data interval it covers."""

    run_after: dt.datetime
    data_interval: DataInterval

    @property
    def logical_date(self) -> dt.datetime:
        """Return the run's logical date, which is the start of its data interval."""
        return self.data_interval.start


def _to_utc(value: dt.datetime) -> dt.datetime:
    """Return ``value`` as a plain aware UTC datetime; a naive ``value`` is taken as UTC.

    Pendulum datetimes come back as ``datetime.datetime`` so arithmetic stays stdlib.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return dt.datetime(
        value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, tzinfo=UTC
    )


def _restriction_to_utc(restriction: TimeRestriction) -> TimeRestriction:
    """Return ``restriction`` with both bounds converted to UTC."""
    return TimeRestriction(
        earliest=None if restriction.earliest is None else _to_utc(restriction.earliest),
        latest=None if restriction.latest is None else _to_utc(restriction.latest),
        catchup=restriction.catchup,
    )


class Timetable:
    """Base class: decide the data interval of each automated and manual run of a DAG."""

    periodic: bool = False
    can_be_scheduled: bool = True
    summary: str = ""
    description: str = ""

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: dt.datetime,
    ) -> DagRunInfo | None:
        """Return the next automated run after ``last_automated_data_interval``, or None if there is none.

        The run may lie in the future: the caller creates it once ``now >= run_after``.
        """
        raise NotImplementedError

    def infer_manual_data_interval(self, *, run_after: dt.datetime) -> DataInterval:
        """Return the data interval of a run triggered by hand at ``run_after``."""
        raise NotImplementedError

    def serialize(self) -> dict[str, Any]:
        """Return a JSON-able dict that ``timetable_from_dict`` turns back into an equal timetable."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(sorted(self.serialize().items()))))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.summary}>"


class NullTimetable(Timetable):
    """Never schedule anything: ``schedule=None``, runs only come from manual triggers."""

    can_be_scheduled = False
    summary = "None"
    description = "Never, external triggers only"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: dt.datetime,
    ) -> DagRunInfo | None:
        """Return None: this timetable creates no automated runs."""
        return None

    def infer_manual_data_interval(self, *, run_after: dt.datetime) -> DataInterval:
        """Return the empty interval ``[run_after, run_after]``."""
        at = _to_utc(run_after)
        return DataInterval(start=at, end=at)

    def serialize(self) -> dict[str, Any]:
        """Return ``{"type": "null"}``."""
        return {"type": "null"}


class OnceTimetable(Timetable):
    """Schedule one run at the DAG's ``start_date``: ``schedule="@once"``."""

    summary = "@once"
    description = "Once, as soon as possible"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: dt.datetime,
    ) -> DagRunInfo | None:
        """Return the single run at ``start_date``, or None once it exists, without a start date or past end_date.

        As in Airflow, ``catchup`` does not matter: the run's logical date is always the start date.
        """
        if last_automated_data_interval is not None:
            return None
        restriction = _restriction_to_utc(restriction)
        if restriction.earliest is None:
            return None
        at = restriction.earliest
        if restriction.latest is not None and at > restriction.latest:
            return None
        return DagRunInfo(run_after=at, data_interval=DataInterval(start=at, end=at))

    def infer_manual_data_interval(self, *, run_after: dt.datetime) -> DataInterval:
        """Return the empty interval ``[run_after, run_after]``."""
        at = _to_utc(run_after)
        return DataInterval(start=at, end=at)

    def serialize(self) -> dict[str, Any]:
        """Return ``{"type": "once"}``."""
        return {"type": "once"}


class _DataIntervalTimetable(Timetable):
    """Shared scheduling of back-to-back data intervals; subclasses say where boundaries fall."""

    periodic = True

    def _get_next(self, current: dt.datetime) -> dt.datetime:
        """Return the first boundary strictly after ``current``."""
        raise NotImplementedError

    def _get_prev(self, current: dt.datetime) -> dt.datetime:
        """Return the last boundary strictly before ``current``."""
        raise NotImplementedError

    def _align_to_next(self, current: dt.datetime) -> dt.datetime:
        """Return ``current`` if it is a boundary, else the next boundary."""
        raise NotImplementedError

    def _align_to_prev(self, current: dt.datetime) -> dt.datetime:
        """Return ``current`` if it is a boundary, else the previous boundary."""
        raise NotImplementedError

    def _skip_to_latest(self, earliest: dt.datetime, now: dt.datetime) -> dt.datetime:
        """Return the earliest interval start allowed when ``catchup`` is off."""
        raise NotImplementedError

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: dt.datetime,
    ) -> DagRunInfo | None:
        """Return the interval after ``last_automated_data_interval``, due at its end, or None.

        1. Without a start date (``restriction.earliest``) nothing is scheduled: return None.
        2. The lower bound is the start date aligned up to a boundary; without catchup it is raised
           to the start of the latest interval that is complete at ``now``.
        3. The first run starts at that bound; later runs start where the last one ended (aligned
           down to a boundary, in case the schedule changed), but never before the bound.
        4. A run whose interval starts after ``restriction.latest`` (end_date) is not scheduled:
           return None. An interval starting exactly at end_date is still scheduled, as in Airflow.
        """
        restriction = _restriction_to_utc(restriction)
        if restriction.earliest is None:
            return None
        if restriction.catchup:
            earliest = self._align_to_next(restriction.earliest)
        else:
            earliest = self._skip_to_latest(restriction.earliest, _to_utc(now))
        if last_automated_data_interval is None:
            start = earliest
        else:
            start = max(self._align_to_prev(_to_utc(last_automated_data_interval.end)), earliest)
        if restriction.latest is not None and start > restriction.latest:
            return None
        end = self._get_next(start)
        return DagRunInfo(run_after=end, data_interval=DataInterval(start=start, end=end))


def _parse_timezone(timezone: str) -> ZoneInfo:
    """Return the zone named ``timezone``; raise InvalidScheduleError if it is not an IANA name."""
    if not isinstance(timezone, str) or not timezone:
        raise InvalidScheduleError(f"Invalid timezone {timezone!r}: expected an IANA name such as 'Europe/Paris'")
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidScheduleError(f"Invalid timezone {timezone!r}: {exc}") from exc


def _validate_cron(expression: str) -> str:
    """Return the 5-field cron that ``expression`` (a preset or a cron string) stands for.

    Raises InvalidScheduleError for unknown presets, anything but five fields (croniter's
    seconds and year fields are rejected to keep Airflow's classic syntax) and expressions
    croniter rejects or that never fire (such as February 30).
    """
    if expression.startswith("@"):
        if expression not in CRON_PRESETS:
            known = ", ".join(["@once", *CRON_PRESETS])
            raise InvalidScheduleError(f"Invalid schedule {expression!r}: unknown preset, expected one of {known}")
        return CRON_PRESETS[expression]
    fields = expression.split()
    if len(fields) != 5:
        raise InvalidScheduleError(
            f"Invalid schedule {expression!r}: a cron expression has exactly 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    try:
        croniter(expression, _VALIDATION_ANCHOR).get_next(dt.datetime)
    except CroniterError as exc:
        raise InvalidScheduleError(f"Invalid schedule {expression!r}: {exc}") from exc
    return expression


class CronDataIntervalTimetable(_DataIntervalTimetable):
    """Schedule data intervals between consecutive cron boundaries, evaluated in ``timezone``.

    ``expression`` is a 5-field cron string or a preset such as ``@daily``; ``timezone`` is an
    IANA name, usually the zone of the DAG's start_date. Raises InvalidScheduleError for either.
    """

    def __init__(self, expression: str, timezone: str = "UTC") -> None:
        self.expression = expression.strip()
        self.cron = _validate_cron(self.expression)
        self.timezone = timezone
        self._zone = _parse_timezone(timezone)
        # Airflow's "fold hour" fix: schedules firing every hour step in absolute time, so the
        # repeated hour at the end of DST is not skipped.
        self._covers_every_hour = croniter(self.cron, _VALIDATION_ANCHOR).expanded[1] == ["*"]

    @property
    def summary(self) -> str:
        """Return the schedule as written, e.g. ``@daily`` or ``0 10 * * *``."""
        return self.expression

    @property
    def description(self) -> str:
        """Return the schedule in words, with the timezone when it is not UTC."""
        text = _PRESET_DESCRIPTIONS.get(self.expression) or _describe_cron(self.cron)
        if self.timezone != "UTC":
            text = f"{text} ({self.timezone})"
        return text

    def serialize(self) -> dict[str, Any]:
        """Return ``{"type": "cron", "expression": ..., "timezone": ...}``."""
        return {"type": "cron", "expression": self.expression, "timezone": self.timezone}

    def _step(self, current: dt.datetime, *, forward: bool) -> dt.datetime:
        """Return the cron boundary strictly after (or before) ``current``, in UTC.

        croniter works on naive wall-clock times, so ``current`` goes to local time and the
        result comes back through the zone, which resolves DST gaps forward.
        """
        local = current.astimezone(self._zone)
        naive = local.replace(tzinfo=None)
        cron = croniter(self.cron, naive)
        scheduled = cron.get_next(dt.datetime) if forward else cron.get_prev(dt.datetime)
        if not self._covers_every_hour:
            return scheduled.replace(tzinfo=self._zone).astimezone(UTC)
        # As pendulum does in Airflow: whole days move on the wall clock, the rest in absolute time.
        delta = scheduled - naive if forward else naive - scheduled
        sign = 1 if forward else -1
        days = dt.timedelta(days=delta.days)
        wall = (naive + sign * days).replace(tzinfo=self._zone, fold=local.fold)
        return wall.astimezone(UTC) + sign * (delta - days)

    def _get_next(self, current: dt.datetime) -> dt.datetime:
        return self._step(current, forward=True)

    def _get_prev(self, current: dt.datetime) -> dt.datetime:
        return self._step(current, forward=False)

    def _align_to_next(self, current: dt.datetime) -> dt.datetime:
        next_time = self._get_next(current)
        return current if self._get_prev(next_time) == current else next_time

    def _align_to_prev(self, current: dt.datetime) -> dt.datetime:
        prev_time = self._get_prev(current)
        return current if self._get_next(prev_time) == current else prev_time

    def _skip_to_latest(self, earliest: dt.datetime, now: dt.datetime) -> dt.datetime:
        """Return the start of the latest interval complete at ``now``, or the aligned start date if later.

        When ``now`` is exactly a boundary, the interval ending at ``now`` is the latest complete one.
        """
        last_start = self._get_prev(now)
        now_is_boundary = self._get_next(last_start) == now
        new_start = last_start if now_is_boundary else self._get_prev(last_start)
        return max(new_start, self._align_to_next(earliest))

    def infer_manual_data_interval(self, *, run_after: dt.datetime) -> DataInterval:
        """Return the last complete cron interval ending at or before ``run_after``.

        A manual run at 01:00 on the 25th of a ``@daily`` DAG covers 00:00 24th to 00:00 25th.
        """
        end = self._align_to_prev(_to_utc(run_after))
        return DataInterval(start=self._get_prev(end), end=end)


class DeltaDataIntervalTimetable(_DataIntervalTimetable):
    """Schedule back-to-back data intervals of a fixed length ``delta`` from the start date.

    Raises InvalidScheduleError unless ``delta`` is a positive ``timedelta``.
    """

    def __init__(self, delta: dt.timedelta) -> None:
        if not isinstance(delta, dt.timedelta):
            raise InvalidScheduleError(f"Invalid schedule {delta!r}: expected a datetime.timedelta")
        if delta <= dt.timedelta(0):
            raise InvalidScheduleError(f"Invalid schedule {delta!r}: schedule interval must be positive")
        self.delta = delta

    @property
    def summary(self) -> str:
        """Return ``str(delta)``, e.g. ``1 day, 0:00:00``."""
        return str(self.delta)

    @property
    def description(self) -> str:
        """Return the interval in words, e.g. ``Every 1 day`` or ``Every 1 hour, 30 minutes``."""
        return f"Every {_describe_timedelta(self.delta)}"

    def serialize(self) -> dict[str, Any]:
        """Return ``{"type": "delta", "delta": <seconds>}``."""
        return {"type": "delta", "delta": self.delta.total_seconds()}

    def _get_next(self, current: dt.datetime) -> dt.datetime:
        return current + self.delta

    def _get_prev(self, current: dt.datetime) -> dt.datetime:
        return current - self.delta

    def _align_to_next(self, current: dt.datetime) -> dt.datetime:
        return current

    def _align_to_prev(self, current: dt.datetime) -> dt.datetime:
        return current

    def _skip_to_latest(self, earliest: dt.datetime, now: dt.datetime) -> dt.datetime:
        """Return ``now - delta``, or the start date if later.

        Unlike cron there is no grid to snap to, so the interval ends exactly at ``now``.
        """
        return max(now - self.delta, earliest)

    def infer_manual_data_interval(self, *, run_after: dt.datetime) -> DataInterval:
        """Return ``[run_after - delta, run_after]``."""
        end = _to_utc(run_after)
        return DataInterval(start=end - self.delta, end=end)


class CronTriggerTimetable(CronDataIntervalTimetable):
    """Run at each cron time, the run's logical date being that time (Airflow's ``CronTriggerTimetable``).

    Unlike the data-interval timetable a run is due *at* its cron time, not after the interval that
    starts there; its data interval is ``[time - interval, time]`` (empty by default). Without
    catchup the next run is the latest cron time at or before ``now`` if that is later.
    """

    def __init__(
        self,
        cron: str,
        *,
        timezone: str | Any = "UTC",
        interval: dt.timedelta = dt.timedelta(0),
        run_immediately: bool = False,
    ) -> None:
        super().__init__(cron, str(getattr(timezone, "name", None) or getattr(timezone, "key", None) or timezone))
        if not isinstance(interval, dt.timedelta):
            raise InvalidScheduleError(f"CronTriggerTimetable interval must be a timedelta, got {interval!r}")
        self.interval = interval
        self.run_immediately = bool(run_immediately)

    @property
    def description(self) -> str:
        return f"{super().description} (trigger)"

    def serialize(self) -> dict[str, Any]:
        """Return ``{"type": "cron_trigger", "expression", "timezone", "interval", "run_immediately"}``."""
        return {
            "type": "cron_trigger",
            "expression": self.expression,
            "timezone": self.timezone,
            "interval": self.interval.total_seconds(),
            "run_immediately": self.run_immediately,
        }

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: dt.datetime,
    ) -> DagRunInfo | None:
        restriction = _restriction_to_utc(restriction)
        if restriction.earliest is None:
            return None
        earliest = self._align_to_next(restriction.earliest)
        if last_automated_data_interval is not None:
            at = self._get_next(_to_utc(last_automated_data_interval.end))
            if not restriction.catchup:
                at = max(at, self._latest_allowed(_to_utc(now)))
        elif restriction.catchup:
            at = earliest
        else:
            at = max(earliest, self._latest_allowed(_to_utc(now)))
        if restriction.latest is not None and at > restriction.latest:
            return None
        return DagRunInfo(run_after=at, data_interval=DataInterval(start=at - self.interval, end=at))

    def _latest_allowed(self, now: dt.datetime) -> dt.datetime:
        # As Airflow: without catchup the latest cron time at or before now still runs. (Airflow's
        # run_immediately only matters for a DAG without a start date, which never runs here.)
        return self._align_to_prev(now)

    def infer_manual_data_interval(self, *, run_after: dt.datetime) -> DataInterval:
        at = _to_utc(run_after)
        return DataInterval(start=at - self.interval, end=at)


def create_timetable(schedule: Any, timezone: str = "UTC") -> Timetable:
    """Return the timetable for a DAG's ``schedule``, evaluating crons in ``timezone``.

    ``schedule`` is None, ``"@once"``, a cron preset, a 5-field cron string, a positive
    ``timedelta`` or a Timetable (returned as is). Raises InvalidScheduleError for anything else,
    naming the value; ``"@continuous"`` is not supported.
    """
    if schedule is None:
        return NullTimetable()
    if isinstance(schedule, Timetable):
        return schedule
    if isinstance(schedule, dt.timedelta):
        return DeltaDataIntervalTimetable(schedule)
    if isinstance(schedule, str):
        expression = schedule.strip()
        if expression == "@once":
            return OnceTimetable()
        if expression == "@continuous":
            raise InvalidScheduleError(f"Invalid schedule {schedule!r}: not supported")
        return CronDataIntervalTimetable(expression, timezone)
    raise InvalidScheduleError(
        f"Invalid schedule {schedule!r}: expected None, '@once', a cron preset or expression, "
        f"a timedelta or a Timetable, got {type(schedule).__name__}"
    )


def timetable_from_dict(data: dict[str, Any]) -> Timetable:
    """Return the timetable that ``Timetable.serialize`` described; raise InvalidScheduleError if unknown."""
    kind = data.get("type") if isinstance(data, dict) else None
    try:
        if kind == "null":
            return NullTimetable()
        if kind == "once":
            return OnceTimetable()
        if kind == "cron":
            return _cron_timetable(data["expression"], data.get("timezone", "UTC"))
        if kind == "cron_trigger":
            return CronTriggerTimetable(
                data["expression"],
                timezone=data.get("timezone", "UTC"),
                interval=dt.timedelta(seconds=data.get("interval", 0)),
                run_immediately=data.get("run_immediately", False),
            )
        if kind == "delta":
            return DeltaDataIntervalTimetable(dt.timedelta(seconds=data["delta"]))
    except (KeyError, TypeError) as exc:
        raise InvalidScheduleError(f"Invalid serialized timetable {data!r}: {exc!r}") from exc
    raise InvalidScheduleError(f"Invalid serialized timetable {data!r}: unknown type {kind!r}")


@functools.lru_cache(maxsize=1024)
def _cron_timetable(expression: str, timezone: str) -> CronDataIntervalTimetable:
    """Return a (shared, immutable) cron timetable: validating an expression costs croniter work."""
    return CronDataIntervalTimetable(expression, timezone)


def _plural(count: int, unit: str) -> str:
    """Return ``"1 day"`` / ``"2 days"``."""
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def _describe_timedelta(delta: dt.timedelta) -> str:
    """Return ``delta`` in words, largest unit first, e.g. ``1 day, 6 hours``."""
    hours, rest = divmod(delta.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        _plural(count, unit)
        for count, unit in (
            (delta.days, "day"),
            (hours, "hour"),
            (minutes, "minute"),
            (seconds, "second"),
            (delta.microseconds, "microsecond"),
        )
        if count
    ]
    return ", ".join(parts)


def _join(words: list[str]) -> str:
    """Return ``"a"``, ``"a and b"`` or ``"a, b and c"``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _describe_values(field: str, names: list[str] | None, aliases: dict[str, int] | None) -> str | None:
    """Return a cron field made of values, ranges and lists in words, or None if it uses other syntax."""
    words = []
    for part in field.lower().split(","):
        bounds = part.split("-")
        if len(bounds) > 2:
            return None
        values = []
        for bound in bounds:
            if bound.isdigit():
                value = int(bound)
            elif aliases is not None and bound in aliases:
                value = aliases[bound]
            else:
                return None
            if names is not None and value >= len(names):
                return None
            values.append(names[value] if names is not None else str(value))
        words.append(" through ".join(values))
    return _join(words)


def _describe_cron(cron: str) -> str:
    """Return a 5-field cron in words, e.g. ``At 10:00, only on Monday``.

    Common shapes get a sentence; anything else falls back to naming the expression.
    """
    minute, hour, day, month, weekday = cron.split()
    fallback = f"On the cron schedule '{cron}'"
    if minute.isdigit() and hour.isdigit():
        text = f"At {int(hour):02d}:{int(minute):02d}"
    elif minute.isdigit() and hour == "*":
        text = f"At minute {int(minute)} of every hour"
    elif minute == "*" and hour == "*":
        text = "Every minute"
    elif minute.startswith("*/") and minute[2:].isdigit() and hour == "*":
        text = f"Every {int(minute[2:])} minutes"
    elif minute.isdigit() and hour.startswith("*/") and hour[2:].isdigit():
        text = f"At minute {int(minute)} of every {int(hour[2:])} hours"
    else:
        return fallback
    if day != "*":
        days = _describe_values(day, None, None)
        if days is None:
            return fallback
        text += f", on day {days} of the month"
    if month != "*":
        if month.startswith("*/") and month[2:].isdigit():
            text += f", every {int(month[2:])} months"
        else:
            months = _describe_values(month, _MONTHS, _MONTH_ABBREVIATIONS)
            if months is None:
                return fallback
            text += f", only in {months}"
    if weekday != "*":
        weekdays = _describe_values(weekday, _WEEKDAYS, _WEEKDAY_ABBREVIATIONS)
        if weekdays is None:
            return fallback
        text += f", only on {weekdays}"
    return text

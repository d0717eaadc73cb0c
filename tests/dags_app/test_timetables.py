"""Timetables follow Airflow 2's data-interval semantics (``dags_app/timetables.py``)."""

import datetime as dt
import re

import pendulum
import pytest

from dags_app.timetables import (
    CronDataIntervalTimetable,
    DagRunInfo,
    DataInterval,
    DeltaDataIntervalTimetable,
    InvalidScheduleError,
    NullTimetable,
    OnceTimetable,
    TimeRestriction,
    Timetable,
    create_timetable,
    timetable_from_dict,
)

pytestmark = pytest.mark.no_database

UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def due_runs(
    timetable: Timetable,
    *,
    start_date: dt.datetime | None,
    now: dt.datetime,
    catchup: bool = True,
    end_date: dt.datetime | None = None,
) -> list[DagRunInfo]:
    """Return the runs a scheduler would create at ``now``, calling next_dagrun_info as it does."""
    restriction = TimeRestriction(earliest=start_date, latest=end_date, catchup=catchup)
    runs: list[DagRunInfo] = []
    last = None
    while True:
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction, now=now)
        if info is None or info.run_after > now:
            return runs
        runs.append(info)
        last = info.data_interval


# create_timetable


@pytest.mark.parametrize(
    ("preset", "cron"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@quarterly", "0 0 1 */3 *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ],
)
def test_every_preset_maps_to_its_cron(preset, cron):
    timetable = create_timetable(preset)

    assert isinstance(timetable, CronDataIntervalTimetable)
    assert timetable.cron == cron
    assert timetable.summary == preset


def test_cron_string_creates_a_periodic_cron_timetable():
    timetable = create_timetable("0 10 * * *")

    assert isinstance(timetable, CronDataIntervalTimetable)
    assert timetable.cron == "0 10 * * *"
    assert timetable.periodic is True
    assert timetable.can_be_scheduled is True


def test_none_creates_a_null_timetable_that_cannot_be_scheduled():
    timetable = create_timetable(None)

    assert isinstance(timetable, NullTimetable)
    assert timetable.can_be_scheduled is False
    assert timetable.periodic is False


def test_once_creates_a_once_timetable():
    assert isinstance(create_timetable("@once"), OnceTimetable)


def test_timedelta_creates_a_delta_timetable():
    timetable = create_timetable(dt.timedelta(hours=6))

    assert isinstance(timetable, DeltaDataIntervalTimetable)
    assert timetable.delta == dt.timedelta(hours=6)
    assert timetable.periodic is True


def test_timetable_instance_is_returned_as_is():
    timetable = DeltaDataIntervalTimetable(dt.timedelta(days=1))

    assert create_timetable(timetable) is timetable


@pytest.mark.parametrize(
    "schedule",
    [
        "0 99 * * *",  # hour out of range
        "60 * * * *",
        "not a cron",
        "0 0 30 2 *",  # February 30th never happens
        "0 0 * * * *",  # croniter's seconds field is not Airflow's classic syntax
        "0 0 * * * * 2024",
        "@midnight",
        "",
    ],
)
def test_invalid_cron_raises_invalid_schedule_error_naming_the_value(schedule):
    with pytest.raises(InvalidScheduleError, match=re.escape(f"Invalid schedule '{schedule}'")):
        create_timetable(schedule)


@pytest.mark.parametrize("schedule", [42, 1.5, True, ["@daily"], {"cron": "0 0 * * *"}])
def test_schedule_of_wrong_type_raises_invalid_schedule_error_naming_the_value(schedule):
    with pytest.raises(InvalidScheduleError, match=re.escape(f"Invalid schedule {schedule!r}")):
        create_timetable(schedule)


@pytest.mark.parametrize("delta", [dt.timedelta(days=-1), dt.timedelta(0)])
def test_non_positive_timedelta_raises_invalid_schedule_error(delta):
    with pytest.raises(InvalidScheduleError, match=r"Invalid schedule datetime\.timedelta.*must be positive"):
        create_timetable(delta)


def test_continuous_schedule_is_not_supported():
    with pytest.raises(InvalidScheduleError, match="'@continuous': not supported"):
        create_timetable("@continuous")


def test_unknown_timezone_raises_invalid_schedule_error():
    with pytest.raises(InvalidScheduleError, match="Invalid timezone 'Mars/Olympus'"):
        create_timetable("@daily", timezone="Mars/Olympus")


def test_invalid_schedule_error_is_a_value_error():
    assert issubclass(InvalidScheduleError, ValueError)


# Cron: catchup, end_date, alignment


def test_daily_catchup_creates_one_run_per_complete_day_since_start_date():
    runs = due_runs(create_timetable("@daily"), start_date=utc(2024, 1, 1), now=utc(2024, 1, 6, 12))

    assert [run.logical_date for run in runs] == [utc(2024, 1, day) for day in range(1, 6)]
    assert [run.data_interval for run in runs] == [
        DataInterval(start=utc(2024, 1, day), end=utc(2024, 1, day + 1)) for day in range(1, 6)
    ]


def test_daily_run_is_due_at_the_end_of_its_data_interval():
    info = create_timetable("@daily").next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=utc(2024, 1, 1), latest=None, catchup=True),
        now=utc(2024, 1, 1),
    )

    assert info == DagRunInfo(
        run_after=utc(2024, 1, 2), data_interval=DataInterval(start=utc(2024, 1, 1), end=utc(2024, 1, 2))
    )
    assert info.logical_date == utc(2024, 1, 1)


def test_daily_without_catchup_creates_only_the_latest_complete_interval():
    runs = due_runs(create_timetable("@daily"), start_date=utc(2024, 1, 1), now=utc(2024, 1, 6, 12), catchup=False)

    assert [run.data_interval for run in runs] == [DataInterval(start=utc(2024, 1, 5), end=utc(2024, 1, 6))]


def test_without_catchup_an_interval_ending_exactly_now_is_the_latest_complete_one():
    runs = due_runs(create_timetable("@daily"), start_date=utc(2024, 1, 1), now=utc(2024, 1, 6), catchup=False)

    assert [run.logical_date for run in runs] == [utc(2024, 1, 5)]


def test_without_catchup_the_next_run_follows_the_last_one_without_skipping():
    timetable = create_timetable("@daily")
    info = timetable.next_dagrun_info(
        last_automated_data_interval=DataInterval(start=utc(2024, 1, 5), end=utc(2024, 1, 6)),
        restriction=TimeRestriction(earliest=utc(2024, 1, 1), latest=None, catchup=False),
        now=utc(2024, 1, 6, 12),
    )

    assert info.data_interval == DataInterval(start=utc(2024, 1, 6), end=utc(2024, 1, 7))


def test_without_catchup_runs_never_start_before_the_start_date():
    runs = due_runs(create_timetable("@daily"), start_date=utc(2024, 1, 6), now=utc(2024, 1, 6, 12), catchup=False)
    info = create_timetable("@daily").next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=utc(2024, 1, 6), latest=None, catchup=False),
        now=utc(2024, 1, 6, 12),
    )

    assert runs == []
    assert info.logical_date == utc(2024, 1, 6)


def test_end_date_still_allows_the_run_whose_interval_starts_on_it():
    runs = due_runs(
        create_timetable("@daily"), start_date=utc(2024, 1, 1), end_date=utc(2024, 1, 3), now=utc(2024, 1, 10)
    )

    assert [run.logical_date for run in runs] == [utc(2024, 1, 1), utc(2024, 1, 2), utc(2024, 1, 3)]


def test_end_date_stops_runs_whose_interval_starts_after_it():
    info = create_timetable("@daily").next_dagrun_info(
        last_automated_data_interval=DataInterval(start=utc(2024, 1, 3), end=utc(2024, 1, 4)),
        restriction=TimeRestriction(earliest=utc(2024, 1, 1), latest=utc(2024, 1, 3, 12), catchup=True),
        now=utc(2024, 1, 10),
    )

    assert info is None


def test_start_date_off_the_cron_boundary_aligns_up_to_the_next_boundary():
    info = create_timetable("0 10 * * *").next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=utc(2024, 1, 1, 12, 30), latest=None, catchup=True),
        now=utc(2024, 1, 10),
    )

    assert info.data_interval == DataInterval(start=utc(2024, 1, 2, 10), end=utc(2024, 1, 3, 10))


def test_periodic_timetable_without_start_date_schedules_nothing():
    info = create_timetable("@daily").next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=None, latest=None, catchup=False),
        now=utc(2024, 1, 10),
    )

    assert info is None


def test_naive_datetimes_are_taken_as_utc():
    info = create_timetable("@daily").next_dagrun_info(
        last_automated_data_interval=DataInterval(start=dt.datetime(2024, 1, 1), end=dt.datetime(2024, 1, 2)),
        restriction=TimeRestriction(earliest=dt.datetime(2024, 1, 1), latest=None, catchup=False),
        now=dt.datetime(2024, 1, 3),
    )

    assert info.data_interval == DataInterval(start=utc(2024, 1, 2), end=utc(2024, 1, 3))
    assert info.run_after.tzinfo is UTC


# Cron: timezones


def test_cron_fires_at_local_time_of_its_timezone():
    start_date = dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    runs = due_runs(create_timetable("0 10 * * *", "Asia/Seoul"), start_date=start_date, now=utc(2024, 1, 3, 2))

    assert [run.data_interval for run in runs] == [
        DataInterval(start=utc(2024, 1, 1, 1), end=utc(2024, 1, 2, 1)),
        DataInterval(start=utc(2024, 1, 2, 1), end=utc(2024, 1, 3, 1)),
    ]


def test_cron_follows_daylight_saving_time_in_its_timezone():
    timetable = create_timetable("0 10 * * *", "Europe/Zurich")
    runs = due_runs(timetable, start_date=utc(2024, 3, 30), now=utc(2024, 4, 1))

    # Zurich moves from UTC+1 to UTC+2 on 2024-03-31.
    assert [run.logical_date for run in runs] == [utc(2024, 3, 30, 9)]
    assert runs[0].run_after == utc(2024, 3, 31, 8)


def test_pendulum_datetimes_are_accepted():
    start_date = pendulum.datetime(2024, 1, 1, tz="Asia/Seoul")
    runs = due_runs(
        create_timetable("0 10 * * *", "Asia/Seoul"), start_date=start_date, now=pendulum.datetime(2024, 1, 3, 2)
    )

    assert [run.logical_date for run in runs] == [utc(2024, 1, 1, 1), utc(2024, 1, 2, 1)]
    assert type(runs[0].logical_date) is dt.datetime


# Delta


def test_timedelta_with_catchup_creates_back_to_back_intervals_from_start_date():
    runs = due_runs(create_timetable(dt.timedelta(hours=8)), start_date=utc(2024, 1, 1, 3), now=utc(2024, 1, 2))

    assert [run.data_interval for run in runs] == [
        DataInterval(start=utc(2024, 1, 1, 3), end=utc(2024, 1, 1, 11)),
        DataInterval(start=utc(2024, 1, 1, 11), end=utc(2024, 1, 1, 19)),
    ]


def test_timedelta_without_catchup_creates_one_interval_ending_now():
    now = utc(2024, 1, 10, 12, 34)
    runs = due_runs(create_timetable(dt.timedelta(days=1)), start_date=utc(2024, 1, 1), now=now, catchup=False)

    assert [run.data_interval for run in runs] == [DataInterval(start=now - dt.timedelta(days=1), end=now)]


def test_timedelta_without_catchup_never_starts_before_start_date():
    info = create_timetable(dt.timedelta(days=1)).next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=utc(2024, 1, 10), latest=None, catchup=False),
        now=utc(2024, 1, 10, 6),
    )

    assert info.data_interval == DataInterval(start=utc(2024, 1, 10), end=utc(2024, 1, 11))


# @once and None


def test_once_schedules_a_single_run_at_start_date():
    info = OnceTimetable().next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=utc(2024, 1, 1, 7), latest=None, catchup=False),
        now=utc(2024, 2, 1),
    )

    assert info == DagRunInfo(
        run_after=utc(2024, 1, 1, 7), data_interval=DataInterval(start=utc(2024, 1, 1, 7), end=utc(2024, 1, 1, 7))
    )


def test_once_schedules_nothing_after_its_run():
    info = OnceTimetable().next_dagrun_info(
        last_automated_data_interval=DataInterval(start=utc(2024, 1, 1), end=utc(2024, 1, 1)),
        restriction=TimeRestriction(earliest=utc(2024, 1, 1), latest=None, catchup=True),
        now=utc(2024, 2, 1),
    )

    assert info is None


def test_once_without_start_date_schedules_nothing():
    info = OnceTimetable().next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
        now=utc(2024, 2, 1),
    )

    assert info is None


def test_null_timetable_never_schedules():
    info = NullTimetable().next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=utc(2024, 1, 1), latest=None, catchup=True),
        now=utc(2024, 2, 1),
    )

    assert info is None


# Manual runs


def test_manual_cron_run_covers_the_last_complete_interval():
    interval = create_timetable("@daily").infer_manual_data_interval(run_after=utc(2024, 1, 25, 1))

    assert interval == DataInterval(start=utc(2024, 1, 24), end=utc(2024, 1, 25))


def test_manual_cron_run_on_a_boundary_ends_at_run_after():
    interval = create_timetable("@daily").infer_manual_data_interval(run_after=utc(2024, 1, 25))

    assert interval == DataInterval(start=utc(2024, 1, 24), end=utc(2024, 1, 25))


def test_manual_delta_run_covers_one_delta_before_run_after():
    interval = create_timetable(dt.timedelta(hours=6)).infer_manual_data_interval(run_after=utc(2024, 1, 25, 1))

    assert interval == DataInterval(start=utc(2024, 1, 24, 19), end=utc(2024, 1, 25, 1))


@pytest.mark.parametrize("schedule", [None, "@once"])
def test_manual_run_of_non_periodic_timetable_has_an_empty_interval_at_run_after(schedule):
    interval = create_timetable(schedule).infer_manual_data_interval(run_after=utc(2024, 1, 25, 1))

    assert interval == DataInterval(start=utc(2024, 1, 25, 1), end=utc(2024, 1, 25, 1))


# Serialization


@pytest.mark.parametrize(
    "schedule",
    [None, "@once", "@daily", "0 10 * * *", dt.timedelta(days=1, minutes=30)],
)
def test_serialize_roundtrips_through_timetable_from_dict(schedule):
    timetable = create_timetable(schedule, timezone="Asia/Seoul")

    restored = timetable_from_dict(timetable.serialize())

    assert restored == timetable
    assert type(restored) is type(timetable)
    assert restored.summary == timetable.summary


def test_serialized_cron_keeps_its_timezone():
    restored = timetable_from_dict(create_timetable("0 10 * * *", "Asia/Seoul").serialize())

    assert restored.timezone == "Asia/Seoul"


def test_timetable_from_dict_rejects_unknown_type():
    with pytest.raises(InvalidScheduleError, match="unknown type 'dataset'"):
        timetable_from_dict({"type": "dataset"})


# Summary and description


@pytest.mark.parametrize(
    ("schedule", "summary", "description"),
    [
        (None, "None", "Never, external triggers only"),
        ("@once", "@once", "Once, as soon as possible"),
        ("@daily", "@daily", "Every day at 00:00"),
        ("0 10 * * *", "0 10 * * *", "At 10:00"),
        ("30 6 * * 1-5", "30 6 * * 1-5", "At 06:30, only on Monday through Friday"),
        ("*/15 * * * *", "*/15 * * * *", "Every 15 minutes"),
        (dt.timedelta(days=1), "1 day, 0:00:00", "Every 1 day"),
        (dt.timedelta(hours=1, minutes=30), "1:30:00", "Every 1 hour, 30 minutes"),
    ],
)
def test_summary_and_description_describe_the_schedule(schedule, summary, description):
    timetable = create_timetable(schedule)

    assert timetable.summary == summary
    assert timetable.description == description


def test_description_names_a_non_utc_timezone():
    assert create_timetable("0 10 * * *", "Asia/Seoul").description == "At 10:00 (Asia/Seoul)"

"""CronTriggerTimetable and AssetOrTimeSchedule (Airflow's ``airflow.timetables.trigger`` /
``airflow.timetables.assets``): runs at each cron time, and assets or time."""

from __future__ import annotations

import datetime as dt

import pytest

from dags_app.sdk import DAG
from dags_app.sdk.assets import Asset, AssetOrTimeSchedule
from dags_app.serialization import serialize_dag
from dags_app.timetables import CronTriggerTimetable, DataInterval, TimeRestriction, timetable_from_dict

pytestmark = pytest.mark.no_database

UTC = dt.UTC
START = dt.datetime(2024, 1, 1, tzinfo=UTC)


def _next(timetable, *, last=None, catchup=True, now=START):
    return timetable.next_dagrun_info(
        last_automated_data_interval=last,
        restriction=TimeRestriction(earliest=START, latest=None, catchup=catchup),
        now=now,
    )


def test_a_run_is_due_at_its_cron_time_with_an_empty_interval():
    timetable = CronTriggerTimetable("0 1 * * *", timezone="UTC")
    first = _next(timetable)
    assert first.run_after == dt.datetime(2024, 1, 1, 1, tzinfo=UTC)
    assert first.data_interval == DataInterval(first.run_after, first.run_after)
    second = _next(timetable, last=first.data_interval)
    assert second.run_after == dt.datetime(2024, 1, 2, 1, tzinfo=UTC)


def test_an_interval_reaches_back_from_the_cron_time():
    timetable = CronTriggerTimetable("0 1 * * *", timezone="UTC", interval=dt.timedelta(hours=1))
    info = _next(timetable)
    assert info.data_interval == DataInterval(dt.datetime(2024, 1, 1, 0, tzinfo=UTC), info.run_after)
    assert _next(timetable, last=info.data_interval).run_after == dt.datetime(2024, 1, 2, 1, tzinfo=UTC)


def test_without_catchup_the_latest_cron_time_before_now_runs():
    timetable = CronTriggerTimetable("0 1 * * *", timezone="UTC")
    now = dt.datetime(2024, 3, 10, 12, tzinfo=UTC)
    assert _next(timetable, catchup=False, now=now).run_after == dt.datetime(2024, 3, 10, 1, tzinfo=UTC)


def test_it_round_trips_through_serialization():
    timetable = CronTriggerTimetable("0 1 * * 3", timezone="Europe/Paris", interval=dt.timedelta(minutes=5))
    assert timetable_from_dict(timetable.serialize()) == timetable


def test_asset_or_time_keeps_the_time_schedule_and_the_asset_condition():
    asset = Asset("s3://a")
    with DAG(
        "both",
        start_date=START,
        schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 1 * * 3", timezone="UTC"), assets=[asset]),
    ) as dag:
        pass
    data = serialize_dag(dag)
    assert data["timetable"]["type"] == "cron_trigger"
    assert data["asset_condition"] == {"asset": "s3://a", "uri": "s3://a"}
    assert data["schedule"] == "Asset or 0 1 * * 3"

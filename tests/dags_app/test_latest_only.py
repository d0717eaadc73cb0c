"""LatestOnlyOperator (dags_app/sdk/branch.py): downstream tasks run only for the latest scheduled
interval, and always for manual runs, as in Airflow."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.utils import timezone

from dags_app.models import DagImportError, DagModel
from dags_app.sdk import DAG, EmptyOperator
from dags_app.sdk import branch as branch_module
from dags_app.sdk.branch import LatestOnlyOperator, latest_window
from dags_app.sdk.dag_context import DagContext
from dags_app.timetables import (
    CronDataIntervalTimetable,
    CronTriggerTimetable,
    DataInterval,
    DeltaDataIntervalTimetable,
    NullTimetable,
    OnceTimetable,
)
from runs_app.runner import dag_run_execute_inline
from runs_app.services import dag_run_create
from runs_app.states import DagRunState, DagRunType, TaskInstanceState

UTC = dt.UTC
T0 = dt.datetime(2024, 3, 10, tzinfo=UTC)
HOUR = dt.timedelta(hours=1)


@pytest.fixture(autouse=True)
def _reset_dag_context():
    DagContext.reset()
    yield
    DagContext.reset()


class FakeTI:
    def __init__(self) -> None:
        self.skipped: list[str] = []

    def skip_tasks(self, task_ids: list[str]) -> None:
        self.skipped.extend(task_ids)


def _dag(schedule=dt.timedelta(hours=4)) -> tuple[DAG, LatestOnlyOperator]:
    with DAG("latest", schedule=schedule, start_date=T0 - 10 * 24 * HOUR, catchup=False) as dag:
        latest = LatestOnlyOperator(task_id="latest_only")
        task1 = EmptyOperator(task_id="task1")
        latest >> task1 >> EmptyOperator(task_id="task3")
    return dag, latest


def _skipped(latest: LatestOnlyOperator, *, run_type: str, start: dt.datetime, end: dt.datetime, now, monkeypatch):
    """Execute ``latest`` for a run of ``[start, end)`` at ``now``; return the tasks it skipped."""
    monkeypatch.setattr(branch_module, "_utcnow", lambda: now)
    ti = FakeTI()
    dag_run = SimpleNamespace(run_type=run_type, logical_date=start, data_interval_start=start, data_interval_end=end)
    latest.execute({"ti": ti, "dag_run": dag_run, "logical_date": start})
    return ti.skipped


# -- the window --------------------------------------------------------------------------------------


def test_the_latest_window_runs_from_the_interval_s_start_to_the_end_of_the_next_interval():
    interval = DataInterval(start=T0, end=T0 + 4 * HOUR)

    assert latest_window(DeltaDataIntervalTimetable(4 * HOUR), interval, now=T0) == (T0, T0 + 8 * HOUR)
    daily = DataInterval(start=T0, end=T0 + 24 * HOUR)
    assert latest_window(CronDataIntervalTimetable("@daily"), daily, now=T0) == (T0, T0 + 48 * HOUR)


def test_the_latest_window_of_a_cron_trigger_run_ends_at_the_next_cron_time():
    at = DataInterval(start=T0, end=T0)

    assert latest_window(CronTriggerTimetable("0 * * * *"), at, now=T0) == (T0, T0 + HOUR)


@pytest.mark.parametrize("timetable", [NullTimetable(), OnceTimetable()])
def test_a_timetable_that_schedules_nothing_after_the_run_has_no_window(timetable):
    assert latest_window(timetable, DataInterval(start=T0, end=T0), now=T0) is None


# -- the operator, with a given clock ------------------------------------------------------------------


def test_a_scheduled_run_of_the_latest_interval_skips_nothing(monkeypatch):
    _, latest = _dag()
    # The run of [T0, T0+4h) starts at T0+4h; it is the latest until T0+8h.
    skipped = _skipped(
        latest, run_type="scheduled", start=T0, end=T0 + 4 * HOUR, now=T0 + 5 * HOUR, monkeypatch=monkeypatch
    )
    assert skipped == []


def test_a_scheduled_run_of_an_older_interval_skips_its_direct_downstream_tasks(monkeypatch):
    _, latest = _dag()
    skipped = _skipped(
        latest, run_type="scheduled", start=T0, end=T0 + 4 * HOUR, now=T0 + 8 * HOUR + dt.timedelta(seconds=1),
        monkeypatch=monkeypatch,
    )  # fmt: skip
    assert skipped == ["task1"]  # task3 follows its trigger rule


@pytest.mark.parametrize("run_type", ["backfill", "asset_triggered"])
def test_backfill_and_asset_triggered_runs_are_compared_with_the_window_too(monkeypatch, run_type):
    _, latest = _dag()
    skipped = _skipped(
        latest, run_type=run_type, start=T0, end=T0 + 4 * HOUR, now=T0 + 48 * HOUR, monkeypatch=monkeypatch
    )
    assert skipped == ["task1"]


def test_a_manual_run_always_proceeds(monkeypatch):
    _, latest = _dag()
    skipped = _skipped(
        latest, run_type="manual", start=T0, end=T0 + 4 * HOUR, now=T0 + 48 * HOUR, monkeypatch=monkeypatch
    )
    assert skipped == []


def test_a_run_of_an_unscheduled_dag_proceeds(monkeypatch):
    _, latest = _dag(schedule=None)
    skipped = _skipped(
        latest, run_type="asset_triggered", start=T0, end=T0, now=T0 + 48 * HOUR, monkeypatch=monkeypatch
    )
    assert skipped == []


# -- end to end: real runs -----------------------------------------------------------------------------

SOURCE = """
import datetime
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.latest_only import LatestOnlyOperator
from airflow.operators.latest_only import LatestOnlyOperator as Airflow2Spelling
from airflow.sdk import DAG, TriggerRule

assert Airflow2Spelling is LatestOnlyOperator

with DAG(
    dag_id="latest_e2e",
    schedule=datetime.timedelta(hours=4),
    start_date=datetime.datetime(2021, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
) as dag:
    latest_only = LatestOnlyOperator(task_id="latest_only")
    task1 = EmptyOperator(task_id="task1")
    task2 = EmptyOperator(task_id="task2")
    task3 = EmptyOperator(task_id="task3")
    task4 = EmptyOperator(task_id="task4", trigger_rule=TriggerRule.ALL_DONE)
    latest_only >> task1 >> [task3, task4]
    task2 >> [task3, task4]
"""


def _run(run_type: str, start: dt.datetime) -> tuple[str, dict[str, str]]:
    dag = DagModel.objects.get(dag_id="latest_e2e")
    run = dag_run_create(
        dag=dag,
        logical_date=start,
        run_type=run_type,
        now=timezone.now(),
        data_interval=(start, start + 4 * HOUR),
    )
    final = dag_run_execute_inline(run=run, max_wait=60)
    return final, dict(run.task_instances.values_list("task_id", "state"))


@pytest.mark.django_db(transaction=True)
def test_an_old_scheduled_run_skips_the_latest_only_branch_and_all_done_tasks_still_run(dag_file, sync):
    dag_file("latest_e2e.py", SOURCE)
    assert sync().import_errors == 0, DagImportError.objects.values_list("stacktrace", flat=True)

    final, states = _run(DagRunType.SCHEDULED, dt.datetime(2022, 1, 1, tzinfo=UTC))

    assert final == DagRunState.SUCCESS
    assert states == {
        "latest_only": TaskInstanceState.SUCCESS,
        "task1": TaskInstanceState.SKIPPED,
        "task2": TaskInstanceState.SUCCESS,
        "task3": TaskInstanceState.SKIPPED,
        "task4": TaskInstanceState.SUCCESS,
    }


@pytest.mark.django_db(transaction=True)
def test_a_manual_run_of_an_old_date_runs_every_task(dag_file, sync):
    dag_file("latest_e2e.py", SOURCE)
    assert sync().import_errors == 0, DagImportError.objects.values_list("stacktrace", flat=True)

    final, states = _run(DagRunType.MANUAL, dt.datetime(2022, 1, 1, tzinfo=UTC))

    assert final == DagRunState.SUCCESS
    assert set(states.values()) == {TaskInstanceState.SUCCESS}

"""Sensors: poke mode waits in its slot, reschedule mode frees it and comes back at the same try.

The reschedule tests drive the scheduler with ``tick(now=...)``; each queued try is executed by
the real runner (a child that imports the DAG file), so they use committed transactions.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from dags_app.models import DagImportError, DagModel
from dags_app.sdk import (
    DAG,
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    DateTimeSensor,
    FileSensor,
    PokeReturnValue,
    PythonSensor,
    TimeDeltaSensor,
)
from dags_app.sdk.sensors import BashSensor, DayOfWeekSensor, ExternalTaskMarker, ExternalTaskSensor, TimeSensor
from runs_app.models import TaskInstance, XCom
from runs_app.runner import execute_task_instance
from runs_app.scheduler import tick
from runs_app.scheduling import InlineExecutor
from runs_app.services import dag_set_paused, dag_trigger, task_instances_clear
from runs_app.states import DagRunState, TaskInstanceState
from tests.runs_app.helpers import dag_source
from tests.runs_app.test_runner import executes_tasks, log_of, run_dag, ti_of

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
SENSORS = "from dags_app.sdk import DAG, BashOperator, EmptyOperator, FileSensor, PythonSensor, task\n"


def write(dag_file, sync, dag_id: str, body: str, **kwargs) -> DagModel:
    dag_file(f"{dag_id}.py", dag_source(dag_id, body=body, schedule="None", imports=SENSORS, **kwargs))
    report = sync()
    assert report.import_errors == 0, DagImportError.objects.values_list("stacktrace", flat=True)
    dag = DagModel.objects.get(dag_id=dag_id)
    dag_set_paused(dag=dag, is_paused=False)  # the scheduler starts runs of active DAGs only
    return dag


def run_queued(executor: InlineExecutor) -> list[str]:
    """Execute every try the executor collected, as workers would; return what each ended as."""
    done = []
    while executor.queued:
        ti_id, try_number = executor.queued.pop(0)
        done.append(execute_task_instance(ti_id=ti_id, try_number=try_number, executor=executor))
    return done


# -- poke mode -------------------------------------------------------------------------------------


@executes_tasks
def test_a_poke_mode_sensor_pokes_until_true_in_one_try_and_pushes_its_value(dag_file, sync, tmp_path):
    counter = tmp_path / "pokes"
    write(
        dag_file,
        sync,
        "poker",
        f"""\
    import pathlib
    from dags_app.sdk import PokeReturnValue

    def ready():
        path = pathlib.Path({str(counter)!r})
        n = int(path.read_text()) + 1 if path.exists() else 1
        path.write_text(str(n))
        return PokeReturnValue(n >= 3, xcom_value={{"pokes": n}})

    PythonSensor(task_id="wait", python_callable=ready, poke_interval=0.05, timeout=30)
""",
    )

    run, final = run_dag("poker")

    ti = ti_of(run, "wait")
    assert final == DagRunState.SUCCESS
    assert (ti.state, ti.try_number) == (TaskInstanceState.SUCCESS, 1)
    assert counter.read_text() == "3"
    assert XCom.objects.get(task_instance=ti, key="return_value").value == {"pokes": 3}
    assert log_of(run, "wait").count("Poking (poke") == 3


@executes_tasks
def test_a_sensor_timeout_fails_the_task_at_once_without_its_retries(dag_file, sync):
    write(
        dag_file,
        sync,
        "never",
        """\
    PythonSensor(task_id="wait", python_callable=lambda: False, poke_interval=0.05, timeout=0.2, retries=3)
""",
    )

    run, final = run_dag("never")

    ti = ti_of(run, "wait")
    assert final == DagRunState.FAILED
    assert (ti.state, ti.try_number) == (TaskInstanceState.FAILED, 1)
    assert "AirflowSensorTimeout: Sensor has timed out" in log_of(run, "wait")


@executes_tasks
def test_soft_fail_skips_the_sensor_that_timed_out_and_its_downstream(dag_file, sync):
    write(
        dag_file,
        sync,
        "soft",
        """\
    wait = PythonSensor(task_id="wait", python_callable=lambda: False, poke_interval=0.05, timeout=0.2, soft_fail=True)
    wait >> EmptyOperator(task_id="after")
""",
    )

    run, final = run_dag("soft")

    assert final == DagRunState.SUCCESS
    assert {ti.task_id: ti.state for ti in run.task_instances.all()} == {
        "wait": TaskInstanceState.SKIPPED,
        "after": TaskInstanceState.SKIPPED,
    }


@executes_tasks
def test_task_sensor_decorator_makes_the_function_the_poke(dag_file, sync):
    write(
        dag_file,
        sync,
        "decorated",
        """\
    from dags_app.sdk import PokeReturnValue

    @task.sensor(poke_interval=0.05, timeout=10, mode="poke")
    def upstream_ready() -> PokeReturnValue:
        return PokeReturnValue(is_done=True, xcom_value="s3://bucket/2024-01-01")

    @task
    def load(path):
        print(f"loading {path}")

    load(upstream_ready())
""",
    )

    run, final = run_dag("decorated")

    assert final == DagRunState.SUCCESS
    assert "loading s3://bucket/2024-01-01" in log_of(run, "load")
    assert DagModel.objects.get(dag_id="decorated").get_task("upstream_ready")["operator"] == "@task.sensor"


# -- reschedule mode -------------------------------------------------------------------------------


@executes_tasks
def test_a_reschedule_sensor_frees_its_slot_and_pokes_again_at_the_same_try(dag_file, sync, tmp_path, client):
    marker = tmp_path / "ready.txt"
    dag = write(
        dag_file,
        sync,
        "resched",
        f"""\
    wait = FileSensor(task_id="wait", filepath={str(marker)!r}, mode="reschedule", poke_interval=30, timeout=3600)
    wait >> BashOperator(task_id="use", bash_command="cat {marker}")
    BashOperator(task_id="other", bash_command="true")
""",
        dag_args=", max_active_tasks=1",
    )
    run = dag_trigger(dag=dag, now=timezone.now(), logical_date=START)
    executor = InlineExecutor()
    now = timezone.now()

    tick(now=now, reparse=False, executor=executor)
    assert run_queued(executor) == [TaskInstanceState.UP_FOR_RESCHEDULE]

    ti = ti_of(run, "wait")
    assert (ti.state, ti.try_number, ti.reschedule_count) == (TaskInstanceState.UP_FOR_RESCHEDULE, 1, 1)
    assert 25 <= (ti.next_retry_at - now).total_seconds() <= 40
    assert "Rescheduling task, marking task as UP_FOR_RESCHEDULE" in log_of(run, "wait")
    # Not due yet, and its slot is free: with max_active_tasks=1 the other task runs meanwhile.
    tick(now=now + dt.timedelta(seconds=5), reparse=False, executor=executor)
    assert [TaskInstance.objects.get(pk=pk).task_id for pk, _ in executor.queued] == ["other"]
    assert run_queued(executor) == [TaskInstanceState.SUCCESS]
    run.refresh_from_db()
    assert run.state == DagRunState.RUNNING

    marker.write_text("rows\n")
    later = now + dt.timedelta(seconds=45)
    tick(now=later, reparse=False, executor=executor)
    assert len(executor.queued) == 1
    ti.refresh_from_db()
    assert (ti.state, ti.try_number) == (TaskInstanceState.QUEUED, 1)  # the same try again
    run_queued(executor)
    tick(now=later, reparse=False, executor=executor)
    run_queued(executor)

    run.refresh_from_db()
    ti.refresh_from_db()
    assert run.state == DagRunState.SUCCESS
    assert (ti.state, ti.try_number) == (TaskInstanceState.SUCCESS, 1)
    log = log_of(run, "wait")
    assert log.count("Starting attempt 1 of 1") == 2  # one try, two pokes, one log
    assert "Success criteria met" in log
    assert "rows" in log_of(run, "use")


@executes_tasks
def test_a_rescheduled_sensor_times_out_from_its_first_poke(dag_file, sync, tmp_path):
    dag = write(
        dag_file,
        sync,
        "resched_timeout",
        f"""\
    FileSensor(task_id="wait", filepath={str(tmp_path / "never")!r}, mode="reschedule", poke_interval=30,
               timeout=600, retries=2)
""",
    )
    run = dag_trigger(dag=dag, now=timezone.now(), logical_date=START)
    executor = InlineExecutor()
    tick(now=timezone.now(), reparse=False, executor=executor)
    run_queued(executor)
    ti = ti_of(run, "wait")
    # The first poke was an hour ago (a long wait): the next poke is past the timeout.
    TaskInstance.objects.filter(pk=ti.pk).update(first_poke_at=timezone.now() - dt.timedelta(hours=1))

    tick(now=timezone.now() + dt.timedelta(minutes=1), reparse=False, executor=executor)
    run_queued(executor)

    ti.refresh_from_db()
    assert (ti.state, ti.try_number) == (TaskInstanceState.FAILED, 1)
    assert "AirflowSensorTimeout" in log_of(run, "wait")


@executes_tasks
def test_clearing_a_rescheduled_sensor_starts_a_new_try_with_a_fresh_timeout(dag_file, sync, tmp_path, client):
    dag = write(
        dag_file,
        sync,
        "resched_clear",
        f"""\
    FileSensor(task_id="wait", filepath={str(tmp_path / "never")!r}, mode="reschedule", poke_interval=30)
""",
    )
    run = dag_trigger(dag=dag, now=timezone.now(), logical_date=START)
    executor = InlineExecutor()
    tick(now=timezone.now(), reparse=False, executor=executor)
    run_queued(executor)

    task_instances_clear(tis=[ti_of(run, "wait")], now=timezone.now())
    tick(now=timezone.now(), reparse=False, executor=executor)

    ti = ti_of(run, "wait")
    assert (ti.state, ti.try_number, ti.reschedule_count, ti.first_poke_at) == (TaskInstanceState.QUEUED, 2, 0, None)


@executes_tasks
def test_the_task_panel_says_when_a_rescheduled_sensor_pokes_next(dag_file, sync, tmp_path, client, viewer_user):
    dag = write(
        dag_file,
        sync,
        "resched_panel",
        f"""\
    FileSensor(task_id="wait", filepath={str(tmp_path / "never")!r}, mode="reschedule", poke_interval=30)
""",
    )
    run = dag_trigger(dag=dag, now=timezone.now(), logical_date=START)
    executor = InlineExecutor()
    tick(now=timezone.now(), reparse=False, executor=executor)
    run_queued(executor)
    client.force_login(viewer_user)

    page = client.get(reverse("runs:task-instance", args=[dag.dag_id, run.run_id, "wait"])).content.decode()

    assert "rescheduled to poke again at" in page
    assert "up_for_reschedule" in page


# -- ExternalTaskSensor --------------------------------------------------------------------------


@executes_tasks
def test_external_task_sensor_waits_for_the_other_dag_s_task_at_the_same_or_a_shifted_date(dag_file, sync):
    upstream = write(dag_file, sync, "upstream_dag", "    BashOperator(task_id='publish', bash_command='true')\n")
    body = (
        "    from dags_app.sdk import ExternalTaskSensor\n"
        "    ExternalTaskSensor(task_id='same_day', external_dag_id='upstream_dag', external_task_id='publish',"
        " poke_interval=0.05, timeout=0.5, soft_fail=True)\n"
        "    ExternalTaskSensor(task_id='day_before', external_dag_id='upstream_dag', external_task_id='publish',"
        " execution_delta=datetime.timedelta(days=1), poke_interval=0.05, timeout=0.5, soft_fail=True)\n"
        "    ExternalTaskSensor(task_id='whole_run', external_dag_id='upstream_dag', poke_interval=0.05,"
        " timeout=0.5, soft_fail=True)\n"
    )
    write(dag_file, sync, "downstream_dag", body)
    _, upstream_final = run_dag("upstream_dag")
    assert upstream_final == DagRunState.SUCCESS
    assert upstream.runs.count() == 1

    run, _ = run_dag("downstream_dag")

    states = {ti.task_id: ti.state for ti in run.task_instances.all()}
    # Only the same logical date has an upstream run: the shifted one times out (soft: skipped).
    assert states == {
        "same_day": TaskInstanceState.SUCCESS,
        "day_before": TaskInstanceState.SKIPPED,
        "whole_run": TaskInstanceState.SUCCESS,
    }


@executes_tasks
def test_external_task_sensor_fails_when_the_other_task_is_in_a_failed_state(dag_file, sync):
    write(dag_file, sync, "broken_upstream", "    BashOperator(task_id='publish', bash_command='exit 1')\n")
    body = (
        "    from dags_app.sdk import ExternalTaskSensor\n"
        "    ExternalTaskSensor(task_id='wait', external_dag_id='broken_upstream', external_task_id='publish',"
        " failed_states=['failed'], poke_interval=0.05, timeout=5)\n"
    )
    write(dag_file, sync, "waits_for_broken", body)
    run_dag("broken_upstream")

    run, final = run_dag("waits_for_broken")

    assert final == DagRunState.FAILED
    assert "The external broken_upstream.['publish'] failed" in log_of(run, "wait")


# -- the SDK's sensors, poked directly --------------------------------------------------------------


def test_an_unknown_mode_or_a_bad_interval_is_an_import_error():
    with DAG("modes", schedule=None, start_date=START):
        with pytest.raises(AirflowException, match="The mode must be one of"):
            PythonSensor(task_id="a", python_callable=bool, mode="deferrable")
        with pytest.raises(AirflowException, match="poke_interval of sensor 'b' cannot be negative"):
            PythonSensor(task_id="b", python_callable=bool, poke_interval=-1)


def test_exponential_backoff_grows_per_poke_and_stays_under_max_wait_and_the_timeout():
    with DAG("backoff", schedule=None, start_date=START):
        sensor = PythonSensor(
            task_id="s", python_callable=bool, poke_interval=10, exponential_backoff=True, max_wait=300, timeout=10_000
        )
        short = PythonSensor(task_id="t", python_callable=bool, poke_interval=10, exponential_backoff=True, timeout=50)
    intervals = [sensor._next_interval(START, n, elapsed=0) for n in range(1, 10)]

    assert intervals[1] < intervals[3] < intervals[5]
    assert max(intervals) == 300
    assert short._next_interval(START, 8, elapsed=45) == 5


def test_date_time_and_time_delta_sensors_compare_with_now():
    with DAG("times", schedule=None, start_date=START):
        past = DateTimeSensor(task_id="past", target_time="2000-01-01T00:00:00+00:00")
        future = DateTimeSensor(task_id="future", target_time=dt.datetime(2999, 1, 1, tzinfo=dt.UTC))
        soon = TimeDeltaSensor(task_id="soon", delta=dt.timedelta(hours=1))

    assert past.poke({}) is True
    assert future.poke({}) is False
    now = dt.datetime.now(dt.UTC)
    assert soon.poke({"data_interval_end": now - dt.timedelta(hours=2), "logical_date": now}) is True
    assert soon.poke({"data_interval_end": now, "logical_date": now}) is False


def test_a_poke_return_value_is_truthy_only_when_done():
    assert bool(PokeReturnValue(True, 1)) and not bool(PokeReturnValue(False))


def test_the_reschedule_state_is_in_the_run_s_unfinished_states():
    from runs_app.states import TI_UNFINISHED

    assert TaskInstanceState.UP_FOR_RESCHEDULE in TI_UNFINISHED


# -- Airflow's other standard sensors, and deferrable=True ---------------------------------------------

AIRFLOW_SENSORS = """
import datetime
from airflow.providers.common.compat.sdk import TriggerRule
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.sensors.bash import BashSensor
from airflow.providers.standard.sensors.time import TimeSensor
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.providers.standard.sensors.weekday import DayOfWeekSensor
from airflow.providers.standard.utils.weekday import WeekDay
from airflow.sdk import DAG

with DAG(
    dag_id="airflow_sensors",
    schedule=None,
    start_date=datetime.datetime(2021, 1, 1, tzinfo=datetime.timezone.utc),
) as dag:
    fast = {"poke_interval": 0.05}
    done = [
        BashSensor(task_id="bash_done", bash_command="exit 0", **fast),
        BashSensor(task_id="bash_never", bash_command="exit 1", timeout=0.2, soft_fail=True, **fast),
        TimeSensor(task_id="time_passed", target_time=datetime.datetime.now(datetime.timezone.utc).time(), **fast),
        TimeDeltaSensor(task_id="delta_deferred", delta=datetime.timedelta(seconds=1), deferrable=True, **fast),
        # 2022-01-01, the run's logical date, was a Saturday.
        DayOfWeekSensor(task_id="saturday", week_day={WeekDay.SATURDAY}, use_task_logical_date=True, **fast),
        DayOfWeekSensor(
            task_id="monday", week_day="Monday", use_task_logical_date=True, timeout=0.2, soft_fail=True, **fast
        ),
    ]
    done >> BashOperator(task_id="after", bash_command="date", trigger_rule=TriggerRule.NONE_FAILED)
"""


@executes_tasks
def test_airflow_s_bash_time_weekday_and_deferrable_sensors_run_to_airflow_s_outcome(dag_file, sync):
    dag_file("airflow_sensors.py", AIRFLOW_SENSORS)
    assert sync().import_errors == 0, DagImportError.objects.values_list("stacktrace", flat=True)

    run, final = run_dag("airflow_sensors")

    assert final == DagRunState.SUCCESS
    assert {ti.task_id: ti.state for ti in run.task_instances.all()} == {
        "bash_done": TaskInstanceState.SUCCESS,
        "bash_never": TaskInstanceState.SKIPPED,
        "time_passed": TaskInstanceState.SUCCESS,
        "delta_deferred": TaskInstanceState.SUCCESS,
        "saturday": TaskInstanceState.SUCCESS,
        "monday": TaskInstanceState.SKIPPED,
        "after": TaskInstanceState.SUCCESS,
    }
    # deferrable=True: rescheduled (the data interval ended in 2022, so the first poke is done).
    assert ti_of(run, "delta_deferred").try_number == 1
    assert "Command exited with return code 1" in log_of(run, "bash_never")


@executes_tasks
def test_an_external_task_marker_runs_as_a_no_op_that_a_deferrable_sensor_waits_for(dag_file, sync):
    source = """
import datetime
from airflow.providers.standard.sensors.external_task import ExternalTaskMarker, ExternalTaskSensor
from airflow.sdk import DAG

start = datetime.datetime(2021, 1, 1, tzinfo=datetime.timezone.utc)
with DAG(dag_id="marker_parent", start_date=start, schedule=datetime.timedelta(minutes=30)) as parent:
    ExternalTaskMarker(task_id="parent_task", external_dag_id="marker_child", external_task_id="child_task")
with DAG(dag_id="marker_child", start_date=start, schedule=datetime.timedelta(minutes=30)) as child:
    ExternalTaskSensor(
        task_id="child_task", external_dag_id="marker_parent", external_task_id="parent_task",
        deferrable=True, poke_interval=0.05, timeout=30,
    )
"""
    dag_file("markers.py", source)
    assert sync().import_errors == 0, DagImportError.objects.values_list("stacktrace", flat=True)

    parent_run, parent_final = run_dag("marker_parent")
    child_run, child_final = run_dag("marker_child")

    assert (parent_final, child_final) == (DagRunState.SUCCESS, DagRunState.SUCCESS)
    assert ti_of(parent_run, "parent_task").state == TaskInstanceState.SUCCESS
    assert ti_of(child_run, "child_task").state == TaskInstanceState.SUCCESS
    marker = DagModel.objects.get(dag_id="marker_parent").get_task("parent_task")
    assert marker["template_values"]["logical_date"] == "{{ logical_date.isoformat() }}"


def test_deferrable_makes_any_sensor_a_rescheduled_one():
    from dags_app.sdk.sensors import DateTimeSensorAsync, TimeDeltaSensorAsync, TimeSensorAsync

    with DAG("deferred", schedule=None, start_date=START):
        file = FileSensor(task_id="file", filepath="/nowhere", deferrable=True, mode="poke")
        plain = PythonSensor(task_id="plain", python_callable=bool)
        delta = TimeDeltaSensorAsync(task_id="delta", delta=dt.timedelta(seconds=1))
        moment = DateTimeSensorAsync(task_id="moment", target_time=START, start_from_trigger=True)
        time_of_day = TimeSensorAsync(task_id="time_of_day", target_time=dt.time(1, 0), end_from_trigger=True)

    assert [(s.deferrable, s.mode) for s in (file, delta, moment, time_of_day)] == [(True, "reschedule")] * 4
    assert (plain.deferrable, plain.mode) == (False, "poke")


def _bash(command: str, **kwargs) -> BashSensor:
    with DAG("bash_sensor", schedule=None, start_date=START):
        return BashSensor(task_id="b", bash_command=command, **kwargs)


def test_a_bash_sensor_is_done_on_exit_0_and_pokes_again_on_any_other_code():
    assert _bash("exit 0").poke({}) is True
    assert _bash("exit 1").poke({}) is False
    assert _bash("exit 99").poke({}) is False


def test_a_bash_sensor_with_a_retry_exit_code_fails_on_any_other_non_zero_code():
    sensor = _bash('exit "$CODE"', retry_exit_code=3, env={"CODE": "3"})
    assert sensor.poke({}) is False

    sensor.env = {"CODE": "1"}
    with pytest.raises(AirflowFailException, match="Command exited with return code 1"):
        sensor.poke({})
    with pytest.raises(AirflowSkipException, match="soft_fail"):
        _bash("exit 1", retry_exit_code=3, soft_fail=True)._poke_once({})


def test_a_bash_sensor_runs_in_a_temporary_folder_with_env_replacing_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FROM_WORKER", "yes")
    monkeypatch.chdir(tmp_path)

    assert _bash('[ "$(pwd)" != "$HERE" ] && [ -z "$FROM_WORKER" ]', env={"HERE": str(tmp_path)}).poke({}) is True
    assert _bash('[ -n "$FROM_WORKER" ]').poke({}) is True


def test_a_day_of_week_sensor_compares_today_in_utc_or_the_logical_date(monkeypatch):
    from dags_app.sdk import sensors
    from dags_app.sdk.branch import WeekDay

    monday, saturday = dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.datetime(2024, 1, 6, tzinfo=dt.UTC)
    with DAG("weekdays", schedule=None, start_date=START):
        weekend = DayOfWeekSensor(task_id="weekend", week_day={"Saturday", WeekDay.SUNDAY})
        logical = DayOfWeekSensor(task_id="logical", week_day="monday", use_task_logical_date=True)
        with pytest.raises(AttributeError, match='Invalid Week Day passed: "Caturday"'):
            DayOfWeekSensor(task_id="bad", week_day="Caturday")

    monkeypatch.setattr(sensors, "_utcnow", lambda: saturday)
    assert weekend.poke({}) is True
    assert logical.poke({"logical_date": monday}) is True
    monkeypatch.setattr(sensors, "_utcnow", lambda: monday)
    assert weekend.poke({}) is False
    assert logical.poke({"logical_date": saturday}) is False


def test_a_time_sensor_waits_for_the_time_of_day_in_the_dag_s_time_zone(monkeypatch):
    from dags_app.sdk import sensors

    # 10:00 UTC is 12:00 in Amsterdam in May (UTC+2).
    now = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(sensors, "_utcnow", lambda: now)
    amsterdam = dt.datetime(2024, 1, 1, tzinfo=ZoneInfo("Europe/Amsterdam"))
    with DAG("times_of_day", schedule=None, start_date=amsterdam):
        passed = TimeSensor(task_id="passed", target_time=dt.time(11, 30))
        coming = TimeSensor(task_id="coming", target_time=dt.time(12, 30))
        with pytest.raises(TypeError, match=r"Expected datetime\.time type for target_time"):
            TimeSensor(task_id="bad", target_time="12:00")

    assert passed.target_datetime == dt.datetime(2024, 5, 1, 9, 30, tzinfo=dt.UTC)
    assert (passed.poke({}), coming.poke({})) == (True, False)


def test_an_external_task_marker_checks_its_arguments_at_parse():
    with DAG("markers", schedule=None, start_date=START):
        default = ExternalTaskMarker(task_id="default", external_dag_id="other", external_task_id="t")
        fixed = ExternalTaskMarker(
            task_id="fixed", external_dag_id="other", external_task_id="t", logical_date=START, recursion_depth=1
        )
        with pytest.raises(ValueError, match="recursion_depth should be a positive integer"):
            ExternalTaskMarker(task_id="zero", external_dag_id="other", external_task_id="t", recursion_depth=0)
        with pytest.raises(TypeError, match=r"Expected str or datetime\.datetime type for logical_date"):
            ExternalTaskMarker(task_id="none", external_dag_id="other", external_task_id="t", logical_date=None)

    assert (default.logical_date, default.recursion_depth) == ("{{ logical_date.isoformat() }}", 10)
    assert (fixed.logical_date, fixed.recursion_depth) == ("2024-01-01T00:00:00+00:00", 1)
    assert set(default.template_fields) == {"external_dag_id", "external_task_id", "logical_date"}
    assert default.execute({}) is None


# -- ExternalTaskSensor on a task group, with a given metastore ----------------------------------------


@pytest.fixture
def metastore(monkeypatch):
    """The sensors' view of the metastore: task states by (task id, logical date), groups by id."""
    from dags_app.sdk import sensors

    view = {"states": {}, "groups": {"other": {"group": ["group.a", "group.b"]}}}

    def external_states(dag_id, task_ids, dates):
        return [view["states"][(t, d)] for t in task_ids or [] for d in dates if (t, d) in view["states"]]

    monkeypatch.setattr(sensors, "_external_states", external_states)
    monkeypatch.setattr(sensors, "_dag_exists", lambda dag_id: dag_id in view["groups"])
    monkeypatch.setattr(
        sensors, "_task_group_task_ids", lambda dag_id, group_id: view["groups"].get(dag_id, {}).get(group_id)
    )
    return view


def _group_sensor(group: str = "group", **kwargs) -> ExternalTaskSensor:
    with DAG("group_waiter", schedule=None, start_date=START):
        return ExternalTaskSensor(task_id="wait", external_dag_id="other", external_task_group_id=group, **kwargs)


def test_a_task_group_sensor_is_done_when_every_task_of_the_group_is_allowed(metastore):
    sensor = _group_sensor()
    assert sensor.poke({"logical_date": START}) is False  # no instances yet

    metastore["states"].update({("group.a", START): "success", ("group.b", START): "running"})
    assert sensor.poke({"logical_date": START}) is False
    metastore["states"][("group.b", START)] = "success"
    assert sensor.poke({"logical_date": START}) is True


def test_a_task_group_sensor_fails_when_the_whole_group_is_in_a_failed_state(metastore):
    sensor = _group_sensor(failed_states=["failed", "upstream_failed"])
    metastore["states"].update({("group.a", START): "failed", ("group.b", START): "running"})
    assert sensor.poke({"logical_date": START}) is False  # as Airflow: every task of the group must match

    metastore["states"][("group.b", START)] = "upstream_failed"
    with pytest.raises(AirflowException, match="The external task group 'group' of DAG other failed"):
        sensor.poke({"logical_date": START})


def test_a_task_group_sensor_waits_for_an_unknown_group_unless_it_checks_existence(metastore):
    assert _group_sensor("missing").poke({"logical_date": START}) is False
    with pytest.raises(AirflowException, match="The external task group 'missing' in DAG 'other' does not exist"):
        _group_sensor("missing", check_existence=True).poke({"logical_date": START})


def test_a_task_group_sensor_without_the_metastore_s_task_groups_says_what_to_use(metastore, monkeypatch):
    from dags_app.sdk import sensors

    monkeypatch.setattr(sensors, "_task_group_task_ids", None)
    with pytest.raises(AirflowException, match="list the group's tasks in external_task_ids"):
        _group_sensor().poke({"logical_date": START})
    with pytest.raises(ValueError, match="Only one of `external_task_group_id` or `external_task_ids`"):
        _group_sensor(external_task_id="group.a")

"""Sensors: poke mode waits in its slot, reschedule mode frees it and comes back at the same try.

The reschedule tests drive the scheduler with ``tick(now=...)``; each queued try is executed by
the real runner (a child that imports the DAG file), so they use committed transactions.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from dags_app.models import DagImportError, DagModel
from dags_app.sdk import (
    DAG,
    AirflowException,
    DateTimeSensor,
    PokeReturnValue,
    PythonSensor,
    TimeDeltaSensor,
)
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

"""Executing tries (runs_app.runner): claim, the supervised child, outcomes, retries, timeouts, logs.

Tests that execute a task fork a child that opens its own database connection, so they use
``transaction=True``: the rows they write are committed and the child sees them.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import shutil
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from dags_app.models import DagModel
from dags_app.services import dag_folder_sync
from runs_app.models import DagRun, TaskInstance, XCom
from runs_app.runner import dag_run_execute_inline, execute_task_instance
from runs_app.scheduler import tick
from runs_app.scheduling import InlineExecutor
from runs_app.services import dag_set_paused, dag_trigger, task_instances_clear
from runs_app.states import DagRunState, TaskInstanceState
from runs_app.tries import Outcome, next_retry_at, task_instance_claim, task_instance_record_outcome
from tests.runs_app.helpers import NOW, drain, states

executes_tasks = pytest.mark.django_db(transaction=True)

LOGICAL_DATE = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)


def run_dag(dag_id: str, *, logical_date: dt.datetime = LOGICAL_DATE) -> tuple[DagRun, str]:
    """Trigger ``dag_id`` and run it to its end in this process; return the run and its final state."""
    dag = DagModel.objects.get(dag_id=dag_id)
    run = dag_trigger(dag=dag, now=timezone.now(), logical_date=logical_date)
    final = dag_run_execute_inline(run=run, max_wait=60)
    run.refresh_from_db()
    return run, final


def ti_of(run: DagRun, task_id: str) -> TaskInstance:
    return TaskInstance.objects.select_related("dag_run", "dag_run__dag").get(dag_run=run, task_id=task_id)


def log_of(run: DagRun, task_id: str, attempt: int = 1) -> str:
    return ti_of(run, task_id).log_path(attempt).read_text()


def is_running(pid: int) -> bool:
    """Return True if process ``pid`` exists and has not exited.

    A zombie counts as gone: it has exited and only waits for its parent to collect it (the
    sandbox's init process does not reap orphans, so ``os.kill(pid, 0)`` alone would still see it).
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def example_dags(dags_folder, sync) -> Path:
    """The project's example DAG files, copied into the temporary DAG folder and synced."""
    for path in sorted((Path(settings.BASE_DIR) / "dags").glob("*.py")):
        shutil.copy(path, dags_folder / path.name)
    report = sync()
    assert report.import_errors == 0
    return dags_folder


# -- XCom ----------------------------------------------------------------------------------------

XCOM_BODY = """\
    def produce():
        return {"rows": 3, "names": ["a", "b"]}

    def consume(ti):
        value = ti.xcom_pull(task_ids="produce")
        print(f"consumed {value}")
        return value["rows"] * 2

    PythonOperator(task_id="produce", python_callable=produce) >> PythonOperator(
        task_id="consume", python_callable=consume
    )
"""


@executes_tasks
def test_python_return_value_lands_in_xcom(write_dag):
    write_dag("xcom_pipeline", XCOM_BODY)

    run, final = run_dag("xcom_pipeline")

    assert final == DagRunState.SUCCESS
    assert XCom.objects.get(dag_run=run, task_id="produce", key="return_value").value == {
        "rows": 3,
        "names": ["a", "b"],
    }


@executes_tasks
def test_downstream_task_pulls_the_upstream_return_value(write_dag):
    write_dag("xcom_pipeline", XCOM_BODY)

    run, _ = run_dag("xcom_pipeline")

    assert "consumed {'rows': 3, 'names': ['a', 'b']}" in log_of(run, "consume")
    assert XCom.objects.get(dag_run=run, task_id="consume", key="return_value").value == 6


# -- the example DAGs reach their documented outcome --------------------------------------------


@executes_tasks
def test_example_xcom_succeeds_and_the_puller_logs_the_pulled_values(example_dags):
    run, final = run_dag("example_xcom")

    assert final == DagRunState.SUCCESS
    assert set(states(run).values()) == {TaskInstanceState.SUCCESS}
    puller_log = log_of(run, "puller")
    assert "pulled_value_1 is [1, 2, 3]" in puller_log
    assert "pulled_value_2 is {'a': 'b'}" in puller_log
    bash_pull_log = log_of(run, "bash_pull")
    assert "The xcom pushed manually is manually_pushed_value" in bash_pull_log
    assert "The returned_value xcom is value_by_return" in bash_pull_log


@executes_tasks
def test_tutorial_templated_task_logs_its_rendered_dates(example_dags):
    tutorial = example_dags / "tutorial.py"
    source = tutorial.read_text()
    assert 'bash_command="sleep 5"' in source
    # The same DAG without its five-second sleep.
    tutorial.write_text(source.replace('bash_command="sleep 5"', 'bash_command="sleep 0"'))
    dag_folder_sync(now=timezone.now(), folder=example_dags)

    run, final = run_dag("tutorial")

    assert final == DagRunState.SUCCESS
    lines = [line.rsplit(" - ", 1)[-1] for line in log_of(run, "templated").splitlines()]
    assert lines.count("2022-01-01") == 5
    assert lines.count("2022-01-08") == 5
    assert ti_of(run, "templated").rendered_fields["bash_command"].count('echo "2022-01-08"') == 5


@executes_tasks
def test_example_branch_operator_skips_the_three_untaken_branches_and_joins(example_dags):
    run, final = run_dag("example_branch_operator")

    assert final == DagRunState.SUCCESS
    got = states(run)
    taken = [b for b in ("branch_a", "branch_b", "branch_c", "branch_d") if got[b] == TaskInstanceState.SUCCESS]
    assert len(taken) == 1
    chosen = taken[0]
    expected = {"run_this_first": "success", "branching": "success", "join": "success"}
    for branch in ("branch_a", "branch_b", "branch_c", "branch_d"):
        outcome = "success" if branch == chosen else "skipped"
        expected[branch] = expected[f"follow_{branch}"] = outcome
    assert got == expected


def _expected_states(folder: Path) -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("example_trigger_rules_copy", folder / "example_trigger_rules.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.EXPECTED_STATES


@executes_tasks
def test_example_trigger_rules_ends_every_task_in_its_documented_state(example_dags):
    expected = _expected_states(example_dags)

    run, final = run_dag("example_trigger_rules")

    assert states(run) == expected
    assert final == DagRunState.SUCCESS


@executes_tasks
def test_example_taskflow_succeeds_and_loads_the_total(example_dags):
    run, final = run_dag("example_taskflow")

    assert final == DagRunState.SUCCESS
    assert XCom.objects.get(dag_run=run, task_id="transform", key="total_order_value").value == pytest.approx(1236.7)
    assert "Total order value is: 1236.70" in log_of(run, "load")


# -- outcomes ------------------------------------------------------------------------------------


@executes_tasks
def test_task_failing_twice_with_three_retries_succeeds_on_try_3(write_dag, tmp_path):
    counter = tmp_path / "calls"
    write_dag(
        "flaky",
        f"""\
    def flaky():
        import pathlib
        path = pathlib.Path({str(counter)!r})
        calls = int(path.read_text()) + 1 if path.exists() else 1
        path.write_text(str(calls))
        if calls < 3:
            raise RuntimeError(f"failing on purpose, call {{calls}}")
        return calls

    PythonOperator(task_id="flaky", python_callable=flaky, retries=3, retry_delay=datetime.timedelta(0))
""",
    )

    run, final = run_dag("flaky")

    ti = ti_of(run, "flaky")
    assert final == DagRunState.SUCCESS
    assert (ti.state, ti.try_number, ti.max_tries) == (TaskInstanceState.SUCCESS, 3, 3)
    assert counter.read_text() == "3"
    assert "RuntimeError: failing on purpose, call 1" in log_of(run, "flaky", 1)
    assert "RuntimeError: failing on purpose, call 2" in log_of(run, "flaky", 2)
    assert XCom.objects.get(task_instance=ti, key="return_value").value == 3


@executes_tasks
def test_airflow_fail_exception_fails_the_task_without_retry(write_dag):
    write_dag(
        "fail_fast",
        """\
    from dags_app.sdk import AirflowFailException

    def give_up():
        raise AirflowFailException("the input can never be valid")

    PythonOperator(task_id="give_up", python_callable=give_up, retries=3, retry_delay=datetime.timedelta(0))
""",
    )

    run, final = run_dag("fail_fast")

    ti = ti_of(run, "give_up")
    assert final == DagRunState.FAILED
    assert (ti.state, ti.try_number) == (TaskInstanceState.FAILED, 1)
    assert "the input can never be valid" in log_of(run, "give_up")


@executes_tasks
def test_airflow_skip_exception_skips_the_task(write_dag):
    write_dag(
        "skipper",
        """\
    from dags_app.sdk import AirflowSkipException

    def nothing_to_do():
        raise AirflowSkipException("no new files")

    PythonOperator(task_id="skip_me", python_callable=nothing_to_do) >> BashOperator(
        task_id="after", bash_command="true"
    )
""",
    )

    run, final = run_dag("skipper")

    assert states(run) == {"skip_me": TaskInstanceState.SKIPPED, "after": TaskInstanceState.SKIPPED}
    assert final == DagRunState.SUCCESS


@executes_tasks
def test_execution_timeout_fails_the_task_within_seconds_and_kills_its_child_processes(write_dag, tmp_path):
    pid_file = tmp_path / "background.pid"
    write_dag(
        "slow",
        f"""\
    BashOperator(
        task_id="slow",
        bash_command="sleep 60 & echo $! > {pid_file}; sleep 60",
        execution_timeout=datetime.timedelta(seconds=2),
    )
""",
    )

    started = time.monotonic()
    run, final = run_dag("slow")
    elapsed = time.monotonic() - started

    assert final == DagRunState.FAILED
    assert ti_of(run, "slow").state == TaskInstanceState.FAILED
    assert elapsed < 10
    assert "Task timed out after 2 seconds (execution_timeout)" in log_of(run, "slow")
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 3
    while is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert is_running(pid) is False


@executes_tasks
def test_child_that_exits_abruptly_fails_the_try_and_the_worker_goes_on(write_dag):
    write_dag(
        "crash",
        """\
    def crash():
        import os
        os._exit(1)

    PythonOperator(task_id="crash", python_callable=crash) >> BashOperator(
        task_id="cleanup", bash_command="echo cleaning up", trigger_rule=TriggerRule.ALL_DONE
    )
""",
    )

    run, final = run_dag("crash")

    assert states(run) == {"crash": TaskInstanceState.FAILED, "cleanup": TaskInstanceState.SUCCESS}
    assert "The task process ended without reporting an outcome (exit code 1)" in log_of(run, "crash")
    assert "cleaning up" in log_of(run, "cleanup")
    assert final == DagRunState.SUCCESS


@executes_tasks
def test_try_whose_row_was_changed_while_running_is_stopped_and_records_nothing(write_dag, settings):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "HEARTBEAT_INTERVAL": 0.2}
    write_dag(
        "externally_set",
        """\
    def cleared_meanwhile(ti):
        import time
        from runs_app.models import TaskInstance
        # As if a user cleared this task instance from the UI while it runs.
        TaskInstance.objects.filter(task_id=ti.task_id).update(state="none")
        time.sleep(30)

    PythonOperator(task_id="t", python_callable=cleared_meanwhile)
""",
    )
    dag = DagModel.objects.get(dag_id="externally_set")
    run = dag_trigger(dag=dag, now=timezone.now())
    DagRun.objects.filter(pk=run.pk).update(state=DagRunState.RUNNING)
    executor = InlineExecutor()
    tick(now=timezone.now(), executor=executor, reparse=False)
    [(ti_id, try_number)] = executor.queued

    started = time.monotonic()
    outcome = execute_task_instance(ti_id=ti_id, try_number=try_number, executor=InlineExecutor())

    assert outcome == "superseded"
    assert time.monotonic() - started < 10
    assert ti_of(run, "t").state == TaskInstanceState.NONE
    assert "State of this instance has been externally set. Terminating instance." in log_of(run, "t")


# -- claiming and late writes -------------------------------------------------------------------


@pytest.mark.django_db
def test_same_try_is_claimed_once(make_dag):
    dag = make_dag("once", body="    BashOperator(task_id='t', bash_command='true')\n", schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    executor = InlineExecutor()
    tick(now=NOW, executor=executor)
    [(ti_id, try_number)] = executor.queued

    first = task_instance_claim(ti_id=ti_id, try_number=try_number, now=NOW)
    second = task_instance_claim(ti_id=ti_id, try_number=try_number, now=NOW)

    assert first is not None
    assert first.state == TaskInstanceState.RUNNING
    assert second is None
    assert ti_of(run, "t").state == TaskInstanceState.RUNNING


@executes_tasks
def test_same_try_delivered_twice_runs_once(write_dag, tmp_path):
    counter = tmp_path / "runs"
    write_dag(
        "twice",
        f"    BashOperator(task_id='t', bash_command='echo run >> {counter}')\n",
    )
    dag = DagModel.objects.get(dag_id="twice")
    run = dag_trigger(dag=dag, now=timezone.now())
    DagRun.objects.filter(pk=run.pk).update(state=DagRunState.RUNNING)
    executor = InlineExecutor()
    tick(now=timezone.now(), executor=executor, reparse=False)
    [(ti_id, try_number)] = executor.queued

    first = execute_task_instance(ti_id=ti_id, try_number=try_number, executor=InlineExecutor())
    second = execute_task_instance(ti_id=ti_id, try_number=try_number, executor=InlineExecutor())

    assert (first, second) == (TaskInstanceState.SUCCESS, "not claimed")
    assert counter.read_text().splitlines() == ["run"]


@pytest.mark.django_db
def test_late_outcome_of_a_superseded_try_changes_nothing(make_dag):
    dag = make_dag("late", body="    BashOperator(task_id='t', bash_command='true')\n", schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    executor = InlineExecutor()
    tick(now=NOW, executor=executor)
    [(ti_id, try_number)] = executor.queued
    old_try = task_instance_claim(ti_id=ti_id, try_number=try_number, now=NOW)
    # The user clears the running task: it is queued again as try 2.
    task_instances_clear(tis=[old_try], now=NOW, executor=InlineExecutor())
    current = ti_of(run, "t")
    assert (current.state, current.try_number) == (TaskInstanceState.QUEUED, 2)

    result = task_instance_record_outcome(
        ti=old_try, outcome=Outcome(state=TaskInstanceState.FAILED), now=NOW, executor=InlineExecutor()
    )

    assert result is None
    current.refresh_from_db()
    assert (current.state, current.try_number, current.end_date) == (TaskInstanceState.QUEUED, 2, None)
    run.refresh_from_db()
    assert run.state == DagRunState.RUNNING


# -- logs ----------------------------------------------------------------------------------------


@executes_tasks
def test_log_file_of_a_try_is_under_dag_run_task_and_attempt(write_dag):
    write_dag("logged", "    BashOperator(task_id='say', bash_command='echo hello from the task')\n")

    run, _ = run_dag("logged")

    path = ti_of(run, "say").log_path()
    assert path == (
        Path(settings.LOGS_FOLDER).resolve()
        / "dag_id=logged"
        / "run_id=manual__2022-01-01T00:00:00+00:00"
        / "task_id=say"
        / "attempt=1.log"
    )
    text = path.read_text()
    assert "Starting attempt 1 of 1 of logged.say" in text
    assert "hello from the task" in text
    assert "Task exited; state recorded: success" in text


# -- fast follow ---------------------------------------------------------------------------------

BRANCHY = """\
    branch = BranchPythonOperator(task_id="branch", python_callable=lambda: "left")
    left = BashOperator(task_id="left", bash_command="true")
    right = BashOperator(task_id="right", bash_command="true")
    after_right = BashOperator(task_id="after_right", bash_command="true")
    join = BashOperator(task_id="join", bash_command="true", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    branch >> [left, right]
    right >> after_right
    [left, after_right] >> join
"""


@executes_tasks
def test_branch_run_finishes_by_fast_follow_alone_without_another_tick(write_dag):
    dag = write_dag(
        "branchy", BRANCHY, imports="from dags_app.sdk import DAG, BashOperator, BranchPythonOperator, TriggerRule\n"
    )
    dag_set_paused(dag=dag, is_paused=False)
    run = dag_trigger(dag=dag, now=timezone.now())
    executor = InlineExecutor()
    tick(now=timezone.now(), executor=executor, reparse=False)

    drain(executor)

    run.refresh_from_db()
    assert states(run) == {
        "branch": TaskInstanceState.SUCCESS,
        "left": TaskInstanceState.SUCCESS,
        "right": TaskInstanceState.SKIPPED,
        "after_right": TaskInstanceState.SKIPPED,
        "join": TaskInstanceState.SUCCESS,
    }
    assert run.state == DagRunState.SUCCESS


@executes_tasks
def test_short_circuit_with_a_falsy_result_skips_everything_downstream(write_dag):
    dag = write_dag(
        "short",
        """\
    gate = ShortCircuitOperator(task_id="gate", python_callable=lambda: False)
    gate >> BashOperator(task_id="next", bash_command="true") >> BashOperator(
        task_id="last", bash_command="true", trigger_rule=TriggerRule.ALL_DONE
    )
""",
        imports="from dags_app.sdk import DAG, BashOperator, ShortCircuitOperator, TriggerRule\n",
    )
    dag_set_paused(dag=dag, is_paused=False)

    run, final = run_dag("short")

    assert states(run) == {
        "gate": TaskInstanceState.SUCCESS,
        "next": TaskInstanceState.SKIPPED,
        "last": TaskInstanceState.SKIPPED,
    }
    assert final == DagRunState.SUCCESS


# -- context, XCom between tries, heartbeat ------------------------------------------------------


@executes_tasks
def test_templated_command_sees_the_run_conf_and_the_params(write_dag):
    dag = write_dag(
        "templated",
        """\
    BashOperator(task_id="t", bash_command="echo table={{ dag_run.conf['table'] }} by={{ params.owner }} ds={{ ds }}")
""",
        dag_args=", params={'owner': 'data-team'}",
    )
    run = dag_trigger(dag=dag, now=timezone.now(), logical_date=LOGICAL_DATE, conf={"table": "orders"})

    assert dag_run_execute_inline(run=run) == DagRunState.SUCCESS

    assert "table=orders by=data-team ds=2022-01-01" in log_of(run, "t")
    assert ti_of(run, "t").rendered_fields["bash_command"] == "echo table=orders by=data-team ds=2022-01-01"


@executes_tasks
def test_xcom_of_an_earlier_try_does_not_leak_into_the_next(write_dag, tmp_path):
    counter = tmp_path / "calls"
    write_dag(
        "leaky",
        f"""\
    def push_then_fail(ti):
        import pathlib
        path = pathlib.Path({str(counter)!r})
        first = not path.exists()
        path.write_text("called")
        if first:
            ti.xcom_push(key="partial", value="from try 1")
            raise RuntimeError("try 1 fails after pushing")

    PythonOperator(task_id="t", python_callable=push_then_fail, retries=1, retry_delay=datetime.timedelta(0))
""",
    )

    run, final = run_dag("leaky")

    assert final == DagRunState.SUCCESS
    assert ti_of(run, "t").try_number == 2
    assert XCom.objects.filter(dag_run=run, key="partial").exists() is False


@executes_tasks
def test_worker_heartbeats_while_the_task_runs(write_dag, settings):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "HEARTBEAT_INTERVAL": 0.2}
    write_dag("beating", "    BashOperator(task_id='t', bash_command='sleep 1.5')\n")

    run, final = run_dag("beating")

    ti = ti_of(run, "t")
    assert final == DagRunState.SUCCESS
    assert ti.last_heartbeat - ti.start_date >= dt.timedelta(seconds=1)


@pytest.mark.django_db
def test_exponential_backoff_doubles_the_delay_per_try_within_a_jitter(make_dag):
    body = (
        "    BashOperator(task_id='t', bash_command='true', retries=5, retry_delay=datetime.timedelta(seconds=60),"
        " retry_exponential_backoff=True)\n"
    )
    dag = make_dag("backoff", body=body, schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    ti = ti_of(run, "t")
    task = dag.get_task("t")

    delays = []
    for try_number in (1, 2, 3):
        ti.try_number = try_number
        delays.append((next_retry_at(ti=ti, task=task, ended=NOW) - NOW).total_seconds())

    assert 60 <= delays[0] < 120
    assert 120 <= delays[1] < 240
    assert 240 <= delays[2] < 480
    ti.try_number = 1
    assert next_retry_at(ti=ti, task=task, ended=NOW) == NOW + dt.timedelta(seconds=delays[0])


@pytest.mark.django_db
def test_max_retry_delay_caps_the_exponential_backoff(make_dag):
    body = (
        "    BashOperator(task_id='t', bash_command='true', retries=5, retry_delay=datetime.timedelta(seconds=60),"
        " retry_exponential_backoff=True, max_retry_delay=datetime.timedelta(seconds=90))\n"
    )
    dag = make_dag("capped", body=body, schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    ti = ti_of(run, "t")
    ti.try_number = 4

    assert next_retry_at(ti=ti, task=dag.get_task("t"), ended=NOW) == NOW + dt.timedelta(seconds=90)


# -- DAG code runs only in the task's child ------------------------------------------------------


def _dag_that_misbehaves_at_import_when(marker: Path, action: str) -> str:
    """The body of a DAG whose file runs ``action`` at import once ``marker`` exists (after the
    parse, which must succeed: the misbehaviour shows only where the task runs)."""
    return f"""\
    import os, time
    if os.path.exists({str(marker)!r}):
        {action}
    BashOperator(task_id="t", bash_command="echo ran")
"""


@executes_tasks
@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("time.sleep(600)", "Importing the DAG file took more than 1 s (PARSE_TIMEOUT)"),
        ("os._exit(3)", "The task process ended without reporting an outcome (exit code 3)"),
        ("raise SystemExit(0)", "failed to import: SystemExit"),
    ],
)
def test_a_dag_file_that_hangs_or_exits_at_import_costs_one_failed_try_not_the_worker(
    write_dag, tmp_path, settings, action, reason
):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "PARSE_TIMEOUT": 1.0}
    marker = tmp_path / "misbehave"
    write_dag("bad_import", _dag_that_misbehaves_at_import_when(marker, action))
    marker.touch()
    worker_pid = os.getpid()

    started = time.monotonic()
    run, final = run_dag("bad_import")

    assert os.getpid() == worker_pid  # this process (the worker) is alive and went on
    assert time.monotonic() - started < 15
    assert final == DagRunState.FAILED
    assert ti_of(run, "t").state == TaskInstanceState.FAILED
    assert reason in log_of(run, "t")
    assert "ran" not in log_of(run, "t")


@executes_tasks
@pytest.mark.parametrize("state", [TaskInstanceState.SUCCESS, TaskInstanceState.FAILED])
def test_marking_a_running_task_stops_its_process_within_a_heartbeat_and_the_mark_stays(
    write_dag, tmp_path, settings, state
):
    import threading

    from runs_app.services import task_instances_set_state

    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "HEARTBEAT_INTERVAL": 0.2}
    pid_file = tmp_path / "task.pid"
    dag = write_dag("long", f'    BashOperator(task_id="t", bash_command="echo $$ > {pid_file}; sleep 60")\n')
    run = dag_trigger(dag=dag, now=timezone.now())
    DagRun.objects.filter(pk=run.pk).update(state=DagRunState.RUNNING)
    executor = InlineExecutor()
    tick(now=timezone.now(), executor=executor, reparse=False)
    [(ti_id, try_number)] = executor.queued
    result: list[str] = []
    worker = threading.Thread(
        target=lambda: result.append(execute_task_instance(ti_id=ti_id, try_number=try_number)), daemon=True
    )
    worker.start()
    deadline = time.monotonic() + 20
    while not (pid_file.exists() and pid_file.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    task_pid = int(pid_file.read_text())

    marked = time.monotonic()
    task_instances_set_state(tis=[ti_of(run, "t")], state=state, now=timezone.now(), executor=InlineExecutor())
    worker.join(timeout=20)

    assert result == ["superseded"]
    assert time.monotonic() - marked < 5
    assert ti_of(run, "t").state == state
    deadline = time.monotonic() + 3
    while is_running(task_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert is_running(task_pid) is False
    assert "State of this instance has been externally set. Terminating instance." in log_of(run, "t")


def test_an_interrupted_supervisor_kills_its_child_before_letting_the_interruption_through(tmp_path):
    """RQ's job timeout raises in the worker's main thread (SIGALRM): the task must not run on."""
    import signal

    from runs_app.runner import supervise

    pid_file = tmp_path / "child.pid"

    def prepare():
        pid_file.write_text(str(os.getpid()))
        time.sleep(60)
        raise AssertionError("not reached")

    class JobTimeout(Exception):
        pass

    def expire(signum, frame):
        raise JobTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(JobTimeout):
            supervise(prepare=prepare, log_path=tmp_path / "log", heartbeat=None, timeout=None)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    assert is_running(int(pid_file.read_text())) is False


@executes_tasks
@pytest.mark.parametrize("grandchild", ["time.sleep(600)", "pass"])
def test_a_dag_file_that_forks_at_import_runs_its_task_once_and_leaves_no_process_behind(
    write_dag, tmp_path, grandchild
):
    marker, counter, pids = tmp_path / "fork", tmp_path / "counter", tmp_path / "pids"
    write_dag(
        "forks",
        f"""\
    import os, time
    if os.path.exists({str(marker)!r}):
        if os.fork() == 0:
            with open({str(pids)!r}, "a") as f:
                f.write(f"{{os.getpid()}}\\n")
            {grandchild}
    BashOperator(task_id="t", bash_command="echo ran >> {counter}")
""",
    )
    marker.touch()

    started = time.monotonic()
    _run, final = run_dag("forks")

    assert time.monotonic() - started < 15
    assert final == DagRunState.SUCCESS
    assert counter.read_text().splitlines() == ["ran"]
    grandchild_pid = int(pids.read_text().split()[0])
    deadline = time.monotonic() + 3
    while is_running(grandchild_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert is_running(grandchild_pid) is False


@executes_tasks
def test_a_dag_file_that_allocates_2_gb_at_import_fails_its_try_under_the_memory_limit(write_dag, tmp_path, settings):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "TASK_MEMORY_LIMIT_MB": 1024}
    marker = tmp_path / "allocate"
    write_dag("greedy", _dag_that_misbehaves_at_import_when(marker, "hoard = bytearray(2 * 1024 ** 3)"))
    marker.touch()

    run, final = run_dag("greedy")

    assert final == DagRunState.FAILED
    assert "failed to import: MemoryError" in log_of(run, "t")

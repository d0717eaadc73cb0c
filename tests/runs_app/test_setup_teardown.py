"""Setup and teardown tasks (Airflow 2.7): the teardown runs when its setup succeeded even if the
work failed, it does not decide the run's state, and clearing a task clears its setups and
teardowns."""

from __future__ import annotations

import datetime as dt
import pathlib

import pytest
from django.utils import timezone

from dags_app.models import DagImportError, DagModel
from dags_app.sdk import DAG, AirflowException, EmptyOperator, TaskGroup, TriggerRule, setup, teardown
from runs_app.models import TaskInstance, XCom
from runs_app.services import dag_trigger, task_instances_clear
from runs_app.states import DagRunState, TaskInstanceState
from tests.runs_app.helpers import dag_source
from tests.runs_app.test_runner import executes_tasks, run_dag

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
TI = TaskInstanceState
IMPORTS = "from dags_app.sdk import DAG, BashOperator, EmptyOperator, setup, task, teardown\n"


def write(dag_file, sync, dag_id: str, body: str) -> None:
    dag_file(f"{dag_id}.py", dag_source(dag_id, body=body, schedule="None", imports=IMPORTS))
    assert sync().import_errors == 0, DagImportError.objects.values_list("stacktrace", flat=True)


def states(run) -> dict[str, str]:
    return dict(TaskInstance.objects.filter(dag_run=run).values_list("task_id", "state"))


def test_as_setup_and_as_teardown_mark_the_tasks_and_wire_the_setup_to_its_teardown():
    with DAG("st", start_date=START, schedule=None) as dag:
        create, query, delete = (EmptyOperator(task_id=t) for t in ("create", "query", "delete"))
        create >> query >> delete.as_teardown(setups=create)

        @setup
        def make():
            return 1

        @teardown(on_failure_fail_dagrun=True)
        def drop():
            return 2

        make() >> drop()
        with TaskGroup("g") as group:
            a = EmptyOperator(task_id="a").as_setup()
            b = EmptyOperator(task_id="b")
            c = EmptyOperator(task_id="c").as_teardown(setups=a)
            a >> b >> c
        after = EmptyOperator(task_id="after")
        group >> after
    assert dag.get_task("create").is_setup and dag.get_task("delete").is_teardown
    assert dag.get_task("delete").trigger_rule == TriggerRule.ALL_DONE_SETUP_SUCCESS
    assert dag.get_task("create").downstream_task_ids == {"query", "delete"}
    assert dag.get_task("make").is_setup and dag.get_task("drop").on_failure_fail_dagrun
    # Teardowns are left out of a group's leaves: the work task is what "after" follows.
    assert dag.get_task("after").upstream_task_ids == {"g.b"}
    with pytest.raises(AirflowException, match="both a setup and a teardown"):
        dag.get_task("create").as_teardown()


@executes_tasks
def test_the_teardown_runs_after_failed_work_and_the_run_fails_by_the_work_not_the_teardown(dag_file, sync):
    write(
        dag_file,
        sync,
        "cluster",
        """\
    create = BashOperator(task_id="create", bash_command="echo up")
    query = BashOperator(task_id="query", bash_command="exit 1")
    delete = BashOperator(task_id="delete", bash_command="echo down")
    create >> query >> delete.as_teardown(setups=create)
""",
    )
    run, final = run_dag("cluster")
    assert states(run) == {"create": TI.SUCCESS, "query": TI.FAILED, "delete": TI.SUCCESS}
    assert final == DagRunState.FAILED


@executes_tasks
def test_a_failing_teardown_does_not_fail_the_run_unless_it_says_so(dag_file, sync):
    write(
        dag_file,
        sync,
        "td_fail",
        """\
    @setup
    def create():
        return "id"

    @task
    def work():
        return 1

    @teardown
    def delete():
        raise RuntimeError("cannot delete")

    @teardown(on_failure_fail_dagrun=True)
    def audit():
        return "ok"

    c = create()
    c >> work() >> [delete(), audit()]
    c >> [dag.get_task("delete"), dag.get_task("audit")]
""",
    )
    run, final = run_dag("td_fail")
    assert states(run) == {"create": TI.SUCCESS, "work": TI.SUCCESS, "delete": TI.FAILED, "audit": TI.SUCCESS}
    assert final == DagRunState.SUCCESS


@executes_tasks
def test_a_failed_setup_makes_its_teardown_upstream_failed_and_a_skipped_one_skips_it(dag_file, sync):
    write(
        dag_file,
        sync,
        "setup_fail",
        """\
    create = BashOperator(task_id="create", bash_command="exit 1")
    work = EmptyOperator(task_id="work")
    delete = EmptyOperator(task_id="delete")
    skip_create = BashOperator(task_id="skip_create", bash_command="exit 99")
    skip_delete = EmptyOperator(task_id="skip_delete")
    create >> work >> delete.as_teardown(setups=create)
    skip_create >> skip_delete.as_teardown(setups=skip_create)
""",
    )
    run, final = run_dag("setup_fail")
    got = states(run)
    assert (got["create"], got["work"], got["delete"]) == (TI.FAILED, TI.UPSTREAM_FAILED, TI.UPSTREAM_FAILED)
    assert (got["skip_create"], got["skip_delete"]) == (TI.SKIPPED, TI.SKIPPED)
    assert final == DagRunState.FAILED


@executes_tasks
def test_clearing_a_work_task_clears_its_setups_and_teardowns(dag_file, sync):
    write(
        dag_file,
        sync,
        "clear_st",
        """\
    create = EmptyOperator(task_id="create")
    query = BashOperator(task_id="query", bash_command="echo q")
    delete = EmptyOperator(task_id="delete")
    other = EmptyOperator(task_id="other")
    create >> query >> delete.as_teardown(setups=create)
""",
    )
    run, final = run_dag("clear_st")
    assert final == DagRunState.SUCCESS
    query = TaskInstance.objects.get(dag_run=run, task_id="query")
    cleared = task_instances_clear(tis=[query], now=timezone.now())
    assert cleared == 3
    assert states(run) == {"create": TI.NONE, "query": TI.NONE, "delete": TI.NONE, "other": TI.SUCCESS}


@pytest.mark.django_db
@pytest.mark.parametrize("mark", [DagRunState.FAILED, DagRunState.SUCCESS])
def test_marking_a_run_leaves_its_teardown_to_run_and_then_ends_the_run_as_marked(make_dag, mark):
    from runs_app.scheduler import tick
    from runs_app.scheduling import InlineExecutor
    from runs_app.services import dag_run_mark_plan, dag_run_set_state, dag_trigger
    from runs_app.tries import task_instance_claim
    from tests.runs_app.helpers import NOW, finish

    body = (
        "    create = BashOperator(task_id='create', bash_command='true')\n"
        "    work = BashOperator(task_id='work', bash_command='sleep 60')\n"
        "    delete = BashOperator(task_id='delete', bash_command='true')\n"
        "    create >> work >> delete.as_teardown(setups=create)\n"
    )
    dag = make_dag("mark_td", body=body, schedule="None")
    run = dag_trigger(dag=dag, now=NOW)
    executor = InlineExecutor()
    tick(now=NOW, executor=executor)
    finish(TaskInstance.objects.get(dag_run=run, task_id="create"), TI.SUCCESS, executor=executor)
    work = TaskInstance.objects.get(dag_run=run, task_id="work")
    assert work.state == TI.QUEUED
    assert task_instance_claim(ti_id=work.pk, try_number=work.try_number, now=NOW) is not None
    run.refresh_from_db()
    assert "delete" not in dag_run_mark_plan(run, state=mark)

    dag_run_set_state(run=run, state=mark, now=NOW)

    run.refresh_from_db()
    assert (run.state, run.marked_state) == (DagRunState.RUNNING, mark)
    expected_work = TI.FAILED if mark == DagRunState.FAILED else TI.SUCCESS
    assert states(run) == {"create": TI.SUCCESS, "work": expected_work, "delete": TI.NONE}
    tick(now=NOW, executor=executor)
    delete = TaskInstance.objects.get(dag_run=run, task_id="delete")
    assert delete.state == TI.QUEUED  # its setup succeeded: the teardown cleans up
    finish(delete, TI.SUCCESS, executor=executor)
    run.refresh_from_db()
    assert (run.state, run.marked_state) == (mark, "")


@executes_tasks
@pytest.mark.parametrize(("fail", "expected"), [(False, DagRunState.SUCCESS), (True, DagRunState.FAILED)])
def test_example_setup_teardown_removes_its_workspace_whether_the_work_fails_or_not(dags_folder, sync, fail, expected):
    import shutil

    from django.conf import settings

    from runs_app.runner import dag_run_execute_inline

    shutil.copy(settings.BASE_DIR / "dags" / "example_setup_teardown.py", dags_folder / "example_setup_teardown.py")
    assert sync().import_errors == 0
    dag = DagModel.objects.get(dag_id="example_setup_teardown")
    run = dag_trigger(dag=dag, now=timezone.now(), conf={"fail": fail})
    assert dag_run_execute_inline(run=run, max_wait=60) == expected
    got = states(run)
    assert got["remove_workspace"] == TI.SUCCESS
    assert got["count_files"] == (TI.FAILED if fail else TI.SUCCESS)
    path = XCom.objects.get(dag_run=run, task_id="create_workspace").value
    assert not pathlib.Path(path).exists()

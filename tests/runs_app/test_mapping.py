"""Dynamic task mapping: ``partial``/``expand``/``expand_kwargs``, instances made at run time.

The tests run the DAGs through the real engine: the scheduler's ``dag_run_schedule`` expands a
mapped task when its upstream is done, and each instance runs in the real runner (a child that
imports the DAG file and builds that instance's operator).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from dags_app.models import DagImportError, DagModel
from dags_app.sdk import DAG, BashOperator, task
from dags_app.sdk.exceptions import AirflowException
from dags_app.sdk.mappedoperator import MappedOperator
from runs_app.models import TaskInstance, XCom
from runs_app.services import dag_trigger, task_instances_clear, task_instances_set_state
from runs_app.states import DagRunState, TaskInstanceState
from tests.runs_app.helpers import dag_source
from tests.runs_app.test_runner import executes_tasks, run_dag

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
TI = TaskInstanceState
IMPORTS = "from dags_app.sdk import DAG, BashOperator, EmptyOperator, PythonOperator, task\n"


def write(dag_file, sync, dag_id: str, body: str) -> DagModel:
    dag_file(f"{dag_id}.py", dag_source(dag_id, body=body, schedule="None", imports=IMPORTS))
    report = sync()
    assert report.import_errors == 0, DagImportError.objects.values_list("stacktrace", flat=True)
    return DagModel.objects.get(dag_id=dag_id)


def instances(run, task_id: str) -> list[tuple[int, str]]:
    return list(
        TaskInstance.objects.filter(dag_run=run, task_id=task_id)
        .order_by("map_index")
        .values_list("map_index", "state")
    )


def xcoms(run, task_id: str) -> list:
    return list(XCom.objects.filter(dag_run=run, task_id=task_id).order_by("map_index").values_list("value", flat=True))


# -- the SDK ---------------------------------------------------------------------------------------


def test_partial_and_expand_make_one_mapped_task_downstream_of_what_it_maps_over():
    with DAG("m", start_date=START, schedule=None) as dag:

        @task
        def numbers():
            return [1, 2]

        @task
        def add(x, y):
            return x + y

        added = add.partial(y=1).expand(x=numbers())
        echo = BashOperator.partial(task_id="echo", retries=2).expand(bash_command=["echo 1", "echo 2"])

    mapped = dag.get_task("add")
    assert isinstance(mapped, MappedOperator) and mapped.is_mapped
    assert mapped.upstream_task_ids == {"numbers"}
    assert added.operator is mapped
    assert echo.retries == 2 and echo.operator_name == "BashOperator"
    real = echo.unmap({"bash_command": "echo 2"})
    assert type(real) is BashOperator and real.bash_command == "echo 2" and real.retries == 2
    assert real.task_id == "echo" and dag.get_task("echo") is echo  # the DAG keeps the mapped task


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: BashOperator.partial(task_id="t").expand(bash_comand=["x"]),
            "unexpected keyword argument 'bash_comand'",
        ),
        (lambda: BashOperator.partial(task_id="t").expand(retries=[1, 2]), "cannot map over the BaseOperator argument"),
        (lambda: BashOperator.partial(task_id="t").expand(bash_command="echo"), "must be a list, a dict or an XComArg"),
        (lambda: BashOperator.partial(task_id="t").expand(), "needs at least one argument"),
        (
            lambda: BashOperator.partial(task_id="t", bash_command="x").expand(bash_command=["y"]),
            "given to both partial() and expand()",
        ),
        (lambda: BashOperator.partial(task_id="t", colour=1), "unexpected keyword arguments: colour"),
        (lambda: BashOperator.partial(task_id="t").expand_kwargs([1]), "needs a list of dicts"),
        (lambda: BashOperator.partial(task_id="t").expand(bash_command=["x"] * 1025), "more than max_map_length"),
    ],
)
def test_mapping_mistakes_are_import_errors_naming_the_argument(build, message):
    with DAG("m", start_date=START, schedule=None), pytest.raises(AirflowException) as caught:
        build()
    assert message in str(caught.value)


def test_expand_over_several_arguments_maps_their_cross_product_the_last_varying_fastest():
    with DAG("m", start_date=START, schedule=None):
        mapped = BashOperator.partial(task_id="t").expand(bash_command=["a", "b"], env=[{"X": "1"}, {"X": "2"}, {}])
    got = [mapped.expand_input.resolve({}, i) for i in range(6)]
    assert [(g["bash_command"], g["env"]) for g in got] == [
        ("a", {"X": "1"}),
        ("a", {"X": "2"}),
        ("a", {}),
        ("b", {"X": "1"}),
        ("b", {"X": "2"}),
        ("b", {}),
    ]
    assert mapped.expand_input.serialize() == {
        "kind": "dict",
        "keys": {"bash_command": {"length": 2}, "env": {"length": 3}},
    }


# -- through the engine -----------------------------------------------------------------------------


@executes_tasks
def test_a_mapped_fan_out_over_an_upstream_list_runs_one_instance_per_value_and_reduces(dag_file, sync):
    write(
        dag_file,
        sync,
        "fan",
        """\
    @task
    def files():
        return ["a.csv", "b.csv", "c.csv"]

    @task(map_index_template="{{ task.op_kwargs['name'] }}")
    def size(name, suffix):
        from dags_app.sdk import get_current_context
        ti = get_current_context()["ti"]
        return f"{name}{suffix}:{ti.map_index}"

    @task
    def total(sizes):
        return sorted(sizes)

    total(size.partial(suffix="!").expand(name=files()))
""",
    )
    run, final = run_dag("fan")
    assert final == DagRunState.SUCCESS
    assert instances(run, "size") == [(0, TI.SUCCESS), (1, TI.SUCCESS), (2, TI.SUCCESS)]
    assert xcoms(run, "size") == ["a.csv!:0", "b.csv!:1", "c.csv!:2"]
    assert xcoms(run, "total") == [["a.csv!:0", "b.csv!:1", "c.csv!:2"]]
    rows = TaskInstance.objects.filter(dag_run=run, task_id="size").order_by("map_index")
    assert [ti.rendered_map_index for ti in rows] == ["a.csv", "b.csv", "c.csv"]
    # Each instance has its own log, in Airflow's layout.
    first = rows[0]
    assert first.log_path().parts[-2:] == ("map_index=0", "attempt=1.log")
    text = first.log_path().read_text()
    assert "fan.size map_index=0 (run" in text and "run_id=manual__2022-01-01T00:00:00+00:00, map_index=0" in text


@executes_tasks
def test_zero_values_skip_the_mapped_task_and_its_downstream(dag_file, sync):
    write(
        dag_file,
        sync,
        "empty_fan",
        """\
    @task
    def nothing():
        return []

    @task
    def each(x):
        return x

    each.expand(x=nothing()) >> EmptyOperator(task_id="after")
""",
    )
    run, final = run_dag("empty_fan")
    assert instances(run, "each") == [(-1, TI.SKIPPED)]
    assert instances(run, "after") == [(-1, TI.SKIPPED)]
    assert final == DagRunState.SUCCESS


@executes_tasks
def test_classic_operators_map_over_literals_and_expand_kwargs_and_one_failure_fails_the_run(dag_file, sync):
    write(
        dag_file,
        sync,
        "classic",
        """\
    echo = BashOperator.partial(task_id="echo").expand(bash_command=["echo one", "echo two"])
    kw = BashOperator.partial(task_id="kw").expand_kwargs(
        [{"bash_command": "echo $A", "env": {"A": "x"}}, {"bash_command": "exit 3"}]
    )
    echo >> kw
""",
    )
    run, final = run_dag("classic")
    assert xcoms(run, "echo") == ["one", "two"]
    assert instances(run, "kw") == [(0, TI.SUCCESS), (1, TI.FAILED)]
    assert xcoms(run, "kw") == ["x"]
    assert final == DagRunState.FAILED


@executes_tasks
def test_a_task_pushing_what_cannot_be_mapped_over_fails_with_the_reason(dag_file, sync):
    write(
        dag_file,
        sync,
        "bad_push",
        """\
    @task
    def one():
        return 5

    @task
    def each(x):
        return x

    each.expand(x=one())
""",
    )
    run, final = run_dag("bad_push")
    assert final == DagRunState.FAILED
    assert instances(run, "one") == [(-1, TI.FAILED)]
    assert instances(run, "each") == [(-1, TI.UPSTREAM_FAILED)]
    log = TaskInstance.objects.get(dag_run=run, task_id="one").log_path().read_text()
    assert "unmappable return type 'int'" in log and "'each'" in log


@executes_tasks
def test_mapping_over_a_mapped_task_and_clearing_one_instance_or_all(dag_file, sync, tmp_path):
    counter = tmp_path / "runs"
    write(
        dag_file,
        sync,
        "chain_map",
        f"""\
    @task
    def start():
        return [1, 2, 3]

    @task
    def double(x):
        with open({str(counter)!r}, "a") as f:
            f.write(f"{{x}}\\n")
        return x * 2

    @task
    def plus_one(y):
        return y + 1

    @task
    def total(values):
        return sum(values)

    total(plus_one.expand(y=double.expand(x=start())))
""",
    )
    run, final = run_dag("chain_map")
    assert final == DagRunState.SUCCESS
    assert xcoms(run, "plus_one") == [3, 5, 7]
    assert xcoms(run, "total") == [15]
    assert sorted(counter.read_text().split()) == ["1", "2", "3"]

    # One instance: only it runs again.
    one = TaskInstance.objects.get(dag_run=run, task_id="double", map_index=1)
    task_instances_clear(tis=[one], now=timezone.now())
    assert instances(run, "double") == [(0, TI.SUCCESS), (1, TI.NONE), (2, TI.SUCCESS)]
    from runs_app.runner import dag_run_execute_inline

    run.refresh_from_db()
    assert dag_run_execute_inline(run=run, max_wait=60) == DagRunState.SUCCESS
    assert sorted(counter.read_text().split()) == ["1", "2", "2", "3"]
    assert TaskInstance.objects.get(dag_run=run, task_id="double", map_index=1).try_number == 2

    # The whole mapped task with its downstream: every instance and the reduce run again.
    task_instances_set_state(
        tis=TaskInstance.objects.filter(dag_run=run, task_id="double"), state=TI.FAILED, now=timezone.now()
    )
    assert {s for _, s in instances(run, "double")} == {TI.FAILED}
    task_instances_clear(
        tis=TaskInstance.objects.filter(dag_run=run, task_id="double"), now=timezone.now(), downstream=True
    )
    run.refresh_from_db()
    assert dag_run_execute_inline(run=run, max_wait=60) == DagRunState.SUCCESS
    assert len(counter.read_text().split()) == 7
    assert xcoms(run, "total") == [15]


@executes_tasks
def test_a_cleared_upstream_with_fewer_values_removes_the_extra_instances(dag_file, sync, tmp_path):
    size = tmp_path / "size"
    size.write_text("3")
    write(
        dag_file,
        sync,
        "shrink",
        f"""\
    @task
    def values():
        import pathlib
        return list(range(int(pathlib.Path({str(size)!r}).read_text())))

    @task
    def each(x):
        return x

    each.expand(x=values())
""",
    )
    run, first = run_dag("shrink")
    assert first == DagRunState.SUCCESS
    assert instances(run, "each") == [(0, TI.SUCCESS), (1, TI.SUCCESS), (2, TI.SUCCESS)]
    size.write_text("2")
    task_instances_clear(
        tis=TaskInstance.objects.filter(dag_run=run, task_id="values"), now=timezone.now(), downstream=True
    )
    run.refresh_from_db()
    from runs_app.runner import dag_run_execute_inline

    assert dag_run_execute_inline(run=run, max_wait=60) == DagRunState.SUCCESS
    assert instances(run, "each") == [(0, TI.SUCCESS), (1, TI.SUCCESS), (2, TI.REMOVED)]


@pytest.mark.django_db
def test_an_unexpanded_mapped_task_is_one_instance_at_map_index_minus_one(dag_file, sync):
    dag = write(dag_file, sync, "wait_map", "    BashOperator.partial(task_id='t').expand(bash_command=['a', 'b'])\n")
    run = dag_trigger(dag=dag, now=timezone.now())
    assert instances(run, "t") == [(-1, TI.NONE)]
    assert dag.get_task("t")["is_mapped"] is True


# -- mapped task groups -----------------------------------------------------------------------------


@executes_tasks
def test_a_mapped_task_group_runs_each_instance_of_the_group_with_its_own_value(dag_file, sync, tmp_path):
    order = tmp_path / "order"
    dag_file(
        "group_map.py",
        dag_source(
            "group_map",
            schedule="None",
            imports="from dags_app.sdk import DAG, task, task_group\n",
            body=f"""\
    @task
    def numbers():
        return [1, 2, 3]

    @task
    def add_one(x):
        return x + 1

    @task
    def double(y, label):
        from dags_app.sdk import get_current_context
        ti = get_current_context()["ti"]
        with open({str(order)!r}, "a") as f:
            f.write(f"{{ti.map_index}}:{{y}}\\n")
        return f"{{label}}{{y * 2}}"

    @task_group
    def pipeline(x, label):
        return double(add_one(x), label)

    @task
    def collect(values):
        return values

    collect(pipeline.partial(label="v").expand(x=numbers()))
""",
        ),
    )
    assert sync().import_errors == 0, DagImportError.objects.values_list("stacktrace", flat=True)
    tasks = {t["task_id"]: t for t in DagModel.objects.get(dag_id="group_map").tasks}
    assert tasks["pipeline.add_one"]["mapped_group"] == "pipeline" and tasks["pipeline.double"]["is_mapped"]
    assert tasks["pipeline.add_one"]["upstream_task_ids"] == ["numbers"]
    run, final = run_dag("group_map")
    assert final == DagRunState.SUCCESS
    assert xcoms(run, "pipeline.add_one") == [2, 3, 4]
    assert xcoms(run, "pipeline.double") == ["v4", "v6", "v8"]
    assert xcoms(run, "collect") == [["v4", "v6", "v8"]]
    assert sorted(order.read_text().split()) == ["0:2", "1:3", "2:4"]


@executes_tasks
def test_a_classic_operator_in_a_mapped_task_group_gets_its_instance_s_value_in_a_templated_field(dag_file, sync):
    dag_file(
        "group_classic.py",
        dag_source(
            "group_classic",
            schedule="None",
            imports="from dags_app.sdk import DAG, BashOperator, task, task_group\n",
            body="""\
    @task
    def commands():
        return ["echo first", "echo second"]

    @task_group
    def each(command):
        # bash_command is the group's argument itself, and inside a list of env values.
        run = BashOperator(task_id="run", bash_command=command)
        BashOperator(task_id="env", bash_command="echo $CMD", env={"CMD": command}) << run

    each.expand(command=commands())
""",
        ),
    )
    assert sync().import_errors == 0, DagImportError.objects.values_list("stacktrace", flat=True)
    run, final = run_dag("group_classic")
    assert final == DagRunState.SUCCESS
    assert xcoms(run, "each.run") == ["first", "second"]
    assert xcoms(run, "each.env") == ["echo first", "echo second"]
    rendered = TaskInstance.objects.get(dag_run=run, task_id="each.run", map_index=1).rendered_fields
    assert rendered["bash_command"] == "echo second"


def test_an_upstream_s_xcom_in_a_classic_operator_s_templated_field_makes_it_upstream():
    with DAG("xcom_field", schedule=None, start_date=START):

        @task
        def command():
            return "echo hi"

        made = command()
        echo = BashOperator(task_id="echo", bash_command=made)
        env = BashOperator(task_id="env", bash_command="echo $X", env={"X": made})
    assert echo.upstream_task_ids == {"command"} and env.upstream_task_ids == {"command"}


@executes_tasks
def test_in_a_mapped_task_group_a_failed_instance_fails_only_its_own_downstream_instance(dag_file, sync):
    dag_file(
        "group_fail.py",
        dag_source(
            "group_fail",
            schedule="None",
            imports="from dags_app.sdk import DAG, task, task_group\n",
            body="""\
    @task
    def check(x):
        if x == 2:
            raise ValueError("bad value")
        return x

    @task
    def publish(x):
        return x

    @task_group
    def each(x):
        publish(check(x))

    each.expand(x=[1, 2, 3])
""",
        ),
    )
    assert sync().import_errors == 0, DagImportError.objects.values_list("stacktrace", flat=True)
    run, final = run_dag("group_fail")
    assert final == DagRunState.FAILED
    assert instances(run, "each.check") == [(0, TI.SUCCESS), (1, TI.FAILED), (2, TI.SUCCESS)]
    assert instances(run, "each.publish") == [(0, TI.SUCCESS), (1, TI.UPSTREAM_FAILED), (2, TI.SUCCESS)]


def test_expand_inside_a_mapped_task_group_is_an_import_error():
    from dags_app.sdk import task_group

    with DAG("m", start_date=START, schedule=None), pytest.raises(AirflowException, match="inside a mapped task group"):

        @task
        def one(x):
            return x

        @task_group
        def group(x):
            one.expand(x=[1, 2])

        group.expand(x=[1])


@executes_tasks
def test_clearing_an_instance_of_a_mapped_group_with_downstream_clears_that_instance_of_the_group(dag_file, sync):
    dag_file(
        "group_clear.py",
        dag_source(
            "group_clear",
            schedule="None",
            imports="from dags_app.sdk import DAG, task, task_group\n",
            body="""\
    @task
    def first(x):
        return x

    @task
    def second(x):
        return x

    @task
    def after(values):
        return values

    @task_group
    def each(x):
        return second(first(x))

    after(each.expand(x=[1, 2, 3]))
""",
        ),
    )
    assert sync().import_errors == 0
    run, final = run_dag("group_clear")
    assert final == DagRunState.SUCCESS
    one = TaskInstance.objects.get(dag_run=run, task_id="each.first", map_index=1)
    task_instances_clear(tis=[one], now=timezone.now(), downstream=True)
    assert instances(run, "each.first") == [(0, TI.SUCCESS), (1, TI.NONE), (2, TI.SUCCESS)]
    assert instances(run, "each.second") == [(0, TI.SUCCESS), (1, TI.NONE), (2, TI.SUCCESS)]
    assert instances(run, "after") == [(-1, TI.NONE)]


# -- driven by the scheduler's tick with a clock ---------------------------------------------------


def _record(ti: TaskInstance, *, now, xcoms=None, executor=None) -> None:
    """End the queued try of ``ti`` with success (and ``xcoms``) as a worker records it."""
    from runs_app.scheduling import InlineExecutor
    from runs_app.tries import Outcome, task_instance_claim, task_instance_record_outcome

    claimed = task_instance_claim(ti_id=ti.pk, try_number=ti.try_number, now=now)
    assert claimed is not None, ti
    outcome = Outcome(state=TI.SUCCESS, xcoms=xcoms or {})
    assert task_instance_record_outcome(ti=claimed, outcome=outcome, now=now, executor=executor or InlineExecutor())


@pytest.mark.django_db
def test_tick_expands_a_mapped_task_when_its_upstream_pushed_and_queues_each_instance(dag_file, sync):
    from runs_app.scheduler import tick
    from runs_app.scheduling import InlineExecutor
    from runs_app.services import dag_set_paused
    from tests.runs_app.helpers import NOW

    dag = write(
        dag_file,
        sync,
        "tick_map",
        """\
    @task
    def values():
        return []

    @task
    def each(x):
        return x

    @task
    def total(xs):
        return xs

    total(each.expand(x=values()))
""",
    )
    dag_set_paused(dag=dag, is_paused=False)
    run = dag_trigger(dag=dag, now=NOW)
    executor = InlineExecutor()
    tick(now=NOW, executor=executor)
    assert instances(run, "each") == [(-1, TI.NONE)]  # waits for values
    values = TaskInstance.objects.get(dag_run=run, task_id="values")
    assert values.state == TI.QUEUED
    _record(values, now=NOW, xcoms={"return_value": ["a", "b", "c"]}, executor=executor)

    # The fast follow of "values" expanded "each" and queued its three instances.
    assert instances(run, "each") == [(0, TI.QUEUED), (1, TI.QUEUED), (2, TI.QUEUED)]
    later = NOW + dt.timedelta(seconds=5)
    for ti in TaskInstance.objects.filter(dag_run=run, task_id="each").order_by("map_index"):
        _record(ti, now=later, xcoms={"return_value": ti.map_index}, executor=executor)
        assert TaskInstance.objects.get(dag_run=run, task_id="total").state == (
            TI.QUEUED if ti.map_index == 2 else TI.NONE
        )
    tick(now=later, executor=executor)
    run.refresh_from_db()
    assert run.state == DagRunState.RUNNING  # total is queued; the tick changed nothing else

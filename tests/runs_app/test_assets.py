"""Assets (issue 12, part 7): outlets write an event with the producing success, DAGs scheduled on
assets (lists, ``&``, ``|``, aliases) get asset-triggered runs that consume those events, and tasks
read ``outlet_events``, ``inlet_events`` and ``triggering_asset_events``."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest
from django.utils import timezone

from dags_app.models import AssetAliasModel, AssetModel, DagAssetReference, DagModel
from dags_app.sdk.assets import Asset, AssetAlias, AssetAll, AssetAny, condition_of, evaluate
from runs_app.assets import asset_events_record
from runs_app.models import AssetDagRunQueue, AssetEvent, DagRun, XCom
from runs_app.scheduler import _phase_asset_runs, tick
from runs_app.scheduling import InlineExecutor
from runs_app.states import DagRunState, DagRunType
from tests.runs_app.helpers import drain
from tests.runs_app.test_runner import executes_tasks, log_of, run_dag

pytestmark = pytest.mark.django_db

HEADER = """\
import datetime
from dags_app.sdk import DAG, task
from dags_app.sdk.assets import Asset, AssetAlias, Metadata
from dags_app.sdk.operators import BashOperator, EmptyOperator
START = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
raw = Asset("s3://lake/raw.csv", extra={"owner": "ingest"})
clean = Asset(name="clean", uri="s3://lake/clean.parquet")
"""

PIPELINE = (
    HEADER
    + """
with DAG("produce_raw", schedule=None, start_date=START):
    @task(outlets=[raw])
    def extract(*, outlet_events=None):
        outlet_events[raw].extra = {"rows": 3}
    extract()

with DAG("produce_clean", schedule=None, start_date=START):
    @task(outlets=[clean])
    def transform():
        yield Metadata(clean, {"rows": 2})
    transform()

def _before(context):
    print("pre_execute hook ran")

def _after(context, result):
    context["outlet_events"][raw].extra = {"rows": 9, "from": result}

with DAG("produce_classic", schedule=None, start_date=START):
    BashOperator(
        task_id="echo", bash_command="echo done", outlets=[raw], pre_execute=_before, post_execute=_after
    )

with DAG("produce_via_alias", schedule=None, start_date=START):
    @task(outlets=[AssetAlias("daily-files")])
    def pick(*, outlet_events=None):
        outlet_events[AssetAlias("daily-files")].add(Asset("s3://lake/2024-01-01.csv"), extra={"day": 1})
    pick()

with DAG("on_raw", schedule=[raw], start_date=START):
    @task
    def report(*, triggering_asset_events=None):
        events = triggering_asset_events[raw]
        return [e.extra for e in events]
    report()

with DAG("on_both", schedule=raw & clean, start_date=START):
    EmptyOperator(task_id="join")

with DAG("on_either", schedule=raw | clean, start_date=START):
    EmptyOperator(task_id="any")

with DAG("on_alias", schedule=AssetAlias("daily-files"), start_date=START):
    EmptyOperator(task_id="files")

with DAG("reader", schedule=None, start_date=START):
    @task(inlets=[raw])
    def read(*, inlet_events=None):
        return [e.extra for e in inlet_events[raw]]
    read()
    BashOperator(
        task_id="templated",
        inlets=[raw],
        bash_command="echo 'rows={{ inlet_events.for_asset(uri=\\"s3://lake/raw.csv\\")[-1].extra.rows }}'",
    )
"""
)


@pytest.fixture
def pipeline(dag_file, sync):
    dag_file("pipeline.py", PIPELINE)
    report = sync()
    assert report.import_errors == 0, report
    DagModel.objects.update(is_paused=False)


def test_conditions_combine_and_evaluate_over_queued_assets():
    a, b, c = Asset("a"), Asset("b"), Asset("c")
    condition = (a | (b & c)).as_condition()
    assert condition == {
        "any": [{"asset": "a", "uri": "a"}, {"all": [{"asset": "b", "uri": "b"}, {"asset": "c", "uri": "c"}]}]
    }
    assert evaluate(condition, {"a"}, {})
    assert not evaluate(condition, {"b"}, {})
    assert evaluate(condition, {"b", "c"}, {})
    assert isinstance(condition_of([a, b]), AssetAll)
    assert isinstance(a | b | c, AssetAny) and len((a | b | c).objects) == 3
    assert evaluate(AssetAlias("x").as_condition(), {"c"}, {"x": {"c"}})
    assert condition_of("@daily") is None
    assert Asset("s3://x") == Asset(name="s3://x", uri="s3://x") and Asset("s3://x") != Asset("s3://y")


def test_parse_records_what_each_dag_schedules_on_produces_and_reads(pipeline):
    refs = set(DagAssetReference.objects.values_list("dag__dag_id", "kind", "task_id", "asset__name", "alias__name"))
    assert ("produce_raw", "outlet", "extract", "s3://lake/raw.csv", None) in refs
    assert ("on_both", "schedule", "", "clean", None) in refs
    assert ("on_alias", "schedule", "", None, "daily-files") in refs
    assert ("reader", "inlet", "read", "s3://lake/raw.csv", None) in refs
    assert AssetModel.objects.get(name="clean").uri == "s3://lake/clean.parquet"
    assert AssetModel.objects.get(name="s3://lake/raw.csv").extra == {"owner": "ingest"}
    on_raw = DagModel.objects.get(dag_id="on_raw")
    assert (on_raw.schedule, on_raw.next_dagrun) == ("Asset", None)


def test_an_event_queues_every_dag_scheduled_on_it_and_the_phase_makes_the_runs_it_allows(pipeline):
    raw = AssetModel.objects.get(name="s3://lake/raw.csv")
    now = timezone.now()
    asset_events_record(events=[{"name": raw.name, "uri": raw.uri, "event_extra": {"n": 1}}], now=now)

    assert set(AssetDagRunQueue.objects.values_list("target_dag__dag_id", flat=True)) == {
        "on_raw",
        "on_both",
        "on_either",
    }
    assert _phase_asset_runs(now=now + dt.timedelta(seconds=1)) == 2  # on_both waits for clean
    runs = DagRun.objects.filter(run_type=DagRunType.ASSET_TRIGGERED)
    assert set(runs.values_list("dag__dag_id", flat=True)) == {"on_raw", "on_either"}
    run = runs.get(dag__dag_id="on_raw")
    assert list(run.consumed_asset_events.values_list("extra", flat=True)) == [{"n": 1}]
    assert (run.data_interval_start, run.data_interval_end) == (now, now)
    assert list(AssetDagRunQueue.objects.values_list("target_dag__dag_id", flat=True)) == ["on_both"]

    clean = AssetModel.objects.get(name="clean")
    later = now + dt.timedelta(minutes=1)
    asset_events_record(events=[{"name": clean.name, "uri": clean.uri}], now=later)
    assert _phase_asset_runs(now=later + dt.timedelta(seconds=1)) == 2  # on_both, and on_either again
    both = DagRun.objects.get(dag__dag_id="on_both")
    # on_both consumed the raw event that waited for it, and the clean one.
    assert both.consumed_asset_events.count() == 2
    assert not AssetDagRunQueue.objects.exists()


def test_a_paused_dag_keeps_its_queue_until_it_is_unpaused(pipeline):
    DagModel.objects.filter(dag_id="on_raw").update(is_paused=True)
    raw = AssetModel.objects.get(name="s3://lake/raw.csv")
    now = timezone.now()
    asset_events_record(events=[{"name": raw.name, "uri": raw.uri}], now=now)
    _phase_asset_runs(now=now)
    assert not DagRun.objects.filter(dag__dag_id="on_raw").exists()
    assert AssetDagRunQueue.objects.filter(target_dag__dag_id="on_raw").exists()
    DagModel.objects.filter(dag_id="on_raw").update(is_paused=False)
    assert _phase_asset_runs(now=now + dt.timedelta(seconds=1)) == 1


def test_one_dag_whose_run_cannot_be_made_is_parked_and_the_others_get_theirs(pipeline):
    raw = AssetModel.objects.get(name="s3://lake/raw.csv")
    now = timezone.now()
    asset_events_record(events=[{"name": raw.name, "uri": raw.uri}], now=now)
    # A run already sits at the date the asset-triggered run of on_raw would take.
    on_raw = DagModel.objects.get(dag_id="on_raw")
    DagRun.objects.create(dag=on_raw, run_id="manual_at_now", logical_date=now, run_type="manual")

    assert _phase_asset_runs(now=now) == 1  # on_either
    on_raw.refresh_from_db()
    assert "already exists" in on_raw.scheduling_error
    assert AssetDagRunQueue.objects.filter(target_dag=on_raw).exists()  # its queue was kept


@executes_tasks
def test_producers_write_events_with_their_extra_and_consumers_read_them(pipeline):
    for dag_id in ("produce_raw", "produce_clean", "produce_via_alias"):
        assert run_dag(dag_id)[1] == DagRunState.SUCCESS

    events = {e.asset.name: e for e in AssetEvent.objects.select_related("asset")}
    assert events["s3://lake/raw.csv"].extra == {"rows": 3}
    assert (events["s3://lake/raw.csv"].source_dag_id, events["s3://lake/raw.csv"].source_task_id) == (
        "produce_raw",
        "extract",
    )
    assert events["clean"].extra == {"rows": 2}  # yielded Metadata
    assert events["s3://lake/2024-01-01.csv"].source_alias == "daily-files"
    assert AssetAliasModel.objects.get(name="daily-files").assets.get().name == "s3://lake/2024-01-01.csv"

    # A classic operator sets its event's extra in a post_execute= hook (Airflow's example).
    run, final = run_dag("produce_classic")
    assert final == DagRunState.SUCCESS
    event = AssetEvent.objects.get(source_dag_id="produce_classic")
    assert event.extra == {"rows": 9, "from": "done"}
    assert "pre_execute hook ran" in log_of(run, "echo")

    # The scheduler's tick makes the asset-triggered runs, the alias one included.
    executor = InlineExecutor()
    tick(now=timezone.now(), reparse=False, executor=executor)
    triggered = set(DagRun.objects.filter(run_type="asset_triggered").values_list("dag__dag_id", flat=True))
    assert triggered == {"on_raw", "on_both", "on_either", "on_alias"}

    run, final = run_dag("reader")
    assert final == DagRunState.SUCCESS
    assert XCom.objects.get(dag_run=run, task_id="read").value == [{"rows": 3}, {"rows": 9, "from": "done"}]
    assert "rows=9" in log_of(run, "templated")  # the last event


@executes_tasks
def test_an_asset_triggered_run_sees_its_triggering_events(pipeline):
    assert run_dag("produce_raw")[1] == DagRunState.SUCCESS
    executor = InlineExecutor()
    tick(now=timezone.now(), reparse=False, executor=executor)  # creates and starts the run
    tick(now=timezone.now(), reparse=False, executor=executor)  # queues its task
    drain(executor)
    run = DagRun.objects.get(dag__dag_id="on_raw")
    assert run.state == DagRunState.SUCCESS
    assert XCom.objects.get(dag_run=run, task_id="report").value == [{"rows": 3}]


@executes_tasks
def test_a_failed_producer_writes_no_event(write_dag):
    write_dag(
        "fails",
        textwrap.indent(
            "from dags_app.sdk.assets import Asset\n"
            "BashOperator(task_id='boom', bash_command='exit 3', outlets=[Asset('s3://never')])\n",
            "    ",
        ),
    )
    assert run_dag("fails")[1] == DagRunState.FAILED
    assert not AssetEvent.objects.exists()


def test_outlets_take_only_assets(dag_file, sync):
    dag_file(
        "bad.py",
        HEADER
        + "with DAG('bad', schedule=None, start_date=START):\n    EmptyOperator(task_id='t', outlets=['s3://x'])\n",
    )
    report = sync()
    assert report.import_errors == 1
    from dags_app.models import DagImportError

    assert "outlets take Asset or AssetAlias objects" in DagImportError.objects.get().message

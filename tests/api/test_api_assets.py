"""``/api/v2/assets``: assets with the DAGs that use them, aliases, events (read, and made by hand),
queued events, a run's upstream events; Airflow's shapes read by the official client, DAG access
controls, roles and errors."""

from __future__ import annotations

import datetime as dt

import airflow_client.client as ac
import pytest
from django.utils import timezone

from dags_app.models import AssetAliasModel, AssetModel, DagModel
from runs_app.assets import asset_events_record
from runs_app.models import AssetDagRunQueue, AssetEvent, DagRun
from runs_app.scheduler import _phase_asset_runs
from runs_app.states import DagRunType
from tests.api.conftest import API

pytestmark = pytest.mark.django_db

ASSETS = f"{API}/assets"
EVENTS = f"{API}/assets/events"
MS = dt.timedelta(milliseconds=1)

PIPELINE = """
import datetime
from dags_app.sdk import DAG, task
from dags_app.sdk.assets import Asset, AssetAlias
from dags_app.sdk.operators import EmptyOperator
START = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
orders = Asset("s3://lake/orders.csv", extra={"owner": "sales"})
report = Asset(name="report", uri="s3://lake/report.parquet")

with DAG("produce_orders", schedule=None, start_date=START):
    @task(outlets=[orders])
    def extract():
        pass
    extract()

with DAG("on_orders", schedule=[orders], start_date=START):
    @task(inlets=[orders], outlets=[report])
    def summarize():
        pass
    summarize()

with DAG("on_files", schedule=AssetAlias("daily-files"), start_date=START):
    EmptyOperator(task_id="files")
"""


@pytest.fixture
def pipeline(dag_file, sync):
    dag_file("pipeline.py", PIPELINE)
    report = sync()
    assert report.import_errors == 0, report
    DagModel.objects.update(is_paused=False)
    return {asset.name: asset for asset in AssetModel.objects.all()}


@pytest.fixture
def viewer(api_client, viewer_user):
    return api_client(viewer_user)


@pytest.fixture
def user(api_client, user_user):
    return api_client(user_user)


def _record(asset: AssetModel, when: dt.datetime, **extra) -> AssetEvent:
    [event] = asset_events_record(events=[{"name": asset.name, "uri": asset.uri, "event_extra": extra}], now=when)
    return event


def test_asset_list_shows_each_asset_with_the_dags_and_tasks_that_use_it(viewer, pipeline):
    response = viewer.get(ASSETS)

    assert response.status_code == 200
    body = ac.AssetCollectionResponse.from_dict(response.json())
    assert body.total_entries == 2
    orders = next(a for a in body.assets if a.name == "s3://lake/orders.csv")
    assert (orders.uri, orders.group, orders.extra) == ("s3://lake/orders.csv", "asset", {"owner": "sales"})
    assert [d.dag_id for d in orders.scheduled_dags] == ["on_orders"]
    assert [(t.dag_id, t.task_id) for t in orders.producing_tasks] == [("produce_orders", "extract")]
    assert [(t.dag_id, t.task_id) for t in orders.consuming_tasks] == [("on_orders", "summarize")]
    assert (orders.aliases, orders.watchers, orders.last_asset_event) == ([], [], None)


def test_asset_list_gives_the_last_event_and_the_aliases(viewer, pipeline):
    orders = pipeline["s3://lake/orders.csv"]
    _record(orders, timezone.now() - dt.timedelta(hours=1))
    last = _record(orders, timezone.now())
    alias = AssetAliasModel.objects.create(name="daily-orders")
    alias.assets.add(orders)

    asset = ac.AssetResponse.from_dict(viewer.get(f"{ASSETS}/{orders.pk}").json())

    assert asset.last_asset_event.id == last.pk
    assert abs(asset.last_asset_event.timestamp - last.timestamp) < MS  # the JSON renderer keeps milliseconds
    assert [(a.id, a.name, a.group) for a in asset.aliases] == [(alias.pk, "daily-orders", "asset")]


def test_asset_list_filters_by_pattern_dag_and_activity(viewer, pipeline):
    AssetModel.objects.create(name="orphan", uri="file:///orphan")

    by_name = viewer.get(ASSETS, {"name_pattern": "orders"}).json()
    by_uri = viewer.get(ASSETS, {"uri_prefix_pattern": "s3://lake/rep"}).json()
    by_dag = viewer.get(ASSETS, {"dag_ids": "produce_orders"}).json()
    every = viewer.get(ASSETS, {"only_active": "false", "order_by": "-name"}).json()

    assert [a["name"] for a in by_name["assets"]] == ["s3://lake/orders.csv"]
    assert [a["name"] for a in by_uri["assets"]] == ["report"]
    assert [a["name"] for a in by_dag["assets"]] == ["s3://lake/orders.csv"]
    assert [a["name"] for a in every["assets"]] == ["s3://lake/orders.csv", "report", "orphan"]


def test_asset_list_leaves_out_dags_hidden_from_the_user(viewer, pipeline):
    DagModel.objects.filter(dag_id="on_orders").update(access_control={"Admin": ["can_read"]})

    body = ac.AssetCollectionResponse.from_dict(viewer.get(ASSETS).json())

    orders = next(a for a in body.assets if a.name == "s3://lake/orders.csv")
    assert (orders.scheduled_dags, orders.consuming_tasks) == ([], [])
    assert [t.dag_id for t in orders.producing_tasks] == ["produce_orders"]


def test_get_of_an_unknown_asset_or_alias_is_a_404(viewer, pipeline):
    asset = viewer.get(f"{ASSETS}/999999")
    alias = viewer.get(f"{ASSETS}/aliases/999999")

    assert asset.status_code == 404 and asset.json() == {"detail": "The Asset with ID: `999999` was not found"}
    assert alias.status_code == 404 and alias.json() == {"detail": "The Asset Alias with ID: `999999` was not found"}


def test_aliases_are_listed_and_read_one_by_one(viewer, pipeline):
    alias = AssetAliasModel.objects.get(name="daily-files")

    listed = ac.AssetAliasCollectionResponse.from_dict(viewer.get(f"{ASSETS}/aliases").json())
    one = ac.AssetAliasResponse.from_dict(viewer.get(f"{ASSETS}/aliases/{alias.pk}").json())
    filtered = viewer.get(f"{ASSETS}/aliases", {"name_pattern": "nothing"}).json()

    assert [(a.id, a.name) for a in listed.asset_aliases] == [(alias.pk, "daily-files")]
    assert (one.id, one.name, one.group) == (alias.pk, "daily-files", "asset")
    assert filtered == {"asset_aliases": [], "total_entries": 0}


def test_creating_an_event_by_hand_queues_the_dags_scheduled_on_the_asset(user, pipeline):
    orders = pipeline["s3://lake/orders.csv"]

    response = user.post_json(EVENTS, {"asset_id": orders.pk, "extra": {"rows": 3}})

    assert response.status_code == 200
    event = ac.AssetEventResponse.from_dict(response.json())
    assert (event.asset_id, event.name, event.uri, event.extra) == (orders.pk, orders.name, orders.uri, {"rows": 3})
    assert (event.source_dag_id, event.source_task_id, event.source_map_index, event.created_dagruns) == (
        None,
        None,
        -1,
        [],
    )
    assert list(AssetDagRunQueue.objects.values_list("target_dag__dag_id", flat=True)) == ["on_orders"]


def test_creating_an_event_needs_the_trigger_permission_and_a_known_asset(viewer, user, pipeline):
    orders = pipeline["s3://lake/orders.csv"]

    forbidden = viewer.post_json(EVENTS, {"asset_id": orders.pk})
    unknown = user.post_json(EVENTS, {"asset_id": 999999})
    bad = user.post_json(EVENTS, {"asset_id": orders.pk, "extra": "rows"})
    partitioned = user.post_json(EVENTS, {"asset_id": orders.pk, "partition_key": "2024-01-01"})

    assert forbidden.status_code == 403
    assert unknown.status_code == 404
    assert bad.status_code == 422 and partitioned.status_code == 422
    assert not AssetEvent.objects.exists()


def test_creating_an_event_is_refused_when_a_dag_it_would_trigger_forbids_the_user(user, pipeline):
    DagModel.objects.filter(dag_id="on_orders").update(access_control={"Op": ["can_read", "can_trigger"]})

    response = user.post_json(EVENTS, {"asset_id": pipeline["s3://lake/orders.csv"].pk})

    assert response.status_code == 403
    assert not AssetEvent.objects.exists()


def test_event_list_shows_the_runs_each_event_triggered(viewer, pipeline):
    orders = pipeline["s3://lake/orders.csv"]
    now = timezone.now()
    first = _record(orders, now - dt.timedelta(minutes=2), n=1)
    second = _record(orders, now - dt.timedelta(minutes=1), n=2)
    assert _phase_asset_runs(now=now) == 1
    run = DagRun.objects.get(run_type=DagRunType.ASSET_TRIGGERED)

    response = viewer.get(EVENTS, {"asset_id": orders.pk})

    assert response.status_code == 200
    body = ac.AssetEventCollectionResponse.from_dict(response.json())
    assert [e.id for e in body.asset_events] == [first.pk, second.pk]  # oldest first, as Airflow
    assert [(r.dag_id, r.run_id, r.triggering) for r in body.asset_events[0].created_dagruns] == [
        ("on_orders", run.run_id, False)
    ]
    assert [(r.dag_id, r.triggering) for r in body.asset_events[1].created_dagruns] == [("on_orders", True)]


def test_event_list_filters_and_orders(viewer, pipeline):
    orders, report = pipeline["s3://lake/orders.csv"], pipeline["report"]
    now = timezone.now()
    old = _record(orders, now - dt.timedelta(days=2))
    new = _record(report, now)

    newest_first = viewer.get(EVENTS, {"order_by": "-timestamp"}).json()
    recent = viewer.get(EVENTS, {"timestamp_gte": (now - dt.timedelta(days=1)).isoformat()}).json()
    by_name = viewer.get(EVENTS, {"name_pattern": "orders"}).json()

    assert [e["id"] for e in newest_first["asset_events"]] == [new.pk, old.pk]
    assert [e["id"] for e in recent["asset_events"]] == [new.pk]
    assert [e["id"] for e in by_name["asset_events"]] == [old.pk]


def test_events_of_a_dag_hidden_from_the_user_keep_no_source(viewer, pipeline):
    orders = pipeline["s3://lake/orders.csv"]
    asset_events_record(
        events=[{"name": orders.name, "uri": orders.uri}],
        now=timezone.now(),
        source={"source_dag_id": "produce_orders", "source_task_id": "extract", "source_run_id": "r1"},
    )
    DagModel.objects.filter(dag_id="produce_orders").update(access_control={"Admin": ["can_read"]})

    [event] = viewer.get(EVENTS).json()["asset_events"]

    assert (event["source_dag_id"], event["source_task_id"], event["source_run_id"]) == (None, None, None)


def test_upstream_asset_events_are_the_events_a_run_consumed(viewer, pipeline, api_dag, make_run):
    orders = pipeline["s3://lake/orders.csv"]
    event = _record(orders, timezone.now() - dt.timedelta(minutes=1))
    _phase_asset_runs(now=timezone.now())
    run = DagRun.objects.get(run_type=DagRunType.ASSET_TRIGGERED)
    other = make_run(api_dag, 0)

    response = viewer.get(f"{API}/dags/on_orders/dagRuns/{run.run_id}/upstreamAssetEvents")
    none = viewer.get(f"{API}/dags/api_dag/dagRuns/{other.run_id}/upstreamAssetEvents")
    unknown = viewer.get(f"{API}/dags/on_orders/dagRuns/nope/upstreamAssetEvents")

    body = ac.AssetEventCollectionResponse.from_dict(response.json())
    assert [e.id for e in body.asset_events] == [event.pk] and body.total_entries == 1
    assert none.json() == {"asset_events": [], "total_entries": 0}
    assert unknown.status_code == 404


def test_queued_events_are_listed_by_asset_and_by_dag(viewer, pipeline):
    orders = pipeline["s3://lake/orders.csv"]
    when = timezone.now()
    _record(orders, when)

    by_asset = viewer.get(f"{ASSETS}/{orders.pk}/queuedEvents")
    by_dag = viewer.get(f"{API}/dags/on_orders/assets/queuedEvents")
    one = viewer.get(f"{API}/dags/on_orders/assets/{orders.pk}/queuedEvents")
    before = viewer.get(f"{ASSETS}/{orders.pk}/queuedEvents", {"before": (when - dt.timedelta(hours=1)).isoformat()})

    queued = ac.QueuedEventCollectionResponse.from_dict(by_asset.json())
    assert [(q.dag_id, q.asset_id, q.dag_display_name) for q in queued.queued_events] == [
        ("on_orders", orders.pk, "on_orders")
    ]
    assert ac.QueuedEventCollectionResponse.from_dict(by_dag.json()).total_entries == 1
    assert abs(ac.QueuedEventResponse.from_dict(one.json()).created_at - when) < MS
    assert before.json() == {"queued_events": [], "total_entries": 0}


def test_queued_events_of_unknown_or_hidden_things_are_404s(viewer, pipeline):
    orders = pipeline["s3://lake/orders.csv"]
    DagModel.objects.filter(dag_id="on_orders").update(access_control={"Admin": ["can_read"]})
    _record(orders, timezone.now())

    assert viewer.get(f"{ASSETS}/999999/queuedEvents").status_code == 404
    assert viewer.get(f"{API}/dags/on_orders/assets/queuedEvents").status_code == 404
    assert viewer.get(f"{API}/dags/produce_orders/assets/{orders.pk}/queuedEvents").status_code == 404
    assert viewer.get(f"{ASSETS}/{orders.pk}/queuedEvents").json()["total_entries"] == 0
    assert viewer.get(f"{ASSETS}/{orders.pk}/queuedEvents", {"before": "yesterday"}).status_code == 400


def test_users_without_a_role_see_no_assets(api_client, outsider, pipeline):
    client = api_client(outsider)

    assert client.get(ASSETS).status_code == 403
    assert client.get(EVENTS).status_code == 403
    assert api_client(None).get(ASSETS).status_code == 401


def test_asset_and_event_lists_are_a_fixed_number_of_queries(viewer, pipeline, django_assert_max_num_queries):
    orders = pipeline["s3://lake/orders.csv"]

    def add(start: int, stop: int) -> None:
        for i in range(start, stop):
            asset = AssetModel.objects.create(name=f"extra_{i:02}", uri=f"file:///{i}")
            DagModel.objects.get(dag_id="on_orders").asset_references.create(kind="inlet", task_id="t", asset=asset)
            _record(orders, timezone.now(), i=i)
            _phase_asset_runs(now=timezone.now())

    add(0, 2)
    with django_assert_max_num_queries(30) as assets_few:
        viewer.get(ASSETS)
    with django_assert_max_num_queries(30) as events_few:
        assert len(viewer.get(EVENTS).json()["asset_events"]) == 2
    add(2, 30)

    with django_assert_max_num_queries(len(assets_few)):
        assert len(viewer.get(ASSETS).json()["assets"]) == 32
    with django_assert_max_num_queries(len(events_few)):
        assert len(viewer.get(EVENTS).json()["asset_events"]) == 30


def test_queued_events_are_deleted_by_a_user_so_the_dag_does_not_run_for_them(api_client, user_user, viewer, pipeline):
    from runs_app.models import AssetDagRunQueue

    orders = pipeline["s3://lake/orders.csv"]
    _record(orders, timezone.now())
    assert AssetDagRunQueue.objects.filter(target_dag__dag_id="on_orders").exists()

    assert viewer.delete(f"{API}/dags/on_orders/assets/queuedEvents").status_code == 403  # a Viewer may not
    user = api_client(user_user)
    assert user.delete(f"{API}/dags/on_orders/assets/{orders.pk}/queuedEvents").status_code == 204
    assert not AssetDagRunQueue.objects.filter(target_dag__dag_id="on_orders").exists()
    assert user.delete(f"{API}/dags/on_orders/assets/{orders.pk}/queuedEvents").status_code == 404  # nothing left

    _record(orders, timezone.now())
    assert user.delete(f"{ASSETS}/{orders.pk}/queuedEvents").status_code == 204
    assert not AssetDagRunQueue.objects.filter(asset=orders).exists()

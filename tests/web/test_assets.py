"""The Assets pages (runs_app/views/assets.py), the DAG details' asset schedule and the asset admin."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dags_app.models import AssetAliasModel, AssetModel, DagAssetReference, DagModel
from runs_app import services
from runs_app.assets import asset_events_record
from runs_app.models import AssetEvent, DagRun, TaskInstance
from runs_app.scheduler import _phase_asset_runs
from runs_app.states import DagRunState, DagRunType, TaskInstanceState

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"

ASSET_DAGS = """
import datetime
from dags_app.sdk import DAG
from dags_app.sdk.assets import Asset, AssetAlias
from dags_app.sdk.operators import EmptyOperator

START = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
orders = Asset(name="orders", uri="s3://lake/orders.parquet", group="sales", extra={"team": "sales"})

with DAG("produce_orders", schedule=None, start_date=START):
    EmptyOperator(task_id="extract", outlets=[orders])

with DAG("report_orders", schedule=[orders], start_date=START):
    EmptyOperator(task_id="report")

with DAG("read_orders", schedule=None, start_date=START):
    EmptyOperator(task_id="read", inlets=[orders])

with DAG("on_daily_files", schedule=AssetAlias("daily-files"), start_date=START):
    EmptyOperator(task_id="files")

with DAG("produce_files", schedule=None, start_date=START):
    EmptyOperator(task_id="pick", outlets=[AssetAlias("daily-files")])
"""


def asset_world(dag_file, sync) -> dict:
    """The asset DAGs, synced and unpaused; one success of ``produce_orders.extract`` that wrote an
    event (its extra hostile), the asset-triggered run of ``report_orders`` it caused, and an
    event of ``s3://lake/2024-05-01.csv`` attached to the alias ``daily-files`` by ``produce_files``."""
    dag_file("assets.py", ASSET_DAGS)
    report = sync()
    assert report.import_errors == 0, report
    DagModel.objects.update(is_paused=False)
    producer = DagModel.objects.get(dag_id="produce_orders")
    run = services.dag_run_create(
        dag=producer, logical_date=T0, run_type=DagRunType.MANUAL, now=T0, run_id="manual__orders"
    )
    DagRun.objects.filter(pk=run.pk).update(state=DagRunState.SUCCESS, start_date=T0, end_date=T0)
    TaskInstance.objects.filter(dag_run=run).update(state=TaskInstanceState.SUCCESS, try_number=1)
    ti = TaskInstance.objects.select_related("dag_run", "dag_run__dag").get(dag_run=run, task_id="extract")
    orders = AssetModel.objects.get(name="orders")
    ref = {"name": orders.name, "uri": orders.uri, "group": orders.group}
    [event] = asset_events_record(events=[{**ref, "event_extra": {"rows": 3, "note": HOSTILE}}], now=T0, ti=ti)
    assert _phase_asset_runs(now=T0 + dt.timedelta(seconds=1)) == 1
    triggered = DagRun.objects.get(dag__dag_id="report_orders", run_type=DagRunType.ASSET_TRIGGERED)
    files_dag = DagModel.objects.get(dag_id="produce_files")
    files_run = services.dag_run_create(
        dag=files_dag, logical_date=T0, run_type=DagRunType.MANUAL, now=T0, run_id="manual__files"
    )
    files_ti = TaskInstance.objects.select_related("dag_run", "dag_run__dag").get(dag_run=files_run, task_id="pick")
    daily = {"name": "s3://lake/2024-05-01.csv", "uri": "s3://lake/2024-05-01.csv", "alias": "daily-files"}
    asset_events_record(events=[{**daily, "event_extra": {"day": 1}}], now=T0, ti=files_ti)
    return {
        "orders": orders,
        "daily": AssetModel.objects.get(name=daily["name"]),
        "event": event,
        "run": run,
        "ti": ti,
        "triggered": triggered,
    }


@pytest.fixture
def world(db, dag_file, sync) -> dict:
    return asset_world(dag_file, sync)


@pytest.fixture
def viewer(client, viewer_user):
    client.force_login(viewer_user)
    return client


def test_asset_list_shows_each_asset_with_producers_consumers_and_its_latest_event(viewer, world):
    response = viewer.get(reverse("runs:asset-list"))

    assert response.status_code == 200
    rows = {row.asset.name: row for row in response.context["rows"]}
    assert set(rows) == {"orders", "s3://lake/2024-05-01.csv"}
    orders = rows["orders"]
    assert orders.producers == [("produce_orders", "extract")]
    assert orders.consumers == [("report_orders", "")]
    assert orders.readers == [("read_orders", "read")]
    assert (orders.asset.event_count, orders.asset.last_event_at) == (1, T0)
    assert rows["s3://lake/2024-05-01.csv"].consumers == [("on_daily_files", "daily-files")]
    html = response.content.decode()
    assert f'href="{world["orders"].get_absolute_url()}"' in html
    assert "s3://lake/orders.parquet" in html and ">sales<" in html
    assert f'href="{reverse("runs:grid", args=["produce_orders"])}?task_id=extract"' in html
    assert f'href="{reverse("runs:grid", args=["report_orders"])}"' in html
    assert "via daily-files" in html
    assert "2024-05-01 12:00:00" in html


def test_asset_list_searches_names_and_uris(viewer, world):
    by_uri = viewer.get(reverse("runs:asset-list"), {"search": "ORDERS.PARQ"})
    by_name = viewer.get(reverse("runs:asset-list"), {"search": "2024-05"})
    nothing = viewer.get(reverse("runs:asset-list"), {"search": "nope"})

    assert [r.asset.name for r in by_uri.context["rows"]] == ["orders"]
    assert [r.asset.name for r in by_name.context["rows"]] == ["s3://lake/2024-05-01.csv"]
    assert "No assets found." in nothing.content.decode()


def test_asset_list_leaves_out_dags_of_an_inactive_file(viewer, world):
    DagModel.objects.filter(dag_id="produce_orders").update(is_active=False)

    response = viewer.get(reverse("runs:asset-list"))

    orders = next(r for r in response.context["rows"] if r.asset.name == "orders")
    assert orders.producers == []


def test_asset_list_is_paginated(viewer, db):
    AssetModel.objects.bulk_create([AssetModel(name=f"a{i:03d}", uri=f"file:///a{i:03d}") for i in range(60)])

    first = viewer.get(reverse("runs:asset-list"))
    second = viewer.get(reverse("runs:asset-list"), {"page": 2})

    assert len(first.context["rows"]) == 50 and len(second.context["rows"]) == 10
    assert "Page 1 of 2" in first.content.decode()


def _many_assets(n: int, *, start: int = 0) -> None:
    """``n`` assets, each produced by a task of its own DAG, scheduled on by another DAG, with two events."""
    dags = DagModel.objects.bulk_create(
        [DagModel(dag_id=f"qc_{kind}_{i:03d}", fileloc="/nowhere.py") for i in range(start, start + n) for kind in "pc"]
    )
    assets = AssetModel.objects.bulk_create(
        [AssetModel(name=f"qc_{i:03d}", uri=f"s3://qc/{i:03d}") for i in range(start, start + n)]
    )
    alias = AssetAliasModel.objects.create(name=f"qc_alias_{start}")
    alias.assets.add(*assets)
    refs = []
    for i, asset in enumerate(assets):
        producer, consumer = dags[2 * i], dags[2 * i + 1]
        refs.append(DagAssetReference(dag=producer, kind=DagAssetReference.Kind.OUTLET, task_id="t", asset=asset))
        refs.append(DagAssetReference(dag=consumer, kind=DagAssetReference.Kind.SCHEDULE, asset=asset))
    refs.append(DagAssetReference(dag=dags[1], kind=DagAssetReference.Kind.SCHEDULE, alias=alias))
    DagAssetReference.objects.bulk_create(refs)
    AssetEvent.objects.bulk_create(
        [AssetEvent(asset=a, timestamp=T0 + dt.timedelta(minutes=m), source_dag_id="x") for a in assets for m in (1, 2)]
    )


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries.captured_queries)


def test_asset_list_query_count_does_not_grow_with_assets(viewer, db, django_assert_max_num_queries):
    _many_assets(3)
    small = _count(viewer, reverse("runs:asset-list"))
    _many_assets(60, start=3)

    # Session, user, permissions, banners, roles, the count, the page, its references and aliases.
    with django_assert_max_num_queries(12):
        response = viewer.get(reverse("runs:asset-list"))
    assert len(response.context["rows"]) == 50
    assert _count(viewer, reverse("runs:asset-list")) == small
    row = response.context["rows"][0]
    assert row.producers == [("qc_p_000", "t")] and row.asset.event_count == 2


def test_asset_detail_query_count_does_not_grow_with_events(viewer, world, django_assert_max_num_queries):
    orders = world["orders"]
    url = orders.get_absolute_url()
    small = _count(viewer, url)
    AssetEvent.objects.bulk_create(
        [AssetEvent(asset=orders, timestamp=T0 - dt.timedelta(minutes=m), source_dag_id="gone") for m in range(1, 80)]
    )
    world["event"].created_dagruns.add(*DagRun.objects.all())

    # Session, user, permissions (2), banners (2), roles, the asset, its references (2), aliases,
    # the event count and page, the runs they triggered, their source DAGs and runs, the masker (2).
    with django_assert_max_num_queries(18):
        response = viewer.get(url)
    assert len(response.context["events"]) == 25
    assert _count(viewer, url) == small


def test_asset_detail_shows_definition_dependencies_and_the_event_with_its_source_and_triggered_run(viewer, world):
    run, triggered = world["run"], world["triggered"]

    response = viewer.get(reverse("runs:asset-detail", args=[world["orders"].pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "s3://lake/orders.parquet" in html and "&quot;team&quot;: &quot;sales&quot;" in html
    assert f'href="{reverse("runs:grid", args=["produce_orders"])}?task_id=extract"' in html  # producer
    assert f'href="{reverse("runs:grid", args=["report_orders"])}"' in html  # consumer
    assert f'href="{reverse("runs:grid", args=["read_orders"])}?task_id=read"' in html  # inlet
    [event] = response.context["events"]
    assert (event.dag_exists, event.run_exists, event.ti_exists) == (True, True, True)
    assert f'href="{reverse("runs:run", args=["produce_orders", run.run_id])}"' in html
    assert f'href="{reverse("runs:task-instance", args=["produce_orders", run.run_id, "extract"])}"' in html
    assert f'href="{reverse("runs:run", args=["report_orders", triggered.run_id])}"' in html
    assert [r.pk for r in event.triggered_runs] == [triggered.pk]
    assert "2024-05-01 12:00:00" in html


def test_asset_detail_escapes_the_event_extra(viewer, world):
    html = viewer.get(world["orders"].get_absolute_url()).content.decode()

    assert HOSTILE not in html
    assert ESCAPED in html


def test_asset_detail_shows_the_aliases_an_asset_is_attached_to(viewer, world):
    response = viewer.get(world["daily"].get_absolute_url())

    assert [a.name for a in response.context["aliases"]] == ["daily-files"]
    assert response.context["row"].consumers == [("on_daily_files", "daily-files")]
    assert "via alias daily-files" in response.content.decode()


def test_asset_detail_keeps_an_event_whose_dag_is_gone_without_links(viewer, world):
    DagModel.objects.filter(dag_id="produce_orders").delete()

    response = viewer.get(world["orders"].get_absolute_url())

    [event] = response.context["events"]
    assert (event.source_dag_id, event.source_run_id) == ("produce_orders", "manual__orders")
    assert (event.dag_exists, event.run_exists, event.ti_exists) == (False, False, False)
    assert reverse("runs:run", args=["produce_orders", "manual__orders"]) not in response.content.decode()
    assert "manual__orders" in response.content.decode()


def test_asset_detail_of_an_unknown_asset_is_a_404_page(viewer, db):
    response = viewer.get(reverse("runs:asset-detail", args=[999_999]))

    assert response.status_code == 404
    assert "Asset 999999 does not exist" in response.content.decode()


def test_assets_hide_dags_whose_access_control_leaves_the_user_out(viewer, world):
    DagModel.objects.filter(dag_id__in=["produce_orders", "report_orders"]).update(
        access_control={"Admin": ["can_read"]}
    )

    listed = viewer.get(reverse("runs:asset-list"))
    detail = viewer.get(world["orders"].get_absolute_url())

    orders = next(r for r in listed.context["rows"] if r.asset.name == "orders")
    assert (orders.producers, orders.consumers) == ([], [])
    [event] = detail.context["events"]
    assert event.source_hidden is True and event.triggered_runs == []
    html = detail.content.decode()
    assert "produce_orders" not in html and "report_orders" not in html
    assert "A DAG your roles may not read" in html


def test_the_navbar_links_to_the_assets_page(viewer, db):
    html = viewer.get(reverse("runs:dag-list")).content.decode()

    assert f'href="{reverse("runs:asset-list")}">Assets</a>' in html


def test_an_asset_scheduled_dag_shows_asset_as_its_schedule_and_links_the_assets(viewer, world):
    listed = viewer.get(reverse("runs:dag-list")).content.decode()
    details = viewer.get(reverse("dags:details", args=["report_orders"])).content.decode()

    assert ">Asset</code>" in listed
    assert ">Asset</code>" in details
    assert f'href="{world["orders"].get_absolute_url()}"' in details
    alias_details = viewer.get(reverse("dags:details", args=["on_daily_files"])).content.decode()
    assert "daily-files" in alias_details


def test_a_user_in_no_role_may_not_open_the_assets_pages(client, outsider, world):
    client.force_login(outsider)

    assert client.get(reverse("runs:asset-list")).status_code == 403
    assert client.get(world["orders"].get_absolute_url()).status_code == 403


def test_the_admin_lists_assets_with_their_event_counts_and_events_read_only(client, viewer_user, world):
    client.force_login(viewer_user)

    assets = client.get(reverse("admin:dags_app_assetmodel_changelist"))
    events = client.get(reverse("admin:runs_app_assetevent_changelist"))
    change = client.get(reverse("admin:runs_app_assetevent_change", args=[world["event"].pk]))

    assert assets.status_code == events.status_code == change.status_code == 200
    counts = {a.name: a.event_count for a in assets.context["cl"].result_list}
    assert counts == {"orders": 1, "s3://lake/2024-05-01.csv": 1}
    assert {e.source_dag_id for e in events.context["cl"].result_list} == {"produce_orders", "produce_files"}
    assert "&quot;note&quot;: &quot;" + ESCAPED in change.content.decode()
    assert HOSTILE not in change.content.decode()
    assert client.get(reverse("admin:dags_app_assetmodel_add")).status_code == 403


def test_asset_detail_masks_a_stored_secret_in_an_event_extra(viewer, world):
    services.variable_set(key="warehouse_password", value="s3cr3t-Pa55", source="test")
    asset_events_record(
        events=[{"name": "orders", "uri": "s3://lake/orders.parquet", "event_extra": {"dsn": "pg://u:s3cr3t-Pa55@db"}}],
        now=T0 + dt.timedelta(hours=1),
        source={"source_dag_id": "", "source_task_id": "", "source_run_id": ""},
    )

    html = viewer.get(world["orders"].get_absolute_url()).content.decode()

    assert "s3cr3t-Pa55" not in html
    assert "pg://u:***@db" in html

"""``python manage.py assets list|details|events`` (Airflow 3's ``airflow assets``), in process and,
for the exit code and the ``airflow`` console script, as a real process."""

from __future__ import annotations

import json

import pytest
from django.core.management.base import CommandError

from tests.web.test_assets import asset_world

T0_TEXT = "2024-05-01T12:00:00+00:00"


@pytest.fixture
def world(db, dag_file, sync) -> dict:
    return asset_world(dag_file, sync)


def test_assets_list_prints_name_uri_group_and_extra_as_a_table(cli, world):
    out = cli("assets", "list")

    header = next(line for line in out.splitlines() if "name" in line)
    assert [cell.strip() for cell in header.split("|") if cell.strip()] == ["name", "uri", "group", "extra"]
    orders = next(line for line in out.splitlines() if "s3://lake/orders.parquet" in line)
    assert "orders" in orders and "sales" in orders and '{"team": "sales"}' in orders


def test_assets_list_as_json_has_airflows_columns(cli, world):
    rows = json.loads(cli("assets", "list", "-o", "json"))

    assert rows == [
        {"name": "orders", "uri": "s3://lake/orders.parquet", "group": "sales", "extra": {"team": "sales"}},
        {"name": "s3://lake/2024-05-01.csv", "uri": "s3://lake/2024-05-01.csv", "group": "asset", "extra": {}},
    ]


def test_assets_list_columns_picks_the_fields_and_refuses_unknown_ones(cli, world):
    rows = json.loads(cli("assets", "list", "-o", "json", "--columns", "name,producing_tasks,scheduled_dags"))

    assert rows[0] == {
        "name": "orders",
        "producing_tasks": [{"dag_id": "produce_orders", "task_id": "extract"}],
        "scheduled_dags": [{"dag_id": "report_orders"}],
    }
    assert rows[1]["scheduled_dags"] == [{"dag_id": "on_daily_files", "alias": "daily-files"}]
    with pytest.raises(CommandError, match="Unknown columns: bogus"):
        cli("assets", "list", "--columns", "name,bogus")


def test_assets_list_alias_lists_the_aliases(cli, world):
    assert json.loads(cli("assets", "list", "--alias", "-o", "json")) == [{"name": "daily-files", "group": "asset"}]


def test_assets_details_by_name_shows_producers_consumers_and_the_latest_event(cli, world):
    [data] = json.loads(cli("assets", "details", "--name", "orders", "-o", "json"))

    assert data["uri"] == "s3://lake/orders.parquet"
    assert data["producing_tasks"] == [{"dag_id": "produce_orders", "task_id": "extract"}]
    assert data["scheduled_dags"] == [{"dag_id": "report_orders"}]
    assert data["consuming_tasks"] == [{"dag_id": "read_orders", "task_id": "read"}]
    assert data["event_count"] == 1
    assert data["last_asset_event"] == {"timestamp": T0_TEXT}


def test_assets_details_by_uri_as_a_table_is_one_property_per_line(cli, world):
    out = cli("assets", "details", "--uri", "s3://lake/orders.parquet")

    assert "property_name" in out and "property_value" in out
    assert next(line for line in out.splitlines() if " uri " in line).count("s3://lake/orders.parquet") == 1
    assert '[{"dag_id": "produce_orders", "task_id": "extract"}]' in out
    assert '{"timestamp": "2024-05-01T12:00:00+00:00"}' in out  # last_asset_event


def test_assets_details_of_an_alias_lists_its_assets(cli, world):
    [data] = json.loads(cli("assets", "details", "--alias", "--name", "daily-files", "-o", "json"))

    assert data["name"] == "daily-files"
    assert data["assets"] == [{"name": "s3://lake/2024-05-01.csv", "uri": "s3://lake/2024-05-01.csv"}]


def test_assets_events_lists_the_events_newest_first_with_the_runs_they_triggered(cli, world):
    [event] = json.loads(cli("assets", "events", "--name", "orders", "-o", "json"))

    assert event["timestamp"] == T0_TEXT
    assert (event["source_dag_id"], event["source_task_id"], event["source_run_id"]) == (
        "produce_orders",
        "extract",
        "manual__orders",
    )
    assert event["source_map_index"] == -1
    assert event["extra"] == {"rows": 3, "note": "<script>alert(1)</script>"}
    assert event["triggered_runs"] == [{"dag_id": "report_orders", "run_id": world["triggered"].run_id}]


def test_assets_events_as_a_table_and_with_a_limit(cli, world):
    from runs_app.assets import asset_event_create

    later = world["event"].timestamp.replace(hour=13)
    asset_event_create(asset=world["orders"], extra={"by": "hand"}, now=later)

    out = cli("assets", "events", "--name", "orders")
    lines = [line for line in out.splitlines() if "2024-05-01T" in line]
    assert [("13:00" in line, "12:00" in line) for line in lines] == [(True, False), (False, True)]
    assert f"report_orders/{world['triggered'].run_id}" in lines[1]
    assert '{"by": "hand"}' in lines[0]
    limited = json.loads(cli("assets", "events", "--name", "orders", "--limit", "1", "-o", "json"))
    assert [e["extra"] for e in limited] == [{"by": "hand"}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["details", "--name", "nope"], "Asset with name nope does not exist."),
        (["events", "--name", "nope"], "Asset with name nope does not exist."),
        (
            ["details", "--name", "orders", "--uri", "s3://other"],
            "Asset with name orders and URI s3://other does not exist.",
        ),
        (["details"], "Either --name or --uri is required"),
        (["events", "--name", "orders", "--limit", "0"], "--limit must be at least 1, got 0"),
        (["details", "--alias", "--name", "nope"], "Asset alias with name nope does not exist."),
        (["details", "--alias", "--uri", "x"], "Required --name with --alias"),
    ],
)
def test_assets_mistakes_are_one_clear_command_error(cli, world, args, message):
    with pytest.raises(CommandError) as raised:
        cli("assets", *args)

    assert str(raised.value) == message


def test_assets_details_refuses_a_uri_shared_by_two_assets(cli, world):
    from dags_app.models import AssetModel

    AssetModel.objects.create(name="orders-copy", uri="s3://lake/orders.parquet")

    with pytest.raises(CommandError, match=r"^More than one asset exists with URI s3://lake/orders.parquet\.$"):
        cli("assets", "details", "--uri", "s3://lake/orders.parquet")


def test_assets_list_without_assets_says_so(cli, dags_folder, db):
    assert cli("assets", "list").strip() == "No data found"
    assert json.loads(cli("assets", "list", "-o", "json")) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_airflow_assets_list_works_and_an_unknown_asset_exits_1_with_one_line(airflow, manage, dag_file, sync):
    asset_world(dag_file, sync)

    listed = airflow("assets", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert [row["name"] for row in json.loads(listed.stdout)] == ["orders", "s3://lake/2024-05-01.csv"]

    missing = manage("assets", "details", "--name", "nope")
    assert missing.returncode == 1
    assert "Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines() == ["CommandError: Asset with name nope does not exist."]

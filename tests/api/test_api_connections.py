"""``/api/v2/connections``: Op and Admin only, secrets never sent (the password and the extra's
sensitive fields as ``***``, kept when sent back so), Airflow's shapes read by the official
client, testing disabled as Airflow's default, bulk actions and errors."""

from __future__ import annotations

import json

import airflow_client.client as ac
import pytest

from runs_app import services
from runs_app.models import Connection
from tests.api.conftest import API

pytestmark = pytest.mark.django_db

CONNECTIONS = f"{API}/connections"
PG = {
    "connection_id": "pg",
    "conn_type": "postgres",
    "host": "db.example.com",
    "login": "etl",
    "password": "s3cret-pass",
    "schema": "public",
    "port": 5432,
    "extra": json.dumps({"sslmode": "require", "api_token": "t0k3n-value"}),
}


@pytest.fixture
def op(api_client, op_user):
    return api_client(op_user)


@pytest.fixture
def pg(db):
    fields = {k: v for k, v in PG.items() if k != "connection_id"}
    return services.connection_set(conn_id="pg", fields=fields)


def test_connection_list_never_shows_the_secrets(op, pg):
    services.connection_set(conn_id="http_plain", fields={"conn_type": "http", "host": "example.com"})

    response = op.get(CONNECTIONS)

    assert response.status_code == 200
    body = ac.ConnectionCollectionResponse.from_dict(response.json())
    assert body.total_entries == 2
    postgres, plain = body.connections  # by id, as Airflow orders them
    assert (postgres.connection_id, postgres.conn_type, postgres.host, postgres.port) == (
        "pg",
        "postgres",
        "db.example.com",
        5432,
    )
    assert (postgres.login, postgres.var_schema, postgres.password) == ("etl", "public", "***")
    assert json.loads(postgres.extra) == {"sslmode": "require", "api_token": "***"}
    assert (plain.password, plain.extra, plain.login, plain.team_name) == (None, None, None, None)
    assert "s3cret-pass" not in response.content.decode() and "t0k3n-value" not in response.content.decode()


def test_connection_list_filters_and_orders(op, pg):
    services.connection_set(conn_id="http_a", fields={"conn_type": "http"})

    by_pattern = op.get(CONNECTIONS, {"connection_id_pattern": "http%"}).json()
    ordered = op.get(CONNECTIONS, {"order_by": "-connection_id"}).json()

    assert [c["connection_id"] for c in by_pattern["connections"]] == ["http_a"]
    assert [c["connection_id"] for c in ordered["connections"]] == ["pg", "http_a"]


def test_get_shows_one_connection_and_an_unknown_id_is_a_404(op, pg):
    found = op.get(f"{CONNECTIONS}/pg")
    unknown = op.get(f"{CONNECTIONS}/nope")

    assert ac.ConnectionResponse.from_dict(found.json()).password == "***"
    assert found.json()["schema"] == "public"
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "The Connection with connection_id: `nope` was not found"}


def test_post_creates_a_connection_with_its_secrets_encrypted(op):
    response = op.post_json(CONNECTIONS, PG)

    assert response.status_code == 201
    created = ac.ConnectionResponse.from_dict(response.json())
    assert (created.connection_id, created.password) == ("pg", "***")
    stored = services.connection_get("pg")
    assert (stored["password"], stored["schema"], stored["port"]) == ("s3cret-pass", "public", 5432)
    assert json.loads(stored["extra"])["api_token"] == "t0k3n-value"
    assert "s3cret-pass" not in Connection.objects.get(conn_id="pg").encrypted_password


def test_post_of_an_existing_id_is_a_conflict(op, pg):
    response = op.post_json(CONNECTIONS, {"connection_id": "pg", "conn_type": "http"})

    assert response.status_code == 409
    assert services.connection_get("pg")["conn_type"] == "postgres"


@pytest.mark.parametrize(
    "body",
    [
        {"connection_id": "c"},
        {"connection_id": "c", "conn_type": "http", "extra": "not json"},
        {"connection_id": "c", "conn_type": "http", "extra": "[1, 2]"},
        {"connection_id": "c", "conn_type": "http", "port": 70000},
        {"connection_id": "c", "conn_type": "http", "port": "eighty"},
        {"connection_id": "bad id!", "conn_type": "http"},
        {"connection_id": "c", "conn_type": "http", "colour": "red"},
    ],
)
def test_post_of_a_bad_body_is_a_422(op, body):
    response = op.post_json(CONNECTIONS, body)

    assert response.status_code == 422
    assert not Connection.objects.exists()


def test_patch_sending_back_the_masks_keeps_the_stored_secrets(op, pg):
    shown = op.get(f"{CONNECTIONS}/pg").json()

    response = op.patch_json(f"{CONNECTIONS}/pg", {**shown, "host": "db2.example.com"})

    assert response.status_code == 200
    assert ac.ConnectionResponse.from_dict(response.json()).host == "db2.example.com"
    stored = services.connection_get("pg")
    assert (stored["host"], stored["password"]) == ("db2.example.com", "s3cret-pass")
    assert json.loads(stored["extra"]) == {"sslmode": "require", "api_token": "t0k3n-value"}


def test_patch_with_an_update_mask_changes_only_those_fields(op, pg):
    response = op.patch_json(
        f"{CONNECTIONS}/pg?update_mask=password", {"connection_id": "pg", "conn_type": "http", "password": "new-pass"}
    )

    assert response.status_code == 200
    stored = services.connection_get("pg")
    assert (stored["conn_type"], stored["host"], stored["password"]) == ("postgres", "db.example.com", "new-pass")


def test_patch_of_another_id_an_unknown_one_or_a_bad_mask_is_refused(op, pg):
    other = op.patch_json(f"{CONNECTIONS}/pg", {"connection_id": "other", "conn_type": "http"})
    unknown = op.patch_json(f"{CONNECTIONS}/nope", {"connection_id": "nope", "conn_type": "http"})
    bad_mask = op.patch_json(f"{CONNECTIONS}/pg?update_mask=colour", {"connection_id": "pg", "conn_type": "http"})

    assert other.status_code == 400
    assert other.json() == {"detail": "The connection_id in the request body does not match the URL parameter"}
    assert unknown.status_code == 404
    assert bad_mask.status_code == 400
    assert services.connection_get("pg")["conn_type"] == "postgres"


def test_delete_removes_a_connection_and_an_unknown_id_is_a_404(op, pg):
    deleted = op.delete(f"{CONNECTIONS}/pg")
    again = op.delete(f"{CONNECTIONS}/pg")

    assert deleted.status_code == 204
    assert again.status_code == 404
    assert not Connection.objects.exists()


def test_testing_a_connection_is_disabled_as_airflows_default(op, api_client, viewer_user):
    response = op.post_json(f"{CONNECTIONS}/test", {"connection_id": "pg", "conn_type": "postgres"})
    viewer = api_client(viewer_user).post_json(f"{CONNECTIONS}/test", {"connection_id": "pg", "conn_type": "postgres"})

    assert response.status_code == 403
    assert response.json()["detail"].startswith("Testing connections is disabled in Airflow configuration.")
    assert viewer.status_code == 403 and "role" in viewer.json()["detail"]


def test_bulk_creates_updates_and_deletes_and_reports_each_action(op, pg):
    body = {
        "actions": [
            {"action": "create", "entities": [{"connection_id": "http_a", "conn_type": "http"}]},
            {"action": "create", "entities": [{"connection_id": "bad", "conn_type": "http", "extra": "nope"}]},
            {
                "action": "update",
                "entities": [{"connection_id": "pg", "conn_type": "postgres", "host": "db3"}],
                "update_mask": ["host"],
            },
            {"action": "delete", "entities": ["http_a", {"connection_id": "missing", "conn_type": "x"}]},
        ]
    }

    response = op.patch_json(CONNECTIONS, body)

    assert response.status_code == 200
    result = ac.BulkResponse.from_dict(response.json())
    assert result.create.success == ["http_a"]
    [error] = result.create.errors
    assert error["status_code"] == 422 and "extra" in error["error"]
    assert result.update.success == ["pg"]
    assert result.delete.success == []
    assert result.delete.errors == [
        {"error": "The connections with these connection_ids: {'missing'} were not found.", "status_code": 404}
    ]
    assert list(Connection.objects.values_list("conn_id", "host")) == [("http_a", ""), ("pg", "db3")]
    assert services.connection_get("pg")["password"] == "s3cret-pass"


def test_viewers_and_users_may_not_see_connections(api_client, viewer_user, user_user, pg):
    for client in (api_client(viewer_user), api_client(user_user)):
        assert client.get(CONNECTIONS).status_code == 403
        assert client.get(f"{CONNECTIONS}/pg").status_code == 403
        assert client.post_json(CONNECTIONS, {"connection_id": "c", "conn_type": "http"}).status_code == 403
        assert client.patch_json(f"{CONNECTIONS}/pg", {"connection_id": "pg", "conn_type": "http"}).status_code == 403
        assert client.patch_json(CONNECTIONS, {"actions": []}).status_code == 403
        assert client.delete(f"{CONNECTIONS}/pg").status_code == 403
    assert Connection.objects.get().conn_type == "postgres"


def test_connections_need_a_token(api_client):
    assert api_client(None).get(CONNECTIONS).status_code == 401


def test_connection_list_is_a_fixed_number_of_queries(op, django_assert_max_num_queries):
    for i in range(2):
        services.connection_set(conn_id=f"c_{i:02}", fields={"conn_type": "http", "password": "pw-12345"})
    with django_assert_max_num_queries(20) as few:
        assert len(op.get(CONNECTIONS).json()["connections"]) == 2
    for i in range(2, 30):
        services.connection_set(conn_id=f"c_{i:02}", fields={"conn_type": "http", "password": "pw-12345"})

    with django_assert_max_num_queries(len(few)):
        assert len(op.get(CONNECTIONS).json()["connections"]) == 30


def test_default_connections_are_added_once_and_an_existing_one_is_kept(api_client, op_user):
    from runs_app.models import Connection

    Connection.objects.create(conn_id="http_default", conn_type="http", host="mine.example")
    op = api_client(op_user)

    assert op.post_json("/api/v2/connections/defaults").status_code == 204
    assert op.post_json("/api/v2/connections/defaults").status_code == 204

    ids = set(Connection.objects.values_list("conn_id", flat=True))
    assert {"fs_default", "http_default", "smtp_default", "sqlite_default", "postgres_default"} <= ids
    assert Connection.objects.get(conn_id="http_default").host == "mine.example"
    from runs_app.services import connection_get

    assert connection_get("fs_default")["extra"] in ({"path": "/"}, '{"path": "/"}')


def test_a_connection_named_like_a_route_is_still_reached_by_its_other_methods(api_client, op_user):
    from runs_app.models import Connection

    op = api_client(op_user)
    assert op.post_json("/api/v2/connections", {"connection_id": "test", "conn_type": "http"}).status_code == 201

    got = op.get("/api/v2/connections/test")
    patched = op.patch_json("/api/v2/connections/test", {"connection_id": "test", "conn_type": "http", "host": "h"})
    tested = op.post_json("/api/v2/connections/test", {"connection_id": "x", "conn_type": "http"})

    assert got.status_code == 200 and got.json()["connection_id"] == "test"
    assert patched.status_code == 200 and Connection.objects.get(conn_id="test").host == "h"
    assert tested.status_code == 403  # POST is the route "test a connection" (disabled)
    assert op.delete("/api/v2/connections/test").status_code == 204
    assert op.get("/api/v2/dags/~/dagRuns/list").status_code == 404  # a run named "list"

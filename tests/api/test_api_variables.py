"""``/api/v2/variables``: Op and Admin only, sensitive values as ``***`` (and kept when sent back
so), Airflow's shapes read by the official client, bulk actions and errors."""

from __future__ import annotations

import json

import airflow_client.client as ac
import pytest

from runs_app import services
from runs_app.models import AuditLog, Variable
from runs_app.states import AuditEvent
from tests.api.conftest import API

pytestmark = pytest.mark.django_db

VARIABLES = f"{API}/variables"


@pytest.fixture
def op(api_client, op_user):
    return api_client(op_user)


def test_variable_list_shows_plain_values_and_masks_sensitive_ones(op):
    services.variable_set(key="region", value="eu-west-1", description="where")
    services.variable_set(key="db_password", value="hunter22")
    services.variable_set(key="settings", value=json.dumps({"api_key": "abc123", "retries": 3}))

    response = op.get(VARIABLES)

    assert response.status_code == 200
    body = ac.VariableCollectionResponse.from_dict(response.json())
    assert body.total_entries == 3
    values = {v.key: (v.value, v.description, v.is_encrypted, v.team_name) for v in body.variables}
    assert values == {
        "region": ("eu-west-1", "where", False, None),
        "db_password": ("***", None, False, None),
        "settings": ('{"api_key": "***", "retries": 3}', None, False, None),
    }


def test_variable_list_filters_orders_and_pages(op):
    for key in ("etl_a", "etl_b", "ml"):
        services.variable_set(key=key, value="1")

    by_pattern = op.get(VARIABLES, {"variable_key_pattern": "ETL"}).json()
    by_prefix = op.get(VARIABLES, {"variable_key_prefix_pattern": "ml"}).json()
    ordered = op.get(VARIABLES, {"order_by": "-key", "limit": 1}).json()

    assert [v["key"] for v in by_pattern["variables"]] == ["etl_a", "etl_b"]
    assert [v["key"] for v in by_prefix["variables"]] == ["ml"]
    assert [v["key"] for v in ordered["variables"]] == ["ml"] and ordered["total_entries"] == 3


def test_get_shows_one_variable_and_an_unknown_key_is_a_404(op):
    services.variable_set(key="region", value="eu")

    found = op.get(f"{VARIABLES}/region")
    unknown = op.get(f"{VARIABLES}/nope")

    assert ac.VariableResponse.from_dict(found.json()).value == "eu"
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "The Variable with key: `nope` was not found"}


def test_post_creates_a_variable_through_the_service(op, op_user):
    response = op.post_json(VARIABLES, {"key": "region", "value": "eu", "description": "where"})

    assert response.status_code == 201
    assert ac.VariableResponse.from_dict(response.json()).key == "region"
    assert services.variable_get("region") == "eu"
    entry = AuditLog.objects.get(event=AuditEvent.VARIABLE_SET)
    assert (entry.username, entry.source) == (op_user.username, "api")


def test_post_stores_a_json_value_as_its_json(op):
    response = op.post_json(VARIABLES, {"key": "limits", "value": {"max": 3, "names": ["a"]}})

    assert response.status_code == 201
    assert json.loads(services.variable_get("limits")) == {"max": 3, "names": ["a"]}


def test_post_of_an_existing_key_is_a_conflict(op):
    services.variable_set(key="region", value="eu")

    response = op.post_json(VARIABLES, {"key": "region", "value": "us"})

    assert response.status_code == 409
    assert response.json() == {"detail": "The Variable with key: `region` already exists"}
    assert services.variable_get("region") == "eu"


@pytest.mark.parametrize(
    "body", [{"key": "region"}, {"value": "x"}, {"key": "bad key!", "value": "x"}, {"key": "k", "value": "x", "y": 1}]
)
def test_post_of_a_bad_body_is_a_422(op, body):
    response = op.post_json(VARIABLES, body)

    assert response.status_code == 422
    assert not Variable.objects.exists()


def test_patch_changes_value_and_description(op):
    services.variable_set(key="region", value="eu", description="old")

    response = op.patch_json(f"{VARIABLES}/region", {"key": "region", "value": "us", "description": "new"})

    assert response.status_code == 200
    assert Variable.objects.filter(key="region").values_list("val", "description").get() == ("us", "new")


def test_patch_with_an_update_mask_changes_only_those_fields(op):
    services.variable_set(key="region", value="eu", description="old")

    response = op.patch_json(f"{VARIABLES}/region?update_mask=description", {"key": "region", "value": "x"})

    assert response.status_code == 200
    assert Variable.objects.filter(key="region").values_list("val", "description").get() == ("eu", "")


def test_patch_sending_back_the_mask_keeps_the_stored_secret(op):
    services.variable_set(key="db_password", value="hunter22")
    services.variable_set(key="settings", value=json.dumps({"api_key": "abc123", "retries": 3}))

    secret = op.patch_json(f"{VARIABLES}/db_password", {"key": "db_password", "value": "***", "description": "d"})
    settings = op.patch_json(f"{VARIABLES}/settings", {"key": "settings", "value": '{"api_key": "***", "retries": 5}'})

    assert secret.status_code == 200 and secret.json()["value"] == "***"
    assert services.variable_get("db_password") == "hunter22"
    assert settings.json()["value"] == '{"api_key": "***", "retries": 5}'
    assert json.loads(services.variable_get("settings")) == {"api_key": "abc123", "retries": 5}


def test_patch_of_another_key_or_an_unknown_variable_is_refused(op):
    services.variable_set(key="region", value="eu")

    other = op.patch_json(f"{VARIABLES}/region", {"key": "zone", "value": "x"})
    unknown = op.patch_json(f"{VARIABLES}/nope", {"key": "nope", "value": "x"})

    assert other.status_code == 400
    assert other.json() == {"detail": "Invalid body, key from request body doesn't match uri parameter"}
    assert unknown.status_code == 404
    assert not Variable.objects.filter(key="nope").exists()


def test_delete_removes_a_variable_and_an_unknown_key_is_a_404(op):
    services.variable_set(key="region", value="eu")

    deleted = op.delete(f"{VARIABLES}/region")
    again = op.delete(f"{VARIABLES}/region")

    assert deleted.status_code == 204
    assert again.status_code == 404
    assert not Variable.objects.exists()


def test_bulk_creates_updates_and_deletes_and_reports_each_action(op):
    services.variable_set(key="old", value="1")
    services.variable_set(key="gone", value="1")
    body = {
        "actions": [
            {"action": "create", "entities": [{"key": "new", "value": "n"}]},
            {"action": "create", "entities": [{"key": "old", "value": "x"}]},
            {"action": "update", "entities": [{"key": "old", "value": "2"}, {"key": "missing", "value": "2"}]},
            {"action": "update", "entities": [{"key": "old", "value": "3"}], "action_on_non_existence": "skip"},
            {"action": "delete", "entities": ["gone"]},
        ]
    }

    response = op.patch_json(VARIABLES, body)

    assert response.status_code == 200
    result = ac.BulkResponse.from_dict(response.json())
    assert result.create.success == ["new"]
    assert result.create.errors == [
        {"error": "The variables with these keys: {'old'} already exist.", "status_code": 409}
    ]
    assert result.update.success == ["old"]
    assert result.update.errors == [
        {"error": "The variables with these keys: {'missing'} were not found.", "status_code": 404}
    ]
    assert result.delete.success == ["gone"]
    assert dict(Variable.objects.values_list("key", "val")) == {"new": "n", "old": "3"}


def test_viewers_and_users_may_not_see_variables(api_client, viewer_user, user_user):
    services.variable_set(key="region", value="eu")

    for client in (api_client(viewer_user), api_client(user_user)):
        assert client.get(VARIABLES).status_code == 403
        assert client.get(f"{VARIABLES}/region").status_code == 403
        assert client.post_json(VARIABLES, {"key": "k", "value": "v"}).status_code == 403
        assert client.patch_json(VARIABLES, {"actions": []}).status_code == 403
        assert (
            client.patch_json(VARIABLES, {"actions": [{"action": "delete", "entities": ["region"]}]}).status_code == 403
        )
        assert client.delete(f"{VARIABLES}/region").status_code == 403
    assert services.variable_get("region") == "eu"


def test_admins_manage_variables(api_client, admin_user):
    admin = api_client(admin_user)

    assert admin.post_json(VARIABLES, {"key": "k", "value": "v"}).status_code == 201
    assert admin.get(VARIABLES).json()["total_entries"] == 1


def test_variables_need_a_token(api_client):
    assert api_client(None).get(VARIABLES).status_code == 401


def test_variable_list_is_a_fixed_number_of_queries(op, django_assert_max_num_queries):
    for i in range(2):
        services.variable_set(key=f"var_{i:02}", value="v")
    with django_assert_max_num_queries(20) as few:
        assert len(op.get(VARIABLES).json()["variables"]) == 2
    for i in range(2, 30):
        services.variable_set(key=f"var_{i:02}", value="v")

    with django_assert_max_num_queries(len(few)):
        assert len(op.get(VARIABLES).json()["variables"]) == 30

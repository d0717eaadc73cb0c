"""``/api/v2/pools``: Airflow's shapes (read back by the official client's models), slot counts,
the default pool's rules, bulk actions, roles and errors."""

from __future__ import annotations

import airflow_client.client as ac
import pytest

from runs_app import services
from runs_app.models import Pool, TaskInstance
from runs_app.states import TaskInstanceState
from tests.api.conftest import API

pytestmark = pytest.mark.django_db

POOLS = f"{API}/pools"


@pytest.fixture
def op(api_client, op_user):
    return api_client(op_user)


def test_pool_list_has_the_default_pool_with_its_slot_counts(op, api_dag, make_run):
    run = make_run(api_dag, 0, state="running", ti_state=TaskInstanceState.RUNNING)
    TaskInstance.objects.filter(dag_run=run, task_id="load").update(state=TaskInstanceState.QUEUED, pool_slots=2)

    response = op.get(POOLS)

    assert response.status_code == 200
    body = ac.PoolCollectionResponse.from_dict(response.json())
    assert body.total_entries == 1
    [pool] = body.pools
    assert (pool.name, pool.slots, pool.description) == ("default_pool", 128, "Default pool")
    assert (pool.running_slots, pool.queued_slots, pool.occupied_slots, pool.open_slots) == (2, 2, 4, 124)
    assert (pool.scheduled_slots, pool.deferred_slots, pool.include_deferred, pool.team_name) == (0, 0, False, None)


def test_pool_list_filters_orders_and_pages(op):
    for name in ("etl_a", "etl_b", "ml"):
        services.pool_set(name=name, slots=2)

    by_pattern = op.get(POOLS, {"pool_name_pattern": "etl"}).json()
    by_prefix = op.get(POOLS, {"pool_name_prefix_pattern": "ml|default"}).json()
    wildcard = op.get(POOLS, {"pool_name_pattern": "~"}).json()
    ordered = op.get(POOLS, {"order_by": "-name", "limit": 2, "offset": 1}).json()

    assert [p["name"] for p in by_pattern["pools"]] == ["etl_a", "etl_b"]
    assert [p["name"] for p in by_prefix["pools"]] == ["default_pool", "ml"]
    assert wildcard["total_entries"] == 4
    assert [p["name"] for p in ordered["pools"]] == ["etl_b", "etl_a"] and ordered["total_entries"] == 4


def test_pool_list_rejects_an_unknown_order_by(op):
    response = op.get(POOLS, {"order_by": "secret"})

    assert response.status_code == 400
    assert "secret" in response.json()["detail"]


def test_an_unlimited_pool_has_minus_one_open_slots(op):
    services.pool_set(name="free", slots=-1)

    pool = ac.PoolResponse.from_dict(op.get(f"{POOLS}/free").json())

    assert (pool.slots, pool.open_slots) == (-1, -1)


def test_get_of_an_unknown_pool_is_a_404(op):
    response = op.get(f"{POOLS}/nope")

    assert response.status_code == 404
    assert response.json() == {"detail": "The Pool with name: `nope` was not found"}


def test_post_creates_a_pool_and_a_second_one_of_that_name_is_a_conflict(op):
    response = op.post_json(POOLS, {"name": "etl", "slots": 4, "description": "ETL"})
    again = op.post_json(POOLS, {"name": "etl", "slots": 1})

    assert response.status_code == 201
    pool = ac.PoolResponse.from_dict(response.json())
    assert (pool.name, pool.slots, pool.description, pool.open_slots) == ("etl", 4, "ETL", 4)
    assert Pool.objects.get(name="etl").slots == 4
    assert again.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"name": "etl", "slots": -2},
        {"name": "etl"},
        {"name": "etl", "slots": 1, "unknown": True},
        {"name": "bad name!", "slots": 1},
        {"name": "x" * 101, "slots": 1},
        [],
    ],
)
def test_post_of_a_bad_body_is_a_422(op, body):
    response = op.post_json(POOLS, body)

    assert response.status_code == 422
    assert not Pool.objects.exclude(name=Pool.DEFAULT_POOL_NAME).exists()


def test_post_of_include_deferred_is_refused(op):
    response = op.post_json(POOLS, {"name": "etl", "slots": 1, "include_deferred": True})

    assert response.status_code == 400
    assert not Pool.objects.filter(name="etl").exists()


def test_patch_changes_the_fields_of_the_update_mask_only(op):
    services.pool_set(name="etl", slots=2, description="old")

    response = op.patch_json(f"{POOLS}/etl?update_mask=slots", {"slots": 9, "description": "ignored"})

    assert response.status_code == 200
    pool = ac.PoolResponse.from_dict(response.json())
    assert (pool.slots, pool.description) == (9, "old")


def test_patch_without_a_mask_changes_the_fields_the_body_sets(op):
    services.pool_set(name="etl", slots=2, description="old")

    response = op.patch_json(f"{POOLS}/etl", {"description": "new"})

    assert response.status_code == 200
    assert Pool.objects.filter(name="etl").values_list("slots", "description").get() == (2, "new")


def test_patch_of_the_default_pool_may_change_its_slots_only(op):
    services.pool_ensure_default()

    slots = op.patch_json(f"{POOLS}/default_pool", {"slots": 10})
    description = op.patch_json(f"{POOLS}/default_pool", {"description": "mine"})

    assert slots.status_code == 200 and slots.json()["slots"] == 10
    assert description.status_code == 400
    assert description.json() == {"detail": "Only slots and included_deferred can be modified on Default Pool"}


def test_patch_cannot_rename_a_pool_nor_change_an_unknown_one(op):
    services.pool_set(name="etl", slots=2)

    rename = op.patch_json(f"{POOLS}/etl", {"pool": "other"})
    unknown = op.patch_json(f"{POOLS}/nope", {"slots": 1})
    bad_mask = op.patch_json(f"{POOLS}/etl?update_mask=colour", {"slots": 1})

    assert rename.status_code == 400 and Pool.objects.filter(name="etl").exists()
    assert unknown.status_code == 404
    assert bad_mask.status_code == 400


def test_delete_removes_a_pool_but_never_the_default_one(op):
    services.pool_ensure_default()
    services.pool_set(name="etl", slots=2)

    deleted = op.delete(f"{POOLS}/etl")
    default = op.delete(f"{POOLS}/default_pool")
    unknown = op.delete(f"{POOLS}/etl")

    assert deleted.status_code == 204
    assert default.status_code == 400 and default.json() == {"detail": "Default Pool can't be deleted"}
    assert unknown.status_code == 404
    assert list(Pool.objects.values_list("name", flat=True)) == ["default_pool"]


def test_bulk_runs_each_action_and_reports_each_one(op):
    services.pool_set(name="old", slots=1)
    body = {
        "actions": [
            {"action": "create", "entities": [{"name": "new", "slots": 3}]},
            {"action": "create", "entities": [{"name": "old", "slots": 5}, {"name": "also", "slots": 1}]},
            {"action": "update", "entities": [{"name": "old", "slots": 7}], "update_mask": ["slots"]},
            {"action": "delete", "entities": ["missing", "also"], "action_on_non_existence": "skip"},
            {"action": "delete", "entities": ["default_pool"]},
        ]
    }

    response = op.patch_json(POOLS, body)

    assert response.status_code == 200
    result = ac.BulkResponse.from_dict(response.json())
    assert result.create.success == ["new"]
    assert result.create.errors == [
        {"error": "The pools with these pool names: {'old'} already exist.", "status_code": 409}
    ]
    assert result.update.success == ["old"] and result.update.errors == []
    assert result.delete.success == []
    assert result.delete.errors == [{"error": "Default Pool can't be deleted", "status_code": 400}]
    # The failed create made nothing ("also" too), the update changed "old".
    assert dict(Pool.objects.values_list("name", "slots")) == {"default_pool": 128, "new": 3, "old": 7}


def test_bulk_create_can_overwrite_or_skip_existing_pools(op):
    services.pool_set(name="etl", slots=1)
    body = {
        "actions": [
            {"action": "create", "entities": [{"name": "etl", "slots": 4}], "action_on_existence": "overwrite"},
            {"action": "create", "entities": [{"name": "etl", "slots": 9}], "action_on_existence": "skip"},
        ]
    }

    result = op.patch_json(POOLS, body).json()

    assert result["create"] == {"success": ["etl"], "errors": []}
    assert Pool.objects.get(name="etl").slots == 4


def test_bulk_of_an_unknown_action_is_a_422(op):
    response = op.patch_json(POOLS, {"actions": [{"action": "rename", "entities": []}]})

    assert response.status_code == 422


def test_viewers_and_users_read_pools_but_only_ops_change_them(api_client, viewer_user, user_user, op_user):
    services.pool_set(name="etl", slots=1)
    viewer, user, op = api_client(viewer_user), api_client(user_user), api_client(op_user)

    assert viewer.get(POOLS).status_code == 200
    assert viewer.get(f"{POOLS}/etl").status_code == 200
    assert viewer.post_json(POOLS, {"name": "v", "slots": 1}).status_code == 403
    assert user.patch_json(f"{POOLS}/etl", {"slots": 3}).status_code == 403
    assert user.delete(f"{POOLS}/etl").status_code == 403
    assert user.patch_json(POOLS, {"actions": [{"action": "delete", "entities": ["etl"]}]}).status_code == 403
    assert op.delete(f"{POOLS}/etl").status_code == 204


def test_pools_need_a_token(api_client):
    response = api_client(None).get(POOLS)

    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}


def test_pool_list_is_a_fixed_number_of_queries(op, django_assert_max_num_queries):
    for i in range(2):
        services.pool_set(name=f"pool_{i:02}", slots=1)
    query = {"pool_name_prefix_pattern": "pool_"}
    with django_assert_max_num_queries(20) as few:
        assert len(op.get(POOLS, query).json()["pools"]) == 2
    for i in range(2, 30):
        services.pool_set(name=f"pool_{i:02}", slots=1)

    with django_assert_max_num_queries(len(few)):
        assert len(op.get(POOLS, query).json()["pools"]) == 30

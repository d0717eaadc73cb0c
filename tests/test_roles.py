"""The four roles (orchestrator_site/roles.py): groups and permissions kept in sync by migrate."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from orchestrator_site.roles import ROLE_PERMISSIONS, sync_roles

pytestmark = pytest.mark.django_db

ACTIONS = ["dags_app.trigger_dag", "dags_app.pause_dag", "runs_app.clear_taskinstance", "runs_app.mark_taskinstance"]
POOL_PERMISSIONS = ["runs_app.add_pool", "runs_app.change_pool", "runs_app.delete_pool"]
USER_PERMISSIONS = ["auth.add_user", "auth.change_user", "auth.delete_user"]


def role_permissions(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def permission(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def test_migrate_creates_the_four_role_groups():
    assert set(Group.objects.values_list("name", flat=True)) >= {"Admin", "Op", "User", "Viewer"}


def test_each_role_has_exactly_the_permissions_the_code_defines():
    for role, names in ROLE_PERMISSIONS.items():
        assert role_permissions(role) == names, role


def test_viewer_has_only_view_permissions():
    names = role_permissions("Viewer")

    assert names
    assert all(name.split(".")[1].startswith("view_") for name in names)


def test_viewer_can_view_dags_runs_and_task_instances():
    assert {"dags_app.view_dagmodel", "runs_app.view_dagrun", "runs_app.view_taskinstance"} <= role_permissions(
        "Viewer"
    )


def test_user_can_trigger_clear_mark_and_pause():
    assert set(ACTIONS) <= role_permissions("User")


def test_user_cannot_manage_pools():
    assert not set(POOL_PERMISSIONS) & role_permissions("User")


def test_op_can_add_change_and_delete_pools():
    assert set(POOL_PERMISSIONS) <= role_permissions("Op")


def test_op_cannot_manage_users():
    assert not {name for name in role_permissions("Op") if name.startswith("auth.")}


def test_admin_can_manage_users():
    assert set(USER_PERMISSIONS) <= role_permissions("Admin")


def test_each_role_includes_the_role_below_it():
    assert role_permissions("Viewer") < role_permissions("User") < role_permissions("Op") < role_permissions("Admin")


def test_sync_roles_restores_a_permission_removed_by_hand():
    user_role = Group.objects.get(name="User")
    user_role.permissions.remove(permission("dags_app.trigger_dag"))

    sync_roles()

    assert "dags_app.trigger_dag" in role_permissions("User")


def test_sync_roles_removes_a_permission_added_by_hand():
    viewer_role = Group.objects.get(name="Viewer")
    viewer_role.permissions.add(permission("runs_app.delete_pool"))

    sync_roles()

    assert "runs_app.delete_pool" not in role_permissions("Viewer")


def test_sync_roles_recreates_a_deleted_role():
    Group.objects.filter(name="Op").delete()

    sync_roles()

    assert role_permissions("Op") == ROLE_PERMISSIONS["Op"]


def test_sync_roles_leaves_other_groups_alone():
    other = Group.objects.create(name="Auditors")
    other.permissions.add(permission("runs_app.view_auditlog"))

    sync_roles()

    assert list(other.permissions.values_list("codename", flat=True)) == ["view_auditlog"]


def test_viewer_persona_can_view_but_not_act(viewer_user):
    assert viewer_user.has_perm("dags_app.view_dagmodel") is True
    assert viewer_user.has_perm("runs_app.view_taskinstance") is True
    assert viewer_user.has_perm("dags_app.trigger_dag") is False
    assert viewer_user.has_perm("dags_app.pause_dag") is False


def test_user_persona_can_act_on_dags_and_tasks_but_not_pools(user_user):
    for name in ACTIONS:
        assert user_user.has_perm(name) is True, name
    assert user_user.has_perm("runs_app.add_pool") is False


def test_op_persona_can_manage_pools_but_not_users(op_user):
    for name in POOL_PERMISSIONS:
        assert op_user.has_perm(name) is True, name
    assert op_user.has_perm("dags_app.trigger_dag") is True
    assert op_user.has_perm("auth.add_user") is False


def test_admin_persona_can_manage_users(admin_user):
    for name in USER_PERMISSIONS:
        assert admin_user.has_perm(name) is True, name


def test_outsider_without_a_role_has_no_permission(outsider):
    assert outsider.has_perm("dags_app.view_dagmodel") is False
    assert outsider.has_perm("dags_app.trigger_dag") is False


def test_admin_persona_is_a_superuser_and_the_others_are_not(admin_user, op_user, user_user, viewer_user):
    assert admin_user.is_superuser is True
    assert [u.is_superuser for u in (op_user, user_user, viewer_user)] == [False, False, False]

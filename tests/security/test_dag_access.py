"""Per-DAG access control (Airflow's ``access_control``): the list, every per-DAG page and action,
the browse pages, the import-error banner, the admin and the CLI honour it.

The world: three DAGs and five people.

- ``open_dag`` names no roles: every role sees it, as before.
- ``team_a_dag`` gives ``team_a`` read, edit and delete (Airflow 2's flat form).
- ``shared_dag`` gives ``team_a`` read only and ``team_b`` read plus trigger (Airflow 2.7's
  per-resource form: ``DAG Runs: can_create``).
- ann (User + team_a), ben (User + team_b), rita (Viewer + team_a), oscar (Op, no team) and
  alice (Admin, sees and does everything).
"""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import Group
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from dags_app.models import DagImportError, DagModel
from dags_app.sdk import DAG
from dags_app.sdk.access_control import normalize_access_control
from dags_app.sdk.exceptions import AirflowException
from orchestrator_site.accounts import user_add_role
from runs_app.models import AuditLog, DagRun, TaskInstance, XCom
from runs_app.states import DagRunState, TaskInstanceState
from tests.conftest import _make_user
from tests.security.test_access_matrix import _kwarg_names, _routes
from tests.web.test_dag_views import make_run

SOURCE = """
import datetime
from dags_app.sdk import DAG, BashOperator

with DAG("{dag_id}", schedule="@daily", start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
         catchup=False, access_control={acl}, tags=["{dag_id}_tag"]) as dag:
    BashOperator(task_id="extract", bash_command="echo 1") >> BashOperator(task_id="load", bash_command="echo 2")
"""
ACLS = {
    "open_dag": None,
    "team_a_dag": {"team_a": {"can_read", "can_edit", "can_delete"}},
    "shared_dag": {"team_a": {"DAGs": {"can_read"}}, "team_b": {"DAGs": {"can_read"}, "DAG Runs": {"can_create"}}},
}
PEOPLE = {"ann": ("User", "team_a"), "ben": ("User", "team_b"), "rita": ("Viewer", "team_a"), "oscar": ("Op", None)}
# Who sees which DAG in the list.
SEES = {
    "ann": ["open_dag", "shared_dag", "team_a_dag"],
    "ben": ["open_dag", "shared_dag"],
    "rita": ["open_dag", "shared_dag", "team_a_dag"],
    "oscar": ["open_dag"],
    "alice": ["open_dag", "shared_dag", "team_a_dag"],
}


@pytest.fixture
def world(db, dag_file, sync, redis_url, admin_user, django_user_model):
    """The three DAGs, a finished run of each (with an XCom and an audit row), the people's clients."""
    Group.objects.create(name="team_a")
    Group.objects.create(name="team_b")
    for dag_id, acl in ACLS.items():
        dag_file(f"{dag_id}.py", SOURCE.format(dag_id=dag_id, acl=repr(acl)))
    report = sync()
    assert report.import_errors == 0, report
    runs = {}
    for dag_id in ACLS:
        dag = DagModel.objects.get(dag_id=dag_id)
        run = make_run(dag, state=DagRunState.FAILED)
        ti = run.task_instances.get(task_id="extract")
        XCom.objects.create(task_instance=ti, dag_run=run, task_id="extract", key=f"{dag_id}_key", value=1)
        AuditLog.objects.create(event="trigger", source="test", dag_id=dag_id, run_id=run.run_id)
        runs[dag_id] = run
    clients = {}
    for name, (role, team) in PEOPLE.items():
        _make_user(django_user_model, role, name)
        if team:
            user_add_role(username=name, role=team)
        clients[name] = Client()
        clients[name].force_login(django_user_model.objects.get(username=name))
    clients["alice"] = Client()
    clients["alice"].force_login(admin_user)
    return clients, runs


def listed_dags(client: Client, url: str = "/") -> list[str]:
    response = client.get(url)
    assert response.status_code == 200
    return sorted(set(re.findall(r'data-dag-id="([^"]+)"', response.content.decode())))


# -- the SDK ----------------------------------------------------------------------------------------


def test_both_airflow_spellings_normalize_to_the_permissions_we_check():
    assert normalize_access_control("d", {"a": {"can_read"}, "b": {"can_edit"}, "c": {"can_dag_read"}}) == {
        "a": ["can_read"],
        "b": ["can_edit", "can_read", "can_trigger"],
        "c": ["can_read"],
    }
    assert normalize_access_control("d", {"a": {"DAGs": {"can_read"}, "DAG Runs": {"can_create", "can_delete"}}}) == {
        "a": ["can_delete", "can_read", "can_trigger"]
    }
    assert normalize_access_control("d", None) is None
    assert normalize_access_control("d", {}) is None
    assert normalize_access_control("d", {"a": set()}) is None  # nothing named: open, as in Airflow


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"a": {"can_fly"}},
            r"gives role 'a' unknown permissions: can_fly\. Valid: can_dag_edit, can_dag_read, can_delete",
        ),
        ({"a": {"Pools": {"can_read"}}}, r"names unknown resources for role 'a': Pools\. Valid: DAGs, DAG Runs"),
        ({"a": {"DAG Runs": {"can_fly"}}}, r"unknown permissions on 'DAG Runs': can_fly"),
        ({"a": "can_read"}, r"must be a set of permission names"),
        (["a"], r"must be a dict of role -> permissions"),
        ({"": {"can_read"}}, r"names a role that is not a name"),
    ],
)
def test_a_wrong_access_control_is_an_error_naming_what_is_accepted(value, message):
    with pytest.raises(AirflowException, match=message):
        DAG("d", schedule=None, access_control=value)


def test_a_wrong_access_control_is_an_import_error_and_the_dag_stays_out(db, dag_file, sync):
    dag_file("bad.py", SOURCE.format(dag_id="bad_acl", acl='{"team_a": {"can_fly"}}'))
    report = sync()

    assert report.import_errors == 1
    assert "unknown permissions: can_fly" in DagImportError.objects.get().message
    assert not DagModel.objects.filter(dag_id="bad_acl").exists()


def test_the_sync_stores_the_normalized_access_control(world):
    assert DagModel.objects.get(dag_id="open_dag").access_control is None
    assert DagModel.objects.get(dag_id="shared_dag").access_control == {
        "team_a": ["can_read"],
        "team_b": ["can_read", "can_trigger"],
    }


# -- lists ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("person", sorted(SEES))
def test_the_dag_list_shows_each_person_only_the_dags_their_roles_may_read(world, person):
    clients, _ = world
    assert listed_dags(clients[person]) == SEES[person]


def test_tags_of_hidden_dags_are_not_offered_as_filters(world):
    clients, _ = world
    page = clients["oscar"].get("/").content.decode()
    assert "open_dag_tag" in page
    assert "team_a_dag_tag" not in page and "shared_dag_tag" not in page


@pytest.mark.parametrize(
    ("url", "marker"),
    [
        ("runs:browse-runs", "{dag}"),
        ("runs:browse-task-instances", "{dag}"),
        ("runs:browse-xcoms", "{dag}_key"),
        ("runs:browse-audit-log", "{dag}"),
    ],
)
def test_browse_pages_leave_out_the_rows_of_hidden_dags(world, url, marker):
    clients, _ = world
    page = clients["ben"].get(reverse(url)).content.decode()
    assert marker.format(dag="shared_dag") in page
    # Not in the rows, nor in the DAG id suggestions of the filter.
    assert "team_a_dag" not in page
    admin_page = clients["alice"].get(reverse(url)).content.decode()
    assert marker.format(dag="team_a_dag") in admin_page


def test_the_import_error_banner_leaves_out_files_of_hidden_dags(world, dag_file, sync):
    dag_file("team_a_dag.py", "from dags_app.sdk import DAG\nraise RuntimeError('team a secret is broken')\n")
    sync()
    assert DagImportError.objects.count() == 1
    clients, _ = world

    assert "team a secret is broken" not in clients["ben"].get("/").content.decode()
    assert "team a secret is broken" in clients["ann"].get("/").content.decode()
    assert "team a secret is broken" in clients["alice"].get("/").content.decode()


# -- per-DAG pages and actions ------------------------------------------------------------------------


def _dag_routes(run: DagRun) -> list[tuple[str, str]]:
    """(name, URL) of every route about one DAG, filled in for ``run`` and its first task."""
    values = {"dag_id": run.dag.dag_id, "run_id": run.run_id, "task_id": "extract", "state": "success"}
    found = []
    for name, template in _routes():
        kwargs = _kwarg_names(template)
        if "dag_id" not in kwargs or name.startswith("admin:"):
            continue
        found.append((name, reverse(name, kwargs={k: values[k] for k in kwargs})))
    assert len(found) >= 20
    return found


def test_every_page_and_action_of_a_hidden_dag_is_a_404_and_changes_nothing(world):
    clients, runs = world
    run = runs["team_a_dag"]
    before = (
        list(DagRun.objects.order_by("pk").values_list("state", flat=True)),
        list(TaskInstance.objects.order_by("pk").values_list("state", "try_number")),
        AuditLog.objects.count(),
        DagModel.objects.get(dag_id="team_a_dag").is_paused,
    )
    for name, url in _dag_routes(run):
        for person in ("ben", "oscar"):
            for method in ("get", "post"):
                response = getattr(clients[person], method)(url, {"confirmed": "1", "is_paused": "false"})
                assert response.status_code in (404, 405), (person, method, name, response.status_code)
                if response.status_code == 404:
                    assert (
                        "team_a_dag" not in response.content.decode() or "does not exist" in response.content.decode()
                    )
    after = (
        list(DagRun.objects.order_by("pk").values_list("state", flat=True)),
        list(TaskInstance.objects.order_by("pk").values_list("state", "try_number")),
        AuditLog.objects.count(),
        DagModel.objects.get(dag_id="team_a_dag").is_paused,
    )
    assert after == before
    # Its own team and the Admin do open them.
    for person in ("ann", "rita", "alice"):
        assert clients[person].get(reverse("runs:grid", args=["team_a_dag"])).status_code == 200


def test_a_hidden_dag_looks_like_an_unknown_one(world):
    clients, _ = world
    hidden = clients["ben"].get(reverse("runs:grid", args=["team_a_dag"]))
    unknown = clients["ben"].get(reverse("runs:grid", args=["no_such_dag"]))
    assert hidden.status_code == unknown.status_code == 404

    def page(response, dag_id: str) -> str:
        text = response.content.decode().replace(dag_id, "X")
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)

    assert page(hidden, "team_a_dag") == page(unknown, "no_such_dag")


def test_a_read_only_team_sees_the_dag_but_every_action_is_refused(world):
    clients, runs = world
    ann, run = clients["ann"], runs["shared_dag"]
    grid = ann.get(reverse("runs:grid", args=["shared_dag"]))
    assert grid.status_code == 200
    header = grid.content.decode()
    assert reverse("runs:dag-trigger", args=["shared_dag"]) not in header  # no Trigger button
    assert reverse("runs:dag-delete", args=["shared_dag"]) not in header
    actions = {
        "trigger": reverse("runs:dag-trigger", args=["shared_dag"]),
        "pause": reverse("runs:dag-pause", args=["shared_dag"]),
        "delete": reverse("runs:dag-delete", args=["shared_dag"]),
        "run clear": reverse("runs:run-clear", args=["shared_dag", run.run_id]),
        "run mark": reverse("runs:run-mark", args=["shared_dag", run.run_id, "success"]),
        "ti clear": reverse("runs:ti-clear", args=["shared_dag", run.run_id, "extract"]),
        "ti mark": reverse("runs:ti-mark", args=["shared_dag", run.run_id, "extract", "success"]),
        "ti run": reverse("runs:ti-run", args=["shared_dag", run.run_id, "extract"]),
    }
    for what, url in actions.items():
        response = ann.post(url, {"confirmed": "1", "is_paused": "false"})
        assert response.status_code == 403, what
        assert "access control of DAG shared_dag" in response.content.decode(), what
    run.refresh_from_db()
    assert run.state == DagRunState.FAILED
    assert DagRun.objects.filter(dag__dag_id="shared_dag").count() == 1
    assert DagModel.objects.filter(dag_id="shared_dag").exists()


def test_a_team_with_trigger_only_may_trigger_but_not_clear_or_pause(world):
    clients, runs = world
    ben, run = clients["ben"], runs["shared_dag"]
    page = ben.get(reverse("runs:grid", args=["shared_dag"])).content.decode()
    assert reverse("runs:dag-trigger", args=["shared_dag"]) in page

    response = ben.post(reverse("runs:dag-trigger", args=["shared_dag"]), {"conf": "{}", "unpause": "on"})
    assert response.status_code == 302
    assert DagRun.objects.filter(dag__dag_id="shared_dag").count() == 2
    # The trigger form's "unpause" needs the pause permission, which ben's team lacks.
    assert DagModel.objects.get(dag_id="shared_dag").is_paused is True
    assert ben.post(reverse("runs:dag-pause", args=["shared_dag"]), {"is_paused": "false"}).status_code == 403
    clear = reverse("runs:ti-clear", args=["shared_dag", run.run_id, "extract"])
    assert ben.post(clear, {"confirmed": "1"}).status_code == 403
    assert run.task_instances.get(task_id="extract").state == TaskInstanceState.FAILED


def test_a_team_with_edit_acts_on_its_dag(world):
    clients, runs = world
    ann, run = clients["ann"], runs["team_a_dag"]
    response = ann.post(reverse("runs:ti-clear", args=["team_a_dag", run.run_id, "extract"]), {"confirmed": "1"})
    assert response.status_code == 302
    assert run.task_instances.get(task_id="extract").state == TaskInstanceState.NONE
    # A Viewer of the same team reads it, but her base role still allows no action.
    rita = clients["rita"]
    assert rita.post(reverse("runs:dag-pause", args=["team_a_dag"]), {"is_paused": "false"}).status_code == 403


def test_the_details_page_shows_the_roles_and_a_role_that_does_not_exist(world, dag_file, sync):
    dag_file(
        "team_a_dag.py", SOURCE.format(dag_id="team_a_dag", acl='{"team_a": {"can_read"}, "team_z": {"can_edit"}}')
    )
    sync()
    page = world[0]["alice"].get(reverse("dags:details", args=["team_a_dag"])).content.decode()
    assert "team_a" in page and "team_z" in page
    assert page.count("no such role yet") == 1


# -- the admin --------------------------------------------------------------------------------------


def test_admin_lists_and_object_pages_leave_out_hidden_dags(world):
    clients, runs = world
    ben = clients["ben"]
    for model in (
        "dags_app_dagmodel",
        "runs_app_dagrun",
        "runs_app_taskinstance",
        "runs_app_xcom",
        "runs_app_auditlog",
    ):
        page = ben.get(reverse(f"admin:{model}_changelist")).content.decode()
        assert "team_a_dag" not in page, model
    hidden = ben.get(reverse("admin:runs_app_dagrun_change", args=[runs["team_a_dag"].pk]))
    assert hidden.status_code == 302  # the admin's "does not exist" redirect
    shown = ben.get(reverse("admin:runs_app_dagrun_change", args=[runs["shared_dag"].pk]))
    assert shown.status_code == 200
    assert "team_a_dag" in clients["alice"].get(reverse("admin:runs_app_dagrun_changelist")).content.decode()


def test_admin_actions_skip_the_rows_whose_dag_does_not_allow_the_action(world):
    clients, runs = world
    ann = clients["ann"]
    selected = [runs["team_a_dag"].pk, runs["shared_dag"].pk]
    response = ann.post(
        reverse("admin:runs_app_dagrun_changelist"),
        {"action": "clear_runs", "_selected_action": selected, "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert "Skipped 1 selected row(s)" in response.content.decode()
    assert set(runs["team_a_dag"].task_instances.values_list("state", flat=True)) == {TaskInstanceState.NONE}
    assert set(runs["shared_dag"].task_instances.values_list("state", flat=True)) == {TaskInstanceState.FAILED}


# -- the CLI ----------------------------------------------------------------------------------------


def test_cli_roles_create_list_delete_and_users_add_remove_role(db, cli, viewer_user):
    assert cli("roles", "create", "team_x", "team_y").splitlines() == ['Role "team_x" created', 'Role "team_y" created']
    assert cli("roles", "create", "team_x").strip() == 'Role "team_x" already exists'
    assert cli("users", "add-role", "-u", "victor", "-r", "team_x").strip() == 'User "victor" added to role "team_x"'
    with pytest.raises(CommandError, match=r'^User "victor" is already a member of role "team_x"$'):
        cli("users", "add-role", "-u", "victor", "-r", "team_x")
    rows = {row["name"]: row for row in json.loads(cli("roles", "list", "-o", "json"))}
    assert rows["team_x"] == {"name": "team_x", "base_role": False, "users": 1, "permissions": 0}
    assert rows["Viewer"]["base_role"] is True
    users = json.loads(cli("users", "list", "-o", "json"))
    assert next(u for u in users if u["username"] == "victor")["roles"] == ["Viewer", "team_x"]
    assert (
        cli("users", "remove-role", "-u", "victor", "-r", "team_x").strip()
        == 'User "victor" removed from role "team_x"'
    )
    assert cli("roles", "delete", "team_x").strip() == 'Role "team_x" deleted'
    with pytest.raises(CommandError, match=r"^Viewer is a base role and cannot be deleted$"):
        cli("roles", "delete", "Viewer")
    with pytest.raises(CommandError, match=r"^Role team_q does not exist$"):
        cli("roles", "delete", "team_q")
    with pytest.raises(
        CommandError, match=r"^team_q is not a valid role\. Valid roles are: Admin, Op, User, Viewer, team_y$"
    ):
        cli("users", "add-role", "-u", "victor", "-r", "team_q")


def test_cli_users_add_role_admin_grants_and_remove_role_revokes_superuser(db, cli, viewer_user):
    cli("users", "add-role", "-u", "victor", "-r", "Admin")
    viewer_user.refresh_from_db()
    assert viewer_user.is_superuser is True
    cli("users", "remove-role", "-u", "victor", "-r", "Admin")
    viewer_user.refresh_from_db()
    assert viewer_user.is_superuser is False


def test_cli_dags_details_and_list_show_the_access_control(world, cli):
    details = json.loads(cli("dags", "details", "shared_dag", "-o", "json"))
    if isinstance(details, list):
        details = details[0]
    assert details["access_control"] == {"team_a": ["can_read"], "team_b": ["can_read", "can_trigger"]}
    listed = json.loads(cli("dags", "list", "-o", "json", "--columns", "dag_id,access_control"))
    assert {row["dag_id"]: row["access_control"] for row in listed}["open_dag"] is None

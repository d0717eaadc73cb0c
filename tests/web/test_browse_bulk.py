"""Bulk actions of the Browse pages (issue 14): tick DAG runs or task instances, confirm, and
the same services as the run pages, the admin and the API change them."""

from __future__ import annotations

import pytest

from dags_app.models import DagModel
from runs_app.models import AuditLog, DagRun, TaskInstance
from runs_app.states import DagRunState, TaskInstanceState
from tests.web.test_dag_views import make_run, write_dag

pytestmark = pytest.mark.django_db

RUNS_BULK = "/browse/runs/bulk/"
TIS_BULK = "/browse/task-instances/bulk/"


@pytest.fixture
def runs(dag_file, sync):
    dag = write_dag(dag_file, sync)
    return [make_run(dag, day, state=DagRunState.FAILED) for day in range(3)]


def test_the_browse_pages_offer_the_actions_the_role_allows(client, viewer_user, user_user, runs):
    client.force_login(viewer_user)
    html = client.get("/browse/runs/").content.decode()
    assert "bulk-form" not in html and "bulk-select" not in html  # a Viewer changes nothing

    client.force_login(user_user)
    html = client.get("/browse/runs/?state=failed").content.decode()
    assert f'action="{RUNS_BULK}"' in html and 'value="/browse/runs/?state=failed"' in html
    assert html.count('class="form-check-input bulk-select"') == 3
    assert all(
        f'<option value="{key}">' in html for key in ("clear", "clear_failed", "mark_success", "mark_failed", "delete")
    )
    html = client.get("/browse/task-instances/").content.decode()
    assert f'action="{TIS_BULK}"' in html and html.count("bulk-select") == 9
    assert '<option value="clear_downstream">' in html and '<option value="delete">' not in html


def test_a_bulk_action_asks_first_then_changes_through_the_services(client, user_user, runs):
    client.force_login(user_user)
    picked = [runs[0].pk, runs[2].pk]
    page = client.post(RUNS_BULK, {"action": "mark_success", "pk": picked, "next": "/browse/runs/?state=failed"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Mark success: 2 DAG runs" in html and runs[0].run_id in html and runs[1].run_id not in html
    assert set(DagRun.objects.values_list("state", flat=True)) == {DagRunState.FAILED}  # nothing changed yet
    assert html.count('name="pk"') == 2 and 'name="confirmed"' in html

    done = client.post(
        RUNS_BULK, {"action": "mark_success", "pk": picked, "confirmed": "yes", "next": "/browse/runs/?state=failed"}
    )
    assert done.status_code == 302 and done.url == "/browse/runs/?state=failed"
    states = dict(DagRun.objects.values_list("pk", "state"))
    assert states == {runs[0].pk: "success", runs[1].pk: "failed", runs[2].pk: "success"}
    assert AuditLog.objects.filter(event="mark_success", source="web").count() == 2


def test_clearing_task_instances_in_bulk_reopens_their_runs(client, user_user, runs):
    client.force_login(user_user)
    tis = list(
        TaskInstance.objects.filter(dag_run=runs[1], task_id__in=["extract", "load"]).values_list("pk", flat=True)
    )
    client.post(TIS_BULK, {"action": "clear", "pk": tis, "confirmed": "yes"})
    cleared = TaskInstance.objects.filter(pk__in=tis)
    assert {ti.state for ti in cleared} == {TaskInstanceState.NONE}
    assert TaskInstance.objects.get(dag_run=runs[1], task_id="transform").state == TaskInstanceState.FAILED
    assert DagRun.objects.get(pk=runs[1].pk).state in (DagRunState.RUNNING, DagRunState.QUEUED)


def test_deleting_runs_in_bulk_takes_their_task_instances(client, user_user, runs):
    client.force_login(user_user)
    response = client.post(RUNS_BULK, {"action": "delete", "pk": [runs[1].pk], "confirmed": "yes"}, follow=True)
    assert "Deleted 1 DAG run(s)" in response.content.decode()
    assert list(DagRun.objects.order_by("pk").values_list("pk", flat=True)) == [runs[0].pk, runs[2].pk]
    assert not TaskInstance.objects.filter(dag_run_id=runs[1].pk).exists()


def test_rows_of_a_dag_that_does_not_allow_the_action_are_left_out(client, user_user, runs, dag_file, sync):
    other = write_dag(dag_file, sync, dag_id="locked")
    DagModel.objects.filter(pk=other.pk).update(access_control={"User": ["can_read"]})
    locked = make_run(other, 0, state=DagRunState.FAILED)
    client.force_login(user_user)
    html = client.post(RUNS_BULK, {"action": "mark_success", "pk": [runs[0].pk, locked.pk]}).content.decode()
    assert "Mark success: 1 DAG run" in html and "1 selected DAG run(s) are left out" in html
    response = client.post(
        RUNS_BULK, {"action": "mark_success", "pk": [runs[0].pk, locked.pk], "confirmed": "yes"}, follow=True
    )
    assert "Skipped 1 selected DAG run(s)" in response.content.decode()
    assert DagRun.objects.get(pk=locked.pk).state == DagRunState.FAILED
    assert DagRun.objects.get(pk=runs[0].pk).state == DagRunState.SUCCESS


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "mark_success"}, "Select at least one DAG run first."),
        ({"action": "explode", "pk": ["1"]}, "Choose an action for the selected rows."),
        ({"action": "mark_success", "pk": ["999999", "abc"]}, "None of the selected DAG runs can be changed"),
        ({"action": "clear", "pk": [str(n) for n in range(300)]}, "Select at most 200 DAG runs at once."),
    ],
)
def test_bad_bulk_input_is_a_message_and_changes_nothing(client, user_user, runs, data, message):
    client.force_login(user_user)
    response = client.post(RUNS_BULK, {**data, "confirmed": "yes"}, follow=True)
    assert response.status_code == 200 and message in response.content.decode()
    assert set(DagRun.objects.values_list("state", flat=True)) == {DagRunState.FAILED}


def test_a_viewer_may_not_post_a_bulk_action(client, viewer_user, runs):
    client.force_login(viewer_user)
    response = client.post(RUNS_BULK, {"action": "delete", "pk": [runs[0].pk], "confirmed": "yes"})
    assert response.status_code == 403
    assert DagRun.objects.count() == 3


def test_next_must_stay_on_the_site(client, user_user, runs):
    client.force_login(user_user)
    response = client.post(
        RUNS_BULK, {"action": "clear", "pk": [runs[0].pk], "confirmed": "yes", "next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response.url == "/browse/runs/"

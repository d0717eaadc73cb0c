"""Run, clear and mark actions on task instances and runs (runs_app/views/actions.py)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.urls import reverse

from dags_app.models import DagModel
from runs_app.models import AuditLog, DagRun, TaskInstance
from runs_app.states import AuditEvent, DagRunState, TaskInstanceState
from tests.web.test_dag_views import DAG_ID, make_run, write_dag

S = TaskInstanceState


@pytest.fixture
def dag(db, dag_file, sync) -> DagModel:
    return write_dag(dag_file, sync)


@pytest.fixture
def failed_run(dag) -> DagRun:
    """A failed run: extract success, transform failed, load upstream_failed."""
    run = make_run(dag, 0, state=DagRunState.FAILED, ti_state=S.SUCCESS)
    TaskInstance.objects.filter(dag_run=run, task_id="transform").update(state=S.FAILED)
    TaskInstance.objects.filter(dag_run=run, task_id="load").update(state=S.UPSTREAM_FAILED)
    return run


def states(run: DagRun) -> dict[str, str]:
    return dict(TaskInstance.objects.filter(dag_run=run).values_list("task_id", "state"))


def action_urls(run: DagRun) -> list[str]:
    ti = [DAG_ID, run.run_id, "transform"]
    return [
        reverse("runs:ti-run", args=ti),
        reverse("runs:ti-clear", args=ti),
        reverse("runs:ti-mark", args=[*ti, "success"]),
        reverse("runs:ti-mark", args=[*ti, "failed"]),
        reverse("runs:run-clear", args=[DAG_ID, run.run_id]),
        reverse("runs:run-mark", args=[DAG_ID, run.run_id, "success"]),
        reverse("runs:run-mark", args=[DAG_ID, run.run_id, "failed"]),
    ]


@pytest.fixture
def as_user(client, user_user):
    client.force_login(user_user)
    return client


def test_viewer_gets_403_for_every_action_get_and_post(client, viewer_user, failed_run):
    client.force_login(viewer_user)
    before = states(failed_run)
    for path in action_urls(failed_run):
        assert client.get(path).status_code == 403, path
        response = client.post(path, {"confirmed": "yes", "downstream": "on"})
        assert response.status_code == 403, path
        assert "Your role does not allow this" in response.content.decode()
    assert states(failed_run) == before
    assert not AuditLog.objects.filter(event__in=[AuditEvent.CLEAR, AuditEvent.RUN]).exists()


def test_actions_need_csrf(client, user_user, failed_run):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(user_user)
    for path in action_urls(failed_run):
        assert csrf_client.post(path, {"confirmed": "yes"}).status_code == 403, path
    assert states(failed_run)["transform"] == S.FAILED


def test_actions_refuse_other_methods(as_user, failed_run):
    for path in action_urls(failed_run):
        assert as_user.put(path).status_code == 405


@pytest.mark.parametrize("role", ["user_user", "op_user", "admin_user"])
def test_every_acting_role_gets_the_confirmation_pages(client, request, role, failed_run):
    client.force_login(request.getfixturevalue(role))
    for path in action_urls(failed_run):
        response = client.get(path)
        assert response.status_code == 200, path
        assert 'name="confirmed"' in response.content.decode()


def test_clear_get_confirms_and_lists_affected_task_instances(as_user, failed_run):
    path = reverse("runs:ti-clear", args=[DAG_ID, failed_run.run_id, "transform"])
    html = as_user.get(f"{path}?options=1&downstream=on&next=/elsewhere/").content.decode()
    assert "Clear transform?" in html
    assert "transform (failed)" in html and "load (upstream_failed)" in html
    assert "extract (success)" not in html
    assert 'name="next" value="/elsewhere/"' in html
    assert states(failed_run)["transform"] == S.FAILED  # a GET changes nothing


def test_clear_post_clears_the_task_and_its_downstream(as_user, failed_run):
    path = reverse("runs:ti-clear", args=[DAG_ID, failed_run.run_id, "transform"])
    response = as_user.post(path, {"confirmed": "yes", "downstream": "on"})
    expected = f"{reverse('runs:graph', args=[DAG_ID])}?{urlencode({'run_id': failed_run.run_id})}"
    assert response.status_code == 302 and response["Location"] == expected
    assert states(failed_run) == {"extract": S.SUCCESS, "transform": S.NONE, "load": S.NONE}
    failed_run.refresh_from_db()
    assert failed_run.state == DagRunState.QUEUED  # reopened; queued while the DAG is paused
    audit = AuditLog.objects.get(event=AuditEvent.CLEAR)
    assert (audit.username, audit.source, audit.task_id) == ("ursula", "web", "load,transform")
    messages = [str(m) for m in as_user.get(expected).context["messages"]]
    assert messages == [f"Cleared 2 task instance(s) of run {failed_run.run_id}."]


def test_clear_with_upstream_and_only_failed(as_user, failed_run):
    path = reverse("runs:ti-clear", args=[DAG_ID, failed_run.run_id, "load"])
    as_user.post(path, {"confirmed": "yes", "upstream": "on", "only_failed": "on"})
    assert states(failed_run) == {"extract": S.SUCCESS, "transform": S.NONE, "load": S.NONE}


def test_clear_post_without_confirmation_only_shows_the_page(as_user, failed_run):
    path = reverse("runs:ti-clear", args=[DAG_ID, failed_run.run_id, "transform"])
    response = as_user.post(path, {"downstream": "on"})
    assert response.status_code == 200 and 'name="confirmed"' in response.content.decode()
    assert states(failed_run)["transform"] == S.FAILED


def test_mark_success_lets_upstream_failed_downstream_run_again(as_user, failed_run):
    path = reverse("runs:ti-mark", args=[DAG_ID, failed_run.run_id, "transform", "success"])
    response = as_user.post(path, {"confirmed": "yes", "next": "/dags/"})
    assert response.status_code == 302 and response["Location"] == "/dags/"
    assert states(failed_run) == {"extract": S.SUCCESS, "transform": S.SUCCESS, "load": S.NONE}
    assert AuditLog.objects.filter(event=AuditEvent.MARK_SUCCESS, source="web").count() == 1


def test_mark_failed_with_upstream(as_user, failed_run):
    path = reverse("runs:ti-mark", args=[DAG_ID, failed_run.run_id, "transform", "failed"])
    as_user.post(path, {"confirmed": "yes", "upstream": "on"})
    assert states(failed_run)["extract"] == S.FAILED


def test_mark_to_another_state_is_404(as_user, failed_run):
    path = reverse("runs:ti-mark", args=[DAG_ID, failed_run.run_id, "transform", "running"])
    assert as_user.post(path, {"confirmed": "yes"}).status_code == 404
    path = reverse("runs:run-mark", args=[DAG_ID, failed_run.run_id, "queued"])
    assert as_user.post(path, {"confirmed": "yes"}).status_code == 404


def test_redirect_ignores_an_offsite_next(as_user, failed_run):
    path = reverse("runs:ti-mark", args=[DAG_ID, failed_run.run_id, "transform", "success"])
    response = as_user.post(path, {"confirmed": "yes", "next": "https://evil.example.com/"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("runs:graph", args=[DAG_ID]))


def test_run_queues_the_next_try(as_user, failed_run):
    path = reverse("runs:ti-run", args=[DAG_ID, failed_run.run_id, "transform"])
    response = as_user.post(path, {"confirmed": "yes", "ignore_dependencies": "on"})
    assert response.status_code == 302
    ti = TaskInstance.objects.get(dag_run=failed_run, task_id="transform")
    assert (ti.state, ti.try_number) == (S.QUEUED, 2)
    failed_run.refresh_from_db()
    assert failed_run.state == DagRunState.RUNNING
    assert AuditLog.objects.filter(event=AuditEvent.RUN, task_id="transform", source="web").exists()


def test_run_of_a_running_task_shows_the_service_error(as_user, failed_run):
    TaskInstance.objects.filter(dag_run=failed_run, task_id="transform").update(state=S.RUNNING)
    path = reverse("runs:ti-run", args=[DAG_ID, failed_run.run_id, "transform"])
    response = as_user.post(path, {"confirmed": "yes"}, follow=True)
    assert "Task instance transform is already running" in response.content.decode()
    assert states(failed_run)["transform"] == S.RUNNING


def test_run_clear_only_failed(as_user, failed_run):
    path = reverse("runs:run-clear", args=[DAG_ID, failed_run.run_id])
    html = as_user.get(f"{path}?options=1&only_failed=on").content.decode()
    assert "transform (failed)" in html and "extract (success)" not in html
    response = as_user.post(path, {"confirmed": "yes", "only_failed": "on"})
    assert response.status_code == 302 and response["Location"] == reverse("runs:run", args=[DAG_ID, failed_run.run_id])
    assert states(failed_run) == {"extract": S.SUCCESS, "transform": S.NONE, "load": S.NONE}


def test_run_clear_all(as_user, failed_run):
    as_user.post(reverse("runs:run-clear", args=[DAG_ID, failed_run.run_id]), {"confirmed": "yes"})
    assert set(states(failed_run).values()) == {S.NONE}


def test_run_mark_success_and_failed(as_user, failed_run):
    as_user.post(reverse("runs:run-mark", args=[DAG_ID, failed_run.run_id, "success"]), {"confirmed": "yes"})
    failed_run.refresh_from_db()
    assert failed_run.state == DagRunState.SUCCESS
    assert set(states(failed_run).values()) == {S.SUCCESS}
    as_user.post(reverse("runs:run-mark", args=[DAG_ID, failed_run.run_id, "failed"]), {"confirmed": "yes"})
    failed_run.refresh_from_db()
    assert failed_run.state == DagRunState.FAILED


def test_actions_on_unknown_objects_are_404(as_user, failed_run):
    assert as_user.get(reverse("runs:ti-clear", args=[DAG_ID, failed_run.run_id, "nope"])).status_code == 404
    assert as_user.get(reverse("runs:run-clear", args=[DAG_ID, "nope"])).status_code == 404
    assert as_user.get(reverse("runs:run-clear", args=["nope", "nope"])).status_code == 404

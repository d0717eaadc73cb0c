"""Django admin: actions that call the services, their confirmation pages and roles; the RQ dashboard."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin import helpers
from django.urls import reverse
from django.utils import timezone

from dags_app.models import DagModel
from runs_app import services
from runs_app.models import AuditLog, DagRun, TaskInstance, XCom
from runs_app.states import AuditEvent, DagRunState, DagRunType, TaskInstanceState

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
CONFIRM_TEMPLATE = "admin/orchestrator_confirm_action.html"
TI_CHANGELIST = "admin:runs_app_taskinstance_changelist"
RUN_CHANGELIST = "admin:runs_app_dagrun_changelist"
DAG_CHANGELIST = "admin:dags_app_dagmodel_changelist"

SOURCE = """
import datetime
from dags_app.sdk import DAG, BashOperator

with DAG("admin_dag", schedule=None, start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)) as dag:
    BashOperator(task_id="extract", bash_command="echo 1") >> BashOperator(task_id="load", bash_command="echo 2")
"""


@pytest.fixture
def dag(dag_file, sync) -> DagModel:
    """``admin_dag``: extract >> load, paused (so clearing leaves tasks waiting, not queued)."""
    dag_file("admin_dag.py", SOURCE)
    assert sync().import_errors == 0
    return DagModel.objects.get(dag_id="admin_dag")


@pytest.fixture
def failed_run(dag) -> DagRun:
    """A failed run of admin_dag: extract failed, load upstream_failed."""
    run = services.dag_run_create(
        dag=dag, logical_date=T0, run_type=DagRunType.MANUAL, now=timezone.now(), run_id="manual_1"
    )
    DagRun.objects.filter(pk=run.pk).update(state=DagRunState.FAILED, start_date=T0, end_date=T0)
    TaskInstance.objects.filter(dag_run=run, task_id="extract").update(state=TaskInstanceState.FAILED, try_number=1)
    TaskInstance.objects.filter(dag_run=run, task_id="load").update(state=TaskInstanceState.UPSTREAM_FAILED)
    run.refresh_from_db()
    return run


def ti(run: DagRun, task_id: str) -> TaskInstance:
    return TaskInstance.objects.get(dag_run=run, task_id=task_id)


def post_action(client, changelist: str, action: str, pks: list[int], *, confirmed: bool = True):
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [str(pk) for pk in pks]}
    if confirmed:
        data["post"] = "yes"
    return client.post(reverse(changelist), data)


def action_names(response) -> set[str]:
    form = response.context.get("action_form")
    return {name for name, _ in form.fields["action"].choices if name} if form else set()


@pytest.fixture(params=["admin_user", "op_user", "user_user"])
def actor(request, client):
    """A client logged in as each role that may act: Admin, Op, User."""
    user = request.getfixturevalue(request.param)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def viewer(client, viewer_user):
    client.force_login(viewer_user)
    return client


# -- task instances -------------------------------------------------------------------------------


def test_actor_marks_a_task_instance_success_through_the_service(actor, failed_run):
    extract = ti(failed_run, "extract")

    response = post_action(actor, TI_CHANGELIST, "mark_success", [extract.pk])

    assert response.status_code == 302
    assert ti(failed_run, "extract").state == TaskInstanceState.SUCCESS
    # The service's semantics: the upstream_failed downstream task is evaluated again.
    assert ti(failed_run, "load").state != TaskInstanceState.UPSTREAM_FAILED
    entry = AuditLog.objects.get(event=AuditEvent.MARK_SUCCESS)
    assert (entry.source, entry.username, entry.dag_id, entry.task_id) == (
        "admin",
        actor.user.username,
        "admin_dag",
        "extract",
    )


def test_actor_marks_a_task_instance_failed(actor, failed_run):
    load = ti(failed_run, "load")

    post_action(actor, TI_CHANGELIST, "mark_failed", [load.pk])

    assert ti(failed_run, "load").state == TaskInstanceState.FAILED
    assert AuditLog.objects.filter(event=AuditEvent.MARK_FAILED, source="admin").count() == 1


def test_actor_clears_a_task_instance_and_the_run_reopens(actor, failed_run):
    extract = ti(failed_run, "extract")

    response = post_action(actor, TI_CHANGELIST, "clear_task_instances", [extract.pk])

    assert response.status_code == 302
    assert ti(failed_run, "extract").state == TaskInstanceState.NONE
    assert ti(failed_run, "load").state == TaskInstanceState.UPSTREAM_FAILED  # not asked for
    failed_run.refresh_from_db()
    assert failed_run.state == DagRunState.QUEUED  # the DAG is paused: it waits to run again
    entry = AuditLog.objects.get(event=AuditEvent.CLEAR)
    assert (entry.source, entry.extra["downstream"]) == ("admin", False)


def test_clear_with_downstream_clears_the_downstream_tasks_too(actor, failed_run):
    post_action(actor, TI_CHANGELIST, "clear_task_instances_downstream", [ti(failed_run, "extract").pk])

    assert ti(failed_run, "extract").state == TaskInstanceState.NONE
    assert ti(failed_run, "load").state == TaskInstanceState.NONE
    assert AuditLog.objects.get(event=AuditEvent.CLEAR, source="admin").extra["downstream"] is True


def test_action_success_message_is_shown_on_the_changelist(admin_client, failed_run):
    response = admin_client.post(
        reverse(TI_CHANGELIST),
        {"action": "mark_success", helpers.ACTION_CHECKBOX_NAME: [ti(failed_run, "extract").pk], "post": "yes"},
        follow=True,
    )

    assert "Marked 1 task instance(s) success." in [str(m) for m in response.context["messages"]]


@pytest.mark.parametrize(
    "action", ["clear_task_instances", "clear_task_instances_downstream", "mark_success", "mark_failed"]
)
def test_task_instance_action_without_post_yes_shows_a_confirmation_page(actor, failed_run, action):
    extract = ti(failed_run, "extract")

    response = post_action(actor, TI_CHANGELIST, action, [extract.pk], confirmed=False)

    assert response.status_code == 200
    assert CONFIRM_TEMPLATE in [t.name for t in response.templates]
    html = response.content.decode()
    assert f'<input type="hidden" name="action" value="{action}">' in html
    assert f'<input type="hidden" name="{helpers.ACTION_CHECKBOX_NAME}" value="{extract.pk}">' in html
    assert '<input type="hidden" name="post" value="yes">' in html
    assert "admin_dag / manual_1 / extract (failed)" in html
    assert ti(failed_run, "extract").state == TaskInstanceState.FAILED
    assert not AuditLog.objects.exists()


def test_actor_sees_the_actions_on_the_task_instance_changelist(actor, failed_run):
    response = actor.get(reverse(TI_CHANGELIST))

    assert response.status_code == 200
    assert {"clear_task_instances", "clear_task_instances_downstream", "mark_success", "mark_failed"} <= (
        action_names(response)
    )


def test_viewer_sees_the_task_instance_changelist_without_actions(viewer, failed_run):
    response = viewer.get(reverse(TI_CHANGELIST))

    assert response.status_code == 200
    assert action_names(response) == set()
    assert b"mark_success" not in response.content
    assert b"action-checkbox" not in response.content


@pytest.mark.parametrize("action", ["clear_task_instances", "mark_success", "mark_failed"])
def test_viewer_cannot_perform_task_instance_actions(viewer, failed_run, action):
    extract = ti(failed_run, "extract")

    post_action(viewer, TI_CHANGELIST, action, [extract.pk])

    assert ti(failed_run, "extract").state == TaskInstanceState.FAILED
    assert not AuditLog.objects.exists()


def test_task_instance_changelist_links_to_the_ui_pages(viewer, failed_run):
    html = viewer.get(reverse(TI_CHANGELIST)).content.decode()

    assert reverse("runs:task-instance", args=["admin_dag", "manual_1", "extract"]) in html
    assert reverse("runs:task-log", args=["admin_dag", "manual_1", "extract"]) in html


# -- DAG runs -------------------------------------------------------------------------------------


def test_actor_marks_a_run_success_after_confirming(actor, failed_run):
    confirm = post_action(actor, RUN_CHANGELIST, "mark_runs_success", [failed_run.pk], confirmed=False)
    done = post_action(actor, RUN_CHANGELIST, "mark_runs_success", [failed_run.pk])

    assert CONFIRM_TEMPLATE in [t.name for t in confirm.templates]
    assert done.status_code == 302
    failed_run.refresh_from_db()
    assert failed_run.state == DagRunState.SUCCESS
    assert set(failed_run.task_instances.values_list("state", flat=True)) == {TaskInstanceState.SUCCESS}
    assert AuditLog.objects.get(event=AuditEvent.MARK_SUCCESS).source == "admin"


def test_actor_marks_a_run_failed(actor, dag):
    run = services.dag_run_create(dag=dag, logical_date=T0, run_type=DagRunType.MANUAL, now=timezone.now())

    post_action(actor, RUN_CHANGELIST, "mark_runs_failed", [run.pk])

    run.refresh_from_db()
    assert run.state == DagRunState.FAILED
    assert AuditLog.objects.get(event=AuditEvent.MARK_FAILED).source == "admin"


def test_actor_clears_all_tasks_of_a_run(actor, failed_run):
    post_action(actor, RUN_CHANGELIST, "clear_runs", [failed_run.pk])

    assert set(failed_run.task_instances.values_list("state", flat=True)) == {TaskInstanceState.NONE}
    assert AuditLog.objects.get(event=AuditEvent.CLEAR).source == "admin"


def test_viewer_cannot_mark_or_clear_runs(viewer, failed_run):
    listing = viewer.get(reverse(RUN_CHANGELIST))
    post_action(viewer, RUN_CHANGELIST, "mark_runs_success", [failed_run.pk])
    post_action(viewer, RUN_CHANGELIST, "clear_runs", [failed_run.pk])

    assert listing.status_code == 200
    assert action_names(listing) == set()
    failed_run.refresh_from_db()
    assert failed_run.state == DagRunState.FAILED
    assert not AuditLog.objects.exists()


def test_run_changelist_links_to_run_and_grid(viewer, failed_run):
    html = viewer.get(reverse(RUN_CHANGELIST)).content.decode()

    assert reverse("runs:run", args=["admin_dag", "manual_1"]) in html
    assert f"{reverse('runs:grid', args=['admin_dag'])}?run_id=manual_1" in html


# -- DAGs -----------------------------------------------------------------------------------------


def test_actor_deletes_dag_metadata_after_a_confirmation_page(actor, failed_run):
    dag = failed_run.dag

    confirm = post_action(actor, DAG_CHANGELIST, "delete_dag_metadata", [dag.pk], confirmed=False)
    assert CONFIRM_TEMPLATE in [t.name for t in confirm.templates]
    assert "admin_dag (1 run(s))" in confirm.content.decode()
    assert DagModel.objects.filter(pk=dag.pk).exists()

    done = post_action(actor, DAG_CHANGELIST, "delete_dag_metadata", [dag.pk])

    assert done.status_code == 302
    assert not DagModel.objects.filter(dag_id="admin_dag").exists()
    assert not DagRun.objects.exists()
    assert AuditLog.objects.get(event=AuditEvent.DELETE).source == "admin"


def test_actor_triggers_and_pauses_dags(actor, dag):
    post_action(actor, DAG_CHANGELIST, "trigger_dags", [dag.pk])
    post_action(actor, DAG_CHANGELIST, "unpause_dags", [dag.pk])

    assert DagRun.objects.filter(dag=dag, run_type=DagRunType.MANUAL).count() == 1
    dag.refresh_from_db()
    assert dag.is_paused is False
    assert set(AuditLog.objects.values_list("event", "source")) == {("trigger", "admin"), ("unpause", "admin")}


def test_viewer_cannot_delete_trigger_or_pause_dags(viewer, dag):
    listing = viewer.get(reverse(DAG_CHANGELIST))
    for action in ("delete_dag_metadata", "trigger_dags", "unpause_dags"):
        post_action(viewer, DAG_CHANGELIST, action, [dag.pk])

    assert listing.status_code == 200
    assert action_names(listing) == set()
    dag.refresh_from_db()
    assert dag.is_paused is True
    assert not DagRun.objects.exists()
    assert not AuditLog.objects.exists()


def test_dag_changelist_links_to_grid_graph_and_code(viewer, dag):
    html = viewer.get(reverse(DAG_CHANGELIST)).content.decode()

    for url in (
        reverse("runs:grid", args=["admin_dag"]),
        reverse("runs:graph", args=["admin_dag"]),
        reverse("dags:code", args=["admin_dag"]),
    ):
        assert url in html


# -- escaping -------------------------------------------------------------------------------------


def test_admin_escapes_hostile_xcom_values_conf_and_audit_extra(admin_client, failed_run):
    XCom.objects.create(
        task_instance=ti(failed_run, "extract"), dag_run=failed_run, task_id="extract", key="k", value=HOSTILE
    )
    DagRun.objects.filter(pk=failed_run.pk).update(conf={"x": HOSTILE})
    services.audit_log_record(event=AuditEvent.TRIGGER, user=None, source="api", extra={"x": HOSTILE})

    pages = [
        reverse("admin:runs_app_xcom_changelist"),
        reverse("admin:runs_app_auditlog_changelist"),
        reverse("admin:runs_app_dagrun_change", args=[failed_run.pk]),
    ]
    for url in pages:
        html = admin_client.get(url).content.decode()
        assert ESCAPED in html, url
        assert HOSTILE not in html, url


# -- the django-rq dashboard ----------------------------------------------------------------------


def test_admin_opens_the_rq_dashboard(client, admin_user, redis_url):
    client.force_login(admin_user)

    response = client.get(reverse("admin:django_rq_home"))

    assert response.status_code == 200
    assert b"default" in response.content  # the queue


@pytest.mark.parametrize("persona", ["op_user", "user_user", "viewer_user"])
def test_other_roles_get_403_from_the_rq_dashboard(client, request, persona):
    client.force_login(request.getfixturevalue(persona))

    dashboard = client.get(reverse("admin:django_rq_home"))
    queue = client.get(reverse("admin:django_rq_jobs", args=[0]))
    index = client.get(reverse("admin:index"))

    assert dashboard.status_code == 403
    assert queue.status_code == 403
    assert reverse("admin:django_rq_home").encode() not in index.content


def test_anonymous_visitor_is_sent_to_login_from_the_rq_dashboard(client, db):
    response = client.get(reverse("admin:django_rq_home"))

    assert response.status_code == 302
    assert "login" in response["Location"]

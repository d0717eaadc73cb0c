"""The REST API's core resources through the Django test client: tokens, DAGs, DAG runs, task
instances, logs, XComs, import errors, event logs, health and version (``api_app``).

Each test is one behaviour, checked on the JSON Airflow's client reads and on the rows behind it.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from api_app.auth import token_for
from dags_app.models import DagImportError, DagModel
from runs_app.models import AuditLog, DagRun, TaskInstance, Variable, XCom
from runs_app.services import dag_set_paused
from runs_app.states import AuditEvent, DagRunState, DagRunType, TaskInstanceState
from tests.api.conftest import API, API_DAG_ID, T0, write_api_dag
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(api_client, admin_user):
    return api_client(admin_user)


@pytest.fixture
def viewer(api_client, viewer_user):
    return api_client(viewer_user)


def run_url(run: DagRun, suffix: str = "") -> str:
    return f"{API}/dags/{run.dag.dag_id}/dagRuns/{run.run_id}{suffix}"


# -- tokens and authentication ----------------------------------------------------------------------


def test_token_for_a_username_and_password_is_201_and_opens_the_api(admin_user):
    response = Client().post(
        "/auth/token", json.dumps({"username": "alice", "password": PASSWORD}), content_type="application/json"
    )
    assert response.status_code == 201
    token = response.json()["access_token"]
    assert Client(headers={"Authorization": f"Bearer {token}"}).get(f"{API}/dags").status_code == 200


def test_token_from_form_fields_is_201(admin_user):
    response = Client().post("/auth/token", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 201


def test_token_with_a_wrong_password_is_401(admin_user):
    response = Client().post(
        "/auth/token", json.dumps({"username": "alice", "password": "wrong"}), content_type="application/json"
    )
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid credentials"})


def test_token_without_credentials_is_400(db):
    response = Client().post("/auth/token", "[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


def test_token_by_get_is_405(db):
    assert Client().get("/auth/token").status_code == 405


def test_an_expired_token_is_401(admin_user, api_client):
    old = token_for(admin_user, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
    response = Client(headers={"Authorization": f"Bearer {old}"}).get(f"{API}/dags")
    assert (response.status_code, response.json()) == (401, {"detail": "Not authenticated"})


def test_a_forged_token_is_401(db):
    response = Client(headers={"Authorization": "Bearer not.a.token"}).get(f"{API}/dags")
    assert response.status_code == 401


def test_the_token_of_a_deactivated_user_is_refused_at_once(admin, admin_user):
    assert admin.get(f"{API}/dags").status_code == 200
    admin_user.is_active = False
    admin_user.save()
    assert admin.get(f"{API}/dags").status_code == 401


def test_the_web_session_reads_and_writes_with_its_csrf_token(api_dag, admin_user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    assert browser.get(f"{API}/dags/{API_DAG_ID}").status_code == 200
    body = json.dumps({"is_paused": False})
    refused = browser.patch(f"{API}/dags/{API_DAG_ID}", body, content_type="application/json")
    assert refused.status_code == 403
    assert DagModel.objects.get(dag_id=API_DAG_ID).is_paused
    browser.get("/")  # sets the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    allowed = browser.patch(
        f"{API}/dags/{API_DAG_ID}", body, content_type="application/json", headers={"X-CSRFToken": csrf}
    )
    assert allowed.status_code == 200
    assert not DagModel.objects.get(dag_id=API_DAG_ID).is_paused


# -- DAGs -----------------------------------------------------------------------------------------


@pytest.fixture
def three_dags(dag_file, sync):
    for dag_id in ("api_a", "api_b", "other_c"):
        write_api_dag(dag_file, sync, dag_id)
    dag_set_paused(dag=DagModel.objects.get(dag_id="api_b"), is_paused=False)


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [d["dag_id"] for d in response.json()["dags"]]


def test_dag_list_pages_with_limit_and_offset_and_counts_every_match(admin, three_dags):
    response = admin.get(f"{API}/dags?limit=2&offset=1")
    assert _ids(response) == ["api_b", "other_c"]
    assert response.json()["total_entries"] == 3


def test_dag_list_filters_by_pattern_prefix_paused_and_tags(admin, three_dags):
    assert _ids(admin.get(f"{API}/dags?dag_id_pattern=api_")) == ["api_a", "api_b"]
    assert _ids(admin.get(f"{API}/dags?dag_id_prefix_pattern=other")) == ["other_c"]
    assert _ids(admin.get(f"{API}/dags?paused=false")) == ["api_b"]
    assert _ids(admin.get(f"{API}/dags?paused=true")) == ["api_a", "other_c"]
    assert _ids(admin.get(f"{API}/dags?tags=api&tags=nope")) == ["api_a", "api_b", "other_c"]
    assert _ids(admin.get(f"{API}/dags?tags=api&tags=nope&tags_match_mode=all")) == []
    assert _ids(admin.get(f"{API}/dags?owners=airflow&limit=1")) == ["api_a"]


def test_dag_list_orders_by_an_airflow_attribute(admin, three_dags):
    assert _ids(admin.get(f"{API}/dags?order_by=-dag_id")) == ["other_c", "api_b", "api_a"]
    assert _ids(admin.get(f"{API}/dags?order_by=is_paused&order_by=-dag_id")) == ["api_b", "other_c", "api_a"]


def test_dag_list_lowers_a_limit_above_the_maximum_page(admin, three_dags, monkeypatch):
    monkeypatch.setattr("api_app.common.MAX_PAGE_LIMIT", 2)
    response = admin.get(f"{API}/dags?limit=1000")
    assert len(_ids(response)) == 2
    assert response.json()["total_entries"] == 3


def test_dag_list_leaves_out_stale_dags_unless_asked(admin, three_dags):
    DagModel.objects.filter(dag_id="api_a").update(is_active=False)
    assert _ids(admin.get(f"{API}/dags")) == ["api_b", "other_c"]
    assert _ids(admin.get(f"{API}/dags?exclude_stale=false")) == ["api_a", "api_b", "other_c"]


def test_dag_shows_tags_owners_schedule_and_file(admin, api_dag):
    body = admin.get(f"{API}/dags/{API_DAG_ID}").json()
    assert body["dag_id"] == API_DAG_ID
    assert body["is_paused"] is True
    assert body["is_stale"] is False
    assert [t["name"] for t in body["tags"]] == ["api", "example"]
    assert body["owners"] == ["airflow"]
    assert body["timetable_summary"] == "@daily"
    assert body["relative_fileloc"] == f"{API_DAG_ID}.py"
    assert body["has_import_errors"] is False


def test_dag_has_import_errors_when_its_file_failed_to_import_since(admin, api_dag):
    DagImportError.objects.create(filename=api_dag.fileloc, message="boom", timestamp=T0)
    assert admin.get(f"{API}/dags/{API_DAG_ID}").json()["has_import_errors"] is True
    assert admin.get(f"{API}/dags").json()["dags"][0]["has_import_errors"] is True


def test_dag_details_count_active_runs(admin, api_dag, make_run):
    make_run(api_dag, 0, state=DagRunState.RUNNING)
    make_run(api_dag, 1)
    body = admin.get(f"{API}/dags/{API_DAG_ID}/details").json()
    assert body["active_runs_count"] == 1
    assert body["catchup"] is False
    assert body["timezone"] in (None, "UTC")


def test_unknown_dag_is_a_404_problem(admin, db):
    response = admin.get(f"{API}/dags/nope")
    assert (response.status_code, response.json()) == (404, {"detail": "The Dag with ID: `nope` was not found"})


def test_patch_dag_unpauses_and_pauses_it_and_records_who(admin, api_dag):
    response = admin.patch_json(f"{API}/dags/{API_DAG_ID}", {"is_paused": False})
    assert (response.status_code, response.json()["is_paused"]) == (200, False)
    assert not DagModel.objects.get(dag_id=API_DAG_ID).is_paused
    admin.patch_json(f"{API}/dags/{API_DAG_ID}?update_mask=is_paused", {"is_paused": True})
    assert DagModel.objects.get(dag_id=API_DAG_ID).is_paused
    events = list(AuditLog.objects.filter(dag_id=API_DAG_ID).order_by("pk").values_list("event", "username", "source"))
    assert events == [(AuditEvent.UNPAUSE, "alice", "api"), (AuditEvent.PAUSE, "alice", "api")]


def test_patch_dag_refuses_a_field_other_than_is_paused(admin, api_dag):
    response = admin.patch_json(f"{API}/dags/{API_DAG_ID}?update_mask=description", {"is_paused": False})
    assert response.status_code == 400
    assert DagModel.objects.get(dag_id=API_DAG_ID).is_paused


def test_patch_dags_unpauses_every_match(admin, three_dags):
    response = admin.patch_json(f"{API}/dags?dag_id_pattern=api_", {"is_paused": False})
    assert _ids(response) == ["api_a", "api_b"]
    assert dict(DagModel.objects.values_list("dag_id", "is_paused")) == {
        "api_a": False,
        "api_b": False,
        "other_c": True,
    }


def test_delete_dag_removes_it_and_its_runs(admin, api_dag, make_run):
    make_run(api_dag, 0)
    assert admin.delete(f"{API}/dags/{API_DAG_ID}").status_code == 204
    assert not DagModel.objects.filter(dag_id=API_DAG_ID).exists()
    assert not DagRun.objects.exists()
    assert admin.get(f"{API}/dags/{API_DAG_ID}").status_code == 404


def test_tasks_are_listed_and_ordered_and_one_task_is_found(admin, api_dag):
    body = admin.get(f"{API}/dags/{API_DAG_ID}/tasks").json()
    assert [t["task_id"] for t in body["tasks"]] == ["extract", "load", "transform"]
    assert body["total_entries"] == 3
    reverse = admin.get(f"{API}/dags/{API_DAG_ID}/tasks?order_by=-task_id").json()
    assert [t["task_id"] for t in reverse["tasks"]] == ["transform", "load", "extract"]
    task = admin.get(f"{API}/dags/{API_DAG_ID}/tasks/extract").json()
    assert (task["operator_name"], task["downstream_task_ids"]) == ("BashOperator", ["transform"])
    assert admin.get(f"{API}/dags/{API_DAG_ID}/tasks/nope").status_code == 404


# -- DAG runs ---------------------------------------------------------------------------------------


def test_trigger_creates_a_queued_manual_run_with_conf_and_logical_date(admin, api_dag):
    response = admin.post_json(
        f"{API}/dags/{API_DAG_ID}/dagRuns",
        {"logical_date": "2024-05-01T00:00:00Z", "conf": {"rows": 3}, "dag_run_id": "from_the_api"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["dag_run_id"], body["state"], body["run_type"], body["conf"]) == (
        "from_the_api",
        "queued",
        "manual",
        {"rows": 3},
    )
    assert body["logical_date"] == "2024-05-01T00:00:00Z"
    run = DagRun.objects.get(run_id="from_the_api")
    assert (run.conf, run.logical_date) == ({"rows": 3}, dt.datetime(2024, 5, 1, tzinfo=dt.UTC))
    assert sorted(run.task_instances.values_list("task_id", flat=True)) == ["extract", "load", "transform"]
    assert AuditLog.objects.filter(event=AuditEvent.TRIGGER, run_id="from_the_api", source="api").exists()


def test_trigger_without_a_logical_date_runs_now(admin, api_dag):
    response = admin.post_json(f"{API}/dags/{API_DAG_ID}/dagRuns", {"logical_date": None})
    assert response.status_code == 200
    assert response.json()["dag_run_id"].startswith("manual__")


def test_trigger_of_an_existing_run_id_is_409_and_adds_nothing(admin, api_dag):
    admin.post_json(f"{API}/dags/{API_DAG_ID}/dagRuns", {"logical_date": None, "dag_run_id": "once"})
    response = admin.post_json(f"{API}/dags/{API_DAG_ID}/dagRuns", {"logical_date": None, "dag_run_id": "once"})
    assert response.status_code == 409
    assert "detail" in response.json()
    assert DagRun.objects.count() == 1


def test_dag_runs_of_every_dag_with_the_wildcard(admin, three_dags, make_run):
    for dag_id in ("api_a", "other_c"):
        make_run(DagModel.objects.get(dag_id=dag_id), 0)
    body = admin.get(f"{API}/dags/~/dagRuns?order_by=dag_id").json()
    assert [r["dag_id"] for r in body["dag_runs"]] == ["api_a", "other_c"]
    assert body["total_entries"] == 2


def test_dag_runs_filter_by_state_and_date_and_order(admin, api_dag, make_run):
    make_run(api_dag, 0, state=DagRunState.FAILED)
    make_run(api_dag, 1)
    make_run(api_dag, 2)
    url = f"{API}/dags/{API_DAG_ID}/dagRuns"
    failed = admin.get(f"{url}?state=failed").json()
    assert [r["logical_date"] for r in failed["dag_runs"]] == ["2024-01-01T00:00:00Z"]
    later = admin.get(f"{url}?logical_date_gte=2024-01-02T00:00:00Z&order_by=-logical_date").json()
    assert [r["logical_date"] for r in later["dag_runs"]] == ["2024-01-03T00:00:00Z", "2024-01-02T00:00:00Z"]
    paged = admin.get(f"{url}?limit=1&offset=1&order_by=logical_date").json()
    assert ([r["logical_date"] for r in paged["dag_runs"]], paged["total_entries"]) == (["2024-01-02T00:00:00Z"], 3)


def test_dag_run_shows_its_dates_state_and_duration(admin, api_dag, make_run):
    run = make_run(api_dag, 0)
    body = admin.get(run_url(run)).json()
    assert (body["dag_run_id"], body["state"], body["run_type"]) == (run.run_id, "success", DagRunType.SCHEDULED)
    assert (body["data_interval_start"], body["data_interval_end"]) == ("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z")
    assert body["duration"] == 12 * 3600


def test_patch_dag_run_marks_it_failed(admin, api_dag, make_run):
    run = make_run(api_dag, 0, state=DagRunState.RUNNING, ti_state=TaskInstanceState.RUNNING)
    response = admin.patch_json(run_url(run), {"state": "failed"})
    assert (response.status_code, response.json()["state"]) == (200, "failed")
    run.refresh_from_db()
    assert run.state == DagRunState.FAILED
    assert set(run.task_instances.values_list("state", flat=True)) == {TaskInstanceState.FAILED}


def test_patch_dag_run_to_queued_clears_it(admin, api_dag, make_run):
    run = make_run(api_dag, 0, state=DagRunState.FAILED)
    response = admin.patch_json(run_url(run), {"state": "queued"})
    assert response.status_code == 200
    run.refresh_from_db()
    assert run.state == DagRunState.QUEUED
    assert set(run.task_instances.values_list("state", flat=True)) == {TaskInstanceState.NONE}


def test_patch_dag_run_to_an_unknown_state_is_422(admin, api_dag, make_run):
    run = make_run(api_dag, 0)
    assert admin.patch_json(run_url(run), {"state": "running"}).status_code == 422
    run.refresh_from_db()
    assert run.state == DagRunState.SUCCESS


def test_clear_dag_run_dry_run_lists_and_changes_nothing(admin, api_dag, make_run):
    run = make_run(api_dag, 0, state=DagRunState.FAILED)
    TaskInstance.objects.filter(dag_run=run, task_id="load").update(state=TaskInstanceState.SUCCESS)
    body = admin.post_json(run_url(run, "/clear"), {"dry_run": True, "only_failed": True}).json()
    assert sorted(ti["task_id"] for ti in body["task_instances"]) == ["extract", "transform"]
    assert run.task_instances.filter(state=TaskInstanceState.FAILED).count() == 2


def test_clear_dag_run_clears_its_failed_task_instances(admin, api_dag, make_run):
    run = make_run(api_dag, 0, state=DagRunState.FAILED)
    TaskInstance.objects.filter(dag_run=run, task_id="load").update(state=TaskInstanceState.SUCCESS)
    response = admin.post_json(run_url(run, "/clear"), {"dry_run": False, "only_failed": True})
    assert (response.status_code, response.json()["state"]) == (200, "queued")
    assert dict(run.task_instances.values_list("task_id", "state")) == {
        "extract": TaskInstanceState.NONE,
        "transform": TaskInstanceState.NONE,
        "load": TaskInstanceState.SUCCESS,
    }


def test_delete_dag_run_removes_it_with_its_task_instances(admin, api_dag, make_run):
    run = make_run(api_dag, 0)
    assert admin.delete(run_url(run)).status_code == 204
    assert not DagRun.objects.exists()
    assert not TaskInstance.objects.exists()
    assert admin.get(run_url(run)).status_code == 404


# -- task instances -------------------------------------------------------------------------------------


def test_task_instances_of_a_run_with_their_states(admin, api_dag, make_run):
    run = make_run(api_dag, 0)
    TaskInstance.objects.filter(dag_run=run, task_id="load").update(state=TaskInstanceState.NONE)
    body = admin.get(run_url(run, "/taskInstances?order_by=task_id")).json()
    assert [(ti["task_id"], ti["state"]) for ti in body["task_instances"]] == [
        ("extract", "success"),
        ("load", None),
        ("transform", "success"),
    ]
    assert body["total_entries"] == 3
    only = admin.get(run_url(run, "/taskInstances?state=no_status")).json()
    assert [ti["task_id"] for ti in only["task_instances"]] == ["load"]


def test_task_instances_of_every_run_of_every_dag(admin, api_dag, make_run):
    make_run(api_dag, 0)
    make_run(api_dag, 1)
    body = admin.get(f"{API}/dags/~/dagRuns/~/taskInstances?task_id=extract&order_by=-logical_date").json()
    assert [ti["logical_date"] for ti in body["task_instances"]] == ["2024-01-02T00:00:00Z", "2024-01-01T00:00:00Z"]


def test_task_instance_shows_its_try_and_operator(admin, api_dag, make_run):
    run = make_run(api_dag, 0)
    body = admin.get(run_url(run, "/taskInstances/extract")).json()
    assert (body["task_id"], body["dag_run_id"], body["state"], body["try_number"]) == (
        "extract",
        run.run_id,
        "success",
        1,
    )
    assert (body["operator"], body["map_index"], body["duration"]) == ("BashOperator", -1, 3.5)


def test_mapped_task_instance_by_map_index(admin, api_dag, make_run):
    run = make_run(api_dag, 0)
    assert admin.get(run_url(run, "/taskInstances/extract/-1")).json()["task_id"] == "extract"
    assert admin.get(run_url(run, "/taskInstances/extract/0")).status_code == 404


def test_patch_task_instance_marks_it_and_its_downstream(admin, api_dag, make_run):
    run = make_run(api_dag, 0, state=DagRunState.RUNNING, ti_state=TaskInstanceState.NONE)
    response = admin.patch_json(
        run_url(run, "/taskInstances/transform"), {"new_state": "success", "include_downstream": True}
    )
    assert response.status_code == 200, response.content
    assert response.json()["task_instances"][0]["state"] == "success"
    states = dict(run.task_instances.values_list("task_id", "state"))
    assert (states["transform"], states["load"]) == (TaskInstanceState.SUCCESS, TaskInstanceState.SUCCESS)
    assert states["extract"] != TaskInstanceState.SUCCESS  # upstream: not asked for


def test_clear_task_instances_dry_run_by_default_then_for_real(admin, api_dag, make_run):
    run = make_run(api_dag, 0, state=DagRunState.FAILED)
    TaskInstance.objects.filter(dag_run=run, task_id="extract").update(state=TaskInstanceState.SUCCESS)
    url = f"{API}/dags/{API_DAG_ID}/clearTaskInstances"
    dry = admin.post_json(url, {"dag_run_id": run.run_id}).json()
    assert sorted(ti["task_id"] for ti in dry["task_instances"]) == ["load", "transform"]
    assert run.task_instances.filter(state=TaskInstanceState.FAILED).count() == 2
    done = admin.post_json(url, {"dag_run_id": run.run_id, "dry_run": False, "task_ids": ["transform"]}).json()
    assert [ti["task_id"] for ti in done["task_instances"]] == ["transform"]
    assert dict(run.task_instances.values_list("task_id", "state")) == {
        "extract": TaskInstanceState.SUCCESS,
        "transform": TaskInstanceState.NONE,
        "load": TaskInstanceState.FAILED,
    }


# -- logs -------------------------------------------------------------------------------------------------


@pytest.fixture
def logged_run(api_dag, make_run):
    run = make_run(api_dag, 0)
    ti = run.task_instances.select_related("dag_run__dag").get(task_id="extract")
    path = ti.log_path(1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("starting\nthe password is s3cr3t-value\ndone\n")
    return run


def test_log_is_json_lines_with_stored_secrets_masked(admin, logged_run):
    Variable.objects.create(key="db_password", val="s3cr3t-value")
    response = admin.get(run_url(logged_run, "/taskInstances/extract/logs/1"))
    assert response.status_code == 200
    events = [line["event"] for line in response.json()["content"]]
    assert events == ["starting", "the password is ***", "done"]


def test_log_lines_of_the_task_logging_are_structured_as_airflow_3(admin, logged_run):
    ti = logged_run.task_instances.select_related("dag_run__dag").get(task_id="extract")
    ti.log_path(1).write_text("[2024-05-01 12:00:03,250] {runner.py:10} ERROR - Task failed\nTraceback (most recent)\n")
    content = admin.get(run_url(logged_run, "/taskInstances/extract/logs/1")).json()["content"]
    assert content == [
        {
            "timestamp": "2024-05-01T12:00:03.250000Z",
            "event": "Task failed",
            "level": "error",
            "logger": "runner.py:10",
        },
        {"event": "Traceback (most recent)"},
    ]
    import airflow_client.client as ac

    assert ac.TaskInstancesLogResponse.from_dict({"content": content, "continuation_token": None})


def test_log_as_plain_text_when_asked(admin, logged_run):
    response = admin.get(run_url(logged_run, "/taskInstances/extract/logs/1"), headers={"Accept": "text/plain"})
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode().splitlines()[0] == "starting"


def test_log_of_a_try_not_made_is_404(admin, logged_run):
    response = admin.get(run_url(logged_run, "/taskInstances/extract/logs/2"))
    assert response.status_code == 404
    assert "detail" in response.json()


# -- XComs ------------------------------------------------------------------------------------------------


@pytest.fixture
def xcom_run(api_dag, make_run):
    run = make_run(api_dag, 0)
    ti = run.task_instances.get(task_id="extract")
    for key, value in (("return_value", {"rows": [1, 2]}), ("other", "text")):
        XCom.objects.create(task_instance=ti, dag_run=run, task_id="extract", key=key, value=value)
    return run


def test_xcom_entries_of_a_task_instance(admin, xcom_run):
    body = admin.get(run_url(xcom_run, "/taskInstances/extract/xcomEntries")).json()
    assert [(x["key"], x["task_id"], x["map_index"]) for x in body["xcom_entries"]] == [
        ("other", "extract", -1),
        ("return_value", "extract", -1),
    ]
    assert body["total_entries"] == 2
    assert "value" not in body["xcom_entries"][0]


def test_xcom_entries_with_wildcards_and_a_key(admin, xcom_run):
    body = admin.get(f"{API}/dags/~/dagRuns/~/taskInstances/~/xcomEntries?xcom_key=other").json()
    assert [(x["dag_id"], x["run_id"], x["key"]) for x in body["xcom_entries"]] == [
        (API_DAG_ID, xcom_run.run_id, "other")
    ]


def test_xcom_entry_has_its_value_native_or_as_a_string(admin, xcom_run):
    url = run_url(xcom_run, "/taskInstances/extract/xcomEntries/return_value")
    assert admin.get(url).json()["value"] == {"rows": [1, 2]}
    assert admin.get(f"{url}?stringify=true").json()["value"] == "{'rows': [1, 2]}"
    assert admin.get(run_url(xcom_run, "/taskInstances/extract/xcomEntries/nope")).status_code == 404


# -- import errors, event logs ------------------------------------------------------------------------------


BROKEN = """
from dags_app.sdk import DAG

with DAG("broken", schedule=None) as dag:
    raise RuntimeError("this file is broken")
"""


def test_import_errors_list_and_get_with_the_relative_filename(admin, dag_file, sync):
    dag_file("broken.py", BROKEN)
    sync()
    body = admin.get(f"{API}/importErrors").json()
    assert body["total_entries"] == 1
    [error] = body["import_errors"]
    assert error["filename"] == "broken.py"
    assert "this file is broken" in error["stack_trace"]
    one = admin.get(f"{API}/importErrors/{error['import_error_id']}").json()
    assert one == error
    assert admin.get(f"{API}/importErrors?filename_pattern=nope").json()["total_entries"] == 0


def test_event_logs_list_filter_and_get(admin, api_dag):
    admin.patch_json(f"{API}/dags/{API_DAG_ID}", {"is_paused": False})
    admin.patch_json(f"{API}/dags/{API_DAG_ID}", {"is_paused": True})
    body = admin.get(f"{API}/eventLogs?order_by=-id").json()
    assert [(e["event"], e["dag_id"], e["owner"]) for e in body["event_logs"]] == [
        ("pause", API_DAG_ID, "alice"),
        ("unpause", API_DAG_ID, "alice"),
    ]
    only = admin.get(f"{API}/eventLogs?event=unpause").json()
    assert only["total_entries"] == 1
    one = admin.get(f"{API}/eventLogs/{only['event_logs'][0]['event_log_id']}").json()
    assert one["event"] == "unpause"
    excluded = admin.get(f"{API}/eventLogs?excluded_events=pause").json()
    assert [e["event"] for e in excluded["event_logs"]] == ["unpause"]


# -- health, version, docs ------------------------------------------------------------------------------------


def test_health_is_public_and_tells_the_database_and_scheduler(db):
    response = Client().get(f"{API}/monitor/health")
    assert response.status_code == 200
    body = response.json()
    assert body["metadatabase"] == {"status": "healthy"}
    assert body["scheduler"]["status"] == "unhealthy"  # no scheduler heartbeats in this test


def test_health_says_the_scheduler_is_healthy_while_it_beats(db):
    from django.utils import timezone

    from runs_app.services import job_start
    from runs_app.states import JobType

    job_start(job_type=JobType.SCHEDULER, now=timezone.now())
    body = Client().get(f"{API}/monitor/health").json()
    assert body["scheduler"]["status"] == "healthy"
    assert body["scheduler"]["latest_scheduler_heartbeat"] is not None


def test_version_is_public_and_airflows(db):
    from dags_app.sdk.airflow_compat import AIRFLOW_VERSION

    assert Client().get(f"{API}/version").json() == {"version": AIRFLOW_VERSION, "git_version": None}


def test_openapi_document_names_airflows_operations(db):
    schema = Client().get(f"{API}/openapi.json").json()
    assert schema["info"]["title"] == "Airflow API"
    assert "post" in schema["paths"][f"{API}/dags/{{dag_id}}/dagRuns"]
    assert (
        "get"
        in schema["paths"][f"{API}/dags/{{dag_id}}/dagRuns/{{dag_run_id}}/taskInstances/{{task_id}}/{{map_index}}"]
    )


# -- queries per page -------------------------------------------------------------------------------------

# The token's user, their permissions (two) and roles, whether a DAG is hidden from them, the page
# and its count; the DAG list adds the page's tags and import errors, the task instances read
# their page in three (the keys, the rows, the rows' DAGs).
QUERY_BUDGET = 9
LIST_URLS = {
    "dags": f"{API}/dags?limit=100",
    "dag runs": f"{API}/dags/~/dagRuns?limit=100",
    "task instances": f"{API}/dags/~/dagRuns/~/taskInstances?limit=100",
    "xcom entries": f"{API}/dags/~/dagRuns/~/taskInstances/~/xcomEntries?limit=100",
    "event logs": f"{API}/eventLogs?limit=100",
    "import errors": f"{API}/importErrors?limit=100",
}


def _add_rows(start: int, stop: int) -> None:
    """DAGs ``qc_<start>``..``qc_<stop - 1>``, each with a tag, a run, two task instances, an XCom,
    an audit line and an import error."""
    from dags_app.models import DagTag
    from tests.web.test_query_counts import _serialized

    dags = DagModel.objects.bulk_create(
        [
            DagModel(
                dag_id=f"qc_{i:03d}",
                fileloc=f"/nowhere/qc_{i:03d}.py",
                owners="qc",
                serialized=_serialized(f"qc_{i:03d}"),
            )
            for i in range(start, stop)
        ]
    )
    dags = list(DagModel.objects.filter(dag_id__in=[d.dag_id for d in dags]))
    DagTag.objects.bulk_create([DagTag(dag=dag, name="qc") for dag in dags])
    runs = DagRun.objects.bulk_create(
        [
            DagRun(
                dag=dag, run_id="scheduled__2024-01-01", logical_date=T0, run_type=DagRunType.SCHEDULED, state="success"
            )
            for dag in dags
        ]
    )
    runs = list(DagRun.objects.filter(dag__in=dags))
    TaskInstance.objects.bulk_create(
        [
            TaskInstance(dag_run=run, dag_id=run.dag_id, task_id=f"t{t}", state=TaskInstanceState.SUCCESS, try_number=1)
            for run in runs
            for t in range(2)
        ]
    )
    tis = TaskInstance.objects.filter(dag_run__in=runs, task_id="t0")
    XCom.objects.bulk_create(
        [XCom(task_instance=ti, dag_run_id=ti.dag_run_id, task_id="t0", key="return_value", value=1) for ti in tis]
    )
    AuditLog.objects.bulk_create([AuditLog(event="trigger", source="cli", dag_id=dag.dag_id) for dag in dags])
    DagImportError.objects.bulk_create(
        [DagImportError(filename=f"/nowhere/broken_{i:03d}.py", message="x", timestamp=T0) for i in range(start, stop)]
    )


def _queries(client, url: str) -> tuple[int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    rows = next(value for key, value in body.items() if isinstance(value, list))
    return len(queries.captured_queries), len(rows)


@pytest.mark.parametrize("name", LIST_URLS)
def test_a_list_runs_as_many_queries_for_30_rows_as_for_2(viewer, name):
    url = LIST_URLS[name]
    _add_rows(0, 2)
    viewer.get(url)  # warm what a process caches once
    small, small_rows = _queries(viewer, url)
    _add_rows(2, 30)
    large, large_rows = _queries(viewer, url)
    per_dag = 2 if name == "task instances" else 1
    assert (small_rows, large_rows) == (2 * per_dag, 30 * per_dag)
    assert large == small, f"{name}: {small} queries for {small_rows} rows, {large} for {large_rows}"
    assert small <= QUERY_BUDGET, f"{name}: {small} queries"


def test_a_run_triggered_through_the_api_says_so_and_who(api_client, admin_user, api_dag):
    from tests.api.conftest import API, API_DAG_ID

    response = api_client(admin_user).post_json(
        f"{API}/dags/{API_DAG_ID}/dagRuns", {"logical_date": "2031-01-01T00:00:00Z"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["triggered_by"], body["triggering_user_name"]) == ("rest_api", admin_user.username)

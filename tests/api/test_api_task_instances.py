"""The REST API's further task-instance routes: tries, dependencies, mapped instances, extra
links, dry runs, the batch lists and the XCom writes (``api_app.task_instances``)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from runs_app import services
from runs_app.models import AuditLog, TaskInstance, TaskInstanceHistory, XCom
from runs_app.states import AuditEvent, DagRunState, TaskInstanceState
from tests.api.conftest import API, API_DAG_ID

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(api_client, admin_user):
    return api_client(admin_user)


@pytest.fixture
def op(api_client, op_user):
    return api_client(op_user)


@pytest.fixture
def user(api_client, user_user):
    return api_client(user_user)


def ti_url(run, task_id: str = "extract", suffix: str = "") -> str:
    return f"{API}/dags/{run.dag.dag_id}/dagRuns/{run.run_id}/taskInstances/{task_id}{suffix}"


# -- tries -------------------------------------------------------------------------------------------


def test_tries_lists_the_kept_tries_then_the_latest(admin, api_dag, make_run):
    run = make_run(api_dag, 0, state=DagRunState.FAILED)
    ti = run.task_instances.get(task_id="extract")
    services.task_instances_clear(tis=[ti], now=timezone.now())  # keeps try 1 (failed)
    TaskInstance.objects.filter(pk=ti.pk).update(try_number=2, hostname="worker-2")  # as a second try ran
    TaskInstanceHistory.objects.filter(task_instance=ti).update(hostname="worker-1")

    body = admin.get(ti_url(run, suffix="/tries")).json()

    assert body["total_entries"] == 2
    assert [(t["try_number"], t["state"], t["hostname"]) for t in body["task_instances"]] == [
        (1, "failed", "worker-1"),
        (2, None, "worker-2"),
    ]
    assert admin.get(ti_url(run, suffix="/tries/1")).json()["state"] == "failed"
    assert admin.get(ti_url(run, suffix="/-1/tries/2")).json()["hostname"] == "worker-2"
    missing = admin.get(ti_url(run, suffix="/tries/3"))
    assert missing.status_code == 404 and "try_number: `3`" in missing.json()["detail"]


def test_tries_of_a_task_that_never_ran_is_empty(admin, api_dag, make_run):
    run = make_run(api_dag, 0, state=DagRunState.QUEUED)
    TaskInstance.objects.filter(dag_run=run).update(try_number=0, state=TaskInstanceState.NONE)
    assert admin.get(ti_url(run, suffix="/tries")).json() == {"task_instances": [], "total_entries": 0}


# -- dependencies, links, external log URL -----------------------------------------------------------


def test_dependencies_say_why_a_task_waits_as_the_task_panel_does(admin, api_dag, make_run):
    run = make_run(api_dag, 0, state=DagRunState.RUNNING, ti_state=TaskInstanceState.NONE)
    TaskInstance.objects.filter(dag_run=run, task_id="extract").update(state=TaskInstanceState.RUNNING)

    waiting = admin.get(ti_url(run, "transform", "/dependencies")).json()["dependencies"]
    running = admin.get(ti_url(run, "extract", "/dependencies")).json()["dependencies"]

    assert waiting == [
        {"name": "Dag Not Paused", "reason": "The DAG is paused: unpause it so the scheduler runs its tasks."},
        {
            "name": "Trigger Rule",
            "reason": "Trigger rule 'all_success' is not met yet (upstream: 1 total, 0 success, 0 skipped, "
            "0 failed, 0 upstream_failed, 1 not done)",
        },
    ]
    assert running == []


def test_links_are_empty_for_an_operator_without_any(admin, api_dag, make_run):
    run = make_run(api_dag, 0)
    assert admin.get(ti_url(run, suffix="/links")).json() == {"extra_links": {}, "total_entries": 0}


def test_a_trigger_dag_run_operator_links_to_the_run_it_triggered(admin, dag_file, sync, make_run):
    dag_file(
        "triggering.py",
        "import datetime\n"
        "from dags_app.sdk import DAG, TriggerDagRunOperator\n"
        "with DAG('triggering', schedule=None, start_date=datetime.datetime(2024, 1, 1)):\n"
        "    TriggerDagRunOperator(task_id='go', trigger_dag_id='target')\n",
    )
    sync()
    from dags_app.models import DagModel

    dag = DagModel.objects.get(dag_id="triggering")
    run = make_run(dag, 0)
    url = ti_url(run, "go", "/links")
    assert admin.get(url).json() == {"extra_links": {"Triggered DAG": None}, "total_entries": 1}

    ti = run.task_instances.get(task_id="go")
    XCom.objects.create(task_instance=ti, dag_run=run, task_id="go", key="trigger_run_id", value="manual__x")
    link = admin.get(url).json()["extra_links"]["Triggered DAG"]
    assert link == "http://testserver/dags/target/runs/manual__x/"


def test_the_external_log_url_is_a_400_as_without_an_external_log_handler(admin, api_dag, make_run):
    response = admin.get(ti_url(make_run(api_dag, 0), suffix="/externalLogUrl/1"))
    assert response.status_code == 400
    assert response.json() == {"detail": "Task log handler does not support external logs."}


# -- mapped instances --------------------------------------------------------------------------------


MAPPED = """
import datetime
from dags_app.sdk import DAG, task

with DAG("mapped_api", schedule=None, start_date=datetime.datetime(2024, 1, 1)):
    @task
    def double(x):
        return 2 * x

    double.expand(x=[1, 2, 3])
"""


def test_list_mapped_pages_the_instances_of_a_mapped_task(admin, dag_file, sync, make_run):
    from dags_app.models import DagModel
    from runs_app import transitions

    dag_file("mapped_api.py", MAPPED)
    sync()
    dag = DagModel.objects.get(dag_id="mapped_api")
    run = make_run(dag, 0, state=DagRunState.RUNNING, ti_state=TaskInstanceState.NONE)
    transitions.ti_expand(run=run, task_id="double", length=3, now=timezone.now())
    TaskInstance.objects.filter(dag_run=run, map_index=1).update(state=TaskInstanceState.FAILED)

    body = admin.get(ti_url(run, "double", "/listMapped?limit=2")).json()
    failed = admin.get(ti_url(run, "double", "/listMapped?state=failed")).json()

    assert body["total_entries"] == 3
    assert [t["map_index"] for t in body["task_instances"]] == [0, 1]
    assert [t["map_index"] for t in failed["task_instances"]] == [1]
    assert admin.get(ti_url(run, "nope", "/listMapped")).status_code == 404
    patched = admin.patch_json(ti_url(run, "double", "/2"), {"new_state": "success"})
    assert patched.status_code == 200
    assert TaskInstance.objects.get(dag_run=run, task_id="double", map_index=2).state == TaskInstanceState.SUCCESS


# -- dry runs ----------------------------------------------------------------------------------------


def test_a_dry_run_lists_what_a_mark_would_change_and_changes_nothing(user, api_dag, make_run):
    run = make_run(api_dag, 0, state=DagRunState.FAILED)
    TaskInstance.objects.filter(dag_run=run, task_id="load").update(state=TaskInstanceState.SUCCESS)
    before = dict(run.task_instances.values_list("task_id", "state"))

    body = user.patch_json(ti_url(run, suffix="/dry_run"), {"new_state": "success", "include_downstream": True}).json()

    assert sorted(t["task_id"] for t in body["task_instances"]) == ["extract", "transform"]  # load already is
    assert dict(run.task_instances.values_list("task_id", "state")) == before
    assert not AuditLog.objects.filter(event=AuditEvent.MARK_SUCCESS).exists()
    bad = user.patch_json(ti_url(run, suffix="/dry_run"), {"new_state": "running"})
    assert bad.status_code == 422


# -- batch lists -------------------------------------------------------------------------------------


def test_the_task_instance_batch_list_filters_by_the_body(admin, api_dag, make_run):
    first, second = make_run(api_dag, 0), make_run(api_dag, 1, state=DagRunState.FAILED)
    url = f"{API}/dags/~/dagRuns/~/taskInstances/list"

    by_run = admin.post_json(url, {"dag_run_ids": [second.run_id], "task_ids": ["extract", "load"]}).json()
    failed = admin.post_json(url, {"state": ["failed"], "order_by": "-task_id", "page_limit": 2}).json()

    assert {(t["dag_run_id"], t["task_id"]) for t in by_run["task_instances"]} == {
        (second.run_id, "extract"),
        (second.run_id, "load"),
    }
    assert (failed["total_entries"], [t["task_id"] for t in failed["task_instances"]]) == (3, ["transform", "load"])
    assert first.run_id not in str(failed)
    assert admin.post_json(url, {"bogus": 1}).status_code == 422
    assert admin.post_json(url, {"state": ["exploded"]}).status_code == 422


def test_the_dag_run_batch_list_filters_by_dag_state_and_dates(admin, api_dag, make_run):
    make_run(api_dag, 0)
    failed = make_run(api_dag, 1, state=DagRunState.FAILED)
    url = f"{API}/dags/~/dagRuns/list"

    body = admin.post_json(url, {"dag_ids": [API_DAG_ID], "states": ["failed"]}).json()
    later = admin.post_json(url, {"logical_date_gte": failed.logical_date.isoformat()}).json()
    long = admin.post_json(url, {"duration_gte": 3600}).json()  # make_run's runs last half a day

    assert [r["dag_run_id"] for r in body["dag_runs"]] == [failed.run_id]
    assert [r["dag_run_id"] for r in later["dag_runs"]] == [failed.run_id]
    assert long["total_entries"] == 2
    assert admin.post_json(url, {"duration_gte": 86400}).json()["total_entries"] == 0
    assert admin.post_json(f"{API}/dags/{API_DAG_ID}/dagRuns/list", {}).json()["total_entries"] == 2
    assert admin.post_json(f"{API}/dags/nope/dagRuns/list", {}).status_code == 404


# -- XCom writes -------------------------------------------------------------------------------------


def test_an_op_adds_changes_and_deletes_an_xcom_through_the_service(op, api_dag, make_run):
    run = make_run(api_dag, 0)
    url = ti_url(run, suffix="/xcomEntries")

    created = op.post_json(url, {"key": "fixed", "value": {"rows": 3}})
    again = op.post_json(url, {"key": "fixed", "value": 1})
    changed = op.patch_json(f"{url}/fixed", {"value": [1, 2]})
    missing = op.patch_json(f"{url}/absent", {"value": 1})

    assert created.status_code == 201 and created.json()["value"] == {"rows": 3}
    assert again.status_code == 409
    assert changed.status_code == 200 and XCom.objects.get(key="fixed").value == [1, 2]
    assert missing.status_code == 404
    assert op.delete(f"{url}/fixed").status_code == 204
    assert not XCom.objects.filter(key="fixed").exists()
    assert op.delete(f"{url}/fixed").status_code == 404
    events = list(AuditLog.objects.filter(source="api").values_list("event", flat=True).order_by("pk"))
    assert events == [AuditEvent.XCOM_SET, AuditEvent.XCOM_SET, AuditEvent.XCOM_DELETE]


def test_an_xcom_write_refuses_a_bad_key_or_body(op, api_dag, make_run):
    url = ti_url(make_run(api_dag, 0), suffix="/xcomEntries")
    assert op.post_json(url, {"key": "", "value": 1}).status_code == 400
    assert op.post_json(url, {"value": 1}).status_code == 422
    assert op.post_json(url, [1]).status_code == 422
    assert op.post_json(url, {"key": "k", "value": 1, "map_index": 7}).status_code == 404
    assert not XCom.objects.filter(key="k").exists()


# -- wait, materialize, parse requests ---------------------------------------------------------------


def test_wait_streams_the_state_until_the_run_ends_then_the_results(admin, api_dag, make_run):
    import json

    from runs_app.models import DagRun

    run = make_run(api_dag, 0, state=DagRunState.RUNNING)
    ti = run.task_instances.get(task_id="extract")
    XCom.objects.create(task_instance=ti, dag_run=run, task_id="extract", key="return_value", value={"n": 42})
    response = admin.get(f"{API}/dags/{API_DAG_ID}/dagRuns/{run.run_id}/wait?interval=0.01&result=extract")
    assert response["Content-Type"] == "application/x-ndjson"
    lines = iter(response.streaming_content)

    assert json.loads(next(lines)) == {"state": "running"}
    DagRun.objects.filter(pk=run.pk).update(state=DagRunState.SUCCESS)
    assert json.loads(next(lines)) == {"state": "success", "results": {"extract": {"n": 42}}}
    assert next(lines, None) is None
    bad = admin.get(f"{API}/dags/{API_DAG_ID}/dagRuns/{run.run_id}/wait?interval=0")
    assert bad.status_code == 422
    assert admin.get(f"{API}/dags/{API_DAG_ID}/dagRuns/nope/wait?interval=1").status_code == 404


def test_materialize_triggers_the_one_dag_that_produces_the_asset(user, api_dag, dag_file, sync):
    from dags_app.models import AssetModel, DagAssetReference
    from runs_app.models import DagRun

    asset = AssetModel.objects.create(name="report", uri="s3://report")
    orphan = AssetModel.objects.create(name="orphan", uri="s3://orphan")
    DagAssetReference.objects.create(dag=api_dag, kind=DagAssetReference.Kind.OUTLET, task_id="load", asset=asset)

    response = user.post_json(f"{API}/assets/{asset.pk}/materialize", {"conf": {"why": "api"}})

    assert response.status_code == 200
    run = DagRun.objects.get(run_id=response.json()["dag_run_id"])
    assert (run.dag.dag_id, run.conf, run.triggering_user_name) == (API_DAG_ID, {"why": "api"}, "ursula")
    assert user.post_json(f"{API}/assets/{orphan.pk}/materialize").status_code == 404
    assert user.post_json(f"{API}/assets/999/materialize").status_code == 404
    from tests.api.conftest import write_api_dag

    other = write_api_dag(dag_file, sync, dag_id="api_dag_two")
    DagAssetReference.objects.create(dag=other, kind=DagAssetReference.Kind.OUTLET, task_id="load", asset=asset)
    assert user.post_json(f"{API}/assets/{asset.pk}/materialize").status_code == 409


def test_a_parse_request_makes_the_next_scan_import_the_file_again(user, admin, api_dag):
    from dags_app.models import DagFile
    from dags_app.services import dag_folder_sync

    token = admin.get(f"{API}/dags/{API_DAG_ID}").json()["file_token"]
    assert dag_folder_sync(now=timezone.now()).parsed == 0  # unchanged: skipped

    assert user.put(f"{API}/parseDagFile/{token}").status_code == 201
    assert DagFile.objects.get(path=api_dag.fileloc).source_hash == ""
    assert dag_folder_sync(now=timezone.now()).parsed == 1
    assert user.put(f"{API}/parseDagFile/{token[:-2]}xx").status_code == 404  # not signed here

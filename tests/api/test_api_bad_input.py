"""Bad input to the REST API: unknown ids, bad dates, a conf that is not an object, a body too
large, JSON that does not parse, a bad ``order_by``, a negative limit.

Each answer is a 4xx with Airflow's problem JSON (``{"detail": ...}``), never a 500, and a
refused write leaves no row behind (no DagRun, no audit log line, no state changed).
"""

from __future__ import annotations

import json

import pytest

from runs_app.models import AuditLog, DagRun, TaskInstance
from runs_app.states import DagRunState, TaskInstanceState
from tests.api.conftest import API, API_DAG_ID

pytestmark = pytest.mark.django_db

TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def admin(api_client, admin_user):
    return api_client(admin_user)


@pytest.fixture
def run(api_dag, make_run):
    return make_run(api_dag, 0, state=DagRunState.FAILED)


def problem(response, status: int) -> object:
    """Assert ``response`` is a ``status`` problem JSON; return its detail."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail"}, body
    return body["detail"]


# -- unknown ids ------------------------------------------------------------------------------------

RUN = f"{API}/dags/{API_DAG_ID}/dagRuns/scheduled__2024-01-01T00:00:00+00:00"
UNKNOWN_GETS = {
    "dag": f"{API}/dags/nope",
    "dag details": f"{API}/dags/nope/details",
    "dag's tasks": f"{API}/dags/nope/tasks",
    "task": f"{API}/dags/{API_DAG_ID}/tasks/nope",
    "dag's runs": f"{API}/dags/nope/dagRuns",
    "run": f"{API}/dags/{API_DAG_ID}/dagRuns/nope",
    "run of an unknown dag": f"{API}/dags/nope/dagRuns/nope",
    "run's task instances": f"{API}/dags/{API_DAG_ID}/dagRuns/nope/taskInstances",
    "task instance": f"{RUN}/taskInstances/nope",
    "mapped task instance": f"{RUN}/taskInstances/extract/3",
    "log of an unknown task": f"{RUN}/taskInstances/nope/logs/1",
    "log of a try not made": f"{RUN}/taskInstances/extract/logs/2",
    "log of try 0": f"{RUN}/taskInstances/extract/logs/0",
    "log of a huge try": f"{RUN}/taskInstances/extract/logs/99999999999999999999",
    "xcom entry": f"{RUN}/taskInstances/extract/xcomEntries/nope",
    "xcom entry of an unknown run": f"{API}/dags/{API_DAG_ID}/dagRuns/nope/taskInstances/extract/xcomEntries/k",
    "import error": f"{API}/importErrors/999999",
    "import error beyond 64 bits": f"{API}/importErrors/99999999999999999999999",
    "event log": f"{API}/eventLogs/999999",
}


@pytest.mark.parametrize("url", UNKNOWN_GETS.values(), ids=UNKNOWN_GETS.keys())
def test_an_unknown_id_is_a_404_problem(admin, run, url):
    assert problem(admin.get(url), 404)


@pytest.mark.parametrize(
    "url", [f"{API}/importErrors/abc", f"{API}/eventLogs/abc", f"{RUN}/taskInstances/extract/logs/abc"]
)
def test_an_id_of_the_wrong_type_is_a_422_problem(admin, run, url):
    assert problem(admin.get(url), 422)


UNKNOWN_WRITES = {
    "trigger an unknown dag": ("post", f"{API}/dags/nope/dagRuns", {"logical_date": None}),
    "trigger the wildcard": ("post", f"{API}/dags/~/dagRuns", {"logical_date": None}),
    "pause an unknown dag": ("patch", f"{API}/dags/nope", {"is_paused": True}),
    "mark an unknown run": ("patch", f"{API}/dags/{API_DAG_ID}/dagRuns/nope", {"state": "success"}),
    "clear an unknown run": ("post", f"{API}/dags/{API_DAG_ID}/dagRuns/nope/clear", {"dry_run": False}),
    "mark an unknown task": ("patch", f"{RUN}/taskInstances/nope", {"new_state": "success"}),
    "clear tasks of an unknown run": (
        "post",
        f"{API}/dags/{API_DAG_ID}/clearTaskInstances",
        {"dry_run": False, "dag_run_id": "nope"},
    ),
    "delete an unknown dag": ("delete", f"{API}/dags/nope", None),
    "delete an unknown run": ("delete", f"{API}/dags/{API_DAG_ID}/dagRuns/nope", None),
}


@pytest.mark.parametrize(("method", "url", "body"), UNKNOWN_WRITES.values(), ids=UNKNOWN_WRITES.keys())
def test_a_write_to_an_unknown_id_is_a_404_problem_and_changes_nothing(admin, run, method, url, body):
    before = (DagRun.objects.count(), AuditLog.objects.count())
    response = admin.delete(url) if method == "delete" else getattr(admin, f"{method}_json")(url, body)
    assert problem(response, 404)
    assert (DagRun.objects.count(), AuditLog.objects.count()) == before
    assert set(TaskInstance.objects.values_list("state", flat=True)) == {TaskInstanceState.FAILED}


# -- refused triggers leave no run ------------------------------------------------------------------

BAD_TRIGGERS = {
    "logical date not a date": ({"logical_date": "notadate"}, 422),
    "logical date without a timezone": ({"logical_date": "2024-05-01T00:00:00"}, 422),
    "logical date out of range": ({"logical_date": "9999-12-31T23:59:59Z"}, 400),
    "logical date missing": ({"conf": {}}, 422),
    "conf a list": ({"logical_date": None, "conf": [1, 2]}, 422),
    "conf a string": ({"logical_date": None, "conf": "{}"}, 422),
    "conf a number": ({"logical_date": None, "conf": 3}, 422),
    "run id with a slash": ({"logical_date": None, "dag_run_id": "../../etc"}, 400),
    "run id empty": ({"logical_date": None, "dag_run_id": ""}, 400),
    "run id too long": ({"logical_date": None, "dag_run_id": "x" * 300}, 400),
    "body a list": ([{"logical_date": None}], 422),
    "body a string": ("logical_date", 422),
    "body null": (None, 422),
}


@pytest.mark.parametrize(("body", "status"), BAD_TRIGGERS.values(), ids=BAD_TRIGGERS.keys())
def test_a_refused_trigger_is_a_problem_and_leaves_no_run(admin, api_dag, body, status):
    response = admin.post(f"{API}/dags/{API_DAG_ID}/dagRuns", json.dumps(body), content_type="application/json")
    assert problem(response, status)
    assert not DagRun.objects.exists()
    assert not AuditLog.objects.exists()


def test_a_conf_that_breaks_a_param_schema_is_a_400_and_leaves_no_run(admin, dag_file, sync):
    dag_file(
        "typed.py",
        """
        from dags_app.sdk import DAG, EmptyOperator, Param

        with DAG("typed", schedule=None, params={"rows": Param(1, type="integer")}) as dag:
            EmptyOperator(task_id="a")
        """,
    )
    sync()
    response = admin.post_json(f"{API}/dags/typed/dagRuns", {"logical_date": None, "conf": {"rows": "many"}})
    assert problem(response, 400)
    assert not DagRun.objects.exists()


def test_a_duplicate_run_is_a_409_and_adds_nothing(admin, run):
    body = {"logical_date": None, "dag_run_id": run.run_id}
    assert problem(admin.post_json(f"{API}/dags/{API_DAG_ID}/dagRuns", body), 409)
    assert DagRun.objects.count() == 1


def test_a_ten_megabyte_body_is_a_413_and_leaves_no_run(admin, api_dag):
    body = json.dumps({"logical_date": None, "conf": {"blob": "x" * TEN_MB}})
    response = admin.post(f"{API}/dags/{API_DAG_ID}/dagRuns", body, content_type="application/json")
    assert problem(response, 413)
    assert not DagRun.objects.exists()


@pytest.mark.parametrize("raw", [b"{bad json", b'{"logical_date": null', b"\xff\xfe\x00", b""])
def test_a_body_that_is_not_json_is_a_400(admin, api_dag, raw):
    response = admin.post(f"{API}/dags/{API_DAG_ID}/dagRuns", raw, content_type="application/json")
    assert response.status_code in (400, 422)
    assert problem(response, response.status_code)
    assert not DagRun.objects.exists()


def test_bad_json_is_exactly_a_400(admin, api_dag):
    response = admin.post(f"{API}/dags/{API_DAG_ID}/dagRuns", b"{bad json", content_type="application/json")
    assert problem(response, 400)


# -- other refused writes change nothing ----------------------------------------------------------------

BAD_WRITES = {
    "pause with a non-boolean": ("patch", f"{API}/dags/{API_DAG_ID}", {"is_paused": "sometimes"}, 422),
    "pause with no field": ("patch", f"{API}/dags/{API_DAG_ID}", {}, 422),
    "pause another field": ("patch", f"{API}/dags/{API_DAG_ID}?update_mask=owners", {"is_paused": False}, 400),
    "mark a run running": ("patch", RUN, {"state": "running"}, 422),
    "mark a run with a number": ("patch", RUN, {"state": 3}, 422),
    "mark a run with a list body": ("patch", RUN, [{"state": "success"}], 422),
    "mark a run's unknown field": ("patch", f"{RUN}?update_mask=conf", {"state": "success"}, 400),
    "mark a task weird": ("patch", f"{RUN}/taskInstances/extract", {"new_state": "weird"}, 422),
    "mark a task skipped": ("patch", f"{RUN}/taskInstances/extract", {"new_state": "skipped"}, 400),
    "mark a task with a bad map index": ("patch", f"{RUN}/taskInstances/extract?map_index=x", {}, 422),
    "clear a run with a non-boolean": ("post", f"{RUN}/clear", {"dry_run": "maybe"}, 422),
    "clear tasks with a bad date": (
        "post",
        f"{API}/dags/{API_DAG_ID}/clearTaskInstances",
        {"dry_run": False, "start_date": "notadate"},
        422,
    ),
    "clear tasks with a bad pair": (
        "post",
        f"{API}/dags/{API_DAG_ID}/clearTaskInstances",
        {"dry_run": False, "task_ids": [["extract", "first"]]},
        400,
    ),
    "clear tasks with a short pair": (
        "post",
        f"{API}/dags/{API_DAG_ID}/clearTaskInstances",
        {"dry_run": False, "task_ids": [["extract"]]},
        400,
    ),
}


@pytest.mark.parametrize(("method", "url", "body", "status"), BAD_WRITES.values(), ids=BAD_WRITES.keys())
def test_a_refused_write_is_a_problem_and_changes_nothing(admin, run, method, url, body, status):
    response = getattr(admin, f"{method}_json")(url, body)
    assert problem(response, status)
    run.refresh_from_db()
    assert run.state == DagRunState.FAILED
    assert set(run.task_instances.values_list("state", flat=True)) == {TaskInstanceState.FAILED}
    assert run.dag.is_paused
    assert not AuditLog.objects.exists()


# -- list parameters --------------------------------------------------------------------------------------

LISTS = [
    f"{API}/dags",
    f"{API}/dags/~/dagRuns",
    f"{API}/dags/~/dagRuns/~/taskInstances",
    f"{API}/dags/~/dagRuns/~/taskInstances/~/xcomEntries",
    f"{API}/importErrors",
    f"{API}/eventLogs",
]
ORDERED_LISTS = [url for url in LISTS if "xcomEntries" not in url]


@pytest.mark.parametrize("url", ORDERED_LISTS)
def test_a_bad_order_by_is_a_400(admin, run, url):
    detail = problem(admin.get(f"{url}?order_by=no_such_field"), 400)
    assert "no_such_field" in detail


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("query", ["limit=-1", "offset=-5", "limit=abc", "offset=1.5"])
def test_a_negative_or_non_integer_limit_or_offset_is_a_422(admin, run, url, query):
    assert problem(admin.get(f"{url}?{query}"), 422)


def test_a_bad_task_order_by_is_a_400(admin, run):
    assert problem(admin.get(f"{API}/dags/{API_DAG_ID}/tasks?order_by=no_such_field"), 400)


BAD_FILTERS = [
    f"{API}/dags/~/dagRuns?logical_date_gte=notadate",
    f"{API}/dags/~/dagRuns?start_date_lte=2024-13-45",
    f"{API}/dags/~/dagRuns?end_date_gte=yesterday",
    f"{API}/dags/~/dagRuns/~/taskInstances?start_date_gte=x",
    f"{API}/dags/~/dagRuns/~/taskInstances?logical_date_lte=x",
    f"{API}/dags/~/dagRuns/~/taskInstances?duration_gte=long",
    f"{API}/dags/~/dagRuns/~/taskInstances?map_index=first",
    f"{API}/dags/~/dagRuns/~/taskInstances/~/xcomEntries?map_index=first",
    f"{API}/eventLogs?before=notadate",
    f"{API}/eventLogs?after=2024-02-30T00:00:00Z",
    f"{API}/dags?paused=sometimes",
]


@pytest.mark.parametrize("url", BAD_FILTERS)
def test_a_filter_of_the_wrong_type_is_a_422(admin, run, url):
    assert problem(admin.get(url), 422)


def test_a_date_filter_without_a_timezone_is_read_as_utc(admin, run):
    body = admin.get(f"{API}/dags/~/dagRuns?logical_date_gte=2024-01-01T00:00:00").json()
    assert body["total_entries"] == 1
    body = admin.get(f"{API}/dags/~/dagRuns?logical_date_gt=2024-01-01T00:00:00").json()
    assert body["total_entries"] == 0


def test_an_unknown_path_under_the_api_is_a_json_404(admin):
    assert problem(admin.get(f"{API}/no/such/route"), 404) == "Not Found"


def test_a_422_names_the_body_field_as_airflow_does(admin, api_dag):
    detail = problem(admin.post_json(f"{API}/dags/{API_DAG_ID}/dagRuns", {"logical_date": "notadate"}), 422)
    assert detail[0]["loc"] == ["body", "logical_date"]


@pytest.mark.parametrize(
    "url",
    [
        f"{API}/dags/~/dagRuns?state=nonsense",
        f"{API}/dags/~/dagRuns?run_type=weekly",
        f"{API}/dags/~/dagRuns/~/taskInstances?state=nonsense",
    ],
)
def test_an_unknown_state_or_run_type_filter_is_a_422(admin, url):
    detail = problem(admin.get(url), 422)
    assert detail[0]["loc"][0] == "query"

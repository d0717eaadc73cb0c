"""Browse pages: DAG runs, task instances, XComs and the audit log (runs_app/views/browse.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from dags_app.models import DagModel
from runs_app import services
from runs_app.models import AuditLog, DagRun, TaskInstance, XCom
from runs_app.states import AuditEvent, DagRunState, DagRunType, TaskInstanceState

UTC = dt.UTC
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
DAY = dt.timedelta(days=1)
HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
# Queries of one browse page whatever its number of rows: session, user, permissions, the
# banners, the user's roles (for DAGs hidden by access_control), the count, the page, the DAG
# id suggestions (audit log: +2 for its links).
QUERY_BUDGET = 12

SOURCE = """
import datetime
from dags_app.sdk import DAG, BashOperator

with DAG({dag_id!r}, schedule=None, start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)) as dag:
    BashOperator(task_id="extract", bash_command="echo 1") >> BashOperator(task_id="load", bash_command="echo 2")
"""

PAGES = ["runs:browse-runs", "runs:browse-task-instances", "runs:browse-xcoms", "runs:browse-audit-log"]


@pytest.fixture
def dags(dag_file, sync) -> dict[str, DagModel]:
    """Two DAGs, ``browse_a`` and ``browse_b``, each ``extract >> load`` (paused, as new DAGs are)."""
    for dag_id in ("browse_a", "browse_b"):
        dag_file(f"{dag_id}.py", SOURCE.format(dag_id=dag_id))
    report = sync()
    assert report.import_errors == 0, report
    return {dag.dag_id: dag for dag in DagModel.objects.filter(dag_id__in=["browse_a", "browse_b"])}


def make_run(dag: DagModel, day: int, *, state: str = DagRunState.SUCCESS, conf: dict | None = None) -> DagRun:
    """Create the run of ``dag`` on day ``day`` (run id ``r<day>-<dag>``), in ``state``, tasks succeeded."""
    run = services.dag_run_create(
        dag=dag,
        logical_date=T0 + day * DAY,
        run_type=DagRunType.MANUAL,
        now=timezone.now(),
        conf=conf,
        run_id=f"r{day:03d}-{dag.dag_id}",
    )
    start = T0 + day * DAY
    DagRun.objects.filter(pk=run.pk).update(state=state, start_date=start, end_date=start + dt.timedelta(minutes=3))
    run.task_instances.update(
        state=TaskInstanceState.SUCCESS,
        try_number=1,
        hostname="worker-1",
        start_date=start,
        end_date=start + dt.timedelta(seconds=30),
        duration=30.0,
    )
    run.refresh_from_db()
    return run


def push_xcom(run: DagRun, task_id: str, key: str, value) -> XCom:
    ti = run.task_instances.get(task_id=task_id)
    return XCom.objects.create(task_instance=ti, dag_run=run, task_id=task_id, key=key, value=value)


def fill(dags: dict[str, DagModel], n: int) -> None:
    """Create ``n`` runs of browse_a, with 2 task instances, 2 XComs and 1 audit row each."""
    for day in range(n):
        run = make_run(dags["browse_a"], day, conf={"day": day})
        push_xcom(run, "extract", "return_value", {"rows": day})
        push_xcom(run, "load", "return_value", [day, "x"])
        services.audit_log_record(
            event=AuditEvent.TRIGGER, user=None, source="cli", dag_id="browse_a", run_id=run.run_id, task_id="extract"
        )


@pytest.fixture
def viewer_client(client, viewer_user):
    client.force_login(viewer_user)
    return client


# -- access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_browse_page_sends_anonymous_visitor_to_login(client, db, name):
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", PAGES)
def test_browse_page_is_forbidden_without_a_role(client, outsider, name):
    client.force_login(outsider)

    assert client.get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", PAGES)
def test_browse_page_renders_empty_for_a_viewer(viewer_client, name):
    response = viewer_client.get(reverse(name))

    assert response.status_code == 200
    assert b"0 rows" in response.content


# -- DAG runs -------------------------------------------------------------------------------------


def test_runs_page_lists_runs_with_links_to_grid_and_run(viewer_client, dags):
    run = make_run(dags["browse_a"], 1)

    response = viewer_client.get(reverse("runs:browse-runs"))

    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("runs:grid", args=["browse_a"]) in html
    assert reverse("runs:run", args=["browse_a", run.run_id]) in html
    assert "state-success" in html
    assert "3m 00s" in html  # duration


def test_runs_page_filters_by_dag_id_and_state_as_the_dag_list_links(viewer_client, dags):
    make_run(dags["browse_a"], 1, state=DagRunState.SUCCESS)
    make_run(dags["browse_a"], 2, state=DagRunState.FAILED)
    make_run(dags["browse_b"], 3, state=DagRunState.FAILED)

    response = viewer_client.get(reverse("runs:browse-runs"), {"dag_id": "browse_a", "state": "failed"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "r002-browse_a" in html
    assert "r001-browse_a" not in html
    assert "r003-browse_b" not in html
    assert "1 matching row" in html


def test_runs_page_filters_by_run_type_and_logical_date_range(viewer_client, dags):
    for day in (1, 2, 3, 4):
        make_run(dags["browse_a"], day)
    DagRun.objects.filter(run_id="r003-browse_a").update(run_type=DagRunType.BACKFILL)

    response = viewer_client.get(
        reverse("runs:browse-runs"),
        {"run_type": "manual", "logical_date_after": "2024-01-03", "logical_date_before": "2024-01-04"},
    )

    html = response.content.decode()
    assert "r002-browse_a" in html
    assert "r003-browse_a" not in html  # backfill
    assert "r001-browse_a" not in html  # before the range
    assert "r004-browse_a" not in html  # 2024-01-05, after it
    assert "1 matching row" in html


def test_runs_page_shows_an_invalid_filter_as_a_form_error_not_a_500(viewer_client, dags):
    make_run(dags["browse_a"], 1)

    response = viewer_client.get(reverse("runs:browse-runs"), {"state": "bogus", "logical_date_after": "not-a-date"})

    assert response.status_code == 200
    assert b"Select a valid choice" in response.content
    assert b"r001-browse_a" in response.content


def test_runs_page_escapes_a_hostile_conf(viewer_client, dags):
    make_run(dags["browse_a"], 1, conf={"payload": HOSTILE})

    response = viewer_client.get(reverse("runs:browse-runs"))

    html = response.content.decode()
    assert ESCAPED in html
    assert HOSTILE not in html


def test_runs_page_cuts_a_long_conf(viewer_client, dags):
    make_run(dags["browse_a"], 1, conf={"text": "x" * 500})

    html = viewer_client.get(reverse("runs:browse-runs")).content.decode()

    assert "x" * 100 in html
    assert "x" * 200 not in html
    assert "\u2026" in html


def test_runs_page_paginates_by_50_and_keeps_the_filters(viewer_client, dags):
    for day in range(55):
        make_run(dags["browse_a"], day)

    first = viewer_client.get(reverse("runs:browse-runs"), {"dag_id": "browse_a"})
    second = viewer_client.get(reverse("runs:browse-runs"), {"dag_id": "browse_a", "page": 2})

    assert len(first.context["rows"]) == 50
    assert len(second.context["rows"]) == 5
    assert "?dag_id=browse_a&amp;page=2" in first.content.decode()


# -- task instances -------------------------------------------------------------------------------


def test_task_instances_page_links_to_instance_and_log(viewer_client, dags):
    run = make_run(dags["browse_a"], 1)

    html = viewer_client.get(reverse("runs:browse-task-instances")).content.decode()

    assert reverse("runs:task-instance", args=["browse_a", run.run_id, "extract"]) in html
    assert reverse("runs:task-log", args=["browse_a", run.run_id, "load"]) in html
    assert "worker-1" in html
    assert "BashOperator" in html


def test_task_instances_page_filters_by_dag_task_and_state(viewer_client, dags):
    run = make_run(dags["browse_a"], 1)
    make_run(dags["browse_b"], 2)
    run.task_instances.filter(task_id="load").update(state=TaskInstanceState.FAILED)

    response = viewer_client.get(
        reverse("runs:browse-task-instances"), {"dag_id": "browse_a", "task_id": "oa", "state": "failed"}
    )

    rows = response.context["rows"]
    assert [(ti.dag.dag_id, ti.task_id) for ti in rows] == [("browse_a", "load")]


def test_task_instances_page_filters_by_pool_queue_operator_and_date(viewer_client, dags):
    for day in (1, 2):
        make_run(dags["browse_a"], day)
    TaskInstance.objects.filter(dag_run__run_id="r002-browse_a", task_id="extract").update(
        pool="big_pool", queue="heavy"
    )
    wanted = {"pool": "big_pool", "queue": "heavy", "operator": "bash"}

    rows = viewer_client.get(reverse("runs:browse-task-instances"), wanted).context["rows"]
    by_date = viewer_client.get(
        reverse("runs:browse-task-instances"), {"logical_date_after": "2024-01-03", "logical_date_before": "2024-01-03"}
    ).context["rows"]

    assert [(ti.dag_run.run_id, ti.task_id) for ti in rows] == [("r002-browse_a", "extract")]
    assert {ti.dag_run.run_id for ti in by_date} == {"r002-browse_a"}


# -- XComs ----------------------------------------------------------------------------------------


def test_xcoms_page_filters_by_dag_run_task_and_key(viewer_client, dags):
    run_a = make_run(dags["browse_a"], 1)
    run_b = make_run(dags["browse_b"], 2)
    push_xcom(run_a, "extract", "return_value", 1)
    push_xcom(run_a, "extract", "row_count", 2)
    push_xcom(run_b, "extract", "row_count", 3)

    rows = viewer_client.get(
        reverse("runs:browse-xcoms"),
        {"dag_id": "browse_a", "run_id": run_a.run_id, "task_id": "extr", "key": "count"},
    ).context["rows"]

    assert [(x.dag_run.run_id, x.key) for x in rows] == [(run_a.run_id, "row_count")]


def test_xcoms_page_shows_values_as_pretty_json_escaped(viewer_client, dags):
    run = make_run(dags["browse_a"], 1)
    push_xcom(run, "extract", "return_value", {"html": HOSTILE, "n": [1, 2]})

    html = viewer_client.get(reverse("runs:browse-xcoms")).content.decode()

    assert ESCAPED in html
    assert HOSTILE not in html
    assert "&quot;n&quot;: [\n    1," in html  # indented JSON
    assert reverse("runs:task-instance", args=["browse_a", run.run_id, "extract"]) in html


def test_xcoms_page_cuts_a_long_value(viewer_client, dags):
    run = make_run(dags["browse_a"], 1)
    push_xcom(run, "extract", "return_value", "y" * 5000)

    html = viewer_client.get(reverse("runs:browse-xcoms")).content.decode()

    assert "y" * 500 in html
    assert "y" * 1000 not in html
    assert "task instance page shows it whole" in html


# -- audit log ------------------------------------------------------------------------------------


def test_audit_log_page_filters_by_event_user_dag_and_date(viewer_client, dags, user_user):
    services.dag_set_paused(dag=dags["browse_a"], is_paused=False, user=user_user, source="web")
    services.dag_set_paused(dag=dags["browse_b"], is_paused=False, user=user_user, source="web")
    services.dag_set_paused(dag=dags["browse_a"], is_paused=True, user=None, source="cli")
    today = timezone.now().date().isoformat()

    rows = viewer_client.get(
        reverse("runs:browse-audit-log"),
        {"event": "unpause", "username": "URS", "dag_id": "browse_a", "when_after": today, "when_before": today},
    ).context["rows"]
    none_before = viewer_client.get(reverse("runs:browse-audit-log"), {"when_before": "2000-01-01"}).context["rows"]

    assert [(r.event, r.username, r.dag_id) for r in rows] == [("unpause", "ursula", "browse_a")]
    assert none_before == []


def test_audit_log_page_links_existing_dags_runs_and_tasks_only(viewer_client, dags):
    run = make_run(dags["browse_a"], 1)
    services.audit_log_record(
        event=AuditEvent.CLEAR, user=None, source="web", dag_id="browse_a", run_id=run.run_id, task_id="extract,load"
    )
    services.audit_log_record(event=AuditEvent.DELETE, user=None, source="cli", dag_id="gone_dag", run_id="old_run")

    html = viewer_client.get(reverse("runs:browse-audit-log")).content.decode()

    assert reverse("runs:run", args=["browse_a", run.run_id]) in html
    assert reverse("runs:task-instance", args=["browse_a", run.run_id, "load"]) in html
    assert "gone_dag" in html
    assert reverse("runs:grid", args=["gone_dag"]) not in html


def test_audit_log_page_escapes_a_hostile_extra(viewer_client, db):
    services.audit_log_record(event=AuditEvent.TRIGGER, user=None, source="api", dag_id="x", extra={"note": HOSTILE})

    html = viewer_client.get(reverse("runs:browse-audit-log")).content.decode()

    assert ESCAPED in html
    assert HOSTILE not in html


# -- query budget ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("n", [5, 40])
def test_browse_page_query_count_does_not_grow_with_rows(viewer_client, dags, django_assert_max_num_queries, name, n):
    fill(dags, n)
    AuditLog.objects.update(dag_id="browse_a")  # every row linkable: the most work per row

    with django_assert_max_num_queries(QUERY_BUDGET):
        response = viewer_client.get(reverse(name), {"dag_id": "browse_a"})

    assert response.status_code == 200
    rows_per_run = {"runs:browse-runs": 1, "runs:browse-task-instances": 2, "runs:browse-xcoms": 2}.get(name, 1)
    assert len(response.context["rows"]) == min(n * rows_per_run, 50)

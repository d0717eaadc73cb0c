"""Definition pages: a DAG's code and details (dags_app/views.py)."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from dags_app import views
from dags_app.models import DagModel
from runs_app import services
from runs_app.models import DagRun
from runs_app.states import DagRunState, DagRunType
from runs_app.views.common import DAG_TABS

UTC = dt.UTC
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
DAY = dt.timedelta(days=1)
DAG_ID = "defs_dag"
HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"

SOURCE = """
import datetime
from dags_app.sdk import DAG, BashOperator, EmptyOperator, TriggerRule

with DAG(
    {dag_id!r},
    description="Moves data",
    schedule="0 10 * * *",
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    max_active_runs=3,
    max_active_tasks=7,
    tags=["finance", "nightly"],
    params={{"limit": 10}},
    default_args={{"owner": "ops", "retries": 1}},
    doc_md="# Moves data\\nfrom A to B",
) as dag:
    extract = BashOperator(task_id="extract", bash_command="echo 1", retries=4, queue="io", pool="db_pool")
    load = EmptyOperator(task_id="load", trigger_rule=TriggerRule.ALL_DONE)
    extract >> load
"""

HOSTILE_SOURCE = f"""
import datetime
from dags_app.sdk import DAG, EmptyOperator

with DAG(
    "hostile_dag",
    description={HOSTILE!r},
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    tags=["<i>tag</i>"],
    params={{"name": "<img src=x onerror=alert(2)>"}},
    default_args={{"owner": "<b>bob</b>"}},
    doc_md={HOSTILE!r},
) as dag:
    EmptyOperator(task_id="only", doc_md="<em>task doc</em>")
"""


@pytest.fixture
def dag(db, dag_file, sync) -> DagModel:
    """The DAG ``defs_dag``: extract >> load, with description, tags, params, default args and doc_md."""
    dag_file(f"{DAG_ID}.py", SOURCE.format(dag_id=DAG_ID))
    report = sync()
    assert report.import_errors == 0, report
    return DagModel.objects.get(dag_id=DAG_ID)


@pytest.fixture
def hostile_dag(db, dag_file, sync) -> DagModel:
    """The DAG ``hostile_dag``, whose description, doc_md, owner, tag and params hold markup."""
    dag_file("hostile_dag.py", HOSTILE_SOURCE)
    report = sync()
    assert report.import_errors == 0, report
    return DagModel.objects.get(dag_id="hostile_dag")


@pytest.fixture
def viewer(client, viewer_user):
    client.force_login(viewer_user)
    return client


def page(client, name: str, dag_id: str = DAG_ID) -> str:
    response = client.get(reverse(name, args=[dag_id]))
    assert response.status_code == 200
    return response.content.decode()


# --- Access ---


@pytest.mark.parametrize("name", ["dags:code", "dags:details"])
def test_definition_page_is_shown_to_a_viewer(viewer, dag, name):
    content = page(viewer, name)

    assert f"DAG:</span> {DAG_ID}" in content


@pytest.mark.parametrize("name", ["dags:code", "dags:details"])
def test_definition_page_of_an_unknown_dag_is_404(viewer, db, name):
    assert viewer.get(reverse(name, args=["no_such_dag"])).status_code == 404


@pytest.mark.parametrize("name", ["dags:code", "dags:details"])
def test_definition_page_sends_an_anonymous_visitor_to_the_login_page(client, dag, name):
    response = client.get(reverse(name, args=[DAG_ID]))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


@pytest.mark.parametrize("name", ["dags:code", "dags:details"])
def test_definition_page_is_forbidden_to_a_user_without_a_role(client, outsider, dag, name):
    client.force_login(outsider)

    assert client.get(reverse(name, args=[DAG_ID])).status_code == 403


def test_definition_pages_show_the_same_tabs_as_the_run_pages():
    assert views.DAG_TABS is DAG_TABS


@pytest.mark.parametrize(("name", "label"), [("dags:code", "Code"), ("dags:details", "Details")])
def test_definition_page_header_links_every_tab_and_marks_its_own(viewer, dag, name, label):
    content = page(viewer, name)

    for _label, url_name, _icon in DAG_TABS:
        assert f'href="{reverse(url_name, args=[DAG_ID])}"' in content
    assert f'nav-link active" href="{reverse(name, args=[DAG_ID])}"' in content


# --- Details ---


def test_details_shows_the_dag_attributes(viewer, dag):
    content = page(viewer, "dags:details")

    for text in [
        "Moves data",
        "ops",
        "0 10 * * *",
        "At 10:00",
        "2024-01-01 00:00:00",
        "finance",
        "nightly",
        "Max active runs</th><td>3",
        "Max active tasks</th><td>7",
        "Catchup</th><td>False",
        "Paused</th><td>True",
        str(Path(dag.fileloc)),
        "&quot;limit&quot;: 10",
        "&quot;retries&quot;: 1",
    ]:
        assert text in content, text


def test_details_shows_next_run_and_its_data_interval(viewer, dag):
    content = page(viewer, "dags:details")

    assert dag.next_dagrun is not None
    assert dag.next_dagrun.strftime("%Y-%m-%d %H:%M:%S") in content
    start, end = dag.next_dagrun_data_interval_start, dag.next_dagrun_data_interval_end
    interval = f"{start:%Y-%m-%d %H:%M:%S} UTC &rarr; {end:%Y-%m-%d %H:%M:%S} UTC"
    assert interval in content


def test_details_shows_doc_md_as_markdown(viewer, dag):
    content = page(viewer, "dags:details")

    assert '<div class="doc-md markdown-doc"><h1>Moves data</h1>\n<p>from A to B</p>\n</div>' in content


def test_details_lists_each_task_with_operator_rule_retries_queue_pool_and_relatives(viewer, dag):
    content = page(viewer, "dags:details")

    assert "<th>Task</th><th>Operator</th><th>Trigger rule</th><th>Retries</th>" in content
    extract = content.split('<code class="text-body">extract</code>', 1)[1].split("</tr>", 1)[0]
    assert "<td>BashOperator</td>" in extract
    assert "<td>all_success</td>" in extract
    assert "<td>4 <span" in extract
    assert "<td>io</td>" in extract
    assert "<td>db_pool</td>" in extract
    assert "<td>-</td>\n            <td>load</td>" in extract
    load = content.split('<code class="text-body">load</code>', 1)[1].split("</tr>", 1)[0]
    assert "<td>EmptyOperator</td>" in load
    assert "<td>all_done</td>" in load


def test_details_counts_runs_by_state(viewer, dag):
    for day, state in enumerate([DagRunState.SUCCESS, DagRunState.SUCCESS, DagRunState.FAILED]):
        run = services.dag_run_create(
            dag=dag, logical_date=T0 + day * DAY, run_type=DagRunType.MANUAL, now=T0 + day * DAY
        )
        DagRun.objects.filter(pk=run.pk).update(state=state)

    response = viewer.get(reverse("dags:details", args=[DAG_ID]))

    assert dict(response.context["run_states"]) == {"queued": 0, "running": 0, "success": 2, "failed": 1}
    assert response.context["run_total"] == 3
    assert '<span class="state-badge state-failed">1</span> failed' in response.content.decode()


def test_details_escapes_text_from_the_dag_file(viewer, hostile_dag):
    content = page(viewer, "dags:details", "hostile_dag")

    assert HOSTILE not in content
    assert f'<div class="doc-md markdown-doc"><p>{ESCAPED}</p>' in content
    assert "<b>bob</b>" not in content
    assert "&lt;b&gt;bob&lt;/b&gt;" in content
    assert "<img src=x" not in content
    assert "&lt;img src=x onerror=alert(2)&gt;" in content
    assert "<i>tag</i>" not in content
    assert "<em>task doc</em>" not in content
    assert "&lt;em&gt;task doc&lt;/em&gt;" in content


@pytest.mark.parametrize("name", ["runs:gantt", "runs:calendar", "runs:durations", "dags:code"])
def test_other_pages_escape_the_dag_description_and_tags(viewer, hostile_dag, name):
    content = page(viewer, name, "hostile_dag")

    assert HOSTILE not in content
    assert ESCAPED in content
    assert "<i>tag</i>" not in content


# --- Code ---


def test_code_shows_the_dag_file_highlighted_with_line_numbers(viewer, dag):
    content = page(viewer, "dags:code")

    assert '<div class="highlight">' in content
    assert 'class="linenos"' in content
    assert '<span class="kn">from</span>' in content
    assert '<span class="s2">"echo 1"</span>' in content
    assert 'id="L-1"' in content
    assert "/static/css/pygments.css" in content


def _new_version(dag, dag_file, sync, *, extra_task: str = "") -> None:
    """Parse a second version of ``defs_dag`` (extract echoes 2; ``extra_task`` adds a task)."""
    source = SOURCE.format(dag_id=DAG_ID).replace("echo 1", "echo 2")
    if extra_task:
        source += f"    EmptyOperator(task_id={extra_task!r}, dag=dag)\n"
    dag_file(f"{DAG_ID}.py", source)
    sync()
    dag.refresh_from_db()


def test_code_shows_an_earlier_version_as_it_was_parsed(viewer, dag, dag_file, sync):
    _new_version(dag, dag_file, sync)
    url = reverse("dags:code", args=[DAG_ID])

    latest = viewer.get(url).content.decode()
    first = viewer.get(url + "?version=1").content.decode()

    assert '"echo 2"' in latest and "latest: v2" in latest
    assert '"echo 1"' in first and '"echo 2"' not in first
    assert "Version 1 of defs_dag" in first and "an earlier version" in first
    assert viewer.get(url + "?version=9").status_code == 404


def test_the_graph_draws_a_run_as_its_version_was(viewer, dag, dag_file, sync):
    from django.utils import timezone

    from runs_app.services import dag_trigger

    old_run = dag_trigger(dag=dag, now=timezone.now(), logical_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    _new_version(dag, dag_file, sync, extra_task="qa_check")
    new_run = dag_trigger(dag=dag, now=timezone.now(), logical_date=dt.datetime(2024, 1, 2, tzinfo=dt.UTC))
    graph = reverse("runs:graph", args=[DAG_ID])

    old = viewer.get(graph, {"run_id": old_run.run_id}).content.decode()
    new = viewer.get(graph, {"run_id": new_run.run_id}).content.decode()

    assert "qa_check" not in old and "v1 (earlier)" in old
    assert "qa_check" in new and "v2" in new and "(earlier)" not in new
    run_page = viewer.get(reverse("runs:run", args=[DAG_ID, old_run.run_id])).content.decode()
    assert "?version=1" in run_page and "an earlier version than the DAG" in run_page


def test_vendored_pygments_stylesheet_styles_the_highlight_class():
    css = (Path(settings.BASE_DIR) / "static" / "css" / "pygments.css").read_text()

    assert ".highlight .kn {" in css
    assert ".highlight .s2 {" in css


def test_code_reads_the_file_without_importing_it(viewer, dag, tmp_path):
    marker = tmp_path / "imported.marker"
    Path(dag.fileloc).write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            Path({str(marker)!r}).write_text("imported")
            MARKER_LINE = 1
            """
        )
    )

    content = page(viewer, "dags:code")

    assert "MARKER_LINE" in content
    assert not marker.exists()
    assert "The file changed since it was last parsed" in content


def test_code_does_not_say_changed_for_the_file_as_parsed(viewer, dag):
    assert "The file changed since it was last parsed" not in page(viewer, "dags:code")


def test_code_of_a_missing_file_says_so(viewer, dag):
    Path(dag.fileloc).unlink()

    content = page(viewer, "dags:code")

    assert "The DAG&#x27;s file no longer exists." in content
    assert '<div class="highlight">' not in content


def test_code_escapes_markup_in_the_source(viewer, hostile_dag):
    content = page(viewer, "dags:code", "hostile_dag")

    assert "<script>alert" not in content
    assert "&lt;b&gt;bob&lt;/b&gt;" in content


@pytest.mark.parametrize("where", ["outside", "traversal", "symlink"])
def test_code_refuses_a_file_outside_the_dag_folder(viewer, dag, dags_folder, tmp_path, where):
    secret = tmp_path / "secret.py"
    secret.write_text("SECRET_VALUE = 42\n")
    if where == "outside":
        fileloc = str(secret)
    elif where == "traversal":
        fileloc = f"{dags_folder}/../secret.py"
    else:
        link = dags_folder / "link.py"
        link.symlink_to(secret)
        fileloc = str(link)
    DagModel.objects.filter(pk=dag.pk).update(fileloc=fileloc)

    content = page(viewer, "dags:code")

    assert "SECRET_VALUE" not in content
    assert "The DAG&#x27;s file is outside the DAG folder; it is not shown." in content


def test_code_refuses_an_oversized_file(viewer, dag, monkeypatch):
    monkeypatch.setattr(views, "MAX_CODE_BYTES", 10)

    content = page(viewer, "dags:code")

    assert "larger than" in content
    assert '<div class="highlight">' not in content

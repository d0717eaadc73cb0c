"""The issue's browser flows, with a real scheduler and worker: trigger, watch, log, clear, mark.

Every main page is saved under build/screenshots/ on the way.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dags_app.services import dag_folder_sync
from runs_app.models import DagRun, TaskInstance
from tests.browser.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SEED_MARK = """
import pendulum
from dags_app.sdk import DAG, BashOperator

with DAG("seed_mark_success", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         is_paused_upon_creation=False, tags=["seed"]) as dag:
    flaky = BashOperator(task_id="flaky", bash_command="echo failing on purpose; exit 1", retries=0)
    run_this_last = BashOperator(task_id="run_this_last", bash_command="echo run_this_last ran")
    flaky >> run_this_last
"""


def _run(dag_id: str) -> DagRun:
    return DagRun.objects.filter(dag__dag_id=dag_id).order_by("-id").first()


def _state(dag_id: str, task_id: str) -> str:
    return TaskInstance.objects.get(dag_run=_run(dag_id), task_id=task_id).state


def test_trigger_example_xcom_from_the_ui_and_watch_it_turn_green(
    page, login, admin_user, system, live_server, screenshot
):
    login(admin_user.username)
    page.goto(f"{live_server.url}/dags/example_xcom/trigger/")
    page.fill("textarea[name=conf]", '{"greeting": "hello"}')
    screenshot("trigger_form")
    page.click("main button[type=submit]:has-text('Trigger')")
    page.wait_for_url(re.compile(r".*/dags/example_xcom/grid/\?run_id=.*"))
    run_id = unquote(page.url.split("run_id=", 1)[1])
    run = DagRun.objects.get(dag__dag_id="example_xcom", run_id=run_id)
    assert run.conf == {"greeting": "hello"}
    assert run.dag.is_paused is False  # the form's "Unpause the DAG" box was ticked

    # Graph: the nodes turn green in place while the run goes (no reload).
    page.goto(f"{live_server.url}/dags/example_xcom/graph/?run_id={quote(run.run_id)}")
    # Locator assertions, not wait_for_function: the page's Content-Security-Policy forbids eval.
    expect(page.locator("#graph-box .task-node[data-state=success]")).to_have_count(6, timeout=60_000)
    expect(page.locator("#graph-run-state")).to_have_text("success", timeout=30_000)
    screenshot("graph_example_xcom_success")

    # Grid: every cell of the run is green.
    page.goto(f"{live_server.url}/dags/example_xcom/grid/?run_id={quote(run.run_id)}")
    assert page.locator("a.grid-cell.state-success").count() >= 6
    screenshot("grid_example_xcom")

    # A task log shows the pulled values.
    page.goto(f"{live_server.url}/dags/example_xcom/runs/{quote(run.run_id)}/tasks/puller/log/")
    assert page.get_by_text("pulled_value_1 is [1, 2, 3]").is_visible()
    screenshot("task_log_puller")

    for name, path in {
        "gantt": "gantt/",
        "calendar": "calendar/",
        "durations": "durations/",
        "tries": "tries/",
        "landing_times": "landing-times/",
        "code": "code/",
        "details": "details/",
    }.items():
        page.goto(f"{live_server.url}/dags/example_xcom/{path}")
        assert page.locator("h1", has_text="example_xcom").is_visible()
        screenshot(f"{name}_example_xcom")
    page.goto(f"{live_server.url}/dags/example_xcom/runs/{quote(run.run_id)}/")
    screenshot("run_example_xcom")
    page.goto(f"{live_server.url}/dags/example_xcom/runs/{quote(run.run_id)}/tasks/bash_push/")
    screenshot("task_instance_bash_push")
    for name in ("runs", "task-instances", "xcoms", "audit-log"):
        page.goto(f"{live_server.url}/browse/{name}/")
        screenshot(f"browse_{name.replace('-', '_')}")

    # Clear a task from the graph's task panel: it runs again (try 2) and succeeds.
    page.goto(f"{live_server.url}/dags/example_xcom/graph/?run_id={quote(run.run_id)}")
    page.click("#graph-box #task-puller")
    page.wait_for_selector("#task-modal .action-clear")
    page.wait_for_selector("#task-modal.show")
    page.wait_for_timeout(500)  # let the modal's fade-in end before the screenshot
    screenshot("graph_task_modal")
    page.click("#task-modal .action-clear")
    screenshot("confirm_clear")
    page.click("main form button[type=submit]:not(.btn-outline-secondary)")
    wait_for(lambda: TaskInstance.objects.get(dag_run=run, task_id="puller").try_number == 2, timeout=60)
    wait_for(lambda: TaskInstance.objects.get(dag_run=run, task_id="puller").state == "success", timeout=60)
    wait_for(lambda: DagRun.objects.get(pk=run.pk).state == "success", timeout=60)


def test_mark_a_failed_task_success_and_its_downstream_runs(
    page, login, user_user, system, example_dags: Path, live_server, screenshot
):
    from runs_app.services import dag_trigger

    (example_dags / "seed_mark_success.py").write_text(textwrap.dedent(SEED_MARK))
    dag_folder_sync(now=timezone.now(), folder=example_dags)
    from dags_app.models import DagModel

    run = dag_trigger(dag=DagModel.objects.get(dag_id="seed_mark_success"), now=timezone.now())
    wait_for(lambda: DagRun.objects.get(pk=run.pk).state == "failed", timeout=60)
    assert _state("seed_mark_success", "run_this_last") == "upstream_failed"

    login(user_user.username)
    page.goto(f"{live_server.url}/dags/seed_mark_success/graph/?run_id={quote(run.run_id)}")
    page.click("#graph-box #task-flaky")
    page.wait_for_selector("#task-modal .action-mark-success")
    page.click("#task-modal .action-mark-success")
    screenshot("confirm_mark_success")
    page.click("main form button[type=submit]:not(.btn-outline-secondary)")
    wait_for(lambda: _state("seed_mark_success", "run_this_last") == "success", timeout=60)
    wait_for(lambda: DagRun.objects.get(pk=run.pk).state == "success", timeout=60)
    page.goto(f"{live_server.url}/dags/seed_mark_success/grid/?run_id={quote(run.run_id)}")
    screenshot("grid_after_mark_success")


def test_viewer_finds_no_action_buttons_and_gets_403_for_posts(
    page, login, viewer_user, example_dags, live_server, screenshot
):
    from dags_app.models import DagModel
    from runs_app.services import dag_run_create
    from runs_app.states import DagRunType

    run = dag_run_create(
        dag=DagModel.objects.get(dag_id="example_xcom"),
        logical_date=timezone.now(),
        run_type=DagRunType.MANUAL,
        now=timezone.now(),
    )
    login(viewer_user.username)
    page.goto(f"{live_server.url}/dags/example_xcom/graph/?run_id={quote(run.run_id)}")
    page.click("#graph-box #task-push")
    page.wait_for_selector("#task-modal .task-panel")
    page.wait_for_selector("#task-modal.show")
    page.wait_for_timeout(500)
    screenshot("graph_task_modal_viewer")
    modal = page.locator("#task-modal")
    for action in (".action-run", ".action-clear", ".action-mark-success", ".action-mark-failed"):
        assert modal.locator(action).count() == 0
    assert page.locator("a", has_text="Trigger").count() == 0

    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    base = f"{live_server.url}/dags/example_xcom"
    posts = [
        f"{base}/trigger/",
        f"{base}/pause/",
        f"{base}/delete/",
        f"{base}/runs/{quote(run.run_id)}/clear/",
        f"{base}/runs/{quote(run.run_id)}/mark/success/",
        f"{base}/runs/{quote(run.run_id)}/tasks/push/run/",
        f"{base}/runs/{quote(run.run_id)}/tasks/push/clear/",
        f"{base}/runs/{quote(run.run_id)}/tasks/push/mark/success/",
        f"{base}/runs/{quote(run.run_id)}/tasks/push/mark/failed/",
    ]
    for url in posts:
        response = page.request.post(
            url, form={"confirmed": "yes", "csrfmiddlewaretoken": csrf}, headers={"X-CSRFToken": csrf, "Referer": url}
        )
        assert response.status == 403, url
    page.goto(posts[-1])
    assert page.get_by_text("403 Forbidden").is_visible()
    screenshot("forbidden_viewer")

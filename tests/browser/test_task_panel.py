"""Debug a failure on one page (issue 14): the grid's task panel with its Log, Details, XCom and
Rendered tabs and the failure inline, the grid's filters and its keyboard, in Chromium."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from dags_app.models import DagModel
from runs_app import services
from runs_app.models import DagRun, TaskInstance
from runs_app.states import DagRunState, DagRunType

FAILED_LOG = (
    "[2024-01-01 00:00:05,120] {runner.py} INFO - Starting attempt 2 of 2 of example_xcom.bash_pull\n"
    "[2024-01-01 00:00:06,001] {runner.py:431} ERROR - Task failed with exception\n"
    "Traceback (most recent call last):\n"
    "ValueError: the two values differ\n"
    "[2024-01-01 00:00:06,003] {runner.py} INFO - Task exited; state recorded: failed\n"
)


@pytest.fixture
def runs(example_dags):
    """Three finished runs of example_xcom; in the last, bash_pull failed at its second try."""
    dag = DagModel.objects.get(dag_id="example_xcom")
    made = []
    for day in range(3):
        when = dt.datetime(2024, 1, 1 + day, tzinfo=dt.UTC)
        run = services.dag_run_create(dag=dag, logical_date=when, run_type=DagRunType.SCHEDULED, now=timezone.now())
        state = DagRunState.FAILED if day == 2 else DagRunState.SUCCESS
        DagRun.objects.filter(pk=run.pk).update(state=state, start_date=when, end_date=when + dt.timedelta(minutes=1))
        TaskInstance.objects.filter(dag_run=run).update(
            state="success", try_number=1, start_date=when, end_date=when + dt.timedelta(seconds=5), duration=5.0
        )
        made.append(run)
    ti = TaskInstance.objects.select_related("dag_run__dag").get(dag_run=made[-1], task_id="bash_pull")
    TaskInstance.objects.filter(pk=ti.pk).update(state="failed", try_number=2)
    ti.refresh_from_db()
    for attempt, text in ((1, "[2024-01-01 00:00:01,000] {runner.py} INFO - the first try\n"), (2, FAILED_LOG)):
        path = ti.log_path(attempt)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return made


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1440, 400])
def test_a_failed_task_s_reason_log_and_tabs_on_the_grid(
    page, login, admin_user, runs, live_server, screenshot, scheme, width
):
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)
    login(admin_user.username)
    run = runs[-1]
    page.goto(f"{live_server.url}/dags/example_xcom/grid/?{urlencode({'run_id': run.run_id, 'task_id': 'bash_pull'})}")

    panel = page.locator(".task-panel")
    assert "ValueError: the two values differ" in panel.locator(".failure-reason").inner_text()
    log = panel.locator("pre.panel-log")
    page.wait_for_function("() => document.querySelector('pre.panel-log .log-error') !== null")
    assert "Starting attempt 2 of 2" in log.inner_text()
    screenshot(f"task_panel_{scheme}_{width}")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width

    panel.locator(".panel-log-tries [data-try='1']").click()
    page.wait_for_function("() => document.querySelector('pre.panel-log').textContent.includes('the first try')")

    panel.locator("[data-tab=rendered]").click()
    assert "bash_command" in panel.locator(".tab-pane.active").inner_text()
    panel.locator("[data-tab=details]").click()
    assert "Trigger rule" in panel.locator(".tab-pane.active").inner_text()
    panel.locator("[data-tab=xcom]").click()
    assert panel.locator(".tab-pane.active").is_visible()
    page.reload()  # the chosen tab is kept for the next panel
    assert page.locator(".task-panel .task-tabs .nav-link.active").get_attribute("data-tab") == "xcom"


def test_the_keyboard_moves_through_the_grid_and_filters_stay_applied(page, login, admin_user, runs, live_server):
    login(admin_user.username)
    page.goto(f"{live_server.url}/dags/example_xcom/grid/?num_runs=5")

    def shown(task: str | None, run_id: str) -> None:
        """Wait until the grid shows that selection (the swap follows the URL change)."""
        page.wait_for_function(
            "([task, run]) => { const h = document.querySelector('.task-panel h2');"
            " const col = document.querySelector('th.grid-run.selected a');"
            " return (task === null ? !h : (h && h.textContent === task))"
            " && col && col.getAttribute('aria-label').startsWith('Run ' + run + ':'); }",
            arg=[task, run_id],
        )

    page.keyboard.press("ArrowDown")  # from the newest run's bar into its first task
    shown("bash_push", runs[2].run_id)
    assert "num_runs=5" in page.url and "task_id=bash_push" in page.url
    page.keyboard.press("ArrowDown")
    shown("bash_pull", runs[2].run_id)
    page.keyboard.press("ArrowLeft")  # the same task, one run earlier
    shown("bash_pull", runs[1].run_id)
    page.keyboard.press("Escape")  # back to the run
    shown(None, runs[1].run_id)
    assert "task_id" not in page.url and "num_runs=5" in page.url

    page.select_option("#id_run_state", "failed")  # the filters submit on change
    page.wait_for_url("**run_state=failed**")
    assert page.locator("th.grid-run").count() == 1

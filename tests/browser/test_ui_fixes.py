"""What a new user found broken in the UI (issue 14), each with the browser check that would
have caught it: menus that could not be clicked, pages wider than their window."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from dags_app.models import DagModel
from runs_app import services
from runs_app.models import DagRun, TaskInstance
from runs_app.states import DagRunState, DagRunType

LINKS = ["Graph", "Grid", "Gantt", "Code", "Details", "Calendar", "Durations", "Tries", "Landing times"]


def _clickable(page, locator) -> bool:
    """Whether the element is what a click at its centre reaches (not clipped or covered)."""
    box = locator.bounding_box()
    if box is None:
        return False
    handle = locator.element_handle()
    return page.evaluate(
        "([el, x, y]) => { const hit = document.elementFromPoint(x, y); return hit === el || el.contains(hit); }",
        [handle, box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )


def _page_width(page) -> int:
    """The width the page needs: the document's, or a wider table scrolled inside its box."""
    return page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, ...Array.from("
        "document.querySelectorAll('.table-responsive'), el => el.scrollWidth - el.clientWidth + window.innerWidth))"
    )


def test_every_link_of_every_dag_row_can_be_clicked(page, login, admin_user, example_dags, live_server, screenshot):
    login(admin_user.username)
    page.goto(f"{live_server.url}/")
    toggles = page.locator("button.dag-links-toggle")
    count = toggles.count()
    assert count >= 5
    unreachable = []
    for index in (0, count // 2, count - 1):  # the first, a middle and the last row
        toggles.nth(index).click()
        menu = page.locator(".dropdown-menu.show")
        for name in LINKS:
            item = menu.get_by_role("link", name=name, exact=True)
            if not _clickable(page, item):
                unreachable.append((index, name))
        if index == count - 1:
            screenshot("dag_list_links_menu_last_row")
        page.keyboard.press("Escape")
    assert unreachable == []


@pytest.fixture
def long_runs(example_dags):
    """Runs with long ids (as a scheduler names them), so lists show their widest cells."""
    dag = DagModel.objects.get(dag_id="example_xcom")
    for day in range(3):
        when = dt.datetime(2024, 1, 1 + day, tzinfo=dt.UTC)
        run = services.dag_run_create(dag=dag, logical_date=when, run_type=DagRunType.SCHEDULED, now=timezone.now())
        DagRun.objects.filter(pk=run.pk).update(state=DagRunState.SUCCESS, start_date=when, end_date=when)
        TaskInstance.objects.filter(dag_run=run).update(
            state="success", start_date=when, end_date=when + dt.timedelta(seconds=3), duration=3.0, try_number=1
        )


@pytest.mark.parametrize(
    "path",
    ["/browse/task-instances/", "/browse/runs/", "/browse/xcoms/", "/browse/audit-log/", "/", "/assets/"],
)
def test_no_list_is_wider_than_a_1440_px_window(page, login, admin_user, long_runs, live_server, screenshot, path):
    login(admin_user.username)
    page.goto(f"{live_server.url}{path}")
    screenshot("wide_" + (path.strip("/").replace("/", "_") or "dag_list"))
    assert _page_width(page) <= 1440


@pytest.mark.parametrize("path", ["/dags/example_xcom/graph/", "/dags/example_xcom/grid/", "/browse/task-instances/"])
def test_pages_fit_a_400_px_window(page, login, admin_user, long_runs, live_server, screenshot, path):
    page.set_viewport_size({"width": 400, "height": 800})
    login(admin_user.username)
    page.goto(f"{live_server.url}{path}")
    screenshot("narrow_" + path.strip("/").replace("/", "_"))
    select = page.locator("#graph-run-select")
    if select.count():
        assert select.bounding_box()["width"] <= 400
    # The page fits; a wide table scrolls inside its own box.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 400


def test_dags_test_after_a_trigger_leaves_a_log_in_every_try_tab(
    page, login, admin_user, example_dags, live_server, screenshot
):
    # Issue 14: `dags trigger -e 2022-01-01 example_xcom` then `dags test example_xcom 2022-01-01`
    # left a "Try 2" tab with "No log yet" over an empty box, forever.
    call_command("dags", "trigger", "-e", "2022-01-01", "example_xcom", stdout=io.StringIO())
    for _ in range(2):  # a second test run at the date clears the run: every task gets a try 2
        call_command("dags", "test", "example_xcom", "2022-01-01", stdout=io.StringIO(), stderr=io.StringIO())
    ti = TaskInstance.objects.select_related("dag_run").get(dag_run__dag__dag_id="example_xcom", task_id="bash_push")
    assert ti.try_number == 2
    login(admin_user.username)
    base = f"{live_server.url}/dags/example_xcom/runs/{ti.dag_run.run_id}/tasks/bash_push/log/"
    for attempt in (1, 2):
        page.goto(f"{base}?try={attempt}")
        assert page.locator("#log-missing").count() == 0, attempt
        assert f"Starting attempt {attempt} of" in page.locator("#log-content").inner_text()
    screenshot("dags_test_try_2_log")


def test_a_taskflow_argument_reads_as_airflow_shows_it_in_the_task_panel(
    page, login, admin_user, example_dags, live_server, screenshot
):
    # Issue 14: rendered fields showed {"__xcomarg__": {...}} for TaskFlow arguments.
    dag = DagModel.objects.get(dag_id="example_xcom")
    run = services.dag_run_create(
        dag=dag, logical_date=dt.datetime(2024, 2, 1, tzinfo=dt.UTC), run_type=DagRunType.MANUAL, now=timezone.now()
    )
    consumer = next(
        t["task_id"] for t in dag.serialized["tasks"] if "__xcomarg__" in json.dumps(t.get("template_values"))
    )
    login(admin_user.username)
    page.goto(f"{live_server.url}/dags/example_xcom/runs/{run.run_id}/tasks/{consumer}/")
    page.locator(".task-panel [data-tab=rendered]").click()
    text = page.locator(".task-panel .tab-pane.active").inner_text()
    screenshot("task_panel_taskflow_argument")
    assert "__xcomarg__" not in text
    assert "task_instance.xcom_pull(task_ids=" in text

"""What a new user found broken in the UI (issue 14), each with the browser check that would
have caught it: menus that could not be clicked, pages wider than their window."""

from __future__ import annotations

import datetime as dt

import pytest
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

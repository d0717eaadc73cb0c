"""Dark mode and time zones in Chromium (issue 14): the theme follows the system and its toggle,
is shared with Django admin, keeps the graph and charts readable; the navbar's clock and zone
menu change every page's times. Screenshots at 1,440 and 400 px, light and dark."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from dags_app.models import DagModel
from runs_app import services
from runs_app.models import DagRun, TaskInstance
from runs_app.states import DagRunState, DagRunType

PAGES = {
    "grid": "/dags/example_xcom/grid/",
    "graph": "/dags/example_xcom/graph/",
    "gantt": "/dags/example_xcom/gantt/",
    "code": "/dags/example_xcom/code/",
    "dag_list": "/",
    "browse_task_instances": "/browse/task-instances/",
    "browse_runs": "/browse/runs/",
    "details": "/dags/example_xcom/details/",
    "admin": "/admin/",  # the admin's branding, in the same theme
}


@pytest.fixture
def finished_run(example_dags):
    """A finished run of example_xcom (2024-01-01 00:00 UTC), so pages have states and bars."""
    dag = DagModel.objects.get(dag_id="example_xcom")
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    run = services.dag_run_create(dag=dag, logical_date=when, run_type=DagRunType.SCHEDULED, now=timezone.now())
    DagRun.objects.filter(pk=run.pk).update(state=DagRunState.SUCCESS, start_date=when, end_date=when + dt.timedelta(1))
    for i, ti in enumerate(TaskInstance.objects.filter(dag_run=run).order_by("pk")):
        start = when + dt.timedelta(seconds=5 * i)
        state = "failed" if i == 1 else "success"
        TaskInstance.objects.filter(pk=ti.pk).update(
            state=state, try_number=1, start_date=start, end_date=start + dt.timedelta(seconds=4), duration=4.0
        )
    return run


def _theme(page) -> str:
    return page.evaluate("() => document.documentElement.dataset.bsTheme")


def _background(page, selector: str = "body") -> str:
    return page.evaluate(f"() => getComputedStyle(document.querySelector('{selector}')).backgroundColor")


def _luminance(rgb: str) -> float:
    parts = [int(p) for p in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    return sum(parts) / 3


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1440, 400])
def test_pages_follow_the_system_theme_at_both_widths(
    page, login, admin_user, finished_run, live_server, screenshot, scheme, width
):
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)
    login(admin_user.username)
    for name, path in PAGES.items():
        page.goto(f"{live_server.url}{path}")
        if name != "admin":  # the admin keeps its own attribute (data-theme "auto"), the background tells
            assert _theme(page) == scheme, name
        screenshot(f"theme_{scheme}_{width}_{name}")
        fits = page.evaluate(
            "() => Math.max(document.documentElement.scrollWidth, ...Array.from("
            "document.querySelectorAll('.table-responsive, .code-scroll, .grid-scroll, .graph-box, .chart-scroll'),"
            " el => el.scrollWidth - el.clientWidth + window.innerWidth))"
        )
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width, (name, fits)
        dark_page = _luminance(_background(page)) < 80
        assert dark_page is (scheme == "dark"), (name, _background(page))
    # Graph edges must not be black on the dark sheet.
    page.goto(f"{live_server.url}/dags/example_xcom/graph/")
    stroke = page.evaluate("() => getComputedStyle(document.querySelector('.graph-box svg g.edge path')).stroke")
    assert (_luminance(stroke) > 120) is (scheme == "dark"), stroke


def test_the_toggle_cycles_the_theme_keeps_it_and_the_admin_shows_the_same(page, login, admin_user, live_server):
    page.emulate_media(color_scheme="light")
    login(admin_user.username)
    toggle = page.locator("button.theme-toggle")
    assert _theme(page) == "light" and toggle.get_attribute("data-mode") == "auto"

    toggle.click()  # auto (light) -> dark, as Django admin's button cycles
    assert _theme(page) == "dark" and toggle.get_attribute("data-mode") == "dark"
    page.reload()
    assert _theme(page) == "dark"  # kept (localStorage "theme", the admin's key)

    page.goto(f"{live_server.url}/admin/")
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    assert "Orchestrator" in page.locator("#site-name").inner_text()  # the admin is branded
    assert page.locator(".orchestrator-admin-nav a", has_text="Queues (RQ)").count() == 1

    toggle = page.locator("button.theme-toggle")
    page.goto(f"{live_server.url}/")
    page.locator("button.theme-toggle").click()  # dark -> light
    page.locator("button.theme-toggle").click()  # light -> auto
    assert page.locator("button.theme-toggle").get_attribute("data-mode") == "auto"
    page.emulate_media(color_scheme="dark")  # auto follows the system live
    page.wait_for_function("() => document.documentElement.dataset.bsTheme === 'dark'")


def test_the_navbar_zone_menu_changes_every_time_and_the_clock_ticks(
    browser, live_server, admin_user, finished_run, screenshot
):
    from tests.conftest import PASSWORD

    context = browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id="Asia/Seoul")
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", admin_user.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        run_page = f"{live_server.url}/dags/example_xcom/runs/{finished_run.run_id}/"
        page.goto(run_page)
        assert "2024-01-01 00:00:00 UTC" in page.locator("main").inner_text()
        clock = page.locator("#navbar-clock")
        first = clock.inner_text()
        page.wait_for_function(f"() => document.getElementById('navbar-clock').textContent !== {first!r}")

        page.locator("#tz-toggle").click()
        local = page.locator("button.tz-local")
        assert local.inner_text() == "Local (Asia/Seoul)"  # the browser's zone, known only there
        screenshot("timezone_menu")
        local.click()
        page.wait_for_url(run_page)
        assert "2024-01-01 09:00:00 KST" in page.locator("main").inner_text()
        assert page.locator("#tz-toggle .tz-abbr").inner_text() == "KST"

        page.locator("#tz-toggle").click()
        page.fill("#tz-other", "America/New_York")
        page.locator(".tz-other-form button[type=submit]").click()
        page.wait_for_url(run_page)
        assert "2023-12-31 19:00:00 EST" in page.locator("main").inner_text()

        page.locator("#tz-toggle").click()
        page.fill("#tz-other", "Nowhere/Land")
        page.locator(".tz-other-form button[type=submit]").click()
        page.wait_for_url(run_page)
        assert "Unknown time zone" in page.locator(".alert-dismissible.alert-danger").inner_text()
        assert "2023-12-31 19:00:00 EST" in page.locator("main").inner_text()
    finally:
        context.close()


LOG = (
    "[2024-01-01 00:00:05,120] {runner.py} INFO - Starting attempt 1 of 1 of example_xcom.bash_pull\n"
    "[2024-01-01 00:00:05,200] {operators.py:12} WARNING - a warning line that is long enough to wrap on a phone "
    + "x" * 120
    + "\n"
    + "".join(f"[2024-01-01 00:00:05,3{i:02d}] {{operators.py:20}} INFO - output line {i}\n" for i in range(80))
    + "[2024-01-01 00:00:06,001] {runner.py:410} ERROR - Task failed with exception\n"
    "Traceback (most recent call last):\n"
    "ValueError: the two values differ\n"
    "[2024-01-01 00:00:06,002] {runner.py} INFO - Task exited; state recorded: failed\n"
)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1440, 400])
def test_the_log_viewer_filters_levels_wraps_jumps_to_the_error_and_downloads(
    page, login, admin_user, finished_run, live_server, screenshot, scheme, width
):
    ti = TaskInstance.objects.select_related("dag_run__dag").get(dag_run=finished_run, task_id="bash_pull")
    path = ti.log_path(1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(LOG)
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)
    login(admin_user.username)
    page.goto(f"{live_server.url}/dags/example_xcom/runs/{finished_run.run_id}/tasks/bash_pull/log/")
    lines = page.locator("#log-content .log-line")
    assert lines.count() == LOG.count("\n")
    screenshot(f"log_viewer_{scheme}_{width}")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width

    page.locator("label[for=log-level-error]").click()
    visible = page.locator("#log-content .log-line:visible")
    assert visible.count() == 3  # the ERROR line and its traceback
    assert "Task failed with exception" in visible.first.inner_text()
    page.locator("label[for=log-level-all]").click()
    assert page.locator("#log-content .log-line:visible").count() == lines.count()

    page.locator("#log-first-error").click()
    error = page.locator("#log-content .log-jump")
    assert error.count() == 1 and "ERROR" in error.inner_text()
    box, pre = error.bounding_box(), page.locator("#log-content").bounding_box()
    assert pre["y"] <= box["y"] <= pre["y"] + pre["height"]  # scrolled into the log's view

    page.locator("label[for=log-wrap]").click()
    assert "log-nowrap" in page.locator("#log-content").get_attribute("class")
    page.reload()
    assert "log-nowrap" in page.locator("#log-content").get_attribute("class")  # remembered
    page.locator("label[for=log-wrap]").click()

    with page.expect_download() as download:
        page.locator("#log-download").click()
    assert download.value.suggested_filename.endswith("bash_pull-attempt=1.log")
    assert Path(download.value.path()).read_text() == LOG

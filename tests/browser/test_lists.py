"""The lists in Chromium (issue 14): the DAG list's pill counts and its refresh while runs are
live; the Browse pages' bulk select, confirmation and action. Screenshots at 1,440 and 400 px,
light and dark."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from dags_app.models import DagModel
from runs_app import services
from runs_app.models import DagRun, TaskInstance
from runs_app.states import DagRunState, DagRunType


def _runs(dag_id: str, states: list[str]) -> list[DagRun]:
    dag = DagModel.objects.get(dag_id=dag_id)
    made = []
    for day, state in enumerate(states):
        when = dt.datetime(2024, 1, 1 + day, tzinfo=dt.UTC)
        run = services.dag_run_create(dag=dag, logical_date=when, run_type=DagRunType.SCHEDULED, now=timezone.now())
        DagRun.objects.filter(pk=run.pk).update(state=state, start_date=when, end_date=when + dt.timedelta(hours=1))
        TaskInstance.objects.filter(dag_run=run).update(
            state="failed" if state == "failed" else "success", try_number=1
        )
        made.append(run)
    return made


def _fits(page, width: int) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1440, 400])
def test_the_dag_list_counts_its_pills_and_refreshes_while_a_run_is_live(
    page, login, admin_user, example_dags, live_server, screenshot, scheme, width
):
    running = _runs("example_xcom", ["running"])[0]
    _runs("tutorial", ["failed"])
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)
    login(admin_user.username)
    page.goto(f"{live_server.url}/")
    total = DagModel.objects.filter(is_active=True).count()
    assert page.locator(".status-all .status-count").inner_text() == str(total)
    assert page.locator(".status-running .status-count").inner_text() == "1"
    assert page.locator(".status-failed .status-count").inner_text() == "1"
    assert page.locator("#dag-list-live-indicator").is_visible()
    assert _fits(page, width)
    screenshot(f"dag_list_pills_{scheme}_{width}")

    # The run ends: within one refresh the list says so, and stops refreshing.
    DagRun.objects.filter(pk=running.pk).update(state=DagRunState.SUCCESS)
    page.locator(".status-running .status-count", has_text="0").wait_for(timeout=15_000)
    assert page.locator("#dag-list-live-indicator").count() == 0
    assert page.locator("#dag-list-live").get_attribute("hx-trigger") is None


def test_an_open_links_menu_is_not_swept_away_by_a_refresh(page, login, admin_user, example_dags, live_server):
    _runs("example_xcom", ["running"])
    login(admin_user.username)
    page.goto(f"{live_server.url}/")
    page.locator("button.dag-links-toggle").first.click()
    menu = page.locator(".dropdown-menu.show")
    assert menu.is_visible()
    page.wait_for_timeout(6_500)  # longer than one refresh (5 s)
    assert menu.is_visible()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1440, 400])
def test_browse_runs_ticked_marked_after_a_confirmation(
    page, login, user_user, example_dags, live_server, screenshot, scheme, width
):
    runs = _runs("example_xcom", ["failed", "failed", "failed", "failed"])
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)
    login(user_user.username)
    page.goto(f"{live_server.url}/browse/runs/?dag_id=example_xcom")
    apply = page.locator("#bulk-apply")
    assert apply.is_disabled()  # nothing ticked yet
    boxes = page.locator("input.bulk-select")
    assert boxes.count() == 4
    boxes.nth(0).click()
    boxes.nth(2).click(modifiers=["Shift"])  # a range: rows 1 to 3
    assert page.locator("#bulk-count").inner_text() == "3"
    assert page.locator("#bulk-all").evaluate("el => el.indeterminate")
    page.select_option("#bulk-action", "mark_success")
    assert _fits(page, width)
    screenshot(f"browse_runs_selected_{scheme}_{width}")
    apply.click()

    page.wait_for_url(f"{live_server.url}/browse/runs/bulk/")
    assert "Mark success: 3 DAG runs" in page.locator("h1").inner_text()
    assert page.locator(".confirm-items li").count() == 3
    assert set(DagRun.objects.values_list("state", flat=True)) == {DagRunState.FAILED}
    assert _fits(page, width)
    screenshot(f"browse_runs_confirm_{scheme}_{width}")
    page.get_by_role("button", name="Yes, mark success").click()

    page.wait_for_url(f"{live_server.url}/browse/runs/?dag_id=example_xcom")
    assert "Marked 3 DAG run(s) success." in page.locator(".alert-success").inner_text()
    states = [DagRun.objects.get(pk=run.pk).state for run in runs]
    # The page lists the newest first: the three ticked are days 4, 3 and 2.
    assert states == ["failed", "success", "success", "success"]


def test_browse_task_instances_select_all_and_clear(page, login, user_user, example_dags, live_server, screenshot):
    run = _runs("example_xcom", ["failed"])[0]
    login(user_user.username)
    page.goto(f"{live_server.url}/browse/task-instances/?dag_id=example_xcom")
    page.locator("#bulk-all").check()
    count = TaskInstance.objects.filter(dag_run=run).count()
    assert page.locator("#bulk-count").inner_text() == str(count)
    page.select_option("#bulk-action", "clear")
    page.locator("#bulk-apply").click()
    page.get_by_role("button", name="Yes, clear").click()
    page.wait_for_url(f"{live_server.url}/browse/task-instances/?dag_id=example_xcom")
    assert f"Cleared {count} task instance(s)." in page.locator(".alert-success").inner_text()
    assert set(TaskInstance.objects.filter(dag_run=run).values_list("state", flat=True)) <= {
        "none",
        "scheduled",
        "queued",
    }
    screenshot("browse_task_instances_cleared")

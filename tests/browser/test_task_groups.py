"""Task groups in Chromium, with a real scheduler and worker running ``example_task_group_etl``:
the graph opens and closes groups by clicking them, the grid folds group rows. Screenshots go to
build/screenshots/ (task_groups_*.png)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from runs_app.models import DagRun
from runs_app.states import DagRunState, TaskInstanceState
from tests.browser.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

DAG_ID = "example_task_group_etl"


def test_a_task_group_dag_runs_and_its_groups_open_and_fold_in_graph_and_grid(
    page, login, admin_user, system, live_server, screenshot, cli
):
    cli("dags", "unpause", DAG_ID)
    cli("dags", "trigger", DAG_ID, "-e", "2024-03-01")
    run = DagRun.objects.get(dag__dag_id=DAG_ID)
    finished = {DagRunState.SUCCESS, DagRunState.FAILED}
    wait_for(lambda: DagRun.objects.get(pk=run.pk).state in finished, 90)
    run.refresh_from_db()
    states = dict(run.task_instances.values_list("task_id", "state"))
    assert run.state == DagRunState.SUCCESS, states
    assert set(states.values()) == {TaskInstanceState.SUCCESS}
    assert sorted(states) == [
        "customers.extract",
        "customers.keep_active",
        "end",
        "load",
        "orders.clean.dedupe",
        "orders.clean.validate",
        "orders.extract",
        "publish",
        "start",
        "summary",
    ]
    log = run.task_instances.get(task_id="load").log_path().read_text()
    assert "loading 1 orders of 1 active customers" in log

    login(admin_user.username)
    graph = f"{live_server.url}/dags/{DAG_ID}/graph/?run_id={quote(run.run_id)}"
    page.goto(graph)
    groups = page.locator("#graph-box .group-node")
    assert groups.count() == 3  # orders, customers, report: closed at first
    expect(page.locator("#group-orders")).to_have_attribute("data-state", "success")
    screenshot("task_groups_graph_collapsed")

    page.locator("#group-orders").click()
    page.wait_for_url("**expanded=orders**")
    assert page.locator("#cluster-orders").is_visible()
    assert page.locator("[id='task-orders.extract']").is_visible()
    assert page.locator("[id='group-orders.clean']").is_visible()  # nested: still closed
    page.locator("[id='group-orders.clean']").click()
    page.wait_for_url("**expanded=orders%2Corders.clean**")
    assert page.locator("[id='task-orders.clean.dedupe']").is_visible()
    screenshot("task_groups_graph_expanded")
    # Clicking a task inside a group opens its panel; clicking the group's frame closes the group.
    page.locator("[id='task-orders.clean.dedupe']").click()
    page.locator("#task-modal.show").wait_for()
    assert "orders.clean.dedupe" in page.locator("#task-modal .modal-title").inner_text()
    page.locator("#task-modal .btn-close").click()
    page.locator("#task-modal").wait_for(state="hidden")
    page.locator("#cluster-orders text").first.click()  # the frame's label
    page.wait_for_url(lambda url: "expanded=orders" not in url)
    assert page.locator("#group-orders").is_visible()

    page.goto(f"{live_server.url}/dags/{DAG_ID}/grid/?run_id={quote(run.run_id)}")
    dedupe = page.locator("tr[data-parents='orders orders.clean']").first
    assert not dedupe.is_visible()  # groups start folded
    screenshot("task_groups_grid_folded")
    page.locator("[data-group-toggle='orders']").click()
    page.locator("[data-group-toggle='orders.clean']").click()
    assert dedupe.is_visible()
    assert page.locator("[data-group-toggle='orders']").get_attribute("aria-expanded") == "true"
    screenshot("task_groups_grid_open")
    # The open groups are remembered: a reload keeps them open.
    page.reload()
    assert page.locator("tr[data-parents='orders orders.clean']").first.is_visible()
    page.locator("[data-group-toggle='orders']").click()
    assert not page.locator("tr[data-parents='orders orders.clean']").first.is_visible()

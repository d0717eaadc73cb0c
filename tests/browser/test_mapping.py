"""Dynamic task mapping in Chromium, with a real scheduler and worker running
``example_dynamic_task_mapping``: the graph labels mapped tasks with their number of instances,
the grid's panel lists the instances and opens each one's log. Screenshots go to
build/screenshots/ (mapping_*.png)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from runs_app.models import DagRun
from runs_app.states import DagRunState, TaskInstanceState
from tests.browser.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

DAG_ID = "example_dynamic_task_mapping"


def test_a_mapped_dag_runs_and_its_instances_show_in_graph_grid_and_logs(
    page, login, admin_user, system, live_server, screenshot, cli
):
    cli("dags", "unpause", DAG_ID)
    cli("dags", "trigger", DAG_ID, "-e", "2024-03-01")
    run = DagRun.objects.get(dag__dag_id=DAG_ID)
    wait_for(lambda: DagRun.objects.get(pk=run.pk).state in {DagRunState.SUCCESS, DagRunState.FAILED}, 90)
    run.refresh_from_db()
    rows = set(run.task_instances.values_list("task_id", "map_index", "state"))
    assert run.state == DagRunState.SUCCESS, rows
    assert {(t, i) for t, i, _ in rows if t == "count_rows"} == {
        ("count_rows", 0),
        ("count_rows", 1),
        ("count_rows", 2),
    }
    assert {s for _, _, s in rows} == {TaskInstanceState.SUCCESS}

    login(admin_user.username)
    page.goto(f"{live_server.url}/dags/{DAG_ID}/graph/?run_id={quote(run.run_id)}")
    expect(page.locator("[id='task-count_rows']")).to_contain_text("count_rows [3]")
    expect(page.locator("[id='task-greet']")).to_contain_text("greet [2]")
    screenshot("mapping_graph")

    page.goto(f"{live_server.url}/dags/{DAG_ID}/grid/?run_id={quote(run.run_id)}")
    cell = page.locator("a.grid-cell-mapped[href*='task_id=count_rows']")
    expect(cell).to_have_attribute(
        "title", "count_rows\nrun: " + run.run_id + "\nstate: success\nmapped: 3 instances\n  success: 3"
    )
    cell.click()
    panel = page.locator(".mapped-instances")
    expect(panel).to_contain_text("Mapped instances: 3")
    expect(panel.locator("tbody tr")).to_have_count(3)
    expect(panel).to_contain_text("sales_apac.csv")
    screenshot("mapping_grid_panel")

    panel.get_by_role("link", name="sales_us.csv").click()
    expect(page.locator("h2")).to_contain_text("count_rows [sales_us.csv]")
    page.get_by_role("link", name="Log", exact=False).first.click()
    expect(page.locator("body")).to_contain_text("sales_us.csv: 120 rows")
    screenshot("mapping_instance_log")

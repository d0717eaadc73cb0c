"""The Assets pages in Chromium: from the navbar to the list, the search, an asset's page with its
event and the run it triggered, and a consumer DAG's details linking back to the asset it is
scheduled on. Screenshots: build/screenshots/assets_*.png."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.web.test_assets import asset_world

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _no_horizontal_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_the_assets_pages_show_producers_consumers_events_and_triggered_runs(
    page, login, viewer_user, live_server, screenshot, dag_file, sync
):
    world = asset_world(dag_file, sync)
    login(viewer_user.username)

    page.get_by_role("link", name="Assets", exact=True).click()
    page.wait_for_url("**/assets/")
    rows = page.locator("tr.asset-row")
    expect(rows).to_have_count(2)
    orders = rows.filter(has_text="s3://lake/orders.parquet")
    expect(orders.locator(".asset-producers")).to_have_text("produce_orders.extract")
    expect(orders.locator(".asset-consumers")).to_have_text("report_orders")
    expect(rows.filter(has_text="2024-05-01.csv").locator(".asset-consumers")).to_contain_text("via daily-files")
    assert _no_horizontal_overflow(page)
    screenshot("assets_list")

    page.fill("input[name=search]", "parquet")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)

    orders.get_by_role("link", name="orders", exact=True).click()
    page.wait_for_url(f"**{world['orders'].get_absolute_url()}")
    event = page.locator("tr.asset-event")
    expect(event).to_have_count(1)
    expect(event).to_contain_text("<script>alert(1)</script>")  # shown as text, never run
    expect(event.locator(".asset-triggered-runs")).to_contain_text(world["triggered"].run_id)
    expect(page.locator(".asset-aliases")).to_have_text("-")
    assert _no_horizontal_overflow(page)
    screenshot("assets_detail")

    event.get_by_role("link", name=world["triggered"].run_id).click()
    page.wait_for_url("**/dags/report_orders/runs/**")
    expect(page.locator("body")).to_contain_text("report_orders")

    page.goto(f"{live_server.url}/dags/report_orders/details/")
    expect(page.locator(".schedule-assets")).to_have_text("orders")
    screenshot("assets_dag_details")
    page.locator(".schedule-assets").get_by_role("link", name="orders").click()
    page.wait_for_url(f"**{world['orders'].get_absolute_url()}")

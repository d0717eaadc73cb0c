"""The REST API's browsable docs in Chromium: Swagger UI served from the project's static files
(no CDN), listing the API's routes, and a request made from the page with the web session.
Screenshot: build/screenshots/api_docs.png."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_api_docs_page_lists_the_routes_and_calls_the_api_with_the_session(
    page, login, viewer_user, live_server, screenshot, example_dags
):
    blocked = []
    page.on("requestfailed", lambda request: blocked.append(request.url))
    outside = []
    page.on(
        "request", lambda request: outside.append(request.url) if not request.url.startswith(live_server.url) else None
    )
    login(viewer_user.username)

    page.get_by_role("button", name="Docs").click()
    page.get_by_role("link", name="REST API Reference").click()
    page.wait_for_url("**/api/v2/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Airflow API")
    expect(page.locator(".opblock-summary-path", has_text="/api/v2/dags/{dag_id}/dagRuns").first).to_be_visible()

    # Try it out on GET /api/v2/version, with the browser's session.
    block = page.locator(".opblock", has=page.locator(".opblock-summary-path", has_text="/api/v2/version"))
    block.locator(".opblock-summary").click()
    block.get_by_role("button", name="Try it out").click()
    block.get_by_role("button", name="Execute").click()
    expect(block.locator(".response .microlight").first).to_contain_text("3.3.0")
    screenshot("api_docs")
    assert not outside, outside  # no CDN: every asset comes from the project
    assert not blocked, blocked

"""The trigger form of a DAG with params, in Chromium: a field per param, a refused value shown
on the form, and a run whose conf holds the typed values. Screenshots: build/screenshots/params_*.png."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from runs_app.models import DagRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_trigger_form_is_built_from_the_params_and_checks_them(
    page, login, admin_user, live_server, screenshot, cli
):
    cli("dags", "list")  # parse the example folder
    login(admin_user.username)
    page.goto(f"{live_server.url}/dags/example_params_trigger/trigger/")
    expect(page.locator("input[name=param__times]")).to_have_attribute("type", "number")
    expect(page.locator("input[name=param__day]")).to_have_attribute("type", "date")
    expect(page.locator("select[name=param__tone]")).to_be_visible()
    expect(page.locator("input[name=param__english]")).to_be_checked()
    screenshot("params_trigger_form")

    # The number field's own bounds stop 9 in the browser; a conf that says 9 reaches the server.
    page.fill("input[name=param__times]", "")
    page.fill("textarea[name=conf]", '{"times": 9}')
    page.get_by_role("button", name="Trigger").click()
    expect(page.locator("body")).to_contain_text("Invalid input for param times: 9 is greater than the maximum of 5")
    screenshot("params_trigger_refused")
    assert not DagRun.objects.filter(dag__dag_id="example_params_trigger").exists()

    page.fill("input[name=param__times]", "1")
    page.select_option("select[name=param__tone]", label="formal")
    page.uncheck("input[name=param__german]")
    page.get_by_role("button", name="Trigger").click()
    page.wait_for_url("**/grid/**")
    run = DagRun.objects.get(dag__dag_id="example_params_trigger")
    assert run.conf["times"] == 1 and run.conf["tone"] == "formal" and run.conf["german"] is False
    assert run.conf["names"] == ["Linda", "Martha", "Thomas"]

"""Log in as each role through the real form, in Chromium."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("persona", ["admin_user", "op_user", "user_user", "viewer_user"])
def test_each_role_logs_in_and_sees_the_dag_list(persona, request, page, login, example_dags, screenshot, live_server):
    user = request.getfixturevalue(persona)
    login(user.username)
    assert page.locator("h1", has_text="DAGs").is_visible()
    assert page.locator("tr[data-dag-id=example_xcom]").is_visible()
    screenshot(f"dag_list_{persona}")


def test_anonymous_visitor_is_sent_to_the_login_page(page, live_server, screenshot):
    page.goto(f"{live_server.url}/dags/example_xcom/grid/")
    assert "/login/" in page.url
    assert "next=" in page.url
    screenshot("login")


def test_wrong_password_shows_an_error(page, live_server, viewer_user):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", viewer_user.username)
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    assert page.locator(".alert, .invalid-feedback, .errorlist").first.is_visible()


def test_viewer_sees_no_action_buttons(page, login, example_dags, viewer_user):
    login(viewer_user.username)
    row = page.locator("tr[data-dag-id=example_xcom]")
    assert row.locator("a[title='Trigger DAG']").count() == 0
    assert row.locator("a[title='Delete DAG']").count() == 0
    assert row.locator("input.pause-toggle").is_disabled()

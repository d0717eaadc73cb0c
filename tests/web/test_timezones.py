"""The navbar's time zone (issue 14): chosen per user, every page's times in it, no extra query."""

from __future__ import annotations

import pytest
from django.urls import reverse

from orchestrator_site.timezones import SESSION_KEY
from runs_app.models import DagRun, UserPreference
from tests.conftest import PASSWORD
from tests.web.test_dag_views import DAG_ID, count_queries, make_run, url

pytestmark = pytest.mark.django_db


@pytest.fixture
def dag(dag_file, sync):
    from tests.web.test_dag_views import write_dag

    return write_dag(dag_file, sync)


def choose(client, zone: str, next_url: str = "/"):
    return client.post(reverse("runs:set-timezone"), {"timezone": zone, "next": next_url})


def test_choosing_a_zone_stores_it_for_the_user_and_pages_show_times_in_it(client, viewer_user, dag):
    run = make_run(dag, 0)  # logical date 2024-01-01 00:00 UTC
    client.force_login(viewer_user)
    page = url("runs:run", DAG_ID, run.run_id)
    assert "2024-01-01 00:00:00" in client.get(page).content.decode()

    response = choose(client, "Asia/Seoul", next_url=page)

    assert response.status_code == 302 and response["Location"] == page
    assert UserPreference.objects.get(user=viewer_user).timezone == "Asia/Seoul"
    html = client.get(page).content.decode()
    assert "2024-01-01 09:00:00" in html  # UTC+9
    assert 'data-tz="Asia/Seoul"' in html and ">KST<" in html  # the navbar's clock and zone


def test_an_unknown_zone_is_refused_with_a_message_and_nothing_changes(client, viewer_user, dag):
    client.force_login(viewer_user)
    choose(client, "Asia/Seoul")

    response = choose(client, "Mars/Olympus_Mons", next_url=reverse("runs:dag-list"))

    assert response.status_code == 302
    assert UserPreference.objects.get(user=viewer_user).timezone == "Asia/Seoul"
    html = client.get(response["Location"]).content.decode()
    assert "Unknown time zone &#x27;Mars/Olympus_Mons&#x27;" in html


def test_the_zone_follows_the_user_to_a_new_login(client, viewer_user, dag):
    UserPreference.objects.create(user=viewer_user, timezone="America/New_York")

    client.post(reverse("login"), {"username": viewer_user.username, "password": PASSWORD})

    assert client.session[SESSION_KEY] == "America/New_York"
    make_run(dag, 0)
    run = DagRun.objects.get()
    html = client.get(url("runs:run", DAG_ID, run.run_id)).content.decode()
    assert "2023-12-31 19:00:00" in html  # UTC-5


def test_a_zone_costs_no_query_on_the_grid(client, viewer_user, dag):
    for day in range(3):
        make_run(dag, day)
    client.force_login(viewer_user)
    grid = url("runs:grid", DAG_ID)
    in_utc = count_queries(client, grid)
    choose(client, "Europe/Paris")

    assert count_queries(client, grid) == in_utc


def test_the_gantt_axis_names_the_chosen_zone(client, viewer_user, dag):
    run = make_run(dag, 0)
    client.force_login(viewer_user)
    choose(client, "Asia/Kolkata")

    html = client.get(url("runs:gantt", DAG_ID, run_id=run.run_id)).content.decode()

    assert "(Asia/Kolkata)" in html


def test_choosing_a_zone_needs_a_post(client, viewer_user):
    client.force_login(viewer_user)
    assert client.get(reverse("runs:set-timezone")).status_code == 405

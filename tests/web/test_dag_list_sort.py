"""The DAG list sorted by each column and filtered by runs (issue 14: lists that scale)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from dags_app.models import DagModel
from runs_app.models import DagRun
from runs_app.states import DagRunState, DagRunType

pytestmark = pytest.mark.django_db
BASE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def dags():
    """alpha: latest run failed (an older one succeeded); beta: a run running; gamma: no run."""
    made = {
        dag_id: DagModel.objects.create(
            dag_id=dag_id, fileloc=f"/x/{dag_id}.py", owners=owner, timetable_summary=summary,
            next_dagrun=BASE + dt.timedelta(days=days),
        )
        for dag_id, owner, summary, days in (
            ("alpha", "zed", "@daily", 3), ("beta", "amy", "@hourly", 1), ("gamma", "max", "None", 2),
        )
    }  # fmt: skip
    for dag_id, day, state in (("alpha", 0, "success"), ("alpha", 5, "failed"), ("beta", 2, "running")):
        when = BASE + dt.timedelta(days=day)
        DagRun.objects.create(
            dag=made[dag_id], run_id=f"manual__{when.isoformat()}", logical_date=when,
            run_type=DagRunType.MANUAL, state=state,
        )  # fmt: skip
    return made


def listed(client, query: str) -> list[str]:
    html = client.get("/" + query).content.decode()
    return re.findall(r'<tr data-dag-id="([^"]+)"', html)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["alpha", "beta", "gamma"]),
        ("?sort=dag_id&order=desc", ["gamma", "beta", "alpha"]),
        ("?sort=owner", ["beta", "gamma", "alpha"]),
        ("?sort=schedule", ["alpha", "beta", "gamma"]),  # "@daily" < "@hourly" < "None"
        ("?sort=next_run", ["beta", "gamma", "alpha"]),
        ("?sort=last_run&order=desc", ["alpha", "beta", "gamma"]),  # a DAG without runs comes last
        ("?sort=last_run", ["beta", "alpha", "gamma"]),
        ("?sort=nonsense", ["alpha", "beta", "gamma"]),  # an unknown column: the default order
    ],
)
def test_the_dag_list_sorts_by_each_column(client, viewer_user, dags, query, expected):
    client.force_login(viewer_user)
    assert listed(client, query) == expected


def test_running_and_failed_keep_the_dags_with_a_live_run_or_a_failed_latest_run(client, viewer_user, dags):
    client.force_login(viewer_user)
    assert listed(client, "?status=running") == ["beta"]
    assert listed(client, "?status=failed") == ["alpha"]
    DagRun.objects.filter(dag__dag_id="alpha", state=DagRunState.FAILED).update(state=DagRunState.SUCCESS)
    assert listed(client, "?status=failed") == []
    assert listed(client, "?status=exploded") == ["alpha", "beta", "gamma"]


def test_headers_link_to_their_sort_and_a_second_click_reverses_it(client, viewer_user, dags):
    client.force_login(viewer_user)
    html = client.get("/?sort=owner&status=running").content.decode()

    assert 'href="?status=running&amp;sort=owner&amp;order=desc"' in html  # the sorted column flips
    assert 'href="?status=running&amp;sort=dag_id&amp;order=asc"' in html
    assert 'aria-sort="ascending"' in html and "bi-sort-up" in html
    assert "status-failed" in html and "status-running active" in html


def pill_counts(html: str) -> dict[str, int]:
    return {
        key: int(n)
        for key, n in re.findall(r'status-(\w+)[^"]*"[^>]*>[^<]+<span class="badge[^"]*">(\d+)</span>', html)
    }


def test_the_pills_count_the_dags_behind_them_among_the_search(client, viewer_user, dags):
    DagModel.objects.update(is_paused=False)
    DagModel.objects.filter(dag_id="gamma").update(is_paused=True)
    client.force_login(viewer_user)

    html = client.get("/").content.decode()
    assert pill_counts(html) == {"all": 3, "active": 2, "paused": 1, "running": 1, "failed": 1}
    # The counts follow the search and the tag, not the pill chosen.
    assert pill_counts(client.get("/?search=a&status=paused").content.decode()) == {
        "all": 3, "active": 2, "paused": 1, "running": 1, "failed": 1,
    }  # fmt: skip
    assert pill_counts(client.get("/?search=gam").content.decode()) == {
        "all": 1, "active": 0, "paused": 1, "running": 0, "failed": 0,
    }  # fmt: skip
    # The pager's total is the chosen pill's count.
    assert listed(client, "?status=paused") == ["gamma"]


def test_the_pills_count_only_the_dags_the_user_may_read(client, viewer_user, dags):
    DagModel.objects.update(is_paused=False)
    DagModel.objects.filter(dag_id="alpha").update(access_control={"SomeoneElse": ["can_read"]})
    client.force_login(viewer_user)
    html = client.get("/").content.decode()
    assert pill_counts(html) == {"all": 2, "active": 2, "paused": 0, "running": 1, "failed": 0}
    assert listed(client, "") == ["beta", "gamma"]


def test_the_list_refreshes_itself_only_while_a_run_is_queued_or_running(client, viewer_user, dags):
    client.force_login(viewer_user)
    html = client.get("/?sort=owner").content.decode()
    assert 'id="dag-list-live" hx-get="/?sort=owner" hx-trigger="every 5s" hx-select="#dag-list-live"' in html
    assert "dag-list-live-indicator" in html and "js/dag_list.js" in html

    DagRun.objects.filter(state=DagRunState.RUNNING).update(state=DagRunState.SUCCESS)
    html = client.get("/?sort=owner").content.decode()
    assert 'id="dag-list-live">' in html and "hx-trigger" not in html.split('id="dag-list-live"')[1][:200]
    assert "dag-list-live-indicator" not in html

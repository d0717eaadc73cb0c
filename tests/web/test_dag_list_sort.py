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

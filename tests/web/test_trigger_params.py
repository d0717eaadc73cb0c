"""Params (issue 12, part 5): JSON-schema validation of a run's params at trigger time (web, CLI,
services), and the trigger form built from the DAG's params."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError
from django.urls import reverse

from dags_app.models import DagModel
from runs_app.models import DagRun

SOURCE = """
import datetime
from dags_app.sdk import DAG, EmptyOperator, Param

with DAG(
    "with_params",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    params={
        "count": Param(5, type="integer", minimum=1, maximum=10, description="How many batches"),
        "mode": Param("fast", enum=["fast", "safe"], title="Mode"),
        "dry_run": Param(False, type="boolean"),
        "day": Param("2024-01-01", type="string", format="date"),
        "options": Param({"retries": 1}, type="object"),
        "who": "plain default",
        "fail": False,
        "limit": 3,
    },
) as dag:
    EmptyOperator(task_id="a")
"""


@pytest.fixture
def dag(db, dag_file, sync) -> DagModel:
    dag_file("with_params.py", SOURCE)
    assert sync().import_errors == 0
    return DagModel.objects.get(dag_id="with_params")


@pytest.fixture
def admin(client, admin_user):
    client.force_login(admin_user)
    return client


def test_the_trigger_form_has_a_field_of_each_param_s_type_with_its_default_and_description(admin, dag):
    html = admin.get(reverse("runs:dag-trigger", args=["with_params"])).content.decode()

    assert 'type="number" name="param__count" value="5"' in html and 'min="1"' in html and 'max="10"' in html
    assert "How many batches" in html
    assert ('<select name="param__mode"' in html and ">Mode<" in html) or "Mode" in html
    assert 'type="checkbox" name="param__dry_run"' in html
    assert 'type="date" name="param__day" value="2024-01-01"' in html
    assert 'name="param__options"' in html and "&quot;retries&quot;: 1" in html
    assert 'name="param__who" value="plain default"' in html
    # Plain values get the field of their type: a checkbox for a bool, a number for an int.
    assert 'type="checkbox" name="param__fail"' in html and 'type="number" name="param__limit" value="3"' in html


def test_the_form_s_params_are_merged_into_the_conf_with_their_types(admin, dag):
    response = admin.post(
        reverse("runs:dag-trigger", args=["with_params"]),
        {
            "param__count": "7",
            "param__mode": '"safe"',
            "param__dry_run": "on",
            "param__day": "2024-02-29",
            "param__options": '{"retries": 3}',
            "param__who": "me",
            "conf": '{"extra": true}',
        },
    )

    assert response.status_code == 302
    run = DagRun.objects.get(dag=dag)
    assert run.conf == {
        "extra": True,
        "count": 7,
        "mode": "safe",
        "dry_run": True,
        "day": "2024-02-29",
        "options": {"retries": 3},
        "who": "me",
        "fail": False,
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"param__count": "0"}, "Ensure this value is greater than or equal to 1"),  # the number field's bound
        (
            {"conf": '{"count": 0}', "param__count": ""},
            "Invalid input for param count: 0 is less than the minimum of 1",
        ),
        ({"conf": '{"day": "not-a-date"}', "param__day": ""}, "day: &#x27;not-a-date&#x27; is not a &#x27;date&#x27;"),
        ({"param__options": "{broken"}, "Not valid JSON"),
    ],
)
def test_a_param_that_does_not_fit_its_schema_is_a_form_error_and_no_run(admin, dag, fields, message):
    response = admin.post(reverse("runs:dag-trigger", args=["with_params"]), {"conf": "{}", **fields})

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not DagRun.objects.exists()


def test_dags_trigger_checks_the_conf_against_the_params(cli, dag):
    with pytest.raises(CommandError, match="Invalid input for param mode: 'slow' is not one of"):
        cli("dags", "trigger", "with_params", "-c", '{"mode": "slow"}')
    with pytest.raises(CommandError, match="count: 11 is greater than the maximum of 10"):
        cli("dags", "trigger", "with_params", "-c", '{"count": 11}')
    assert not DagRun.objects.exists()
    cli("dags", "trigger", "with_params", "-c", '{"count": 2}')
    assert DagRun.objects.get().conf == {"count": 2}


def test_a_bad_default_is_an_import_error(dag_file, sync, db):
    dag_file("bad_default.py", SOURCE.replace('"with_params"', '"bad_default"').replace("Param(5,", "Param(50,"))
    assert sync().import_errors == 1
    from dags_app.models import DagImportError

    assert (
        "invalid default for param 'count': 50 is greater than the maximum of 10"
        in DagImportError.objects.get().message
    )

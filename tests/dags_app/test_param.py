"""Params without a default (dags_app/sdk/param.py): allowed in the DAG file, as in Airflow, and
required when a run is triggered."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management.base import CommandError

from dags_app.models import DagImportError
from dags_app.sdk import DAG, AirflowException, EmptyOperator, Param
from dags_app.sdk.param import ParamValidationError
from runs_app.models import DagRun

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_a_param_without_a_default_passes_the_dag_s_check():
    dag = DAG(
        "required",
        schedule=None,
        start_date=START,
        params={"name": Param(None, type="string"), "tag": Param(type="string", minLength=1)},
    )
    with dag:
        EmptyOperator(task_id="a")

    dag.validate()


def test_a_bad_default_that_is_given_is_still_refused():
    dag = DAG("bad", schedule=None, start_date=START, params={"n": Param("five", type="integer")})
    with dag:
        EmptyOperator(task_id="a")

    with pytest.raises(AirflowException, match="invalid default for param 'n': 'five' is not of type 'integer'"):
        dag.validate()


def test_a_required_param_resolves_to_the_value_given_and_refuses_none():
    param = Param(None, type="string")

    assert param.resolve() is None  # the default alone: nothing to check yet
    assert param.resolve("ada") == "ada"
    with pytest.raises(ParamValidationError, match="None is not of type 'string'"):
        param.resolve(None)


def test_a_nullable_param_accepts_none():
    assert Param(None, type=["null", "string"]).resolve(None) is None


SOURCE = """
import datetime
from airflow.sdk import DAG, Param
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(
    "needs_a_name",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    params={
        "required_field": Param(None, type="string", title="Name", description="Required."),
        "optional_field": Param("x", type=["null", "string"]),
    },
) as dag:
    EmptyOperator(task_id="a")
"""


def test_a_dag_with_a_required_param_parses_and_a_trigger_must_give_it(db, dag_file, sync, cli):
    dag_file("needs_a_name.py", SOURCE)
    assert sync().import_errors == 0, DagImportError.objects.values_list("message", flat=True)

    with pytest.raises(CommandError, match="Invalid input for param required_field: None is not of type 'string'"):
        cli("dags", "trigger", "needs_a_name")
    assert not DagRun.objects.exists()

    cli("dags", "trigger", "needs_a_name", "-c", '{"required_field": "ada"}')
    assert DagRun.objects.get().conf == {"required_field": "ada"}


def test_a_run_s_params_name_a_required_param_its_conf_does_not_give():
    from dags_app.sdk.param import resolve_params

    params = {"required_field": Param(None, type="string"), "n": Param(1, type="integer"), "plain": "x"}

    assert resolve_params(params, {"required_field": "ada"}) == {"required_field": "ada", "n": 1, "plain": "x"}
    with pytest.raises(ParamValidationError, match="Invalid input for param required_field: None is not of type"):
        resolve_params(params, {})

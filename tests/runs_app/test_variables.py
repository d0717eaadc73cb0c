"""Variables (issue 12, part 2): the model and its services, ``Variable`` in DAG code and
templates, ``AIRFLOW_VAR_<KEY>``, the ``variables`` CLI, and the admin page for Op and Admin."""

from __future__ import annotations

import json

import pytest
from django.core.management.base import CommandError
from django.urls import reverse

from dags_app.errors import ServiceError
from dags_app.sdk import Variable
from runs_app import services
from runs_app.models import AuditLog, TaskInstance, XCom
from runs_app.models import Variable as VariableRow
from runs_app.states import DagRunState
from tests.runs_app.test_runner import executes_tasks, run_dag

pytestmark = pytest.mark.django_db


# -- Variable in DAG code -------------------------------------------------------------------------


def test_variable_get_reads_the_metastore_with_defaults_json_and_a_key_error():
    services.variable_set(key="bucket", value="s3://data")
    services.variable_set(key="limits", value='{"rows": 10}')

    assert Variable.get("bucket") == "s3://data"
    assert Variable.get("limits", deserialize_json=True) == {"rows": 10}
    assert Variable.get("missing", default_var=None) is None
    assert Variable.get("missing", default="x") == "x"  # Airflow 3's spelling
    with pytest.raises(KeyError, match="Variable missing does not exist"):
        Variable.get("missing")


def test_the_environment_wins_over_the_metastore(monkeypatch):
    services.variable_set(key="region", value="eu-west-1")
    monkeypatch.setenv("AIRFLOW_VAR_REGION", "us-east-1")
    monkeypatch.setenv("AIRFLOW_VAR_ONLY_ENV", '["a", "b"]')

    assert Variable.get("region") == "us-east-1"
    assert Variable.get("only_env", deserialize_json=True) == ["a", "b"]


def test_variable_set_and_delete_from_dag_code_go_through_the_services():
    Variable.set("made", {"n": 1}, description="by a task", serialize_json=True)
    row = VariableRow.objects.get(key="made")
    assert (json.loads(row.val), row.description) == ({"n": 1}, "by a task")
    assert Variable.delete("made") == 1
    assert list(AuditLog.objects.order_by("pk").values_list("event", "source")) == [
        ("variable_set", "task"),
        ("variable_delete", "task"),
    ]


def test_a_bad_key_is_refused_with_its_reason():
    with pytest.raises(ServiceError, match="variable key"):
        services.variable_set(key="has space", value="x")


@executes_tasks
def test_a_task_reads_variables_in_code_and_in_templates(write_dag, monkeypatch):
    services.variable_set(key="greeting", value="hello")
    services.variable_set(key="config", value='{"target": "warehouse", "tables": ["a", "b"]}')
    monkeypatch.setenv("AIRFLOW_VAR_FROM_ENV", "env-value")
    write_dag(
        "uses_vars",
        """\
    from dags_app.sdk import Variable, task

    BashOperator(
        task_id="templated",
        bash_command="echo {{ var.value.greeting }} {{ var.json.config.target }} {{ var.value.from_env }} "
        "{{ var.value.get('nope', 'fallback') }}",
    )

    @task
    def in_code():
        return [Variable.get("greeting"), Variable.get("config", deserialize_json=True)["tables"]]

    in_code()
""",
    )

    run, final = run_dag("uses_vars")

    assert final == DagRunState.SUCCESS
    values = dict(XCom.objects.filter(dag_run=run).values_list("task_id", "value"))
    assert values["templated"] == "hello warehouse env-value fallback"
    assert values["in_code"] == ["hello", ["a", "b"]]
    rendered = TaskInstance.objects.get(dag_run=run, task_id="templated").rendered_fields
    assert rendered["bash_command"] == "echo hello warehouse env-value fallback"


# -- the CLI --------------------------------------------------------------------------------------


def test_cli_set_get_list_delete(cli):
    assert cli("variables", "set", "bucket", "s3://data", "--description", "where data lands") == (
        "Variable bucket created\n"
    )
    assert cli("variables", "set", "cfg", '{"a": 1}', "-j") == "Variable cfg created\n"
    assert cli("variables", "get", "bucket") == "s3://data\n"
    assert json.loads(cli("variables", "get", "cfg", "--json")) == {"a": 1}
    assert cli("variables", "get", "nope", "-d", "fallback") == "fallback\n"
    listed = json.loads(cli("variables", "list", "-o", "json"))
    assert listed == [{"key": "bucket", "description": "where data lands"}, {"key": "cfg", "description": ""}]
    assert cli("variables", "delete", "bucket") == "Variable bucket deleted\n"
    with pytest.raises(CommandError, match="Variable bucket does not exist"):
        cli("variables", "get", "bucket")
    with pytest.raises(CommandError, match="Variable bucket does not exist"):
        cli("variables", "delete", "bucket")
    with pytest.raises(CommandError, match="is not valid JSON"):
        cli("variables", "set", "bad", "{nope", "--json")


def test_cli_export_then_import_round_trips_and_import_is_all_or_nothing(cli, tmp_path):
    services.variable_set(key="text", value="plain")
    services.variable_set(key="data", value='{"x": [1, 2]}')
    path = tmp_path / "vars.json"

    assert cli("variables", "export", str(path)) == f"2 variables successfully exported to {path}\n"
    assert json.loads(path.read_text()) == {"data": {"x": [1, 2]}, "text": "plain"}
    VariableRow.objects.all().delete()
    assert cli("variables", "import", str(path)) == "2 of 2 variables successfully updated\n"
    assert Variable.get("data", deserialize_json=True) == {"x": [1, 2]}
    assert Variable.get("text") == "plain"

    path.write_text(json.dumps({"text": "changed", "new": "n"}))
    with pytest.raises(CommandError, match="These keys exist already: text"):
        cli("variables", "import", str(path), "--action-on-existing-key", "fail")
    assert not VariableRow.objects.filter(key="new").exists()  # nothing imported
    out = cli("variables", "import", str(path), "-a", "skip")
    assert out == "1 of 2 variables successfully updated (1 existing skipped)\n"
    assert Variable.get("text") == "plain"

    path.write_text("[1, 2]")
    with pytest.raises(CommandError, match="one JSON object"):
        cli("variables", "import", str(path))
    path.write_text("{broken")
    with pytest.raises(CommandError, match="Invalid variables file"):
        cli("variables", "import", str(path))
    with pytest.raises(CommandError, match="Cannot read"):
        cli("variables", "import", str(tmp_path / "absent.json"))


# -- the admin page (Op and Admin only) --------------------------------------------------------


def test_op_manages_variables_in_the_admin_and_a_secret_value_is_masked(client, op_user):
    client.force_login(op_user)
    add = reverse("admin:runs_app_variable_add")
    response = client.post(add, {"key": "db_password", "val": "hunter2", "description": "the DB's"})
    assert response.status_code == 302
    services.variable_set(key="plain", value="visible")

    page = client.get(reverse("admin:runs_app_variable_changelist")).content.decode()

    assert "db_password" in page and "***" in page and "hunter2" not in page
    assert "visible" in page
    assert AuditLog.objects.filter(event="variable_set", source="admin", user=op_user).count() == 1
    row = VariableRow.objects.get(key="db_password")
    client.post(reverse("admin:runs_app_variable_delete", args=[row.pk]), {"post": "yes"})
    assert not VariableRow.objects.filter(key="db_password").exists()
    assert AuditLog.objects.filter(event="variable_delete", source="admin").count() == 1


def test_viewer_and_user_cannot_see_variables(client, viewer_user, user_user):
    services.variable_set(key="api_token", value="tok")
    for who in (viewer_user, user_user):
        client.force_login(who)
        assert client.get(reverse("admin:runs_app_variable_changelist")).status_code == 403
        assert "Variables" not in client.get(reverse("runs:dag-list")).content.decode()

"""Connections (issue 12, part 3): secrets encrypted at rest with Fernet, the URI form,
``AIRFLOW_CONN_<ID>``, ``BaseHook.get_connection`` and ``{{ conn.id.host }}``, the ``connections``
CLI, ``rotate-fernet-key``, and the admin page for Op and Admin."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet
from django.core.management.base import CommandError
from django.db import connection as db
from django.urls import reverse

from dags_app.errors import ServiceError
from dags_app.sdk.connection import AirflowNotFoundException, BaseHook, Connection, parse_uri
from runs_app import services
from runs_app.models import AuditLog, XCom
from runs_app.models import Connection as ConnectionRow
from runs_app.states import DagRunState
from tests.runs_app.test_runner import executes_tasks, run_dag

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-P@ss/word"


def raw_row(conn_id: str) -> str:
    """Every column of the stored row, as the database holds it."""
    with db.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ConnectionRow._meta.db_table} WHERE conn_id = %s", [conn_id])
        return " ".join(str(value) for value in cursor.fetchone())


def add_db(**extra_fields) -> ConnectionRow:
    fields = {
        "conn_type": "postgres",
        "host": "db.internal",
        "schema": "warehouse",
        "login": "etl",
        "password": SECRET,
        "port": 5432,
        "extra": {"sslmode": "require", "api_token": "tok-123"},
        **extra_fields,
    }
    return services.connection_set(conn_id="warehouse_db", fields=fields)


def test_the_password_and_extra_are_encrypted_at_rest_and_read_back_in_clear():
    row = add_db()

    stored = raw_row("warehouse_db")
    assert SECRET not in stored and "tok-123" not in stored and "sslmode" not in stored
    assert "db.internal" in stored  # the host is not a secret
    assert row.password == SECRET
    assert json.loads(row.extra) == {"sslmode": "require", "api_token": "tok-123"}


def test_base_hook_get_connection_reads_the_metastore_and_the_environment_wins(monkeypatch):
    add_db()

    found = BaseHook.get_connection("warehouse_db")
    assert (found.conn_type, found.host, found.login, found.password, found.port) == (
        "postgres",
        "db.internal",
        "etl",
        SECRET,
        5432,
    )
    assert found.extra_dejson == {"sslmode": "require", "api_token": "tok-123"}
    assert Connection.get("warehouse_db").schema == "warehouse"

    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_DB", "postgres://other:pw%2F1@replica.internal:6432/wh?sslmode=disable")
    monkeypatch.setenv("AIRFLOW_CONN_API", json.dumps({"conn_type": "http", "host": "api.example.com", "port": 443}))
    env = BaseHook.get_connection("warehouse_db")
    assert (env.host, env.login, env.password, env.port, env.schema) == (
        "replica.internal",
        "other",
        "pw/1",
        6432,
        "wh",
    )
    assert env.extra_dejson == {"sslmode": "disable"}
    assert BaseHook.get_connection("api").port == 443
    with pytest.raises(AirflowNotFoundException, match="The conn_id `nope` isn't defined"):
        BaseHook.get_connection("nope")


def test_the_uri_form_round_trips_quoting_and_a_nested_extra():
    conn = Connection(
        conn_id="x",
        conn_type="google_cloud_platform",
        host="h",
        login="a@b",
        password="p:w/d",
        port=1,
        schema="s",
        extra={"nested": {"k": [1, 2]}},
    )
    uri = conn.get_uri()
    assert uri.startswith("google-cloud-platform://a%40b:p%3Aw%2Fd@h:1/s?__extra__=")
    back = parse_uri(uri)
    assert (back["conn_type"], back["login"], back["password"], back["extra"]) == (
        "google_cloud_platform",
        "a@b",
        "p:w/d",
        {"nested": {"k": [1, 2]}},
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host": "h"}, "a connection type is required"),
        ({"conn_type": "http", "port": "eighty"}, "the port must be a number"),
        ({"conn_type": "http", "extra": "{broken"}, "the extra is not valid JSON"),
        ({"conn_type": "http", "extra": "[1]"}, "the extra must be a JSON object"),
        ({"conn_type": "http", "colour": "red"}, "unknown field(s) colour"),
    ],
)
def test_bad_fields_are_refused_with_the_reason(fields, message):
    with pytest.raises(ServiceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        services.connection_set(conn_id="bad", fields=fields)
    assert not ConnectionRow.objects.exists()


@executes_tasks
def test_a_task_reads_a_connection_in_code_and_in_templates(write_dag):
    add_db()
    write_dag(
        "uses_conn",
        """\
    from dags_app.sdk import task
    from dags_app.sdk.connection import BaseHook

    BashOperator(task_id="templated", bash_command="echo {{ conn.warehouse_db.host }}:{{ conn.warehouse_db.port }}")

    @task
    def in_code():
        conn = BaseHook.get_connection("warehouse_db")
        return [conn.login, conn.extra_dejson["sslmode"]]

    in_code()
""",
    )

    run, final = run_dag("uses_conn")

    assert final == DagRunState.SUCCESS
    values = dict(XCom.objects.filter(dag_run=run).values_list("task_id", "value"))
    assert values == {"templated": "db.internal:5432", "in_code": ["etl", "require"]}


# -- the CLI --------------------------------------------------------------------------------------


def test_cli_add_get_list_delete_never_print_the_password(cli):
    out = cli(
        "connections", "add", "api", "--conn-uri", f"http://bot:{SECRET.replace('/', '%2F')}@api.example.com:8080"
    )
    assert out == "Successfully added `conn_id`=api : http://api.example.com\n"
    cli("connections", "add", "files", "--conn-type", "fs", "--conn-extra", '{"path": "/data"}')
    cli("connections", "add", "js", "--conn-json", '{"conn_type": "http", "host": "j", "password": "pw"}')
    assert ConnectionRow.objects.get(conn_id="api").password == SECRET

    got = json.loads(cli("connections", "get", "api", "-o", "json"))
    assert got[0]["password"] == "***" and got[0]["port"] == 8080 and got[0]["login"] == "bot"
    listed = cli("connections", "list", "-o", "json")
    assert SECRET not in listed and "pw" not in json.dumps([c["password"] for c in json.loads(listed)])
    assert [c["conn_id"] for c in json.loads(listed)] == ["api", "files", "js"]
    assert cli("connections", "delete", "files") == "Successfully deleted connection with `conn_id`=files\n"

    with pytest.raises(CommandError, match="already exists"):
        cli("connections", "add", "api", "--conn-type", "http")
    with pytest.raises(CommandError, match="Must supply either conn-uri or conn-json"):
        cli("connections", "add", "x")
    with pytest.raises(CommandError, match="Connection not found: files"):
        cli("connections", "get", "files")
    with pytest.raises(CommandError, match="Did not find a connection"):
        cli("connections", "delete", "files")
    with pytest.raises(CommandError, match="the port must be a number"):
        cli("connections", "add", "p", "--conn-type", "http", "--conn-port", "x")


def test_cli_create_default_connections_adds_the_missing_ones_only(cli):
    out = cli("connections", "create-default-connections")
    assert "Successfully added `conn_id`=fs_default" in out
    assert ConnectionRow.objects.get(conn_id="fs_default").conn_type == "fs"
    assert cli("connections", "create-default-connections") == "The default connections exist already\n"


def test_cli_export_then_import_round_trips_and_skips_existing_unless_overwrite(cli, tmp_path):
    add_db()
    path = tmp_path / "conns.json"
    assert cli("connections", "export", str(path)) == f"1 connections successfully exported to {path}.\n"
    exported = json.loads(path.read_text())
    assert exported["warehouse_db"]["password"] == SECRET
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    ConnectionRow.objects.all().delete()
    assert cli("connections", "import", str(path)) == "Imported 1 connection(s)\n"
    assert BaseHook.get_connection("warehouse_db").password == SECRET
    path.write_text(json.dumps({"warehouse_db": "postgres://new@h", "other": "http://o"}))
    assert cli("connections", "import", str(path)) == "Imported 1 connection(s); 1 existing skipped (use --overwrite)\n"
    assert cli("connections", "import", str(path), "--overwrite") == "Imported 2 connection(s)\n"
    assert BaseHook.get_connection("warehouse_db").login == "new"
    path.write_text('{"bad": 3}')
    with pytest.raises(CommandError, match="expected an object of fields or a URI"):
        cli("connections", "import", str(path))


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("conns.yaml", []),
        ("conns.env", []),
        ("conns.env", ["--serialization-format", "json"]),
        ("out", ["--file-format", "yaml"]),
    ],
)
def test_cli_exports_and_imports_yaml_and_env_files_as_airflow(cli, tmp_path, name, options):
    add_db()
    path = tmp_path / name
    assert cli("connections", "export", str(path), *options) == f"1 connections successfully exported to {path}.\n"
    text = path.read_text()
    if name.endswith(".env"):
        assert text.startswith("warehouse_db=") and ("postgres://" in text) == (not options)
    else:
        assert "conn_type: postgres" in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    ConnectionRow.objects.all().delete()
    if name == "out":
        path = path.rename(tmp_path / "out.yml")
    assert cli("connections", "import", str(path)) == "Imported 1 connection(s)\n"
    conn = BaseHook.get_connection("warehouse_db")
    assert (conn.password, conn.conn_type) == (SECRET, "postgres")


def test_a_bad_env_or_yaml_file_is_one_clear_error(cli, tmp_path):
    (tmp_path / "bad.env").write_text("# a comment\nno equals sign here\n")
    with pytest.raises(CommandError, match="line 2 is not conn_id=value"):
        cli("connections", "import", str(tmp_path / "bad.env"))
    (tmp_path / "bad.yaml").write_text("a: [unclosed\n")
    with pytest.raises(CommandError, match="Invalid connections file"):
        cli("connections", "import", str(tmp_path / "bad.yaml"))


def test_rotate_fernet_key_re_encrypts_with_the_new_first_key(cli, settings):
    old = settings.FERNET_KEY
    add_db()
    before = raw_row("warehouse_db")
    new = Fernet.generate_key().decode()
    settings.FERNET_KEY = f"{new},{old}"

    assert cli("rotate-fernet-key") == "Re-encrypted the secrets of 1 connection(s) with the first FERNET_KEY\n"

    assert raw_row("warehouse_db") != before
    settings.FERNET_KEY = new  # the old key dropped: still readable
    assert ConnectionRow.objects.get(conn_id="warehouse_db").password == SECRET
    settings.FERNET_KEY = Fernet.generate_key().decode()  # a wrong key: a clear error, no traceback
    with pytest.raises(ServiceError, match="cannot be decrypted with the configured FERNET_KEY"):
        ConnectionRow.objects.get(conn_id="warehouse_db").password  # noqa: B018


# -- the admin page -------------------------------------------------------------------------------


def test_op_adds_and_edits_a_connection_in_the_admin_without_the_password_ever_shown(client, op_user):
    client.force_login(op_user)
    form = {
        "conn_id": "web_api",
        "conn_type": "http",
        "description": "",
        "host": "api.example.com",
        "schema": "",
        "login": "bot",
        "port": "443",
        "password": SECRET,
        "extra": '{"token": "tok-999"}',
    }
    assert client.post(reverse("admin:runs_app_connection_add"), form).status_code == 302
    row = ConnectionRow.objects.get(conn_id="web_api")
    assert SECRET not in raw_row("web_api") and "tok-999" not in raw_row("web_api")

    change = reverse("admin:runs_app_connection_change", args=[row.pk])
    page = client.get(change).content.decode()
    assert SECRET not in page
    # Saved again with the password left empty: the stored one is kept.
    assert client.post(change, {**form, "password": "", "host": "api2.example.com"}).status_code == 302
    row.refresh_from_db()
    assert (row.host, row.password) == ("api2.example.com", SECRET)
    listing = client.get(reverse("admin:runs_app_connection_changelist")).content.decode()
    assert "web_api" in listing and SECRET not in listing
    bad = client.post(reverse("admin:runs_app_connection_add"), {**form, "conn_id": "bad", "extra": "[1]"})
    assert bad.status_code == 200 and "the extra must be a JSON object" in bad.content.decode()
    assert AuditLog.objects.filter(event="connection_set", source="admin", user=op_user).count() == 2


def test_viewer_and_user_cannot_see_connections(client, viewer_user, user_user):
    add_db()
    for who in (viewer_user, user_user):
        client.force_login(who)
        assert client.get(reverse("admin:runs_app_connection_changelist")).status_code == 403
        assert "Connections" not in client.get(reverse("runs:dag-list")).content.decode()

"""Secrets masking (issue 12, part 4): a Connection's password and a sensitive Variable's value
never appear in clear in the database, a task log, a page or an error, including values a task
prints itself (or a command it runs prints), its rendered fields, its XComs and its failure."""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from dags_app.sdk.secrets import SecretsMasker, mask_secret, masker
from runs_app import services
from runs_app.masking import PageMasker
from runs_app.models import Connection, Variable, XCom
from runs_app.states import DagRunState
from tests.runs_app.test_runner import executes_tasks, run_dag

PASSWORD = "Hunter2-S3cr3t-Pa55"
TOKEN = "tok_Zq81LmX0pA"
UNFETCHED = "Never-Fetched-But-Stored-77"

LEAKY = """\
import subprocess
from airflow.sdk import DAG, task, Variable
from airflow.hooks.base import BaseHook
from airflow.providers.standard.operators.bash import BashOperator

with DAG("leaky", schedule=None):
    @task
    def show():
        conn = BaseHook.get_connection("warehouse")
        print("password:", conn.password)
        print("token:", Variable.get("api_token"))
        subprocess.run(["echo", "from a command: " + conn.password], check=True)
        return {"pw": conn.password, "token": Variable.get("api_token")}

    @task
    def prints_unfetched():
        # A secret the task never fetched (read from a file here): the web masks it on the page.
        import os, pathlib
        print(pathlib.Path(os.environ["UNFETCHED_FILE"]).read_text())

    @task
    def fails():
        raise RuntimeError("login refused for " + BaseHook.get_connection("warehouse").password)

    show() >> prints_unfetched() >> fails()
    BashOperator(
        task_id="templated",
        bash_command="echo {{ conn.warehouse.password }} $TOKEN",
        env={"TOKEN": "{{ var.value.api_token }}"},
    )
"""


def test_the_masker_masks_registered_values_whole_and_sensitive_keys():
    m = SecretsMasker()
    m.add("abc")  # too short to mask: it would garble every line
    m.add({"password": "p4ssw0rd!", "host": "db.example.com", "nested": {"api_key": "k3y-k3y-k3y"}})
    assert m.redact_text("abc p4ssw0rd! db.example.com k3y-k3y-k3y") == "abc *** db.example.com ***"
    assert m.redact({"env": {"DB_PASSWORD": "anything", "X": "p4ssw0rd!x"}}) == {
        "env": {"DB_PASSWORD": "***", "X": "***x"}
    }
    m.add("p4ssw0rd!-longer")
    assert m.redact_text("p4ssw0rd!-longer") == "***"  # the longer secret first, whole


def test_mask_secret_registers_in_this_process():
    mask_secret("registered-here-123")
    assert masker().redact_text("x registered-here-123 y") == "x *** y"


@pytest.mark.django_db
def test_the_web_masker_knows_stored_secrets_and_rebuilds_when_they_change(django_assert_max_num_queries):
    services.connection_set(conn_id="c1", fields={"conn_type": "http", "password": "first-secret-1"})
    services.variable_set(key="my_secret", value="variable-secret-1")
    services.variable_set(key="plain", value="not-a-secret-1")
    with django_assert_max_num_queries(2):
        page = PageMasker()
        assert page.text("first-secret-1 variable-secret-1 not-a-secret-1") == "*** *** not-a-secret-1"
    services.connection_set(conn_id="c1", fields={"conn_type": "http", "password": "second-secret-2"}, replace=True)
    assert PageMasker().text("first-secret-1 second-secret-2") == "first-secret-1 ***"
    assert PageMasker().text("") == ""


def _crawl(client, start: list[str], limit: int = 400) -> dict[str, str]:
    """GET every page reachable from ``start`` by links of this site (no logout); {url: body}."""
    seen: dict[str, str] = {}
    todo = deque(start)
    while todo and len(seen) < limit:
        url = todo.popleft()
        if url in seen or "logout" in url:
            continue
        response = client.get(url)
        raw = b"".join(response.streaming_content) if response.streaming else response.content
        body = raw.decode(errors="replace")  # a log download streams: it is checked too
        seen[url] = body
        if response.status_code in (301, 302) and response.get("Location", "").startswith("/"):
            todo.append(response["Location"])
        for link in re.findall(r'(?:href|hx-get|src)="(/[^"#]*)"', body):
            link = link.replace("&amp;", "&")
            # (The RQ dashboard needs a Redis; its jobs hold ids only.)
            if (
                not link.startswith(("/static/", "/admin/jsi18n", "/admin/logout", "/admin/django_rq"))
                and link not in seen
            ):
                todo.append(link)
    return seen


@executes_tasks
def test_a_secret_never_appears_in_clear_in_the_database_a_log_a_page_or_an_error(
    dag_file, sync, client, admin_user, tmp_path, monkeypatch
):
    (tmp_path / "unfetched").write_text(UNFETCHED)
    monkeypatch.setenv("UNFETCHED_FILE", str(tmp_path / "unfetched"))
    services.connection_set(
        conn_id="warehouse",
        fields={"conn_type": "postgres", "host": "db.internal", "login": "etl", "password": PASSWORD},
    )
    services.variable_set(key="api_token", value=TOKEN)
    services.connection_set(conn_id="other", fields={"conn_type": "http", "password": UNFETCHED})
    dag_file("leaky.py", LEAKY)
    assert sync().import_errors == 0

    run, final = run_dag("leaky")
    assert final == DagRunState.FAILED  # `fails` fails, with the password in its message

    # The tasks did see the secrets: the XCom holds them whole, for the tasks that pull it.
    assert XCom.objects.get(dag_run=run, task_id="show").value == {"pw": PASSWORD, "token": TOKEN}

    # The database: the password exists only as a Fernet token.
    with connection.cursor() as cursor:
        cursor.execute("SELECT encrypted_password, encrypted_extra FROM runs_app_connection")
        assert all(PASSWORD not in str(row) and UNFETCHED not in str(row) for row in cursor.fetchall())

    # Every log file: masked, though each task printed (or its command echoed) the secret.
    logs = [p for p in Path(settings.LOGS_FOLDER).rglob("*") if p.is_file()]
    text = "\n".join(p.read_text(errors="replace") for p in logs)
    assert "password: ***" in text and "from a command: ***" in text and "token: ***" in text
    assert "login refused for ***" in text
    assert PASSWORD not in text and TOKEN not in text

    # Every page an Admin can reach from the DAG list and the admin: masked.
    client.force_login(admin_user)
    pages = _crawl(client, ["/", "/dags/leaky/grid/", "/browse/xcoms/", "/admin/"])
    ti_pages = f"/dags/leaky/runs/{run.run_id}/tasks/"
    for wanted in (
        ti_pages + "show/",
        ti_pages + "show/log/",
        ti_pages + "prints_unfetched/log/",
        ti_pages + "templated/",
        ti_pages + "fails/log/",
        "/browse/xcoms/",
        f"/admin/runs_app/xcom/{XCom.objects.get(dag_run=run, task_id='show').pk}/change/",
        f"/admin/runs_app/variable/{Variable.objects.get(key='api_token').pk}/change/",
        f"/admin/runs_app/connection/{Connection.objects.get(conn_id='warehouse').pk}/change/",
        "/admin/runs_app/auditlog/",
    ):
        assert wanted in pages, wanted
    assert "***" in pages[ti_pages + "prints_unfetched/log/"]
    assert any("Hunter2" not in body and "***" in body for body in pages.values())
    leaks = {url: secret for url, body in pages.items() for secret in (PASSWORD, TOKEN, UNFETCHED) if secret in body}
    assert not leaks, leaks

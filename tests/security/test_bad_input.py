"""Bad input gets a clear message (a form error, a 4xx, one CLI line), never a traceback or a row."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from dags_app.errors import ServiceError
from runs_app.conf import MAX_CONF_DEPTH, parse_conf, validate_conf
from runs_app.models import DagRun
from tests.web.test_dag_views import DAG_ID, write_dag

DEEP = "[" * 100_000 + "]" * 100_000  # past the JSON parser's recursion limit
NESTED = '{"a": ' * (MAX_CONF_DEPTH + 1) + "1" + "}" * (MAX_CONF_DEPTH + 1)  # parses, but too deep


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (DEEP, "nested more than 100 levels"),
        (NESTED, "nested more than 100 levels"),
        ("[1, 2]", "must be a JSON object"),
        ('"text"', "must be a JSON object"),
        ("null", "must be a JSON object"),
        ("{'a': 1}", "Invalid JSON in the conf"),
        ('{"a": "' + "x" * (1024 * 1024) + '"}', "the limit is 1,048,576 (MAX_CONF_BYTES)"),
    ],
)
def test_the_conf_parser_refuses_with_a_message(raw, message):
    with pytest.raises(ServiceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_conf(raw)


def test_a_conf_within_the_limits_is_returned():
    assert parse_conf('{"a": {"b": [1, 2]}}') == {"a": {"b": [1, 2]}}
    assert parse_conf("") == {} and parse_conf(None) == {}


def test_a_conf_object_too_deep_is_refused_without_recursing():
    value: dict = {}
    for _ in range(50_000):  # deeper than Python's stack: a recursive check would crash
        value = {"a": value}
    with pytest.raises(ServiceError, match="nested more than"):
        validate_conf(value)


@pytest.fixture
def dag(db, dag_file, sync):
    return write_dag(dag_file, sync)


@pytest.mark.django_db
@pytest.mark.parametrize("raw", [DEEP, NESTED, "[1]"])
def test_dags_trigger_with_bad_conf_is_one_clear_line_and_no_run(dag, raw):
    with pytest.raises(CommandError) as error:
        call_command("dags", "trigger", DAG_ID, "-c", raw)

    assert "\n" not in str(error.value) and "Recursion" not in str(error.value)
    assert not DagRun.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("raw", [DEEP, NESTED, "[1]", "{bad"])
def test_the_trigger_form_shows_a_bad_conf_as_a_form_error_and_makes_no_run(client, admin_user, dag, raw):
    client.force_login(admin_user)

    response = client.post(reverse("runs:dag-trigger", args=[DAG_ID]), {"conf": raw})

    assert response.status_code == 200
    assert "is-invalid" in response.content.decode() or "invalid-feedback" in response.content.decode()
    assert not DagRun.objects.exists()


@pytest.mark.django_db
def test_a_10_mb_trigger_post_is_a_400_not_a_500(client, admin_user, dag):
    client.force_login(admin_user)

    response = client.post(reverse("runs:dag-trigger", args=[DAG_ID]), {"conf": '{"a": "' + "x" * 10_000_000 + '"}'})

    assert response.status_code == 400
    assert "Nothing was changed" in response.content.decode()
    assert not DagRun.objects.exists()


# -- unknown ids and path traversal --------------------------------------------------------------

TRAVERSALS = ["..", "../..", "%2e%2e", "..%2f..%2fetc", "....//", "%00", "a%2fb"]


@pytest.mark.django_db
@pytest.mark.parametrize("segment", TRAVERSALS)
def test_traversal_in_url_ids_is_a_404_and_reads_no_file(client, admin_user, dag, segment):
    client.force_login(admin_user)
    run_id = DagRun.objects.create(dag=dag, run_id="r1", logical_date="2024-01-01T00:00:00Z").run_id
    paths = [
        f"/dags/{segment}/grid/",
        f"/dags/{segment}/code/",
        f"/dags/{DAG_ID}/runs/{segment}/",
        f"/dags/{DAG_ID}/runs/{run_id}/tasks/{segment}/log/",
        f"/dags/{DAG_ID}/runs/{segment}/tasks/extract/log/",
    ]
    for path in paths:
        response = client.get(path)
        assert response.status_code == (400 if "%00" in path else 404), (path, response.status_code)
        assert b"root:" not in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("try_number", ["-1", "0", "abc", "99999999999999999999", "1e3", "../1"])
def test_a_bad_try_number_in_the_log_view_is_a_clean_answer(client, admin_user, dag, try_number):
    client.force_login(admin_user)
    run = DagRun.objects.create(dag=dag, run_id="r1", logical_date="2024-01-01T00:00:00Z")
    from runs_app.services import task_instances_create

    task_instances_create(dag_run=run)

    response = client.get(f"/dags/{DAG_ID}/runs/r1/tasks/extract/log/", {"try_number": try_number})

    assert response.status_code in (200, 400, 404)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "argv",
    [
        ("dags", "trigger", "../../etc/passwd"),
        ("dags", "details", "../../etc/passwd"),
        ("tasks", "state", DAG_ID, "../../x", "2024-01-01"),
        ("tasks", "state", DAG_ID, "extract", "../../etc/passwd"),
        ("dags", "set-state", DAG_ID, "../r", "success"),
        ("tasks", "clear", DAG_ID, "-s", "garbage", "-y"),
        ("dags", "backfill", DAG_ID, "-s", "2022-13-45", "-e", "2022-01-02"),
        ("dags", "trigger", DAG_ID, "-e", "notadate"),
    ],
)
def test_bad_cli_arguments_are_one_clear_line(dag, argv):
    with pytest.raises(CommandError) as error:
        call_command(*argv)

    assert "\n" not in str(error.value) and "Traceback" not in str(error.value)


@pytest.mark.django_db
def test_nul_bytes_in_parameters_and_forms_are_a_400(client, admin_user, dag):
    client.force_login(admin_user)

    assert client.get("/", {"search": "a\x00b"}).status_code == 400
    assert client.get("/browse/runs/", {"dag_id": "\x00"}).status_code == 400
    assert client.post(reverse("runs:dag-trigger", args=[DAG_ID]), {"run_id": "x\x00"}).status_code == 400
    assert not DagRun.objects.exists()

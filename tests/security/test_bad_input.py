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

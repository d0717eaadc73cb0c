"""The CLI as a user runs it: ``python manage.py ...`` in a real process, its exit code and streams.

A user mistake is one clear line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model

from runs_app.models import DagRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def assert_one_line_error(done, message: str) -> None:
    """The command failed with exactly one stderr line containing ``message``, and no traceback."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert message in lines[0]


def test_trigger_of_an_unknown_dag_exits_non_zero_with_one_line(manage, example_dags):
    done = manage("dags", "trigger", "nope")

    assert_one_line_error(done, "Dag id nope not found in DagModel")


def test_trigger_with_a_malformed_date_exits_non_zero_with_one_line(manage, example_dags):
    done = manage("dags", "trigger", "-e", "2022-13-45", "x")

    assert_one_line_error(done, "Invalid --exec-date '2022-13-45'")


def test_trigger_with_invalid_json_conf_exits_non_zero_with_one_line(manage, example_dags):
    done = manage("dags", "trigger", "example", "-c", "{'a': 1}")

    assert_one_line_error(done, "Invalid JSON in the conf")
    assert not DagRun.objects.exists()


def test_trigger_with_a_json_list_conf_exits_non_zero_with_one_line(manage, example_dags):
    done = manage("dags", "trigger", "example", "-c", "[1, 2]")

    assert_one_line_error(done, 'The conf must be a JSON object, like {"key": "value"}, not a list')


def test_trigger_twice_at_one_date_exits_non_zero_with_one_line(manage, example_dags):
    assert manage("dags", "trigger", "example", "-e", "2024-02-03").returncode == 0

    done = manage("dags", "trigger", "example", "-e", "2024-02-03")

    assert_one_line_error(done, "A DAG Run already exists for DAG example at 2024-02-03T00:00:00+00:00")


def test_users_create_with_an_unknown_role_exits_non_zero_with_one_line(manage):
    done = manage(
        "users", "create", "--role", "Boss", "--username", "u1", "--email", "u1@example.com",
        "--firstname", "U", "--lastname", "One", "--password", "secret-pass",
    )  # fmt: skip

    assert_one_line_error(done, "Boss is not a valid role. Valid roles are: Admin, Op, User, Viewer")
    assert not get_user_model().objects.filter(username="u1").exists()


def test_users_create_of_a_duplicate_user_exits_non_zero_with_one_line(manage, viewer_user):
    done = manage(
        "users", "create", "--role", "User", "--username", "victor", "--email", "other@example.com",
        "--firstname", "V", "--lastname", "Two", "--password", "secret-pass",
    )  # fmt: skip

    assert_one_line_error(done, 'Username "victor" already exists')


def test_users_create_without_a_required_flag_exits_non_zero_with_one_line(manage):
    done = manage(
        "users", "create", "--username", "u1", "--email", "u1@example.com",
        "--firstname", "U", "--lastname", "One", "--password", "secret-pass",
    )  # fmt: skip

    assert_one_line_error(done, "the following arguments are required: -r/--role")


def test_unknown_subcommand_exits_non_zero_with_one_line(manage):
    done = manage("dags", "frobnicate")

    assert_one_line_error(done, "invalid choice: 'frobnicate'")


def test_seed_users_create_command_prints_the_user_and_role(manage):
    done = manage(
        "users", "create", "--role", "Admin", "--username", "psxyz", "--email", "qwer3@kakao.com",
        "--firstname", "k", "--lastname", "ps", "--password", "admin090",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'User "psxyz" created with role "Admin"'
    user = get_user_model().objects.get(username="psxyz")
    assert user.check_password("admin090") is True
    assert list(user.groups.values_list("name", flat=True)) == ["Admin"]


def test_dags_list_json_on_stdout_is_not_polluted_by_a_dag_file_printing(manage, example_dags, dag_file):
    dag_file(
        "noisy.py",
        "print('NOISE-FROM-DAG-FILE')\nfrom dags_app.sdk import DAG\ndag = DAG('noisy', schedule=None)\n",
    )

    done = manage("dags", "list", "-o", "json")

    assert done.returncode == 0, done.stderr
    assert [r["dag_id"] for r in json.loads(done.stdout)] == ["example", "noisy", "other"]


def test_dags_show_save_writes_an_svg_with_no_graphviz_warning(manage, example_dags, tmp_path):
    target = tmp_path / "example.svg"

    done = manage("dags", "show", "example", "--save", str(target))

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "<svg" in target.read_text()


def test_dags_trigger_in_a_subprocess_creates_the_run(manage, example_dags):
    done = manage("dags", "trigger", "example", "-e", "2024-02-03", "-c", '{"a": 1}')

    assert done.returncode == 0, done.stderr
    run = DagRun.objects.get()
    assert (run.dag.dag_id, run.conf) == ("example", {"a": 1})


def test_cheat_sheet_exits_zero_and_lists_dags_list(manage):
    done = manage("cheat-sheet")

    assert done.returncode == 0, done.stderr
    assert "python manage.py dags list" in done.stdout


def test_the_seed_s_airflow_commands_work_as_typed_there(airflow, example_dags):
    done = airflow(
        "users", "create", "--role", "Admin", "--username", "ps", "--email", "qwer3@kakao.com",
        "--firstname", "k", "--lastname", "ps", "--password", "admin090",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'User "ps" created with role "Admin"'

    listed = airflow("dags", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert [r["dag_id"] for r in json.loads(listed.stdout)] == ["example", "other"]

    triggered = airflow("dags", "trigger", "-e", "2022-01-01", "example")
    assert triggered.returncode == 0, triggered.stderr
    assert DagRun.objects.get().logical_date.date().isoformat() == "2022-01-01"

    assert airflow("version").stdout.startswith("3.3.0")
    assert "python manage.py dags list" in airflow().stdout  # no command: the cheat sheet
    assert_one_line_error(airflow("dags", "trigger", "nope"), "Dag id nope not found in DagModel")

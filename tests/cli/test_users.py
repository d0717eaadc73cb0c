"""``python manage.py users create|list|delete``: Airflow's ``airflow users`` subcommands."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

pytestmark = pytest.mark.django_db

SEED = (
    "users", "create", "--role", "Admin", "--username", "psxyz", "--email", "qwer3@kakao.com",
    "--firstname", "k", "--lastname", "ps", "--password", "admin090",
)  # fmt: skip


def create_args(role: str = "User", username: str = "newbie", email: str = "newbie@example.com") -> list[str]:
    return [
        "users", "create", "-r", role, "-u", username, "-e", email, "-f", "New", "-l", "Bie", "-p", "secret-pass",
    ]  # fmt: skip


def test_seed_users_create_prints_that_the_user_was_created_with_its_role(cli):
    assert cli(*SEED).strip() == 'User "psxyz" created with role "Admin"'


def test_seed_users_create_makes_a_user_who_can_log_in(cli):
    cli(*SEED)

    user = get_user_model().objects.get(username="psxyz")
    assert user.check_password("admin090") is True
    assert (user.email, user.first_name, user.last_name) == ("qwer3@kakao.com", "k", "ps")
    assert user.is_active is True


def test_seed_users_create_puts_the_user_in_the_admin_group(cli):
    cli(*SEED)

    user = get_user_model().objects.get(username="psxyz")
    assert list(user.groups.values_list("name", flat=True)) == ["Admin"]
    assert user.has_perm("auth.add_user") is True


def test_users_create_with_role_user_gives_user_permissions_only(cli):
    cli(*create_args(role="User"))

    user = get_user_model().objects.get(username="newbie")
    assert list(user.groups.values_list("name", flat=True)) == ["User"]
    assert user.is_superuser is False
    assert user.has_perm("dags_app.trigger_dag") is True
    assert user.has_perm("runs_app.add_pool") is False


def test_users_create_with_a_random_password_needs_no_password(cli):
    args = [a for a in create_args() if a not in ("-p", "secret-pass")]

    cli(*args, "--use-random-password")

    assert get_user_model().objects.get(username="newbie").has_usable_password() is True


def test_users_create_without_a_password_outside_a_terminal_fails(cli):
    args = [a for a in create_args() if a not in ("-p", "secret-pass")]

    with pytest.raises(CommandError, match=r"^Password is required: pass --password or --use-random-password$"):
        cli(*args)


def test_users_create_rejects_an_unknown_role(cli):
    with pytest.raises(CommandError, match=r"^Boss is not a valid role. Valid roles are: Admin, Op, User, Viewer$"):
        cli(*create_args(role="Boss"))
    assert not get_user_model().objects.filter(username="newbie").exists()


def test_users_create_rejects_a_duplicate_username(cli, viewer_user):
    with pytest.raises(CommandError, match=r'^Username "victor" already exists$'):
        cli(*create_args(username="victor"))


def test_users_create_rejects_a_duplicate_email(cli, viewer_user):
    with pytest.raises(CommandError, match=r'^Email "VICTOR@example.com" is already used by another user$'):
        cli(*create_args(email="VICTOR@example.com"))


def test_users_create_accepts_the_seeds_plain_email_as_airflow_does(cli):
    # The lecture notes' first user: `airflow users create ... --email ps ...`.
    cli("users", "create", "--role", "Admin", "--username", "ps", "--email", "ps",
        "--firstname", "ps", "--lastname", "ps", "--password", "ps")  # fmt: skip

    user = get_user_model().objects.get(username="ps")
    assert (user.email, user.check_password("ps"), user.is_superuser) == ("ps", True, True)


def test_users_create_rejects_a_blank_email(cli):
    with pytest.raises(CommandError, match=r"^The email must not be empty$"):
        cli(*create_args(email="  "))


def test_users_create_without_role_fails_naming_the_flag(cli):
    args = create_args()
    del args[2:4]

    with pytest.raises(CommandError, match="the following arguments are required: -r/--role"):
        cli(*args)


def test_users_list_table_shows_username_email_and_roles(cli, admin_user, viewer_user):
    out = cli("users", "list")

    header = out.splitlines()[1]
    for column in ("username", "email", "roles"):
        assert column in header
    row = next(line for line in out.splitlines() if "| victor " in line)
    assert "victor@example.com" in row
    assert "Viewer" in row


def test_users_list_json_has_username_email_and_roles(cli, admin_user, viewer_user):
    rows = json.loads(cli("users", "list", "-o", "json"))

    assert [{k: r[k] for k in ("username", "email", "roles")} for r in rows] == [
        {"username": "alice", "email": "alice@example.com", "roles": ["Admin"]},
        {"username": "victor", "email": "victor@example.com", "roles": ["Viewer"]},
    ]


def test_users_list_shows_a_user_without_role_with_no_roles(cli, outsider):
    [row] = json.loads(cli("users", "list", "-o", "json"))

    assert (row["username"], row["roles"]) == ("charlie", [])


def test_users_delete_by_username_removes_the_user(cli, viewer_user):
    out = cli("users", "delete", "-u", "victor")

    assert out.strip() == 'User "victor" deleted'
    assert not get_user_model().objects.filter(username="victor").exists()


def test_users_delete_by_email_removes_the_user(cli, viewer_user):
    cli("users", "delete", "--email", "victor@example.com")

    assert not get_user_model().objects.filter(username="victor").exists()


def test_users_delete_of_an_unknown_user_fails(cli):
    with pytest.raises(CommandError, match=r"^User nobody does not exist$"):
        cli("users", "delete", "-u", "nobody")


def test_users_delete_without_username_or_email_fails(cli):
    with pytest.raises(CommandError, match=r"^Give a username \(-u\) or an email \(-e\)$"):
        cli("users", "delete")

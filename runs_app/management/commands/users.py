"""``python manage.py users create|list|delete|add-role|remove-role``: Airflow's ``airflow users`` subcommands."""

from __future__ import annotations

import getpass
import secrets
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser

from orchestrator_site import accounts
from runs_app.cli import SubcommandCommand, add_output_argument


def _create_args(parser: CommandParser) -> None:
    parser.add_argument("-r", "--role", required=True, help="Role of the user: Admin, Op, User, Viewer or a team role")
    parser.add_argument("-u", "--username", required=True, help="Username of the user")
    parser.add_argument("-e", "--email", required=True, help="Email of the user")
    parser.add_argument("-f", "--firstname", required=True, help="First name of the user")
    parser.add_argument("-l", "--lastname", required=True, help="Last name of the user")
    parser.add_argument("-p", "--password", help="Password of the user (prompted for when omitted)")
    parser.add_argument(
        "--use-random-password", action="store_true", help="Do not prompt for password. Use random string instead."
    )


def _list_args(parser: CommandParser) -> None:
    add_output_argument(parser)


def _delete_args(parser: CommandParser) -> None:
    parser.add_argument("-u", "--username", help="Username of the user")
    parser.add_argument("-e", "--email", help="Email of the user")


def _role_args(parser: CommandParser) -> None:
    _delete_args(parser)
    parser.add_argument("-r", "--role", required=True, help="Name of the role")


class Command(SubcommandCommand):
    help = "Manage users: create, list, delete, add-role, remove-role."

    subcommands = {
        "create": ("Create a user", _create_args),
        "list": ("List users", _list_args),
        "delete": ("Delete a user", _delete_args),
        "add-role": ("Add role to a user", _role_args),
        "remove-role": ("Remove role from a user", _role_args),
    }

    def handle_create(
        self,
        *,
        role: str,
        username: str,
        email: str,
        firstname: str,
        lastname: str,
        password: str | None,
        use_random_password: bool,
        **_: Any,
    ) -> None:
        if use_random_password:
            password = secrets.token_urlsafe(16)
        elif not password:
            if not sys.stdin or not sys.stdin.isatty():
                raise CommandError("Password is required: pass --password or --use-random-password")
            password = getpass.getpass("Password:")
            if password != getpass.getpass("Repeat for confirmation:"):
                raise CommandError("Passwords did not match")
        accounts.user_create(
            username=username, email=email, first_name=firstname, last_name=lastname, password=password, role=role
        )
        self.stdout.write(f'User "{username}" created with role "{role}"')

    def handle_list(self, *, output: str, **_: Any) -> None:
        users = get_user_model().objects.order_by("id").prefetch_related("groups")
        rows = [
            {
                "id": u.pk,
                "username": u.username,
                "email": u.email,
                "first_name": u.first_name,
                "last_name": u.last_name,
                "roles": accounts.user_roles(u),
            }
            for u in users
        ]
        self.out(rows, output=output, columns=["id", "username", "email", "first_name", "last_name", "roles"])

    def handle_delete(self, *, username: str | None, email: str | None, **_: Any) -> None:
        name = accounts.user_delete(username=username, email=email)
        self.stdout.write(f'User "{name}" deleted')

    def handle_add_role(self, *, username: str | None, email: str | None, role: str, **_: Any) -> None:
        user = accounts.user_add_role(username=username, email=email, role=role)
        self.stdout.write(f'User "{user.get_username()}" added to role "{role}"')

    def handle_remove_role(self, *, username: str | None, email: str | None, role: str, **_: Any) -> None:
        user = accounts.user_remove_role(username=username, email=email, role=role)
        self.stdout.write(f'User "{user.get_username()}" removed from role "{role}"')

"""``python manage.py webserver -p 8080``: Airflow's spelling of ``runserver``."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Start the web server (development server; see README for gunicorn in production)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-p", "--port", type=int, default=8080, help="The port on which to run the server")
        parser.add_argument("-H", "--hostname", default="0.0.0.0", help="Set the hostname on which to run the server")

    def handle(self, *args: Any, port: int, hostname: str, **options: Any) -> None:
        call_command("runserver", f"{hostname}:{port}", use_reloader=False)

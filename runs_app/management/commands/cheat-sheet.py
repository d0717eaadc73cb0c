"""``python manage.py cheat-sheet``: every Airflow-style command on one page."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

SHEET = {
    "Miscellaneous commands": [
        ("cheat-sheet", "Display cheat sheet"),
        ("scheduler", "Start a scheduler instance"),
        ("webserver -p PORT", "Start the web server (also: runserver PORT)"),
        ("rqworker default", "Start a worker that runs tasks from the 'default' queue"),
    ],
    "Database operations": [
        ("db init", "Initialize the metadata database"),
        ("db migrate", "Migrate the metadata database to the latest version"),
        ("db check", "Check if the database can be reached"),
    ],
    "Manage DAGs": [
        ("dags list", "List all the DAGs"),
        ("dags list-import-errors", "List all the DAGs that have import errors"),
        ("dags report", "Show DagBag loading report"),
        ("dags details DAG_ID", "Get DAG details given a DAG id"),
        ("dags show DAG_ID", "Display a DAG's tasks with their dependencies"),
        ("dags pause DAG_ID", "Pause a DAG"),
        ("dags unpause DAG_ID", "Resume a paused DAG"),
        ("dags trigger DAG_ID [-e DATE] [-c CONF]", "Trigger a new DAG run"),
        ("dags list-runs DAG_ID", "List DAG runs given a DAG id"),
        ("dags delete DAG_ID", "Delete all DB records related to the specified DAG"),
        ("dags test DAG_ID [DATE]", "Execute one run of a DAG here, without Redis or a worker"),
        ("dags backfill -s START -e END DAG_ID", "Run a DAG for every schedule in a date range"),
        ("dags list-jobs", "List the scheduler and worker processes and their heartbeats"),
    ],
    "Manage tasks": [
        ("tasks list DAG_ID [--tree]", "List the tasks within a DAG"),
        ("tasks test DAG_ID TASK_ID [DATE]", "Test a task instance: run it here, print its log"),
        ("tasks run DAG_ID TASK_ID DATE_OR_RUN_ID", "Run a single task instance now"),
        ("tasks state DAG_ID TASK_ID DATE_OR_RUN_ID", "Get the status of a task instance"),
        ("tasks clear DAG_ID [-t REGEX] [-u] [-d] [-f]", "Clear task instances so they run again"),
        ("tasks states-for-dag-run DAG_ID RUN_ID", "Get the status of all task instances in a DAG run"),
    ],
    "Manage assets": [
        ("assets list [--alias] [--columns C,...]", "List assets (or asset aliases)"),
        ("assets details --name NAME | --uri URI [--alias]", "Show asset details"),
        ("assets events --name NAME | --uri URI [--limit N]", "List an asset's events, newest first"),
    ],
    "Manage users": [
        ("users create --role ROLE --username U --email E --firstname F --lastname L --password P", "Create a user"),
        ("users list", "List users"),
        ("users delete --username U", "Delete a user"),
        ("users add-role --username U --role ROLE", "Add role to a user"),
        ("users remove-role --username U --role ROLE", "Remove role from a user"),
    ],
    "Manage variables": [
        ("variables get KEY [-d DEFAULT] [-j]", "Get variable"),
        ("variables set KEY VALUE [--description D] [-j]", "Set variable"),
        ("variables delete KEY", "Delete variable"),
        ("variables list", "List variables"),
        ("variables import FILE [-a overwrite|fail|skip]", "Import variables"),
        ("variables export FILE", "Export all variables"),
    ],
    "Manage pools": [
        ("pools set NAME SLOTS DESCRIPTION", "Configure pool"),
        ("pools get NAME", "Get pool size (running, queued and open slots)"),
        ("pools delete NAME", "Delete pool"),
        ("pools list", "List pools"),
        ("pools import FILE", "Import pools"),
        ("pools export FILE", "Export all pools"),
    ],
    "Manage connections": [
        ("connections add CONN_ID --conn-uri URI | --conn-type T [--conn-host H ...]", "Add a connection"),
        ("connections get CONN_ID", "Get a connection (its password shown as ***)"),
        ("connections delete CONN_ID", "Delete a connection"),
        ("connections list", "List connections"),
        ("connections import FILE [--overwrite]", "Import connections from a file"),
        ("connections export FILE", "Export all connections (secrets in clear, file mode 0600)"),
        ("rotate-fernet-key", "Re-encrypt connection secrets with the first FERNET_KEY"),
    ],
    "Manage roles": [
        ("roles create ROLE [ROLE ...]", "Create a team role (for DAGs' access_control)"),
        ("roles delete ROLE [ROLE ...]", "Delete a team role"),
        ("roles list", "List roles"),
    ],
}


class Command(BaseCommand):
    help = "Display cheat sheet"

    def handle(self, *args: Any, **options: Any) -> None:
        width = max(len(cmd) for rows in SHEET.values() for cmd, _ in rows) + len("python manage.py ") + 2
        for title, rows in SHEET.items():
            self.stdout.write(title)
            for cmd, text in rows:
                self.stdout.write(f"  {('python manage.py ' + cmd).ljust(width)}| {text}")
            self.stdout.write("")

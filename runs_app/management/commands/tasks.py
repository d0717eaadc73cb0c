"""``python manage.py tasks ...``: Airflow's ``airflow tasks`` subcommands."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django.utils import timezone

from dags_app.services import dag_folder_sync
from runs_app.cli import SubcommandCommand, get_dag_or_error


def _list_args(parser: CommandParser) -> None:
    parser.add_argument("dag_id", help="The id of the DAG")
    parser.add_argument("-t", "--tree", action="store_true", help="Show the tasks as a tree from the roots")


class Command(SubcommandCommand):
    help = "Manage tasks: list."

    subcommands = {
        "list": ("List the tasks within a DAG", _list_args),
    }

    def handle_list(self, *, dag_id: str, tree: bool, **_: Any) -> None:
        dag_folder_sync(now=timezone.now())
        dag = get_dag_or_error(dag_id)
        if not tree:
            for task_id in sorted(dag.task_ids):
                self.stdout.write(task_id)
            return
        tasks = {t["task_id"]: t for t in dag.tasks}
        roots = sorted(tid for tid, t in tasks.items() if not t["upstream_task_ids"])

        def walk(task_id: str, depth: int) -> None:
            task = tasks[task_id]
            self.stdout.write(f"{'    ' * depth}<Task({task['operator']}): {task_id}>")
            for child in sorted(task["downstream_task_ids"]):
                walk(child, depth + 1)

        for root in roots:
            walk(root, 0)

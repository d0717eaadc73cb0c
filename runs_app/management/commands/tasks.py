"""``python manage.py tasks ...``: Airflow's ``airflow tasks`` subcommands."""

from __future__ import annotations

import re
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from dags_app.models import DagModel
from dags_app.services import dag_folder_sync
from dags_app.timetables import timetable_from_dict
from runs_app import runner, services, tries
from runs_app.cli import (
    SubcommandCommand,
    add_output_argument,
    confirm,
    get_dag_or_error,
    parse_conf,
    parse_datetime,
)
from runs_app.models import DagRun, TaskInstance
from runs_app.scheduling import InlineExecutor
from runs_app.states import TI_FAILED_LIKE, DagRunType, TaskInstanceState, aggregate_state


def _dag_task(parser: CommandParser) -> None:
    parser.add_argument("dag_id", help="The id of the DAG")
    parser.add_argument("task_id", help="The id of the task")
    parser.add_argument(
        "-m", "--map-index", type=int, default=-1, help="The instance of a mapped task (default -1: not mapped)"
    )


def _list_args(parser: CommandParser) -> None:
    parser.add_argument("dag_id", help="The id of the DAG")
    parser.add_argument("-t", "--tree", action="store_true", help="Show the tasks as a tree from the roots")


def _test_args(parser: CommandParser) -> None:
    _dag_task(parser)
    parser.add_argument("logical_date", nargs="?", help="The logical date (default: now) or a run id")
    parser.add_argument("-t", "--task-params", help="JSON params added to the run's conf for this test")


def _run_args(parser: CommandParser) -> None:
    _dag_task(parser)
    parser.add_argument("logical_date_or_run_id", help="The logical date of the DAG run, or its run id")
    parser.add_argument(
        "-i", "--ignore-dependencies", action="store_true", help="Ignore the task's upstream dependencies"
    )


def _state_args(parser: CommandParser) -> None:
    _dag_task(parser)
    parser.add_argument("logical_date_or_run_id", help="The logical date of the DAG run, or its run id")


def _set_state_args(parser: CommandParser) -> None:
    _dag_task(parser)
    parser.add_argument("logical_date_or_run_id", help="The logical date of the DAG run, or its run id")
    parser.add_argument("state", choices=["success", "failed"], help="The state to set")
    parser.add_argument("-u", "--upstream", action="store_true", help="Include upstream tasks")
    parser.add_argument("-d", "--downstream", action="store_true", help="Include downstream tasks")


def _clear_args(parser: CommandParser) -> None:
    parser.add_argument("dag_id", help="The id of the DAG")
    parser.add_argument("-t", "--task-regex", help="Clear only the tasks whose id matches this regex")
    parser.add_argument("-s", "--start-date", help="Only runs with a logical date on or after this date")
    parser.add_argument("-e", "--end-date", help="Only runs with a logical date on or before this date")
    parser.add_argument("-u", "--upstream", action="store_true", help="Include upstream tasks")
    parser.add_argument("-d", "--downstream", action="store_true", help="Include downstream tasks")
    parser.add_argument("-f", "--only-failed", action="store_true", help="Only failed (or upstream_failed) tasks")
    parser.add_argument("-r", "--only-running", action="store_true", help="Only running tasks")
    parser.add_argument("-y", "--yes", action="store_true", help="Do not prompt to confirm")


def _states_args(parser: CommandParser) -> None:
    parser.add_argument("dag_id", help="The id of the DAG")
    parser.add_argument("run_id", help="The run id of the DAG run")
    add_output_argument(parser)


def find_run(dag: DagModel, value: str) -> DagRun:
    """Return the run of ``dag`` whose run id is ``value``, or whose logical date it is."""
    run = DagRun.objects.filter(dag=dag, run_id=value).select_related("dag").first()
    if run is not None:
        return run
    logical_date = parse_datetime(value, option="logical date or run id")
    run = DagRun.objects.filter(dag=dag, logical_date=logical_date).select_related("dag").first()
    if run is None:
        raise CommandError(f"DagRun for {dag.dag_id} with run_id or logical_date of '{value}' not found")
    return run


def _index(ti: TaskInstance) -> str:
    return f" map_index={ti.map_index}" if ti.map_index >= 0 else ""


def find_task_instances(dag: DagModel, task_id: str, value: str, map_index: int = -1) -> list[TaskInstance]:
    """The instances of ``task_id`` in the run ``value``: instance ``map_index`` of a mapped task,
    or all of its instances when no index is given."""
    if dag.get_task(task_id) is None:
        raise CommandError(f"Task {task_id} not found in DAG {dag.dag_id}")
    run = find_run(dag, value)
    tis = TaskInstance.objects.filter(dag_run=run, task_id=task_id).select_related("dag_run", "dag_run__dag")
    if map_index >= 0:
        tis = tis.filter(map_index=map_index)
    found = list(tis.order_by("map_index"))
    if not found:
        index = f" with map index {map_index}" if map_index >= 0 else ""
        raise CommandError(f"Task instance {task_id}{index} does not exist in run {run.run_id}")
    return found


def find_task_instance(dag: DagModel, task_id: str, value: str, map_index: int = -1) -> TaskInstance:
    """The one instance of ``task_id`` in the run ``value`` (of a mapped task: ``map_index``)."""
    found = find_task_instances(dag, task_id, value, map_index)
    if len(found) > 1:
        raise CommandError(
            f"Task {task_id} is mapped into {len(found)} instances in run {found[0].dag_run.run_id}: "
            f"give --map-index (0 to {found[-1].map_index})"
        )
    return found[0]


class Command(SubcommandCommand):
    help = "Manage tasks: list, test, run, state, set-state, clear, states-for-dag-run."

    subcommands = {
        "list": ("List the tasks within a DAG", _list_args),
        "test": ("Test a task instance: run it here, print its log, record nothing", _test_args),
        "run": ("Run a single task instance now, in this process, recording its state", _run_args),
        "state": ("Get the status of a task instance", _state_args),
        "set-state": (
            "Mark a task instance success or failed (the UI's Mark; a running try is stopped)",
            _set_state_args,
        ),
        "clear": ("Clear a set of task instances, as if they never ran", _clear_args),
        "states-for-dag-run": ("Get the status of all task instances in a DAG run", _states_args),
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
            group = task.get("task_group")
            # A task in a group names it (the innermost; its id carries the parents' ids).
            in_group = f" in <TaskGroup: {group}>" if group else ""
            self.stdout.write(f"{'    ' * depth}<Task({task['operator']}): {task_id}>{in_group}")
            for child in sorted(task["downstream_task_ids"]):
                walk(child, depth + 1)

        for root in roots:
            walk(root, 0)

    def handle_test(
        self,
        *,
        dag_id: str,
        task_id: str,
        logical_date: str | None,
        task_params: str | None,
        map_index: int = -1,
        **_: Any,
    ) -> None:
        dag_folder_sync(now=timezone.now())
        dag = get_dag_or_error(dag_id)
        task = dag.get_task(task_id)
        if task is None:
            raise CommandError(f"Task {task_id} not found in DAG {dag_id}")
        if task.get("is_mapped") and map_index < 0:
            raise CommandError(f"Task {task_id} is mapped: give --map-index to test one of its instances")
        conf = parse_conf(task_params)
        run = DagRun.objects.filter(dag=dag, run_id=logical_date).first() if logical_date else None
        if run is None:
            when = parse_datetime(logical_date, option="logical date") if logical_date else timezone.now()
            run = DagRun.objects.filter(dag=dag, logical_date=when).first()
            if run is None:
                # An unsaved run: the test records nothing.
                interval = timetable_from_dict(dag.serialized["timetable"]).infer_manual_data_interval(run_after=when)
                run = DagRun(
                    dag=dag,
                    run_id=services.default_run_id(DagRunType.MANUAL, when),
                    logical_date=when,
                    data_interval_start=interval.start,
                    data_interval_end=interval.end,
                    run_type=DagRunType.MANUAL,
                    conf={},
                )
        run.conf = {**(run.conf or {}), **conf}
        ti = TaskInstance(
            dag_run=run,
            dag=dag,
            task_id=task_id,
            map_index=map_index if task.get("is_mapped") else -1,
            try_number=1,
            start_date=timezone.now(),
        )
        # The DAG file is imported in the task's child process: a broken file fails this test.
        outcome = runner.task_test(run=run, ti=ti)
        if outcome.state == TaskInstanceState.FAILED:
            raise CommandError(f"Task {task_id} failed: {outcome.error}")
        self.stdout.write(f"Task {task_id} ended: {outcome.state}")

    def handle_run(
        self,
        *,
        dag_id: str,
        task_id: str,
        logical_date_or_run_id: str,
        ignore_dependencies: bool,
        map_index: int = -1,
        **_: Any,
    ) -> None:
        dag = get_dag_or_error(dag_id)
        ti = find_task_instance(dag, task_id, logical_date_or_run_id, map_index)
        executor = InlineExecutor()
        services.task_instance_run(
            ti=ti, now=timezone.now(), ignore_dependencies=ignore_dependencies, executor=executor
        )
        ti_id, try_number = executor.queued.pop(0)
        claimed = tries.task_instance_claim(ti_id=ti_id, try_number=try_number, now=timezone.now())
        if claimed is None:
            raise CommandError(f"Task instance {task_id} was taken by another process")
        self.stdout.write(f"Running {dag_id}.{task_id} try {try_number}; log: {claimed.log_path()}")
        state = runner.execute_claimed(ti=claimed)
        self.stdout.write(f"Task {task_id} ended: {state}")
        if state in TI_FAILED_LIKE:
            raise CommandError(f"Task {task_id} failed; see its log {claimed.log_path()}")

    def handle_state(
        self, *, dag_id: str, task_id: str, logical_date_or_run_id: str, map_index: int = -1, **_: Any
    ) -> None:
        dag = get_dag_or_error(dag_id, active_only=False)
        found = find_task_instances(dag, task_id, logical_date_or_run_id, map_index)
        # A mapped task without --map-index: the state its instances add up to.
        self.stdout.write(aggregate_state([ti.state for ti in found]) if len(found) > 1 else found[0].state)

    def handle_set_state(
        self,
        *,
        dag_id: str,
        task_id: str,
        logical_date_or_run_id: str,
        state: str,
        upstream: bool,
        downstream: bool,
        map_index: int = -1,
        **_: Any,
    ) -> None:
        dag = get_dag_or_error(dag_id, active_only=False)
        # A mapped task without --map-index: every instance.
        tis = find_task_instances(dag, task_id, logical_date_or_run_id, map_index)
        changed = services.task_instances_set_state(
            tis=tis, state=TaskInstanceState(state), now=timezone.now(), upstream=upstream, downstream=downstream
        )
        self.stdout.write(f"Marked {changed} task instance(s) {state} in run {tis[0].dag_run.run_id}")

    def handle_clear(
        self,
        *,
        dag_id: str,
        task_regex: str | None,
        start_date: str | None,
        end_date: str | None,
        upstream: bool,
        downstream: bool,
        only_failed: bool,
        only_running: bool,
        yes: bool,
        **_: Any,
    ) -> None:
        dag = get_dag_or_error(dag_id, active_only=False)
        tis = TaskInstance.objects.filter(dag_run__dag=dag).select_related("dag_run", "dag_run__dag")
        if start_date:
            tis = tis.filter(dag_run__logical_date__gte=parse_datetime(start_date, option="--start-date"))
        if end_date:
            tis = tis.filter(dag_run__logical_date__lte=parse_datetime(end_date, option="--end-date"))
        if task_regex:
            try:
                pattern = re.compile(task_regex)
            except re.error as exc:
                raise CommandError(f"Invalid --task-regex '{task_regex}': {exc}") from None
            tis = tis.filter(task_id__in=[t for t in dag.task_ids if pattern.search(t)])
        if only_failed:
            tis = tis.filter(state__in=TI_FAILED_LIKE)
        if only_running:
            tis = tis.filter(state=TaskInstanceState.RUNNING)
        selected = list(tis.order_by("dag_run__logical_date", "task_id", "map_index"))
        if not selected:
            self.stdout.write("No task instances to clear")
            return
        listing = "\n".join(
            f"<TaskInstance: {dag_id}.{ti.task_id} {ti.dag_run.run_id}{_index(ti)} [{ti.state}]>" for ti in selected
        )
        self.stdout.write(listing)
        confirm("You are about to clear these task instances. Are you sure?", yes=yes)
        cleared = services.task_instances_clear(
            tis=selected, now=timezone.now(), upstream=upstream, downstream=downstream, only_failed=only_failed
        )
        self.stdout.write(f"Cleared {cleared} task instance(s)")

    def handle_states_for_dag_run(self, *, dag_id: str, run_id: str, output: str, **_: Any) -> None:
        dag = get_dag_or_error(dag_id, active_only=False)
        run = DagRun.objects.filter(dag=dag, run_id=run_id).first()
        if run is None:
            raise CommandError(f"DagRun {run_id} of DAG {dag_id} not found")
        rows = [
            {
                "dag_id": dag_id,
                "logical_date": run.logical_date,
                "task_id": ti.task_id,
                "map_index": ti.map_index,
                "state": ti.state,
                "try_number": ti.try_number,
                "start_date": ti.start_date,
                "end_date": ti.end_date,
            }
            for ti in run.task_instances.order_by("task_id", "map_index")
        ]
        self.out(rows, output=output)

"""``python manage.py dags ...``: Airflow's ``airflow dags`` subcommands."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.utils import timezone
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dags_app.dagbag import DagFileProcessorPool, list_dag_files
from dags_app.errors import ServiceError
from dags_app.graph import dag_to_dot, dag_to_graph
from dags_app.models import DagImportError, DagModel
from dags_app.services import dag_folder_sync
from runs_app import runner, services
from runs_app.cli import (
    SubcommandCommand,
    add_output_argument,
    confirm,
    get_dag_or_error,
    parse_conf,
    parse_datetime,
)
from runs_app.management.commands.tasks import find_run
from runs_app.models import DagRun, Job
from runs_app.params import params_check
from runs_app.scheduling import InlineExecutor
from runs_app.services import scheduler_is_healthy
from runs_app.states import DAG_RUN_FINISHED, DagRunState, DagRunType, JobType


def _dag_id(parser: CommandParser) -> None:
    parser.add_argument("dag_id", help="The id of the DAG")


def _list_args(parser: CommandParser) -> None:
    add_output_argument(parser)
    parser.add_argument("--columns", help="Comma-separated columns to show")


def _show_args(parser: CommandParser) -> None:
    _dag_id(parser)
    parser.add_argument("-s", "--save", help="Save the graph to FILE; the format comes from its extension")


def _details_args(parser: CommandParser) -> None:
    _dag_id(parser)
    add_output_argument(parser)


def _pause_args(parser: CommandParser) -> None:
    _dag_id(parser)
    add_output_argument(parser)


def _delete_args(parser: CommandParser) -> None:
    _dag_id(parser)
    parser.add_argument("-y", "--yes", action="store_true", help="Do not prompt to confirm")


def _trigger_args(parser: CommandParser) -> None:
    _dag_id(parser)
    parser.add_argument("-e", "--exec-date", "--logical-date", dest="exec_date", help="The logical date of the DAG run")
    parser.add_argument("-c", "--conf", help="JSON string that gets pickled into the DagRun's conf attribute")
    parser.add_argument("-r", "--run-id", help="Helps to identify this run")
    add_output_argument(parser)


def _list_runs_args(parser: CommandParser) -> None:
    parser.add_argument("dag_id", nargs="?", help="The id of the DAG")
    parser.add_argument("-d", "--dag-id", dest="dag_id_option", help="The id of the DAG (Airflow 2 spelling)")
    parser.add_argument("--state", choices=DagRunState.values, help="Only runs in this state")
    parser.add_argument("--no-backfill", action="store_true", help="Leave out backfill runs")
    parser.add_argument("-s", "--start-date", help="Only runs with a logical date on or after this date")
    parser.add_argument("-e", "--end-date", help="Only runs with a logical date on or before this date")
    add_output_argument(parser)


def _output_only(parser: CommandParser) -> None:
    add_output_argument(parser)


def _test_args(parser: CommandParser) -> None:
    _dag_id(parser)
    parser.add_argument("logical_date", nargs="?", help="The logical date of the run (default: now)")
    parser.add_argument("-c", "--conf", help="JSON conf of the run")


def _backfill_args(parser: CommandParser) -> None:
    _dag_id(parser)
    parser.add_argument("-s", "--start-date", required=True, help="Override start_date YYYY-MM-DD")
    parser.add_argument("-e", "--end-date", required=True, help="Override end_date YYYY-MM-DD")
    parser.add_argument("-c", "--conf", help="JSON conf of the backfill runs")
    parser.add_argument("--no-wait", action="store_true", help="Create the runs and return without waiting")
    parser.add_argument("--timeout", type=float, default=0, help="Stop waiting after this many seconds (0: never)")


def _list_jobs_args(parser: CommandParser) -> None:
    parser.add_argument("--job-type", choices=JobType.values, help="Only this kind of process")
    parser.add_argument("--limit", type=int, default=50, help="How many to show (newest heartbeat first)")
    add_output_argument(parser)


def _state_args(parser: CommandParser) -> None:
    parser.add_argument("dag_id", help="The id of the DAG")
    parser.add_argument("logical_date_or_run_id", help="The logical date of the DAG run, or its run id")


def _set_state_args(parser: CommandParser) -> None:
    _state_args(parser)
    parser.add_argument("state", choices=["success", "failed"], help="The state to set")


class Command(SubcommandCommand):
    help = "Manage DAGs: list, show, details, pause, unpause, trigger, delete, list-runs, import errors."

    subcommands = {
        "list": ("List all the DAGs", _list_args),
        "show": ("Display a DAG's tasks with their dependencies (DOT source, or --save an image)", _show_args),
        "details": ("Get DAG details given a DAG id", _details_args),
        "pause": ("Pause a DAG", _pause_args),
        "unpause": ("Resume a paused DAG", _pause_args),
        "trigger": ("Trigger a new DAG run", _trigger_args),
        "delete": ("Delete all DB records related to the specified DAG", _delete_args),
        "list-runs": ("List DAG runs given a DAG id", _list_runs_args),
        "state": ("Get the status of a DAG run", _state_args),
        "set-state": ("Mark a DAG run success or failed (the UI's Mark; running tries are stopped)", _set_state_args),
        "list-import-errors": ("List all the DAGs that have import errors", _output_only),
        "report": ("Show DagBag loading report", _output_only),
        "reserialize": ("Parse every DAG file again, changed or not, and store the result", _output_only),
        "test": ("Execute one run of a DAG in this process, without Redis or a worker", _test_args),
        "backfill": ("Create runs for every schedule in a date range and wait for them", _backfill_args),
        "list-jobs": ("List the scheduler and worker processes and their heartbeats", _list_jobs_args),
    }

    def _sync(self) -> None:
        """Bring the metastore up to date with the DAG folder, so the CLI works without a scheduler."""
        dag_folder_sync(now=timezone.now())

    def handle_list(self, *, output: str, columns: str | None, **_: Any) -> None:
        self._sync()
        rows = [
            {
                "dag_id": dag.dag_id,
                "fileloc": dag.fileloc,
                "owners": dag.owners,
                "is_paused": dag.is_paused,
                "schedule": dag.schedule,
                "next_dagrun": dag.next_dagrun,
                "tags": [t.name for t in dag.tags.all()],
                "access_control": dag.access_control,
            }
            # The serialized DAGs are large and not needed for the list.
            for dag in DagModel.objects.filter(is_active=True)
            .defer("serialized")
            .prefetch_related("tags")
            .order_by("dag_id")
        ]
        wanted = [c.strip() for c in columns.split(",")] if columns else None
        if wanted:
            unknown = set(wanted) - set(rows[0] if rows else wanted)
            if unknown:
                raise CommandError(f"Unknown columns: {', '.join(sorted(unknown))}")
        self.out(
            rows,
            output=output,
            columns=wanted or ["dag_id", "fileloc", "owners", "is_paused", "schedule", "next_dagrun"],
        )

    def handle_show(self, *, dag_id: str, save: str | None, **_: Any) -> None:
        self._sync()
        dag = get_dag_or_error(dag_id)
        if not save:
            self.stdout.write(dag_to_dot(dag.serialized))
            return
        path = Path(save)
        fmt = path.suffix.lstrip(".").lower()
        if fmt != "dot" and fmt not in {"png", "svg", "pdf", "jpg", "jpeg", "gif"}:
            raise CommandError(f"Unsupported file format '{fmt}': use .png, .svg, .pdf, .jpg, .gif or .dot")
        try:
            if fmt == "dot":
                path.write_text(dag_to_dot(dag.serialized))
            else:
                path.write_bytes(dag_to_graph(dag.serialized).pipe(format=fmt))
        except OSError as exc:
            raise CommandError(f"Cannot write {path}: {exc}") from None
        self.stdout.write(f"File {path} saved")

    def handle_details(self, *, dag_id: str, output: str, **_: Any) -> None:
        self._sync()
        dag = get_dag_or_error(dag_id)
        data = dag.serialized
        details = {
            "dag_id": dag.dag_id,
            "description": dag.description,
            "fileloc": dag.fileloc,
            "owners": dag.owners,
            "is_paused": dag.is_paused,
            "is_active": dag.is_active,
            "schedule": dag.schedule,
            "timetable_description": dag.timetable_description,
            "timezone": data.get("timezone"),
            "tags": dag.tag_list,
            "start_date": data.get("start_date"),
            "end_date": data.get("end_date"),
            "catchup": data.get("catchup"),
            "max_active_runs": dag.max_active_runs,
            "max_active_tasks": dag.max_active_tasks,
            "dagrun_timeout": data.get("dagrun_timeout"),
            "params": data.get("params"),
            "access_control": dag.access_control,
            "task_count": len(dag.tasks),
            "last_parsed_time": dag.last_parsed_time,
            "next_dagrun": dag.next_dagrun,
            "next_dagrun_data_interval_start": dag.next_dagrun_data_interval_start,
            "next_dagrun_data_interval_end": dag.next_dagrun_data_interval_end,
            "next_dagrun_create_after": dag.next_dagrun_create_after,
        }
        if output in {"json", "yaml"}:
            self.out([details], output=output)
        else:
            self.out([{"property_name": k, "property_value": v} for k, v in details.items()], output=output)

    def _set_paused(self, *, dag_id: str, output: str, is_paused: bool) -> None:
        self._sync()
        dag = get_dag_or_error(dag_id)
        services.dag_set_paused(dag=dag, is_paused=is_paused)
        self.out([{"dag_id": dag.dag_id, "is_paused": dag.is_paused}], output=output)

    def handle_pause(self, *, dag_id: str, output: str, **_: Any) -> None:
        self._set_paused(dag_id=dag_id, output=output, is_paused=True)

    def handle_unpause(self, *, dag_id: str, output: str, **_: Any) -> None:
        self._set_paused(dag_id=dag_id, output=output, is_paused=False)

    def handle_trigger(
        self, *, dag_id: str, exec_date: str | None, conf: str | None, run_id: str | None, output: str, **_: Any
    ) -> None:
        logical_date = parse_datetime(exec_date, option="--exec-date") if exec_date else None
        conf_value = parse_conf(conf)
        self._sync()
        dag = get_dag_or_error(dag_id)
        run = services.dag_trigger(
            dag=dag, now=timezone.now(), logical_date=logical_date, conf=conf_value, run_id=run_id
        )
        self.out([_run_row(run)], output=output)
        if dag.is_paused:
            self.stderr.write(
                f"DAG {dag_id} is paused: the run stays queued until it is unpaused "
                f"(python manage.py dags unpause {dag_id})."
            )

    def handle_test(self, *, dag_id: str, logical_date: str | None, conf: str | None, **_: Any) -> None:
        when = parse_datetime(logical_date, option="logical date") if logical_date else timezone.now()
        conf_value = parse_conf(conf)
        self._sync()
        dag = get_dag_or_error(dag_id)
        executor = InlineExecutor()
        run = DagRun.objects.filter(dag=dag, logical_date=when).select_related("dag").first()
        if run is None:
            # As every run Airflow creates: the params (defaults merged with conf) must fit.
            try:
                params_check(dag.serialized, conf_value or {})
            except ServiceError as exc:
                raise CommandError(str(exc)) from None
            run = services.dag_run_create(
                dag=dag,
                logical_date=when,
                run_type=DagRunType.MANUAL,
                now=timezone.now(),
                conf=conf_value,
                triggered_by="dags test",
            )
        else:
            # As Airflow's dag.test(): an existing run at that date is cleared and run again.
            services.task_instances_clear(tis=run.task_instances.all(), now=timezone.now(), executor=executor)
        run.refresh_from_db()
        self.stdout.write(f"Testing {dag_id}, run {run.run_id}")
        state = runner.dag_run_execute_inline(run=run, echo_logs=True, executor=executor)
        rows = [
            {
                "task_id": ti.task_id,
                "map_index": ti.map_index,
                "state": ti.state,
                "try_number": ti.try_number,
                "duration": ti.duration,
            }
            for ti in run.task_instances.order_by("start_date", "task_id", "map_index")
        ]
        self.out(rows, output="table")
        if state != DagRunState.SUCCESS:
            raise CommandError(f"DAG run {run.run_id} of {dag_id} ended {state}")
        self.stdout.write(f"DAG run {run.run_id} of {dag_id} ended {state}")

    def handle_backfill(
        self,
        *,
        dag_id: str,
        start_date: str,
        end_date: str,
        conf: str | None,
        no_wait: bool,
        timeout: float,
        **_: Any,
    ) -> None:
        start = parse_datetime(start_date, option="--start-date")
        end = parse_datetime(end_date, option="--end-date")
        conf_value = parse_conf(conf)
        self._sync()
        dag = get_dag_or_error(dag_id)
        runs = services.dag_backfill(dag=dag, start=start, end=end, now=timezone.now(), conf=conf_value)
        if not runs:
            self.stdout.write("No new runs: every logical date in the range has a run already (clear them to rerun)")
            return
        self.stdout.write(f"Created {len(runs)} backfill run(s) of {dag_id}")
        if no_wait:
            self.out([_run_row(r) for r in runs], output="table")
            return
        if not scheduler_is_healthy(now=timezone.now()):
            self.stderr.write(
                "No scheduler is running: start `python manage.py scheduler` and a worker to execute these runs."
            )
        ids = [r.pk for r in runs]
        started = time.monotonic()
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(file=self.stdout, force_terminal=False),
            transient=False,
        ) as progress:
            bar = progress.add_task("backfill", total=len(ids))
            while True:
                finished = DagRun.objects.filter(pk__in=ids, state__in=DAG_RUN_FINISHED).count()
                progress.update(bar, completed=finished)
                if finished == len(ids):
                    break
                if timeout and time.monotonic() - started > timeout:
                    raise CommandError(f"Backfill not finished after {timeout:g} s ({finished}/{len(ids)} runs done)")
                time.sleep(0.5)
        final = list(DagRun.objects.filter(pk__in=ids).select_related("dag").order_by("logical_date"))
        self.out([_run_row(r) for r in final], output="table")
        failed = [r.run_id for r in final if r.state == DagRunState.FAILED]
        if failed:
            raise CommandError(f"{len(failed)} backfill run(s) failed: {', '.join(failed)}")

    def handle_list_jobs(self, *, job_type: str | None, limit: int, output: str, **_: Any) -> None:
        now = timezone.now()
        threshold = settings.ORCHESTRATOR["SCHEDULER_HEALTH_THRESHOLD"]
        jobs = Job.objects.order_by("-latest_heartbeat")
        if job_type:
            jobs = jobs.filter(job_type=job_type)
        rows = [
            {
                "job_type": job.job_type,
                "state": "ended"
                if job.end_date
                else ("running" if job.is_alive(now=now, threshold=threshold) else "dead"),
                "hostname": job.hostname,
                "pid": job.pid,
                "start_date": job.start_date,
                "latest_heartbeat": job.latest_heartbeat,
                "end_date": job.end_date,
            }
            for job in jobs[: max(1, limit)]
        ]
        self.out(rows, output=output)

    def handle_delete(self, *, dag_id: str, yes: bool, **_: Any) -> None:
        if not DagModel.objects.filter(dag_id=dag_id).exists():
            raise CommandError(f"Dag id {dag_id} not found")
        confirm("This will drop all existing records related to the specified DAG.", yes=yes)
        deleted = services.dag_delete(dag_id=dag_id)
        self.stdout.write(f"Removed {deleted} record(s)")

    def handle_list_runs(
        self,
        *,
        dag_id: str | None,
        dag_id_option: str | None,
        state: str | None,
        no_backfill: bool,
        start_date: str | None,
        end_date: str | None,
        output: str,
        **_: Any,
    ) -> None:
        dag_id = dag_id or dag_id_option
        if not dag_id:
            raise CommandError("the following arguments are required: dag_id")
        dag = get_dag_or_error(dag_id, active_only=False)
        runs = DagRun.objects.filter(dag=dag).select_related("dag").order_by("-logical_date")
        if state:
            runs = runs.filter(state=state)
        if no_backfill:
            runs = runs.exclude(run_type="backfill")
        if start_date:
            runs = runs.filter(logical_date__gte=parse_datetime(start_date, option="--start-date"))
        if end_date:
            runs = runs.filter(logical_date__lte=parse_datetime(end_date, option="--end-date"))
        self.out([_run_row(run) for run in runs], output=output)

    def handle_state(self, *, dag_id: str, logical_date_or_run_id: str, **_: Any) -> None:
        self._sync()
        dag = get_dag_or_error(dag_id, active_only=False)
        self.stdout.write(find_run(dag, logical_date_or_run_id).state)

    def handle_set_state(self, *, dag_id: str, logical_date_or_run_id: str, state: str, **_: Any) -> None:
        self._sync()
        dag = get_dag_or_error(dag_id, active_only=False)
        run = find_run(dag, logical_date_or_run_id)
        changed = services.dag_run_set_state(run=run, state=DagRunState(state), now=timezone.now())
        self.stdout.write(f"Marked run {run.run_id} {state} ({changed} task instance(s) changed)")

    def handle_list_import_errors(self, *, output: str, **_: Any) -> None:
        self._sync()
        rows = [{"filepath": e.filename, "error": e.message} for e in DagImportError.objects.order_by("filename")]
        self.out(rows, output=output, columns=["filepath", "error"])

    def handle_reserialize(self, *, output: str, **_: Any) -> None:
        report = dag_folder_sync(now=timezone.now(), force=True)
        self.out(
            [{"files": report.files, "parsed": report.parsed, "import_errors": report.import_errors}],
            output=output,
        )

    def handle_report(self, *, output: str, **_: Any) -> None:
        paths = list_dag_files(settings.DAGS_FOLDER)
        options = settings.ORCHESTRATOR
        rows = []
        with DagFileProcessorPool(processes=options["PARSE_PROCESSES"], timeout=options["PARSE_TIMEOUT"]) as pool:
            for result in pool.parse(paths):
                rows.append(
                    {
                        "file": str(Path(result.path).relative_to(settings.DAGS_FOLDER)),
                        "duration": f"{result.duration:.3f}s",
                        "dag_num": len(result.dags),
                        "task_num": sum(len(d["tasks"]) for d in result.dags),
                        "dags": ", ".join(d["dag_id"] for d in result.dags),
                        "error": result.error or "",
                    }
                )
        rows.sort(key=lambda r: r["file"])
        self.out(rows, output=output)


def _run_row(run: DagRun) -> dict[str, Any]:
    return {
        "dag_id": run.dag.dag_id,
        "run_id": run.run_id,
        "state": run.state,
        "run_type": run.run_type,
        "logical_date": run.logical_date,
        "start_date": run.start_date,
        "end_date": run.end_date,
        "conf": run.conf,
    }

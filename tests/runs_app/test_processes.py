"""Fault tolerance with real processes: schedulers and RQ workers as subprocesses, a real Redis.

Each test starts ``python manage.py scheduler`` / ``python manage.py rqworker`` (or plain
``rq worker``) in sessions of their own, against the test database (``DATABASE_URL``) and the
test's Redis (``REDIS_URL``), with a temporary DAG folder, and kills their process groups at the
end. Conditions are awaited by polling the metastore (never a fixed sleep).

- end to end: ``dags unpause`` + ``dags trigger -e 2022-01-01 example_xcom`` runs to success;
- SIGKILL of a worker mid-task: the zombie repair retries the task and the run finishes, and the
  killed try's processes do not outlive their worker;
- ``FLUSHALL`` with tasks queued: the repair enqueues the lost jobs again and every task runs once;
- the same try delivered twice (or three times) runs once;
- forged jobs (JSON naming ``os.system``; pickle) are refused and the worker keeps working;
- two schedulers at once: no run created twice, no try enqueued twice (watched with MONITOR);
- plain ``rq worker -w runs_app.worker.OrchestratorWorker`` runs a task (the README command);
- a database outage (SQLite locked; PostgreSQL connections terminated): the scheduler logs one
  line per tick, stays up, and resumes by itself;
- Redis stopped while tasks come due, then restarted empty: every task runs once (the UI's
  broker check says it is down meanwhile);
- a worker SIGSTOPped past the zombie threshold, then resumed: its late result changes nothing;
- a scheduler gone between committing ``queued`` and the enqueue: the repair enqueues the tries;
- a scheduler SIGTERMed in a catch-up: it finishes its tick, every run is whole, the next goes on;
- example_failure_webhook: its DAG callback posts to a local server once, its task mails the on-call;
- example_sensor_file: the reschedule sensor frees its slot, then runs at the same try once the file comes.
Counter tasks append one line per execution, so a double or a missing execution shows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.utils import timezone

from dags_app.models import DagModel
from runs_app.models import DagRun, Job, Pool, TaskCallbackRequest, TaskInstance
from runs_app.scheduling import InlineExecutor, dag_run_schedule_locked, enqueue_now, job_id_for, rq_queue
from runs_app.services import dag_set_paused, dag_trigger
from runs_app.states import DagRunState, JobType, TaskInstanceState

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TIMEOUT = 30.0  # seconds for any awaited condition; they normally hold within a few seconds
ZOMBIE_THRESHOLD = 3  # seconds without a heartbeat before a running task instance is a zombie
VENV_BIN = Path(sys.executable).parent
FINISHED_RUN = {DagRunState.SUCCESS, DagRunState.FAILED}
NOT_CLAIMED = "is not queued for us; nothing to do"  # runner.execute_task_instance's log line


def _database_url() -> str:
    """The URL of the test database (not the development one), for the subprocesses."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db['NAME']}"


def _alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie, dead but not reaped by its new parent, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path
    killed: bool = False

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def kill_group(self) -> None:
        """SIGKILL the process group (the session started with the process) and reap the leader."""
        self.killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):  # only a process stuck in the kernel resists
            self.popen.wait(timeout=10)


@dataclass
class Cluster:
    """The processes of one test: start them, await conditions, kill them all at the end."""

    env: dict[str, str]
    directory: Path
    procs: list[Proc] = field(default_factory=list)

    def start(self, name: str, argv: list[str]) -> Proc:
        log_path = self.directory / f"{len(self.procs):02d}-{name}.log"
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(
                argv,
                cwd=settings.BASE_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name=name, popen=popen, log_path=log_path)
        self.procs.append(proc)
        return proc

    def scheduler(self, name: str = "scheduler") -> Proc:
        return self.start(name, [sys.executable, "manage.py", "scheduler", "--interval", "0.2", "--skip-checks"])

    def worker(self, name: str = "worker") -> Proc:
        return self.start(name, [sys.executable, "manage.py", "rqworker", "default", "--skip-checks"])

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        """Run a one-shot ``manage.py`` command to its end; fail the test if it fails."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"manage.py {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
        return done

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} (pid {p.popen.pid}) -----\n{p.log()[-4000:]}" for p in self.procs)

    def wait_for(self, condition: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
        """Poll ``condition`` until it returns something truthy; return it.

        Fails at once if a process the test did not kill has exited, and after ``timeout``
        seconds otherwise, with every process's log in the message.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            dead = [p for p in self.procs if not p.killed and p.popen.poll() is not None]
            if dead:
                names = ", ".join(f"{p.name} (exit {p.popen.returncode})" for p in dead)
                pytest.fail(f"{names} exited while waiting for {what}\n{self.logs()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:g} s waiting for {what}\n{self.logs()}")
            time.sleep(0.05)

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill_group()


@pytest.fixture
def cluster(transactional_db, dags_folder: Path, redis_url: str, tmp_path: Path) -> Iterator[Cluster]:
    """Start processes against the test database, the test's Redis and DAG folder; kill them at the end.

    Depends on ``transactional_db`` so that the processes are gone before the database is flushed.
    """
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis_url,
        "DAGS_FOLDER": str(dags_folder),
        "LOGS_FOLDER": str(settings.LOGS_FOLDER),
        "ORCHESTRATOR_ZOMBIE_THRESHOLD": str(ZOMBIE_THRESHOLD),
        "ORCHESTRATOR_HEARTBEAT_INTERVAL": "0.5",
        "ORCHESTRATOR_PARSE_INTERVAL": "1",
        "ORCHESTRATOR_PARSE_TIMEOUT": "20",
        "PYTHONUNBUFFERED": "1",
    }
    directory = tmp_path / "processes"
    directory.mkdir()
    cluster = Cluster(env=env, directory=directory)
    try:
        yield cluster
    finally:
        cluster.stop()
        print(cluster.logs())  # shown by pytest when the test failed


# -- helpers ---------------------------------------------------------------------------------------


def trigger(sync, dag_id: str, logical_date: dt.datetime | None = None) -> DagRun:
    """Sync the DAG folder, unpause ``dag_id`` and create a manual run (queued, for a scheduler)."""
    sync()
    dag = DagModel.objects.get(dag_id=dag_id)
    dag_set_paused(dag=dag, is_paused=False)
    return dag_trigger(dag=dag, now=timezone.now(), logical_date=logical_date)


def queue_ready_tasks(run: DagRun) -> list[tuple[int, int]]:
    """Start ``run`` and move its ready tasks to ``queued`` without enqueueing: (ti id, try) pairs."""
    DagRun.objects.filter(pk=run.pk, state=DagRunState.QUEUED).update(
        state=DagRunState.RUNNING, start_date=timezone.now()
    )
    executor = InlineExecutor()
    dag_run_schedule_locked(run_id=run.pk, now=timezone.now(), executor=executor)
    return executor.queued


def enqueue(pairs: list[tuple[int, int]]) -> None:
    for ti_id, try_number in pairs:
        assert enqueue_now(ti_id=ti_id, try_number=try_number, queue="default", execution_timeout=None)


def finished_run(run: DagRun) -> DagRun | None:
    run.refresh_from_db()
    return run if run.state in FINISHED_RUN else None


def tis_of(run: DagRun) -> dict[str, TaskInstance]:
    return {ti.task_id: ti for ti in TaskInstance.objects.filter(dag_run=run).select_related("dag_run__dag")}


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def workers_waiting(redis_server) -> int:
    """How many RQ workers are blocked waiting for a job (rq 3 waits with BLMOVE on one queue)."""
    client = redis_server.client()
    try:
        return sum(c.get("cmd") in {"blmove", "blpop"} for c in client.client_list())
    finally:
        client.close()


def not_claimed(workers: list[Proc]) -> int:
    """How many deliveries reached the runner and were refused by its claim."""
    return sum(w.log().count(NOT_CLAIMED) for w in workers)


APPEND_DAG = """
import datetime
from dags_app.sdk import DAG, BashOperator

with DAG("{dag_id}", schedule=None, start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)) as dag:
    BashOperator(task_id="append", bash_command="echo {{{{ ti.try_number }}}} >> {marker}{sleep}")
"""


# -- the tests -------------------------------------------------------------------------------------


def test_example_xcom_triggered_from_the_cli_runs_to_success(cluster, dags_folder):
    shutil.copy(settings.BASE_DIR / "dags" / "example_xcom.py", dags_folder / "example_xcom.py")
    cluster.manage("dags", "unpause", "example_xcom")
    cluster.scheduler()
    cluster.worker()

    cluster.manage("dags", "trigger", "-e", "2022-01-01", "example_xcom")

    run = DagRun.objects.get(dag__dag_id="example_xcom", logical_date=dt.datetime(2022, 1, 1, tzinfo=dt.UTC))
    cluster.wait_for(lambda: finished_run(run), "the run of example_xcom to finish")
    assert run.state == DagRunState.SUCCESS
    tis = tis_of(run)
    assert sorted(tis) == ["bash_pull", "bash_push", "pull_value_from_bash_push", "puller", "push", "push_by_returning"]
    assert {(ti.state, ti.try_number) for ti in tis.values()} == {(TaskInstanceState.SUCCESS, 1)}
    assert "pulled_value_1 is [1, 2, 3]" in tis["puller"].log_path().read_text()
    assert "The xcom pushed manually is manually_pushed_value" in tis["bash_pull"].log_path().read_text()

    listed = json.loads(cluster.manage("dags", "list-runs", "example_xcom", "-o", "json").stdout)
    row = next(r for r in listed if r["logical_date"].startswith("2022-01-01"))
    assert (row["dag_id"], row["run_id"], row["state"]) == ("example_xcom", run.run_id, "success")


def test_a_task_of_a_sigkilled_worker_is_retried_after_the_zombie_threshold(cluster, dag_file, sync, tmp_path):
    counter, pidfile = tmp_path / "first-try-started", tmp_path / "first-try.pid"
    marks = tmp_path / "retry-callbacks"
    # The first try records its pid and sleeps; the second (after the zombie repair) is quick.
    dag_file(
        "zombie.py",
        f"""
        import datetime
        import pathlib
        from dags_app.sdk import DAG, BashOperator

        def on_retry(context):
            ti = context["ti"]
            with pathlib.Path({str(marks)!r}).open("a") as out:
                out.write(f"retry {{ti.task_id}} {{ti.state}} try={{ti.try_number}}\\n")

        start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
        with DAG("zombie", schedule=None, start_date=start) as dag:
            sleepy = BashOperator(
                task_id="sleepy",
                retries=1,
                retry_delay=datetime.timedelta(0),
                on_retry_callback=on_retry,
                bash_command=(
                    "if [ -e {counter} ]; then echo second try; "
                    "else touch {counter}; echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; exec sleep 30; fi"
                ),
            )
            after = BashOperator(task_id="after", bash_command="echo after")
            sleepy >> after
        """,
    )
    run = trigger(sync, "zombie")
    cluster.scheduler()
    first = cluster.worker("worker-1")
    sleep_pid = cluster.wait_for(lambda: pidfile.exists() and int(pidfile.read_text()), "the first try to sleep")
    assert TaskInstance.objects.get(dag_run=run, task_id="sleepy").state == TaskInstanceState.RUNNING

    first.kill_group()
    cluster.worker("worker-2")

    cluster.wait_for(lambda: finished_run(run), "the run to finish after the zombie repair")
    assert run.state == DagRunState.SUCCESS
    tis = tis_of(run)
    assert (tis["sleepy"].state, tis["sleepy"].try_number) == (TaskInstanceState.SUCCESS, 2)
    assert (tis["after"].state, tis["after"].try_number) == (TaskInstanceState.SUCCESS, 1)
    assert "Detected zombie: zombie.sleepy try 1" in tis["sleepy"].log_path(1).read_text()
    assert "second try" in tis["sleepy"].log_path(2).read_text()
    # No worker was left to call the dead try's on_retry_callback: the repair owed it and a
    # worker called it, once, with the dead try's context.
    cluster.wait_for(lambda: marks.exists(), "the dead try's retry callback")
    cluster.wait_for(lambda: not TaskCallbackRequest.objects.exists(), "the callback request to be taken")
    assert marks.read_text().splitlines() == ["retry sleepy up_for_retry try=1"]
    # The killed worker's task does not run on unsupervised: its processes end with the worker.
    cluster.wait_for(lambda: not _alive(sleep_pid), "the first try's sleep to end with its worker", timeout=10)


def test_flushall_with_tasks_queued_loses_no_task(cluster, dag_file, sync, tmp_path, redis_server):
    markers = tmp_path / "markers"
    markers.mkdir()
    dag_file(
        "flush.py",
        f"""
        import datetime
        from dags_app.sdk import DAG, BashOperator

        start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
        with DAG("flush", schedule=None, start_date=start) as dag:
            join = BashOperator(task_id="join", bash_command="echo {{{{ task.task_id }}}} >> {markers}/join")
            for name in ["a", "b", "c", "d"]:
                BashOperator(task_id=name, bash_command="echo {{{{ task.task_id }}}} >> {markers}/" + name) >> join
        """,
    )
    run = trigger(sync, "flush")
    cluster.scheduler()
    redis = redis_server.client()
    try:
        cluster.wait_for(
            lambda: (
                TaskInstance.objects.filter(dag_run=run, state=TaskInstanceState.QUEUED).count() == 4
                and redis.llen("rq:queue:default") == 4
            ),
            "four tasks queued in the metastore and in Redis",
        )

        redis.flushall()
        assert redis.llen("rq:queue:default") == 0
    finally:
        redis.close()
    cluster.worker()

    cluster.wait_for(lambda: finished_run(run), "the run to finish after FLUSHALL", timeout=45)
    assert run.state == DagRunState.SUCCESS
    tis = tis_of(run)
    assert {(ti.task_id, ti.state, ti.try_number) for ti in tis.values()} == {
        (name, TaskInstanceState.SUCCESS, 1) for name in ["a", "b", "c", "d", "join"]
    }
    assert {name: lines(markers / name) for name in ["a", "b", "c", "d", "join"]} == {
        name: [name] for name in ["a", "b", "c", "d", "join"]
    }
    assert cluster.procs[0].log().count("is gone from Redis; enqueueing it again") >= 4


def test_the_same_try_delivered_more_than_once_runs_once(cluster, dag_file, sync, tmp_path, redis_server):
    marker = tmp_path / "ran"
    dag_file("twice.py", APPEND_DAG.format(dag_id="twice", marker=marker, sleep="; sleep 5"))
    run = trigger(sync, "twice")
    [(ti_id, try_number)] = queue_ready_tasks(run)
    assert try_number == 1
    workers = [cluster.worker("worker-1"), cluster.worker("worker-2")]
    cluster.wait_for(lambda: workers_waiting(redis_server) == 2, "both workers to wait for jobs")

    # Deliveries 1 and 2: the job pushed twice under its id, taken by both workers at once (the
    # task runs 5 s, so the job still exists when the second worker fetches it, even on a loaded
    # machine). Delivery 3: the same try under another job id, a duplicate RQ cannot recognise.
    enqueue([(ti_id, try_number), (ti_id, try_number)])
    rq_queue("default").enqueue_call(
        "runs_app.jobs.run_task_instance", args=(ti_id, try_number), job_id="duplicate-delivery", result_ttl=0
    )
    cluster.wait_for(lambda: finished_run(run) and not_claimed(workers) == 2, "one delivery to run, two to be refused")
    # Delivery 4: once more after the try ended (a late repair, say).
    enqueue([(ti_id, try_number)])
    cluster.wait_for(lambda: not_claimed(workers) == 3, "the late delivery to be refused")

    assert run.state == DagRunState.SUCCESS
    ti = TaskInstance.objects.get(pk=ti_id)
    assert (ti.state, ti.try_number) == (TaskInstanceState.SUCCESS, 1)
    assert lines(marker) == ["1"]


def test_forged_jobs_are_refused_and_the_worker_keeps_working(cluster, dag_file, sync, tmp_path, redis_server):
    from rq import Queue
    from rq.registry import FailedJobRegistry
    from rq.serializers import JSONSerializer

    marker_json, marker_pickle, marker = tmp_path / "forged-json", tmp_path / "forged-pickle", tmp_path / "ran"
    dag_file("honest.py", APPEND_DAG.format(dag_id="honest", marker=marker, sleep=""))
    worker = cluster.worker()
    redis = redis_server.client()
    try:
        json_queue = Queue("default", connection=redis, serializer=JSONSerializer)
        pickle_queue = Queue("default", connection=redis)  # RQ's default serializer: pickle
        forged = [
            json_queue.enqueue_call("os.system", args=(f"touch {marker_json}",), job_id="forged-json"),
            pickle_queue.enqueue_call(os.system, args=(f"touch {marker_pickle}",), job_id="forged-pickle"),
        ]
        failed = FailedJobRegistry(queue=json_queue)
        cluster.wait_for(
            lambda: sorted(failed.get_job_ids()) == sorted(job.id for job in forged),
            "the worker to fail both forged jobs",
        )
    finally:
        redis.close()
    assert worker.popen.poll() is None
    assert not marker_json.exists()
    assert not marker_pickle.exists()

    run = trigger(sync, "honest")
    enqueue(queue_ready_tasks(run))

    cluster.wait_for(lambda: finished_run(run), "a real task to run after the forged ones")
    assert run.state == DagRunState.SUCCESS
    assert lines(marker) == ["1"]
    assert not marker_json.exists()
    assert not marker_pickle.exists()
    only = (
        "only runs_app.jobs.run_dag_callbacks, runs_app.jobs.run_task_callbacks, runs_app.jobs.run_task_instance"
        " may run here"
    )
    assert f"Refusing job forged-json: {only}" in worker.log()


class RedisPushes:
    """Record every job id pushed to a queue list, with Redis's MONITOR, in a thread."""

    STOP = "test-processes-monitor-stop"

    def __init__(self, redis_server) -> None:
        self.redis_server = redis_server
        self.pushed: Counter[str] = Counter()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._listen, daemon=True)

    def _listen(self) -> None:
        client = self.redis_server.client()
        try:
            with client.monitor() as monitor:
                self.ready.set()
                for event in monitor.listen():
                    words = event["command"].split()
                    if words and words[0] == "ECHO" and self.STOP in event["command"]:
                        return
                    if len(words) >= 3 and words[0] in {"RPUSH", "LPUSH"} and words[1].startswith("rq:queue:"):
                        for job_id in words[2:]:
                            self.pushed[job_id] += 1
        finally:
            self.ready.set()
            client.close()

    def __enter__(self) -> RedisPushes:
        self.thread.start()
        assert self.ready.wait(10), "MONITOR did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        client = self.redis_server.client()
        try:
            client.echo(self.STOP)
        finally:
            client.close()
        self.thread.join(10)


def test_two_schedulers_at_once_create_each_run_once_and_enqueue_each_try_once(
    cluster, dag_file, sync, tmp_path, redis_server
):
    markers = tmp_path / "markers"
    markers.mkdir()
    dag_file(
        "busy.py",
        f"""
        import pendulum
        from dags_app.sdk import DAG, BashOperator

        with DAG("busy", schedule="@daily", start_date=pendulum.today("UTC").subtract(days=10), catchup=True) as dag:
            def append(task_id):
                command = "echo {{{{ ti.try_number }}}} >> {markers}/{{{{ ds }}}}.{{{{ task.task_id }}}}"
                return BashOperator(task_id=task_id, bash_command=command)

            first, last = append("first"), append("last")
            for i in range(4):
                first >> append(f"middle_{{i}}") >> last
        """,
    )
    sync()
    cluster.worker()

    with RedisPushes(redis_server) as pushes:
        cluster.scheduler("scheduler-1")
        cluster.scheduler("scheduler-2")
        # Both are ticking before the DAG becomes due, so both try to create its ten runs at once.
        cluster.wait_for(
            lambda: Job.objects.filter(job_type=JobType.SCHEDULER, end_date__isnull=True).count() == 2,
            "both schedulers to run",
        )
        dag_set_paused(dag=DagModel.objects.get(dag_id="busy"), is_paused=False)
        cluster.wait_for(
            lambda: (
                DagRun.objects.filter(dag__dag_id="busy").count() == 10
                and not DagRun.objects.filter(dag__dag_id="busy").exclude(state__in=FINISHED_RUN).exists()
            ),
            "the ten catch-up runs to finish",
            timeout=60,
        )

    runs = list(DagRun.objects.filter(dag__dag_id="busy"))
    assert len({run.logical_date for run in runs}) == 10
    assert {run.state for run in runs} == {DagRunState.SUCCESS}
    tis = list(TaskInstance.objects.filter(dag_run__in=runs).select_related("dag_run"))
    assert len(tis) == 60
    assert Counter((ti.state, ti.try_number) for ti in tis) == {(TaskInstanceState.SUCCESS, 1): 60}
    # Each try was pushed to Redis once, and each task's command ran once.
    assert sorted(pushes.pushed) == sorted(job_id_for(ti.pk, 1) for ti in tis)
    assert [job_id for job_id, n in pushes.pushed.items() if n > 1] == []
    ran = {path.name: lines(path) for path in markers.iterdir()}
    assert len(ran) == 60
    assert {name: content for name, content in ran.items() if content != ["1"]} == {}
    for proc in cluster.procs:
        assert "Traceback" not in proc.log(), proc.log()


def test_plain_rq_worker_with_our_worker_class_runs_a_task(cluster, dag_file, sync, tmp_path, redis_url):
    marker = tmp_path / "ran"
    dag_file("plain.py", APPEND_DAG.format(dag_id="plain", marker=marker, sleep=""))
    run = trigger(sync, "plain")
    enqueue(queue_ready_tasks(run))

    cluster.start(
        "rq-worker",
        [str(VENV_BIN / "rq"), "worker", "-w", "runs_app.worker.OrchestratorWorker", "--url", redis_url, "default"],
    )

    cluster.wait_for(lambda: finished_run(run), "the run to finish on a plain rq worker")
    assert run.state == DagRunState.SUCCESS
    assert lines(marker) == ["1"]


@contextlib.contextmanager
def database_unavailable() -> Iterator[None]:
    """Make the test database refuse the scheduler's work for a while, as an outage would.

    SQLite: another process holds the write lock (the scheduler's writes get "database is
    locked" after its busy timeout). PostgreSQL: every other connection is terminated, as a
    server restart does, repeatedly while the block lasts.
    """
    from django.db import connection

    if connection.vendor == "sqlite":
        import sqlite3

        holder = sqlite3.connect(settings.DATABASES["default"]["NAME"], isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    stop = threading.Event()

    def terminate() -> None:
        import psycopg

        params = settings.DATABASES["default"]
        with psycopg.connect(
            dbname=params["NAME"],
            user=params.get("USER") or None,
            password=params.get("PASSWORD") or None,
            host=params.get("HOST") or None,
            port=params.get("PORT") or None,
            autocommit=True,
        ) as killer:
            while not stop.is_set():
                killer.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                stop.wait(0.1)

    thread = threading.Thread(target=terminate, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_the_scheduler_survives_a_database_outage_and_resumes_by_itself(cluster, dag_file, sync):
    from django.db import connection

    dag_file(
        "later.py",
        "from dags_app.sdk import DAG, EmptyOperator\n"
        "with DAG('later', schedule=None):\n"
        "    EmptyOperator(task_id='t')\n",
    )
    sync()
    cluster.env["ORCHESTRATOR_SQLITE_TIMEOUT"] = "0.2"
    scheduler = cluster.scheduler()
    cluster.wait_for(
        lambda: Job.objects.filter(job_type=JobType.SCHEDULER, end_date__isnull=True).exists(), "the scheduler"
    )

    with database_unavailable():
        deadline = time.monotonic() + TIMEOUT
        while scheduler.log().count("database unavailable") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert scheduler.popen.poll() is None, scheduler.log()
    connection.close()  # this test's own connection may have been terminated too

    run = trigger(sync, "later")
    cluster.wait_for(lambda: finished_run(run), "a run triggered after the outage to finish")
    assert run.state == DagRunState.SUCCESS
    # The run may finish (a worker's fast follow) just before the scheduler's next tick says so.
    cluster.wait_for(lambda: "database is back after" in scheduler.log(), "the scheduler to say the database is back")
    log = scheduler.log()
    assert "Traceback" not in log, log
    # One line per failed tick, each naming the error.
    failures = [line for line in log.splitlines() if "database unavailable" in line]
    assert len(failures) >= 3
    assert all("retrying in" in line for line in failures)


# -- more faults: the broker down, a stopped worker, a scheduler gone at the wrong moment -----------

REDIS_DOWN_SECONDS = float(os.environ.get("FAULT_REDIS_DOWN_SECONDS") or 8)


def counter_dag(markers: Path, dag_id: str, body: str) -> str:
    """A DAG file whose tasks each append one line per execution to ``markers/<task_id>``."""
    return f"""
        import datetime
        from dags_app.sdk import DAG, BashOperator

        def counter(task_id, **kwargs):
            command = "echo {{{{ ti.try_number }}}} >> {markers}/" + task_id
            return BashOperator(task_id=task_id, bash_command=command, **kwargs)

        start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
        with DAG({dag_id!r}, schedule=None, start_date=start) as dag:
        {body}
        """


def executions(markers: Path) -> dict[str, list[str]]:
    return {path.name: lines(path) for path in sorted(markers.iterdir())}


def test_redis_down_then_restarted_empty_loses_no_task_and_the_ui_says_so(cluster, dag_file, sync, tmp_path, settings):
    from runs_app.scheduling import broker_is_healthy
    from tests.conftest_services import _redis_server_binary, _start_redis

    markers = tmp_path / "markers"
    markers.mkdir()
    dag_file(
        "down.py", counter_dag(markers, "down", "    counter('a') >> [counter('b'), counter('c')] >> counter('d')")
    )
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    binary = _redis_server_binary()
    broker = _start_redis(binary, redis_dir)
    cluster.env["REDIS_URL"] = settings.REDIS_URL = broker.url
    try:
        scheduler = cluster.scheduler()
        worker = cluster.worker()
        cluster.wait_for(lambda: workers_waiting(broker) == 1, "the worker to wait for jobs")
        broker.stop()
        run = trigger(sync, "down")
        cluster.wait_for(
            lambda: TaskInstance.objects.filter(dag_run=run, task_id="a", state=TaskInstanceState.QUEUED).exists(),
            "the first task to be queued while Redis is down",
        )
        assert broker_is_healthy() is False  # the banner's check
        time.sleep(REDIS_DOWN_SECONDS)  # the outage itself: nothing to poll for
        assert scheduler.popen.poll() is None and worker.popen.poll() is None

        broker = _start_redis(binary, redis_dir, port=broker.port)  # back, and empty
        cluster.wait_for(lambda: finished_run(run), "the run to finish once Redis is back", timeout=90)
    finally:
        broker.stop()

    assert run.state == DagRunState.SUCCESS
    assert executions(markers) == {"a": ["1"], "b": ["1"], "c": ["1"], "d": ["1"]}
    assert "Traceback" not in scheduler.log(), scheduler.log()


def test_a_worker_stopped_past_the_zombie_threshold_then_resumed_changes_nothing(cluster, dag_file, sync, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    started = tmp_path / "started"
    dag_file(
        "stopped.py",
        counter_dag(
            markers,
            "stopped",
            "    BashOperator(task_id='t', retries=1, retry_delay=datetime.timedelta(0), "
            f"bash_command='echo {{{{ ti.try_number }}}} >> {markers}/t; touch {started}; sleep 2')",
        ),
    )
    run = trigger(sync, "stopped")
    cluster.scheduler()
    first = cluster.worker("worker-1")
    cluster.wait_for(started.exists, "the first try to start")

    os.killpg(first.popen.pid, signal.SIGSTOP)  # the supervisor (and RQ) freeze; the task is in its own session
    try:
        cluster.worker("worker-2")
        cluster.wait_for(lambda: finished_run(run), "the run to finish on the other worker after the zombie repair")
    finally:
        os.killpg(first.popen.pid, signal.SIGCONT)
    cluster.wait_for(
        lambda: "this try's result was not recorded" in TaskInstance.objects.get(dag_run=run).log_path(1).read_text(),
        "the resumed worker to give up its late result",
    )

    ti = TaskInstance.objects.get(dag_run=run)
    assert (run.state, ti.state, ti.try_number) == (DagRunState.SUCCESS, TaskInstanceState.SUCCESS, 2)
    # The first try ran to its end while its supervisor was frozen: a retry after a zombie is a
    # second execution, as in Airflow; what the frozen worker reports later changes nothing.
    assert executions(markers) == {"t": ["1", "2"]}
    assert first.popen.poll() is None  # resumed and working


def test_a_scheduler_killed_between_queued_and_the_enqueue_loses_no_task(cluster, dag_file, sync, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    dag_file("lost.py", counter_dag(markers, "lost", "    [counter('a'), counter('b')] >> counter('c')"))
    run = trigger(sync, "lost")
    # What a scheduler SIGKILLed right after its commit leaves: rows queued, nothing in Redis.
    assert len(queue_ready_tasks(run)) == 2

    cluster.scheduler()
    cluster.worker()
    cluster.wait_for(lambda: finished_run(run), "the run to finish after the repair enqueues the lost tries")

    assert run.state == DagRunState.SUCCESS
    assert executions(markers) == {"a": ["1"], "b": ["1"], "c": ["1"]}


def test_a_scheduler_stopped_with_sigterm_mid_catch_up_leaves_every_run_whole_and_the_next_one_goes_on(
    cluster, dag_file
):
    hours = 300
    dag_file(
        "catchup.py",
        f"""
        import datetime
        from dags_app.sdk import DAG, EmptyOperator

        start = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
        start -= datetime.timedelta(hours={hours})
        with DAG("catchup", schedule="@hourly", start_date=start, catchup=True, max_active_runs=50,
                 is_paused_upon_creation=False) as dag:
            EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
        """,
    )
    first = cluster.scheduler("scheduler-1")
    cluster.wait_for(lambda: "Starting the scheduler" in first.log(), "the scheduler to start")
    # At most 50 runs are active at once, so the catch-up takes several ticks: stop it after the first.
    cluster.wait_for(lambda: DagRun.objects.filter(dag__dag_id="catchup").exists(), "the catch-up to begin")
    first.popen.send_signal(signal.SIGTERM)
    first.killed = True
    assert first.popen.wait(timeout=60) == 0, first.log()
    made = DagRun.objects.filter(dag__dag_id="catchup").count()
    assert 0 < made < hours
    assert "Scheduler stopped" in first.log()

    cluster.scheduler("scheduler-2")
    cluster.wait_for(
        lambda: DagRun.objects.filter(dag__dag_id="catchup").count() >= hours,
        f"the {hours} catch-up runs",
        timeout=120,
    )

    runs = DagRun.objects.filter(dag__dag_id="catchup")
    assert runs.values("logical_date").distinct().count() == runs.count()
    assert runs.count() in (hours, hours + 1)  # the current hour may have ended meanwhile
    # Every run is whole: both its task instances exist, whichever scheduler made it.
    assert TaskInstance.objects.filter(dag_run__in=runs).count() == 2 * runs.count()


def test_three_schedulers_never_exceed_pool_max_active_tasks_or_max_active_runs(cluster, dag_file, sync, tmp_path):
    """Three schedulers and four workers over 30 DAGs whose tasks share a 3-slot pool: sampled
    all along, no pool, DAG or run limit is ever exceeded, and every task runs once."""
    markers = tmp_path / "markers"
    markers.mkdir()
    Pool.objects.create(name="tight", slots=3)
    dags = 30
    for i in range(dags):
        dag_file(
            f"limits_{i}.py",
            f"""
            import pendulum
            from dags_app.sdk import DAG, BashOperator

            with DAG("limits_{i}", schedule="@daily", start_date=pendulum.today("UTC").subtract(days=2),
                     catchup=True, max_active_runs=1, max_active_tasks=2, is_paused_upon_creation=False) as dag:
                for n in range(3):
                    command = "echo 1 >> {markers}/{{{{ dag.dag_id }}}}.{{{{ ds }}}}.{{{{ task.task_id }}}}"
                    BashOperator(task_id=f"t{{n}}", pool="tight", bash_command=command)
            """,
        )
    sync()
    worst = {"pool": 0, "dag_tasks": 0, "dag_runs": 0}
    stop = threading.Event()

    def sample() -> None:
        from django.db import connection
        from django.db.models import Count

        try:
            while not stop.is_set():
                busy = TaskInstance.objects.filter(state__in=[TaskInstanceState.QUEUED, TaskInstanceState.RUNNING])
                worst["pool"] = max(worst["pool"], busy.filter(pool="tight").count())
                per_dag = busy.values("dag_id").annotate(n=Count("id")).values_list("n", flat=True)
                worst["dag_tasks"] = max([worst["dag_tasks"], *per_dag])
                runs = (
                    DagRun.objects.filter(state=DagRunState.RUNNING)
                    .values("dag_id")
                    .annotate(n=Count("id"))
                    .values_list("n", flat=True)
                )
                worst["dag_runs"] = max([worst["dag_runs"], *runs])
                time.sleep(0.02)
        finally:
            connection.close()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        for n in range(4):
            cluster.worker(f"worker-{n}")
        for n in range(3):
            cluster.scheduler(f"scheduler-{n}")
        expected_runs = dags * 2
        cluster.wait_for(
            lambda: DagRun.objects.filter(state=DagRunState.SUCCESS).count() >= expected_runs,
            f"the {expected_runs} runs to succeed",
            timeout=240,
        )
    finally:
        stop.set()
        sampler.join()

    assert worst["pool"] <= 3, worst
    assert worst["dag_tasks"] <= 2, worst
    assert worst["dag_runs"] <= 1, worst
    assert worst["pool"] == 3  # the pool was the limit, not idle workers
    ran = executions(markers)
    assert len(ran) == expected_runs * 3
    assert {name: lines for name, lines in ran.items() if lines != ["1"]} == {}


def test_example_failure_webhook_posts_to_a_local_server_through_the_scheduler_and_a_worker(
    cluster, dags_folder, webhook_server
):
    url, hook = webhook_server
    shutil.copy(settings.BASE_DIR / "dags" / "example_failure_webhook.py", dags_folder / "example_failure_webhook.py")
    cluster.env["ORCHESTRATOR_WEBHOOK_URL"] = f"{url}/hooks/chat"
    cluster.manage("dags", "unpause", "example_failure_webhook")
    cluster.scheduler()
    cluster.worker()

    cluster.manage("dags", "trigger", "-e", "2024-01-01", "example_failure_webhook")

    run = DagRun.objects.get(dag__dag_id="example_failure_webhook")
    cluster.wait_for(lambda: finished_run(run), "the run of example_failure_webhook to finish")
    assert run.state == DagRunState.FAILED
    assert {ti.task_id: ti.state for ti in tis_of(run).values()} == {"extract": "success", "load": "failed"}
    cluster.wait_for(lambda: hook.received, "the DAG's failure webhook")
    path, headers, body = hook.received[0]
    assert (path, headers["Content-Type"]) == ("/hooks/chat", "application/json")
    assert body == {
        "text": f"DAG example_failure_webhook failed (task_failure) in run {run.run_id}: task load is failed",
        "dag_id": "example_failure_webhook",
        "run_id": run.run_id,
        "reason": "task_failure",
    }
    # The task's EmailNotifier wrote its mail into the try's log (the console mail backend).
    load_log = tis_of(run)["load"].log_path().read_text()
    assert "Subject: [orchestrator] example_failure_webhook.load failed on 2024-01-01" in load_log
    assert "To: oncall@example.com" in load_log
    assert "extract finished for 2024-01-01: try 1" in tis_of(run)["extract"].log_path().read_text()
    time.sleep(1)  # a second delivery would arrive within the scheduler's next ticks
    assert len(hook.received) == 1


def test_example_sensor_file_waits_rescheduled_then_runs_once_the_file_arrives(cluster, dags_folder, tmp_path):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    shutil.copy(settings.BASE_DIR / "dags" / "example_sensor_file.py", dags_folder / "example_sensor_file.py")
    cluster.manage("dags", "unpause", "example_sensor_file")
    cluster.scheduler()
    cluster.worker()

    conf = json.dumps({"folder": str(incoming)})
    cluster.manage("dags", "trigger", "-e", "2024-01-01", "example_sensor_file", "-c", conf)

    run = DagRun.objects.get(dag__dag_id="example_sensor_file")

    def rescheduled() -> TaskInstance | None:
        ti = tis_of(run)["wait_for_file"]
        return ti if ti.state == TaskInstanceState.UP_FOR_RESCHEDULE else None

    waiting = cluster.wait_for(rescheduled, "the sensor to be rescheduled")
    assert (waiting.try_number, waiting.reschedule_count) == (1, 1)
    (incoming / "sales-2024-01-01.csv").write_text("a\nb\nc\n")

    cluster.wait_for(lambda: finished_run(run), "the run to finish once the file is there")
    assert run.state == DagRunState.SUCCESS
    sensor = tis_of(run)["wait_for_file"]
    assert (sensor.state, sensor.try_number) == (TaskInstanceState.SUCCESS, 1)
    assert sensor.reschedule_count >= 1
    assert "loaded 3 rows" in tis_of(run)["load"].log_path().read_text()


def test_example_dynamic_task_mapping_fans_out_and_reduces_through_the_scheduler_and_workers(cluster, dags_folder):
    shutil.copy(
        settings.BASE_DIR / "dags" / "example_dynamic_task_mapping.py", dags_folder / "example_dynamic_task_mapping.py"
    )
    cluster.manage("dags", "unpause", "example_dynamic_task_mapping")
    cluster.scheduler()
    cluster.worker("worker-1")
    cluster.worker("worker-2")

    cluster.manage("dags", "trigger", "-e", "2024-01-01", "example_dynamic_task_mapping")

    run = DagRun.objects.get(dag__dag_id="example_dynamic_task_mapping")
    cluster.wait_for(lambda: finished_run(run), "the run of example_dynamic_task_mapping to finish")
    assert run.state == DagRunState.SUCCESS
    rows = set(TaskInstance.objects.filter(dag_run=run).values_list("task_id", "map_index", "state", "try_number"))
    success = TaskInstanceState.SUCCESS
    assert rows == {
        ("list_files", -1, success, 1),
        ("count_rows", 0, success, 1),
        ("count_rows", 1, success, 1),
        ("count_rows", 2, success, 1),
        ("total", -1, success, 1),
        ("greet", 0, success, 1),
        ("greet", 1, success, 1),
    }
    total = TaskInstance.objects.get(dag_run=run, task_id="total")
    assert "Total rows: 380 in 3 files" in total.log_path().read_text()
    names = TaskInstance.objects.filter(dag_run=run, task_id="count_rows").order_by("map_index")
    assert [ti.rendered_map_index for ti in names] == ["sales_eu.csv", "sales_us.csv", "sales_apac.csv"]
    assert "sales_apac.csv: 140 rows" in names[2].log_path().read_text()

    listed = json.loads(
        cluster.manage("tasks", "states-for-dag-run", "example_dynamic_task_mapping", run.run_id, "-o", "json").stdout
    )
    assert [(r["task_id"], r["map_index"]) for r in listed if r["task_id"] == "count_rows"] == [
        ("count_rows", 0),
        ("count_rows", 1),
        ("count_rows", 2),
    ]
    state = cluster.manage("tasks", "state", "example_dynamic_task_mapping", "count_rows", run.run_id, "-m", "2")
    assert state.stdout.strip() == "success"


def test_trigger_dag_run_waits_for_the_triggered_run_through_two_workers(cluster, dag_file, sync):
    dag_file(
        "child.py",
        """
        import datetime
        from dags_app.sdk import DAG, BashOperator
        with DAG("child", schedule=None, start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)):
            BashOperator(task_id="work", bash_command="test '{{ dag_run.conf.get(\\"ok\\") }}' = yes")
        """,
    )
    dag_file(
        "parent.py",
        """
        import datetime
        from dags_app.sdk import DAG, TriggerDagRunOperator
        with DAG("parent", schedule=None, start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)):
            TriggerDagRunOperator(
                task_id="good", trigger_dag_id="child", trigger_run_id="good_{{ ds }}", conf={"ok": "yes"},
                logical_date="{{ logical_date }}", wait_for_completion=True, poke_interval=0.2,
            ) >> TriggerDagRunOperator(
                task_id="bad", trigger_dag_id="child", trigger_run_id="bad_{{ ds }}", conf={"ok": "no"},
                logical_date="{{ logical_date.add(hours=1) }}", wait_for_completion=True, poke_interval=0.2,
            )
        """,
    )
    sync()
    dag_set_paused(dag=DagModel.objects.get(dag_id="child"), is_paused=False)
    run = trigger(sync, "parent", dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    cluster.scheduler()
    cluster.worker("worker-1")
    cluster.worker("worker-2")  # the waiting task holds one worker; the child's task runs on the other

    cluster.wait_for(lambda: finished_run(run), "the parent run to finish")
    tis = tis_of(run)
    assert (tis["good"].state, tis["bad"].state) == (TaskInstanceState.SUCCESS, TaskInstanceState.FAILED)
    children = dict(DagRun.objects.filter(dag__dag_id="child").values_list("run_id", "state"))
    assert children == {"good_2024-01-01": DagRunState.SUCCESS, "bad_2024-01-01": DagRunState.FAILED}
    assert "child failed with failed state failed" in tis["bad"].log_path().read_text()

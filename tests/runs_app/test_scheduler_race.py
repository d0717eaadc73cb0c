"""Several schedulers at once, at the issue's size: 2 and 3 schedulers, 200 ticks each, 50 DAGs.

Scheduler threads call the real ``tick`` with a given clock (each its own connection, as separate
processes would have), worker threads claim and finish the tries they enqueued through the real
``task_instance_claim`` / ``task_instance_record_outcome`` (with their fast follow), and a sampler
watches the limits all along. On SQLite and PostgreSQL alike:

- one run per DAG and logical date, every run whole (all its task instances);
- every try enqueued once, claimed once;
- the pool's slots, ``max_active_tasks`` and ``max_active_runs`` never exceeded;
- once the schedulers stop, one more pass finishes every run.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections import Counter

import pytest
from django.db import connection, connections, transaction
from django.db.models import Count

from dags_app.models import DagModel
from runs_app.models import DagRun, Pool, TaskInstance
from runs_app.scheduler import tick
from runs_app.states import DagRunState, TaskInstanceState
from runs_app.tries import Outcome, task_instance_claim, task_instance_record_outcome

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=30)  # of the given clock per tick: 200 ticks are about 4 days
TICKS = 200
DAGS = 50
POOL_SLOTS = 5
WORKERS = 4
SOURCE = """
import datetime
from dags_app.sdk import DAG, EmptyOperator, PythonOperator

with DAG("race_{n}", schedule="@daily", start_date=datetime.datetime(2029, 12, 30, tzinfo=datetime.timezone.utc),
         catchup=True, max_active_runs=2, max_active_tasks=2, is_paused_upon_creation=False) as dag:
    first = PythonOperator(task_id="first", python_callable=print, pool="tight")
    first >> [PythonOperator(task_id=f"t{{i}}", python_callable=print, pool="tight") for i in range(2)]
"""


class Clock:
    """The given time, shared: each scheduler tick moves it on; workers read it."""

    def __init__(self) -> None:
        self._now = T0
        self._lock = threading.Lock()

    def at_tick(self, n: int) -> dt.datetime:
        now = T0 + n * STEP
        with self._lock:
            self._now = max(self._now, now)
        return now

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now


class Executor:
    """What the schedulers and fast follows enqueue: counted, and handed to the worker threads."""

    def __init__(self) -> None:
        self.jobs: queue.Queue = queue.Queue()
        self.enqueued: Counter = Counter()
        self._lock = threading.Lock()

    def queue(self, *, ti_id: int, try_number: int, queue: str, execution_timeout: float | None) -> None:
        # As RQExecutor: the job exists only once the queued state is committed (a worker that
        # claimed before the commit would find the try not queued yet and drop it).
        def put():
            with self._lock:
                self.enqueued[(ti_id, try_number)] += 1
            self.jobs.put((ti_id, try_number))

        transaction.on_commit(put)


def _closing(target):
    def run(*args):
        try:
            target(*args)
        finally:
            for conn in connections.all(initialized_only=True):
                conn.close()

    return run


@pytest.mark.parametrize("schedulers", [2, 3])
def test_schedulers_racing_for_200_ticks_over_50_dags_keep_every_limit_and_run_each_try_once(
    schedulers, dag_file, sync, settings
):
    settings.ORCHESTRATOR = {
        **settings.ORCHESTRATOR,
        # The subject is the race, not the repair: nothing is a zombie or stuck on the given clock.
        "ZOMBIE_THRESHOLD": 10**9,
        "TASK_QUEUED_TIMEOUT": 0,
    }
    for n in range(DAGS):
        dag_file(f"race_{n}.py", SOURCE.format(n=n))
    assert sync(now=T0).import_errors == 0
    Pool.objects.create(name="tight", slots=POOL_SLOTS)
    clock, executor = Clock(), Executor()
    claimed: Counter = Counter()
    errors: list[BaseException] = []
    worst = {"pool": 0, "dag_tasks": 0, "dag_runs": 0}
    stop_workers, stop_sampler = threading.Event(), threading.Event()

    def guard(step):
        def run(*args):
            try:
                step(*args)
            except BaseException as exc:  # any error in a thread fails the test
                errors.append(exc)
                raise

        return _closing(run)

    def scheduler() -> None:
        for n in range(TICKS):
            tick(now=clock.at_tick(n), reparse=False, executor=executor)

    def worker() -> None:
        while not (stop_workers.is_set() and executor.jobs.empty()):
            try:
                ti_id, try_number = executor.jobs.get(timeout=0.05)
            except queue.Empty:
                continue
            try:
                ti = task_instance_claim(ti_id=ti_id, try_number=try_number, now=clock.now())
                if ti is not None:
                    claimed[(ti_id, try_number)] += 1
                    outcome = Outcome(state=TaskInstanceState.SUCCESS.value)
                    task_instance_record_outcome(ti=ti, outcome=outcome, now=clock.now(), executor=executor)
            finally:
                executor.jobs.task_done()

    def sample() -> None:
        while not stop_sampler.is_set():
            busy = TaskInstance.objects.filter(state__in=[TaskInstanceState.QUEUED, TaskInstanceState.RUNNING])
            worst["pool"] = max(worst["pool"], busy.filter(pool="tight").count())
            per_dag = busy.values("dag_id").annotate(n=Count("id")).values_list("n", flat=True)
            worst["dag_tasks"] = max([worst["dag_tasks"], *per_dag])
            running = DagRun.objects.filter(state=DagRunState.RUNNING).values("dag_id").annotate(n=Count("id"))
            worst["dag_runs"] = max([worst["dag_runs"], *running.values_list("n", flat=True)])
            stop_sampler.wait(0.01)

    threads = [threading.Thread(target=guard(worker)) for _ in range(WORKERS)]
    sampler = threading.Thread(target=guard(sample))
    scheduler_threads = [threading.Thread(target=guard(scheduler)) for _ in range(schedulers)]
    for thread in [*threads, sampler, *scheduler_threads]:
        thread.start()
    for thread in scheduler_threads:
        thread.join()
    # The schedulers are done: the workers finish what is queued, then one pass at a time ends the runs.
    end = T0 + TICKS * STEP
    # (A DAG at max_active_runs makes its next run only once one ends, so some are made here.)
    for _ in range(500):
        executor.jobs.join()  # every enqueued try has been taken and finished
        report = tick(now=end, reparse=False, executor=executor)
        busy = report.runs_created or report.runs_started or report.tasks_queued or report.runs_finished
        if not busy and executor.jobs.empty() and not DagRun.objects.exclude(state=DagRunState.SUCCESS).exists():
            break
    stop_workers.set()
    for thread in threads:
        thread.join()
    stop_sampler.set()
    sampler.join()
    connection.close()

    assert errors == []
    runs = DagRun.objects.all()
    per_dag = Counter(runs.values_list("dag__dag_id", flat=True))
    # Daily from 2029-12-30: every data interval that ended by the clock's end has its one run.
    expected, start = 0, dt.datetime(2029, 12, 30, tzinfo=dt.UTC)
    while start + dt.timedelta(days=(expected + 1)) <= end:
        expected += 1
    assert len(per_dag) == DAGS
    assert set(per_dag.values()) == {expected}, Counter(TaskInstance.objects.values_list("state", flat=True))
    assert runs.values("dag_id", "logical_date").distinct().count() == runs.count()
    assert set(runs.values_list("state", flat=True)) == {DagRunState.SUCCESS}
    tis = TaskInstance.objects.all()
    assert tis.count() == 3 * runs.count()  # every run is whole
    assert Counter(tis.values_list("state", "try_number")) == {(TaskInstanceState.SUCCESS, 1): tis.count()}
    # Each try was enqueued once and claimed once.
    assert [pair for pair, n in executor.enqueued.items() if n > 1] == []
    assert sorted(claimed) == sorted(tis.values_list("pk", "try_number"))
    assert set(claimed.values()) == {1}
    assert worst["pool"] <= POOL_SLOTS, worst
    assert worst["dag_tasks"] <= 2, worst
    assert worst["dag_runs"] <= 2, worst
    assert worst["pool"] == POOL_SLOTS  # the pool was the limit, not idle workers
    assert DagModel.objects.filter(scheduling_failures__gt=0).count() == 0

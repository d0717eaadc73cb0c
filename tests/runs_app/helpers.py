"""Helpers of the execution-engine tests: the test clock, DAG sources, and tries finished through
the engine's own recording path (claim, record, fast follow) without forking a task.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from runs_app.models import TaskInstance
from runs_app.runner import execute_claimed
from runs_app.scheduling import InlineExecutor, task_instance_queue
from runs_app.tries import Outcome, task_instance_claim, task_instance_record_outcome

UTC = dt.UTC
# The scheduler's clock in these tests: a midnight, so daily intervals end exactly at it.
NOW = dt.datetime(2024, 3, 10, tzinfo=UTC)
DAY = dt.timedelta(days=1)


def dag_source(
    dag_id: str,
    *,
    body: str = "    EmptyOperator(task_id='a') >> EmptyOperator(task_id='b')\n",
    schedule: str = "'@daily'",
    start: dt.datetime | None = NOW - 5 * DAY,
    dag_args: str = "",
    imports: str = "from dags_app.sdk import DAG, BashOperator, EmptyOperator, PythonOperator, TriggerRule\n",
) -> str:
    """Return the source of a DAG file defining ``dag_id`` with the tasks of ``body`` (indented)."""
    start_arg = "None" if start is None else f"datetime.datetime({start.year}, {start.month}, {start.day}, tzinfo=UTC)"
    return (
        "import datetime\n"
        "UTC = datetime.timezone.utc\n"
        f"{imports}"
        f"with DAG({dag_id!r}, schedule={schedule}, start_date={start_arg}{dag_args}) as dag:\n"
        f"{body}"
    )


def finish(ti: TaskInstance, state: str, *, now: dt.datetime = NOW, retry: bool = True, executor=None) -> TaskInstance:
    """End the current try of a queued ``ti`` in ``state`` as a worker would record it (claim, record, fast follow)."""
    ti.refresh_from_db()
    claimed = task_instance_claim(ti_id=ti.pk, try_number=ti.try_number, now=now)
    assert claimed is not None, f"{ti.task_id} is {ti.state}, not queued"
    result = task_instance_record_outcome(
        ti=claimed, outcome=Outcome(state=state, retry=retry), now=now, executor=executor or InlineExecutor()
    )
    assert result is not None
    claimed.refresh_from_db()
    return claimed


def queue(ti: TaskInstance, *, now: dt.datetime = NOW, executor=None) -> TaskInstance:
    """Queue the next try of ``ti`` (as the scheduler would) and return it."""
    ti.refresh_from_db()
    task = ti.dag_run.dag.get_task(ti.task_id)
    assert task_instance_queue(ti=ti, task=task, now=now, executor=executor or InlineExecutor())
    return ti


def states(run) -> dict[str, str]:
    """Return {task_id: state} of a run's task instances, read now."""
    return dict(TaskInstance.objects.filter(dag_run=run).values_list("task_id", "state"))


def drain(executor: InlineExecutor) -> None:
    """Execute, in order, every try ``executor`` collected, and those their fast follows add."""
    while executor.queued:
        ti_id, try_number = executor.queued.pop(0)
        ti = task_instance_claim(ti_id=ti_id, try_number=try_number, now=timezone.now())
        if ti is not None:
            execute_claimed(ti=ti, executor=executor)

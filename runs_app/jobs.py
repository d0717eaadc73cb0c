"""The RQ jobs: the only functions our workers run. They take ids, never code or objects."""

from __future__ import annotations

from runs_app.runner import execute_dag_callbacks, execute_task_callbacks, execute_task_instance


def run_task_instance(ti_id: int, try_number: int) -> str:
    """Execute try ``try_number`` of task instance ``ti_id`` (if it is still queued for that try)."""
    return execute_task_instance(ti_id=int(ti_id), try_number=int(try_number))


def run_dag_callbacks(run_id: int) -> str:
    """Call the pending DAG callback of finished run ``run_id`` (if no other worker took it)."""
    return execute_dag_callbacks(run_id=int(run_id))


def run_task_callbacks(request_id: int) -> str:
    """Call the callbacks owed by a try the scheduler ended (if no other worker took them)."""
    return execute_task_callbacks(request_id=int(request_id))


# What a worker may run, by the name a job gives (runs_app.worker refuses every other name).
JOB_FUNCTIONS = {
    "runs_app.jobs.run_task_instance": run_task_instance,
    "runs_app.jobs.run_dag_callbacks": run_dag_callbacks,
    "runs_app.jobs.run_task_callbacks": run_task_callbacks,
}

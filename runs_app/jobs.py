"""The RQ job: the only function our workers run. It takes ids, never code or objects."""

from __future__ import annotations

from runs_app.runner import execute_task_instance


def run_task_instance(ti_id: int, try_number: int) -> str:
    """Execute try ``try_number`` of task instance ``ti_id`` (if it is still queued for that try)."""
    return execute_task_instance(ti_id=int(ti_id), try_number=int(try_number))

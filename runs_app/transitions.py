"""Every state change of a task instance or a DAG run, in one module, checked against one table.

No other module writes ``state`` on a ``TaskInstance`` or a ``DagRun`` (a test greps for it).
Each function here is a conditional update: it names the state(s) it expects the row to be in
(and, for a try, the try number), checks that the move is in the transition table below, and
returns whether it happened (how many rows moved). Zero rows is a normal outcome: another
process (a second scheduler, a worker's fast follow, a user's mark or clear) got there first, and
the caller treats the row as theirs.

The table (who moves what is written beside each target; ``docs/reliability.md`` has it too):

task instance ``none``          -> scheduled (scheduler: waits for a slot), queued (scheduler: a
                                   new try), success (scheduler: EmptyOperator), skipped /
                                   upstream_failed (trigger rule, branch, run timeout), removed,
                                   success / failed (user mark)
              ``scheduled``     -> the same as ``none``, and back to ``none`` (clear)
              ``queued``        -> running (worker: claim), queued (repair: enqueue again),
                                   failed / up_for_retry (repair: stuck in queued), none (clear),
                                   success / failed (mark), skipped (run marked failed, timeout)
              ``running``       -> success / failed / up_for_retry / skipped (worker: outcome;
                                   repair: zombie), none (clear), success / failed (mark),
                                   skipped (run marked failed, run timeout)
              ``up_for_retry``  -> queued (scheduler: retry due), none, success, failed, skipped
              finished states   -> none (clear), queued (user: run now), success / failed (mark);
                                   ``upstream_failed`` also -> none when an upstream is marked
                                   success (the scheduler evaluates it again)
DAG run       ``queued``        -> running (scheduler: start; a mark while teardowns are left),
                                   success / failed (mark)
              ``running``       -> success / failed (scheduler: finish; run timeout; mark)
              ``success``/``failed`` -> running / queued (clear, run a task: reopen), the other
                                   finished state (mark)
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from runs_app.models import DagRun, TaskCallbackRequest, TaskInstance, TaskInstanceHistory
from runs_app.states import TI_FINISHED, TI_UNFINISHED, DagRunState, TaskInstanceState

TI = TaskInstanceState
R = DagRunState

_MARKS = {TI.SUCCESS, TI.FAILED}
_FINISHED_NEXT = {TI.NONE, TI.QUEUED} | _MARKS

TI_TRANSITIONS: dict[str, frozenset[str]] = {
    TI.NONE: frozenset({TI.SCHEDULED, TI.QUEUED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED} | _MARKS),
    TI.SCHEDULED: frozenset({TI.NONE, TI.QUEUED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED} | _MARKS),
    TI.QUEUED: frozenset({TI.RUNNING, TI.QUEUED, TI.UP_FOR_RETRY, TI.NONE, TI.SKIPPED, TI.REMOVED} | _MARKS),
    TI.RUNNING: frozenset({TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE, TI.SKIPPED, TI.NONE, TI.REMOVED} | _MARKS),
    TI.UP_FOR_RETRY: frozenset({TI.QUEUED, TI.NONE, TI.SKIPPED, TI.REMOVED} | _MARKS),
    TI.UP_FOR_RESCHEDULE: frozenset({TI.QUEUED, TI.NONE, TI.SKIPPED, TI.REMOVED} | _MARKS),
    TI.SUCCESS: frozenset(_FINISHED_NEXT),
    TI.FAILED: frozenset(_FINISHED_NEXT),
    TI.SKIPPED: frozenset(_FINISHED_NEXT),
    TI.UPSTREAM_FAILED: frozenset(_FINISHED_NEXT),
    TI.REMOVED: frozenset(_FINISHED_NEXT),
}

RUN_TRANSITIONS: dict[str, frozenset[str]] = {
    R.QUEUED: frozenset({R.RUNNING, R.SUCCESS, R.FAILED}),
    R.RUNNING: frozenset({R.SUCCESS, R.FAILED}),
    R.SUCCESS: frozenset({R.RUNNING, R.QUEUED, R.FAILED}),
    R.FAILED: frozenset({R.RUNNING, R.QUEUED, R.SUCCESS}),
}


class IllegalTransition(ValueError):
    """A caller asked for a move the transition table does not allow (a programming error)."""


def _check(table: dict[str, frozenset[str]], expected: Iterable[str], target: str) -> list[str]:
    expected = [str(s) for s in expected]
    bad = [s for s in expected if target not in table[s]]
    if bad:
        raise IllegalTransition(f"{', '.join(bad)} -> {target} is not an allowed transition")
    return expected


def _move_tis(qs: QuerySet, *, expected: Iterable[str], target: str, **fields: Any) -> int:
    """Move the rows of ``qs`` that are in one of ``expected`` to ``target``; return how many moved."""
    states = _check(TI_TRANSITIONS, expected, target)
    return qs.filter(state__in=states).update(state=target, **fields)


def _move_run(run_pk: int, *, expected: Iterable[str], target: str, **fields: Any) -> bool:
    states = _check(RUN_TRANSITIONS, expected, target)
    return bool(DagRun.objects.filter(pk=run_pk, state__in=states).update(state=target, **fields))


def _apply(obj: Any, target: str, fields: dict[str, Any]) -> None:
    obj.state = target
    for name, value in fields.items():
        if not hasattr(value, "resolve_expression"):
            setattr(obj, name, value)


def _rows(run: DagRun, task_ids: Iterable[str], map_indexes: dict[str, set[int]] | None = None) -> QuerySet:
    """The instances of ``task_ids`` in ``run``; for a task named in ``map_indexes``, only those
    mapped instances (a user acting on one instance of a mapped task)."""
    ids = list(task_ids)
    restricted = {t: set(i) for t, i in (map_indexes or {}).items() if t in ids}
    where = Q(task_id__in=[t for t in ids if t not in restricted])
    for task_id, indexes in restricted.items():
        where |= Q(task_id=task_id, map_index__in=sorted(indexes))
    return TaskInstance.objects.filter(where, dag_run=run)


def task_instances_of(run: DagRun, task_ids: Iterable[str], map_indexes: dict[str, set[int]] | None = None) -> QuerySet:
    """The rows a move of ``task_ids`` in ``run`` acts on (read only: for a plan or a dry run)."""
    return _rows(run, task_ids, map_indexes)


def _one_try(ti: TaskInstance) -> QuerySet:
    return TaskInstance.objects.filter(pk=ti.pk, try_number=ti.try_number)


# The fields of a try that its history row keeps; a try not started yet is not recorded.
_TRY_FIELDS = (
    "try_number",
    "state",
    "max_tries",
    "operator",
    "queue",
    "pool",
    "pool_slots",
    "priority_weight",
    "queued_at",
    "start_date",
    "end_date",
    "duration",
    "hostname",
    "pid",
)
_NOT_A_TRY = (TI.NONE, TI.SCHEDULED)


def _record_tries(rows: Iterable[dict[str, Any]]) -> None:
    """Keep the tries in ``rows`` (``pk`` and ``_TRY_FIELDS`` of task instances, as their tries
    left them) before the move that starts their next one; a try already kept stays as it was."""
    history = [
        TaskInstanceHistory(task_instance_id=row["pk"], **{name: row[name] for name in _TRY_FIELDS})
        for row in rows
        if row["try_number"] >= 1 and row["state"] not in _NOT_A_TRY
    ]
    if history:
        TaskInstanceHistory.objects.bulk_create(history, ignore_conflicts=True)


# -- the scheduler's moves -------------------------------------------------------------------------


def ti_queue(ti: TaskInstance, *, now: dt.datetime, job_id: str) -> bool:
    """Start the next try: ``ti.state`` at ``ti.try_number`` -> ``queued`` at ``try_number + 1``."""
    fields = {
        "queued_at": now,
        "start_date": None,
        "end_date": None,
        "duration": None,
        "hostname": "",
        "pid": None,
        "last_heartbeat": None,
        "next_retry_at": None,
        "queued_requeues": 0,
        "rq_job_id": job_id,
        "first_poke_at": None,
        "reschedule_count": 0,
    }
    ended = {"pk": ti.pk, **{name: getattr(ti, name) for name in _TRY_FIELDS}}
    moved = _move_tis(_one_try(ti), expected=[ti.state], target=TI.QUEUED, try_number=F("try_number") + 1, **fields)
    if moved:
        _record_tries([ended])  # a retry (or run again) keeps the try it ends; a first try has none
        _apply(ti, TI.QUEUED, fields)
        ti.try_number += 1
    return bool(moved)


def ti_queue_reschedule(ti: TaskInstance, *, now: dt.datetime, job_id: str) -> bool:
    """``up_for_reschedule`` -> ``queued`` at the *same* try: a sensor's next poke is due (as in
    Airflow, rescheduling does not count as a try)."""
    fields = {
        "queued_at": now,
        "end_date": None,
        "hostname": "",
        "pid": None,
        "last_heartbeat": None,
        "next_retry_at": None,
        "queued_requeues": 0,
        "rq_job_id": job_id,
    }
    moved = _move_tis(_one_try(ti), expected=[TI.UP_FOR_RESCHEDULE], target=TI.QUEUED, **fields)
    if moved:
        _apply(ti, TI.QUEUED, fields)
    return bool(moved)


def ti_wait_for_slot(ti: TaskInstance) -> bool:
    """``none`` -> ``scheduled``: ready, but no free slot (max_active_tasks, pool) yet."""
    moved = _move_tis(_one_try(ti), expected=[TI.NONE], target=TI.SCHEDULED)
    if moved:
        ti.state = TI.SCHEDULED
    return bool(moved)


def ti_decide(ti: TaskInstance, *, state: str, now: dt.datetime) -> bool:
    """``none``/``scheduled`` -> ``skipped``/``upstream_failed``: the trigger rule can no longer be met."""
    fields = {"start_date": now, "end_date": now, "duration": 0.0}
    moved = _move_tis(_one_try(ti), expected=[TI.NONE, TI.SCHEDULED], target=state, **fields)
    if moved:
        _apply(ti, state, fields)
    return bool(moved)


def ti_finish_without_worker(ti: TaskInstance, *, now: dt.datetime) -> bool:
    """``none``/``scheduled`` -> ``success`` with a new try: a ready EmptyOperator, as Airflow does."""
    fields = {"start_date": now, "end_date": now, "duration": 0.0}
    moved = _move_tis(
        _one_try(ti),
        expected=[TI.NONE, TI.SCHEDULED],
        target=TI.SUCCESS,
        try_number=F("try_number") + 1,
        **fields,
    )
    if moved:
        _apply(ti, TI.SUCCESS, fields)
        ti.try_number += 1
    return bool(moved)


def ti_expand(*, run: DagRun, task_id: str, length: int, now: dt.datetime) -> list[TaskInstance]:
    """Make the instances of a mapped task for ``length`` values (dynamic task mapping).

    The unexpanded instance (``map_index`` -1) becomes instance 0 and instances 1..length-1 are
    created (``none``), copying its queue, pool and retries; instances at or beyond ``length``
    that have not started (a clear, then fewer values) become ``removed``, and removed ones
    within it come back. Zero values: one instance stays at -1 and is ``skipped`` (as in Airflow),
    the others are removed. Returns the task's instances after the change, by map index.
    """
    rows = TaskInstance.objects.filter(dag_run=run, task_id=task_id)
    waiting = [TI.NONE, TI.SCHEDULED]
    current = list(rows.order_by("map_index"))
    if not current:
        return []
    if length == 0:
        keep = current[0]
        if keep.map_index != -1:
            rows.filter(pk=keep.pk, state__in=waiting).update(map_index=-1)
        _move_tis(rows.filter(pk=keep.pk), expected=waiting, target=TI.SKIPPED, start_date=now, end_date=now)
        _move_tis(rows.exclude(pk=keep.pk), expected=waiting, target=TI.REMOVED, end_date=now)
        return list(rows.order_by("map_index"))
    template = current[0]
    rows.filter(map_index=-1, state__in=waiting).update(map_index=0)
    _move_tis(rows.filter(map_index__gte=length), expected=waiting, target=TI.REMOVED, end_date=now)
    _move_tis(rows.filter(map_index__lt=length, map_index__gte=0), expected=[TI.REMOVED], target=TI.NONE, end_date=None)
    have = set(rows.values_list("map_index", flat=True))
    TaskInstance.objects.bulk_create(
        [
            TaskInstance(
                dag_run=run,
                dag_id=run.dag_id,
                task_id=task_id,
                map_index=index,
                max_tries=template.max_tries,
                operator=template.operator,
                queue=template.queue,
                pool=template.pool,
                pool_slots=template.pool_slots,
                priority_weight=template.priority_weight,
            )
            for index in range(length)
            if index not in have
        ],
        ignore_conflicts=True,  # another scheduler expanded the same task meanwhile
    )
    return list(rows.order_by("map_index"))


def tis_skip(*, run: DagRun, task_ids: Iterable[str], now: dt.datetime) -> int:
    """``none``/``scheduled`` -> ``skipped`` for tasks a branch or short-circuit did not follow."""
    return _move_tis(
        TaskInstance.objects.filter(dag_run=run, task_id__in=list(task_ids)),
        expected=[TI.NONE, TI.SCHEDULED],
        target=TI.SKIPPED,
        start_date=now,
        end_date=now,
        duration=0.0,
    )


def tis_fail_stop(*, run: DagRun, failed_task_id: str, now: dt.datetime) -> tuple[int, int]:
    """A task of a ``fail_stop`` DAG failed (Airflow's ``_stop_remaining_tasks``): the run's other
    running tries fail (their processes stop at the next heartbeat) and its other unfinished
    instances are skipped. Returns (failed, skipped)."""
    others = TaskInstance.objects.filter(dag_run=run).exclude(task_id=failed_task_id)
    failed = _move_tis(others, expected=[TI.RUNNING], target=TI.FAILED, end_date=now)
    skipped = _move_tis(
        others,
        expected=[TI.NONE, TI.SCHEDULED, TI.QUEUED, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE],
        target=TI.SKIPPED,
        end_date=now,
    )
    return failed, skipped


def tis_remove(*, run: DagRun, task_ids: Iterable[str], now: dt.datetime) -> int:
    """Unfinished -> ``removed``: the tasks are gone from the DAG file, so their instances no longer
    hold the run open (a running try is stopped at its next heartbeat). Finished ones stay as history."""
    return _move_tis(
        TaskInstance.objects.filter(dag_run=run, task_id__in=list(task_ids)),
        expected=TI_UNFINISHED,
        target=TI.REMOVED,
        end_date=now,
    )


def tis_restore(*, run: DagRun, task_ids: Iterable[str]) -> int:
    """``removed`` -> ``none``: the tasks are back in the DAG file (Airflow's verify_integrity)."""
    return _move_tis(
        TaskInstance.objects.filter(dag_run=run, task_id__in=list(task_ids)),
        expected=[TI.REMOVED],
        target=TI.NONE,
        end_date=None,
    )


def ti_requeue_stuck(*, ti_id: int, try_number: int, now: dt.datetime) -> bool:
    """``queued`` -> ``queued`` (same try, counted): nobody picked the try up; it is enqueued again."""
    return bool(
        _move_tis(
            TaskInstance.objects.filter(pk=ti_id, try_number=try_number),
            expected=[TI.QUEUED],
            target=TI.QUEUED,
            queued_at=now,
            queued_requeues=F("queued_requeues") + 1,
        )
    )


def run_start(run: DagRun, *, now: dt.datetime) -> bool:
    """``queued`` -> ``running``."""
    fields = {"start_date": now, "end_date": None}
    moved = _move_run(run.pk, expected=[R.QUEUED], target=R.RUNNING, **fields)
    if moved:
        _apply(run, R.RUNNING, fields)
    return moved


# Why a run ended, as Airflow's DAG callbacks see it in context["reason"].
REASON_SUCCESS = "success"
REASON_TASK_FAILURE = "task_failure"
REASON_TIMED_OUT = "timed_out"


def run_finish(run: DagRun, *, state: str, now: dt.datetime, reason: str | None = None) -> bool:
    """``running`` -> ``success``/``failed``: every task instance is finished.

    When the DAG defines a callback for how the run ended, the same update leaves it pending
    (``callback_pending`` = the reason), so it is called once even if this process dies now.
    """
    fields: dict[str, Any] = {"end_date": now}
    callback = "on_success_callback" if state == R.SUCCESS else "on_failure_callback"
    if callback in (run.dag.serialized or {}).get("callbacks", []):
        fields["callback_pending"] = reason or (REASON_SUCCESS if state == R.SUCCESS else REASON_TASK_FAILURE)
        fields["callback_queued_at"] = None
    fields["marked_state"] = ""
    moved = _move_run(run.pk, expected=[R.RUNNING], target=state, **fields)
    if moved:
        _apply(run, state, fields)
    return moved


def run_callbacks_handed_out(run_pks: Iterable[int], *, now: dt.datetime) -> int:
    """Record that the pending DAG callbacks of these runs were given to a worker at ``now``."""
    return DagRun.objects.filter(pk__in=list(run_pks)).exclude(callback_pending="").update(callback_queued_at=now)


def run_take_callback(run_pk: int) -> str | None:
    """Take the run's pending DAG callback (clear it) and return its reason; None if none is
    pending or another worker took it first: whoever clears it calls it, so it runs once."""
    reason = DagRun.objects.filter(pk=run_pk).values_list("callback_pending", flat=True).first()
    if not reason:
        return None
    taken = DagRun.objects.filter(pk=run_pk, callback_pending=reason).update(callback_pending="")
    return reason if taken else None


def ti_owe_callbacks(ti: TaskInstance, *, ended_state: str, error: str, now: dt.datetime) -> TaskCallbackRequest:
    """Record that try ``ti.try_number``, ended by the repair as ``ended_state``, owes its task
    callback: called in the transaction that writes that state, so it is owed exactly when the
    state is written."""
    return TaskCallbackRequest.objects.create(
        task_instance_id=ti.pk, try_number=ti.try_number, ended_state=ended_state, error=error[:10000], created_at=now
    )


def ti_callbacks_handed_out(request_pks: Iterable[int], *, now: dt.datetime) -> int:
    """Record that these task callback requests were given to a worker at ``now``."""
    return TaskCallbackRequest.objects.filter(pk__in=list(request_pks)).update(queued_at=now)


def ti_take_callbacks(request_pk: int) -> TaskCallbackRequest | None:
    """Take (delete) a task callback request and return it; None if another worker took it first
    or it is gone with its task instance: whoever deletes it calls it, so it runs once."""
    request = TaskCallbackRequest.objects.filter(pk=request_pk).first()
    if request is None:
        return None
    deleted, _ = TaskCallbackRequest.objects.filter(pk=request_pk).delete()
    return request if deleted else None


def run_reopen(run: DagRun, *, target: str, now: dt.datetime, from_queued: bool = False) -> bool:
    """A finished run (and, with ``from_queued``, a queued one) -> ``running``/``queued``.

    The expected states are the database's, not the caller's in-memory copy: a run that another
    process reopened or finished meanwhile is left as it is.
    """
    expected = [R.SUCCESS, R.FAILED] + ([R.QUEUED] if from_queued else [])
    if target == R.QUEUED:
        expected = [s for s in expected if s != R.QUEUED]
    fields = {"end_date": None, "start_date": run.start_date or now, "marked_state": ""}
    moved = _move_run(run.pk, expected=expected, target=target, **fields)
    if moved:
        _apply(run, target, fields)
    return moved


def run_time_out(run: DagRun, *, now: dt.datetime) -> bool:
    """``dagrun_timeout`` passed: unfinished task instances -> ``skipped``, the run -> ``failed``.

    As Airflow: running tries are skipped too; their workers stop them at the next heartbeat.
    """
    _move_tis(
        TaskInstance.objects.filter(dag_run=run),
        expected=TI_UNFINISHED,
        target=TI.SKIPPED,
        end_date=now,
        next_retry_at=None,
    )
    return run_finish(run, state=R.FAILED, now=now, reason=REASON_TIMED_OUT)


# -- the worker's moves ----------------------------------------------------------------------------


def ti_claim(*, ti_id: int, try_number: int, now: dt.datetime) -> bool:
    """``queued`` -> ``running`` for exactly this try, and only while its run is running."""
    # The run's state is checked with EXISTS, not a join (``dag_run__state=...``): with a join,
    # Django writes ``UPDATE ... WHERE id IN (SELECT ... WHERE state = 'queued')`` and PostgreSQL,
    # after waiting for a concurrent claim's row lock, does not re-check the subquery's condition,
    # so two workers handed the same try would both claim it and both run the task.
    run_is_running = Exists(DagRun.objects.filter(pk=OuterRef("dag_run_id"), state=R.RUNNING))
    return bool(
        _move_tis(
            TaskInstance.objects.filter(run_is_running, pk=ti_id, try_number=try_number),
            expected=[TI.QUEUED],
            target=TI.RUNNING,
            start_date=now,
            last_heartbeat=now,
            hostname=socket.gethostname(),
            pid=os.getpid(),
        )
    )


def ti_heartbeat(*, ti_id: int, try_number: int, now: dt.datetime) -> bool:
    """Record that try ``try_number`` is alive; False once the row is no longer that running try."""
    return bool(
        TaskInstance.objects.filter(pk=ti_id, try_number=try_number, state=TI.RUNNING).update(last_heartbeat=now)
    )


def ti_record_outcome(
    ti: TaskInstance, *, state: str, now: dt.datetime, expected: Iterable[str] = (TI.RUNNING,), **fields: Any
) -> bool:
    """``running`` (or, for a try stuck in queue, ``queued``) -> how the try ended, for this try only."""
    fields = {"end_date": now, **fields}
    moved = _move_tis(_one_try(ti), expected=expected, target=state, **fields)
    if moved:
        _apply(ti, state, fields)
    return bool(moved)


# -- the users' moves ------------------------------------------------------------------------------


def tis_clear(
    *,
    run: DagRun,
    task_ids: Iterable[str],
    retries: dict[str, int],
    only_failed: bool = False,
    map_indexes: dict[str, set[int]] | None = None,
) -> int:
    """Any state -> ``none`` so the tasks run again, each keeping its try count and getting its
    task's ``retries`` again. A running or queued try is stopped or never claimed by its worker."""
    by_retries: dict[int, list[str]] = defaultdict(list)
    for task_id in task_ids:
        by_retries[retries.get(task_id, 0)].append(task_id)
    expected = [TI.FAILED, TI.UPSTREAM_FAILED] if only_failed else [s for s in TI if s != TI.NONE]
    cleared = 0
    for n, ids in by_retries.items():
        _record_tries(_rows(run, ids, map_indexes).filter(state__in=expected).values("pk", *_TRY_FIELDS))
        cleared += _move_tis(
            _rows(run, ids, map_indexes),
            expected=expected,
            target=TI.NONE,
            max_tries=F("try_number") + n,
            next_retry_at=None,
            end_date=None,
            rq_job_id="",
        )
    return cleared


def tis_mark(
    *,
    run: DagRun,
    task_ids: Iterable[str],
    state: str,
    now: dt.datetime,
    map_indexes: dict[str, set[int]] | None = None,
) -> int:
    """Any other state -> ``success``/``failed`` by a user: final, whatever a running try reports later."""
    return _move_tis(
        _rows(run, task_ids, map_indexes),
        expected=[s for s in TI if s != state],
        target=state,
        end_date=now,
        next_retry_at=None,
    )


def tis_reevaluate(*, run: DagRun, task_ids: Iterable[str]) -> int:
    """``upstream_failed`` -> ``none``: an upstream was marked success, so the scheduler decides again."""
    return _move_tis(
        TaskInstance.objects.filter(dag_run=run, task_id__in=list(task_ids)),
        expected=[TI.UPSTREAM_FAILED],
        target=TI.NONE,
        start_date=None,
        end_date=None,
        duration=None,
    )


def _teardown_ids(run: DagRun) -> list[str]:
    return [t["task_id"] for t in run.dag.tasks if t.get("is_teardown")]


def run_mark_plan(run: DagRun, *, state: str) -> dict[str, tuple[str, str]]:
    """Return {task_id: (state now, state after)} for the task instances a run mark would change.

    Success: every task instance not succeeded becomes success. Failed (as Airflow): running tries
    fail, every other unfinished one (queued included: it never started) is skipped. Teardown
    tasks that have not finished are left to run (Airflow 2.9+): they clean up after the run.
    """
    plan: dict[str, tuple[str, str]] = {}
    teardowns = set(_teardown_ids(run))
    rows = run.task_instances.values_list("task_id", "map_index", "state").order_by("task_id", "map_index")
    for task_id, map_index, current in rows:
        if task_id in teardowns and current not in TI_FINISHED:
            continue
        name = f"{task_id} [{map_index}]" if map_index >= 0 else task_id
        if state == R.SUCCESS:
            if current != TI.SUCCESS:
                plan[name] = (current, TI.SUCCESS)
        elif current == TI.RUNNING:
            plan[name] = (current, TI.FAILED)
        elif current not in TI_FINISHED:
            plan[name] = (current, TI.SKIPPED)
    return plan


def run_mark(run: DagRun, *, state: str, now: dt.datetime) -> int:
    """Mark a whole run ``success``/``failed`` (its task instances as ``run_mark_plan`` says).

    When teardown tasks have yet to run, the run stays (or goes back to) ``running`` with
    ``marked_state``: the scheduler runs the teardowns, then ends the run in the state asked for.
    """
    teardowns = _teardown_ids(run)
    tis = TaskInstance.objects.filter(dag_run=run)
    pending_teardowns = tis.filter(task_id__in=teardowns).exclude(state__in=TI_FINISHED)
    moving = tis.exclude(pk__in=pending_teardowns.values("pk")) if teardowns else tis
    if state == R.SUCCESS:
        changed = _move_tis(moving, expected=[s for s in TI if s != TI.SUCCESS], target=TI.SUCCESS, end_date=now)
    else:
        changed = _move_tis(moving, expected=[TI.RUNNING], target=TI.FAILED, end_date=now)
        changed += _move_tis(
            moving, expected=TI_UNFINISHED - {TI.RUNNING}, target=TI.SKIPPED, end_date=now, next_retry_at=None
        )
    if teardowns and pending_teardowns.exists():
        fields = {"marked_state": state, "end_date": None, "start_date": run.start_date or now}
        if _move_run(run.pk, expected=[s for s in R if s != R.RUNNING], target=R.RUNNING, **fields):
            _apply(run, R.RUNNING, fields)
        else:
            DagRun.objects.filter(pk=run.pk, state=R.RUNNING).update(marked_state=state)
            run.marked_state = state
        return changed
    fields = {"end_date": now, "start_date": run.start_date or now, "marked_state": ""}
    if _move_run(run.pk, expected=[s for s in R if s != state], target=state, **fields):
        _apply(run, state, fields)
    else:
        run.state = state  # it already was
    return changed


assert set(TI_TRANSITIONS) == set(TI) and all(set(v) <= set(TI) for v in TI_TRANSITIONS.values())
assert set(RUN_TRANSITIONS) == set(R) and all(set(v) <= set(R) for v in RUN_TRANSITIONS.values())

"""The core operators: Empty, Python, Bash, BranchPython and ShortCircuit, as in Airflow.

Branching and short-circuiting decide *which* tasks to skip here; the task instance in the
context (provided by the worker) applies the skips with ``ti.skip_tasks(task_ids)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any

from dags_app.sdk.baseoperator import BaseOperator
from dags_app.sdk.exceptions import AirflowException, AirflowSkipException
from dags_app.sdk.templating import RESOLVABLE
from dags_app.sdk.xcom_arg import resolve_xcom_args

log = logging.getLogger("dags_app.task")


class EmptyOperator(BaseOperator):
    """Do nothing; a join point or a placeholder. The worker finishes it without running code."""

    ui_color = "#e8f7e4"

    def execute(self, context: dict[str, Any]) -> None:
        return None


def determine_kwargs(func: Callable[..., Any], args: Collection[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Return the keyword arguments from ``kwargs`` (context + op_kwargs) that ``func`` accepts.

    A callable with ``**kwargs`` receives everything; otherwise only the names it declares. As in
    Airflow, raises ValueError when a positional argument fills a parameter whose name is also in
    ``kwargs`` (e.g. ``def f(ds)`` called with ``op_args=[...]``).
    """
    signature = inspect.signature(func)
    for param in list(signature.parameters.values())[: len(args)]:
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD) and param.name in kwargs:
            raise ValueError(f"The key {param.name!r} in args is a part of kwargs and therefore reserved.")
    if any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()):
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k in signature.parameters}


class PythonOperator(BaseOperator):
    """Call ``python_callable(*op_args, **op_kwargs)``, plus any context names it asks for."""

    template_fields = ("templates_dict", "op_args", "op_kwargs")
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        templates_exts: list[str] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise AirflowException(f"`python_callable` param of task '{self.task_id}' must be callable")
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict
        if templates_exts:
            self.template_ext = templates_exts
        self.show_return_value_in_logs = show_return_value_in_logs

    def execute(self, context: dict[str, Any]) -> Any:
        op_args = resolve_xcom_args(self.op_args, context)
        op_kwargs = resolve_xcom_args(self.op_kwargs, context)
        merged = {**context, "templates_dict": self.templates_dict, **op_kwargs}
        kwargs = determine_kwargs(self.python_callable, op_args, merged)
        result = self.python_callable(*op_args, **kwargs)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)  # an async def callable (Airflow 3.1+)
        if self.show_return_value_in_logs:
            log.info("Done. Returned value was: %s", result)
        else:
            log.info("Done. Returned value not shown")
        return result


class SkipMixin:
    """Ask the running task instance to skip other tasks of the same DAG run."""

    def skip(self, context: dict[str, Any], task_ids: Iterable[str]) -> None:
        task_ids = sorted(set(task_ids))
        if task_ids:
            log.info("Skipping tasks %s", task_ids)
            context["ti"].skip_tasks(task_ids)


class BranchMixIn(SkipMixin):
    def do_branch(self, context: dict[str, Any], branches: str | Iterable[str] | None) -> str | list[str] | None:
        """Skip every direct downstream task not named in ``branches``; return ``branches``.

        A direct downstream task that is also downstream of a chosen branch is not skipped (the
        "empty branch" of Airflow: ``branch >> [task1, join]``, ``task1 >> join``). Raises
        AirflowException when a branch is not a task id or names a task not downstream of this one.
        """
        task: BaseOperator = self  # type: ignore[assignment]
        if branches is None:
            chosen: set[str] = set()
        elif isinstance(branches, str):
            chosen = {branches}
        elif isinstance(branches, Iterable):
            if isinstance(branches, Iterator):
                branches = list(branches)  # a generator can be read once; the list goes to XCom
            chosen = set(branches)
        else:
            raise AirflowException(
                "'branch_task_ids' must be either None, a task ID, or an Iterable of IDs, "
                f"but got {type(branches).__name__!r}."
            )
        not_strings = {b for b in chosen if not isinstance(b, str)}
        if not_strings:
            raise AirflowException(
                f"Unable to branch to the specified tasks. The branching function returned invalid "
                f"'branch_task_ids': {not_strings}"
            )
        unknown = chosen - task.dag.task_dict.keys()
        if unknown:
            raise AirflowException(
                f"'branch_task_ids' must contain only valid task_ids. Invalid tasks found: {unknown}"
            )
        not_downstream = chosen - task.get_flat_relative_ids(upstream=False)
        if not_downstream:
            raise AirflowException(
                f"'branch_task_ids' must contain only tasks downstream of '{task.task_id}': {sorted(not_downstream)}"
            )
        log.info("Branch into %s", sorted(chosen) if chosen else "nothing")
        followed = set(chosen)
        for task_id in chosen:
            followed |= task.dag.get_task(task_id).get_flat_relative_ids(upstream=False)
        self.skip(context, task.downstream_task_ids - followed)
        return branches


class BranchPythonOperator(PythonOperator, BranchMixIn):
    """Run the callable; it returns the task id(s) to follow, every other direct downstream is skipped."""

    def execute(self, context: dict[str, Any]) -> Any:
        return self.do_branch(context, super().execute(context))


class ShortCircuitOperator(PythonOperator, SkipMixin):
    """Run the callable; when its result is falsy, skip the downstream tasks.

    With ``ignore_downstream_trigger_rules=True`` (the default) every task downstream is skipped;
    otherwise only the direct downstream tasks, and later tasks follow their trigger rules.
    """

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules

    def execute(self, context: dict[str, Any]) -> Any:
        condition = super().execute(context)
        log.info("Condition result is %s", condition)
        if condition:
            log.info("Proceeding with downstream tasks...")
            return condition
        targets = (
            self.get_flat_relative_ids(upstream=False)
            if self.ignore_downstream_trigger_rules
            else self.downstream_task_ids
        )
        self.skip(context, targets)
        return condition


class BashOperator(BaseOperator):
    """Run ``bash_command`` (templated) with bash; its last line of output goes to XCom.

    A non-zero exit fails the task; exit code ``skip_on_exit_code`` (99) skips it. Output lines
    are logged as they arrive. The command stays in the task's process group, so the worker's
    timeout or kill of the task stops everything the command started.
    """

    template_fields = ("bash_command", "env", "cwd")
    template_ext = (".sh", ".bash")
    ui_color = "#f0ede4"

    def __init__(
        self,
        *,
        bash_command: str,
        env: dict[str, str] | None = None,
        append_env: bool = False,
        output_encoding: str = "utf-8",
        skip_on_exit_code: int | Collection[int] | None = 99,
        cwd: str | None = None,
        output_processor: Callable[[str], Any] = lambda result: result,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(bash_command, (str, *RESOLVABLE)):
            raise AirflowException(f"bash_command of task '{self.task_id}' must be a string")
        self.bash_command = bash_command
        self.env = env
        self.append_env = append_env
        self.output_encoding = output_encoding
        if skip_on_exit_code is None:
            self.skip_on_exit_code: set[int] = set()
        elif isinstance(skip_on_exit_code, int):
            self.skip_on_exit_code = {skip_on_exit_code}
        else:
            self.skip_on_exit_code = set(skip_on_exit_code)
        self.cwd = cwd
        self.output_processor = output_processor
        self.sub_process: subprocess.Popen[bytes] | None = None

    def _environment(self, context: dict[str, Any]) -> dict[str, str]:
        env = dict(os.environ) if self.env is None or self.append_env else {}
        env.update(self.env or {})
        ti = context.get("ti")
        run = context.get("dag_run")
        extra = {
            "AIRFLOW_CTX_DAG_ID": getattr(self, "dag_id", ""),
            "AIRFLOW_CTX_TASK_ID": self.task_id,
            "AIRFLOW_CTX_RUN_ID": context.get("run_id", ""),
            "AIRFLOW_CTX_LOGICAL_DATE": str(context.get("logical_date", "")),
            "AIRFLOW_CTX_TRY_NUMBER": str(getattr(ti, "try_number", "")),
            "AIRFLOW_CTX_DAG_OWNER": self.owner,
        }
        if run is not None:
            extra["AIRFLOW_CTX_DAG_RUN_ID"] = context.get("run_id", "")
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def execute(self, context: dict[str, Any]) -> Any:
        if self.cwd is not None and not os.path.isdir(self.cwd):
            raise AirflowException(f"Can not find the cwd: {self.cwd}")
        with tempfile.TemporaryDirectory(prefix="orchestrator-bash-") as tmp:
            log.info("Running command: %s", ["bash", "-c", self.bash_command])
            self.sub_process = subprocess.Popen(
                ["bash", "-c", self.bash_command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=self.cwd or tmp,
                env=self._environment(context),
            )
            log.info("Output:")
            last_line = ""
            assert self.sub_process.stdout is not None
            for raw in iter(self.sub_process.stdout.readline, b""):
                last_line = raw.decode(self.output_encoding, errors="backslashreplace").rstrip()
                log.info("%s", last_line)
            self.sub_process.wait()
            code = self.sub_process.returncode
        log.info("Command exited with return code %s", code)
        if code in self.skip_on_exit_code:
            raise AirflowSkipException(f"Bash command returned exit code {code}. Skipping.")
        if code != 0:
            raise AirflowException(f"Bash command failed. The command returned a non-zero exit code {code}.")
        return self.output_processor(last_line)

    def on_kill(self) -> None:
        """Stop the command and everything it started."""
        if self.sub_process is not None and self.sub_process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgid(self.sub_process.pid), signal.SIGTERM)

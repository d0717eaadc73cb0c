"""The stack of DAGs opened with ``with DAG(...)`` (or ``@dag``), and the DAGs it saw.

Operators created inside the block join the innermost DAG. Every DAG used as a context manager
is remembered in ``autoregistered_dags`` so the parser finds DAGs that a file never assigns to a
module-level name (the usual ``@dag`` pattern), as Airflow's ``auto_register`` does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dags_app.sdk.dag import DAG


class DagContext:
    _stack: list[DAG] = []
    autoregistered_dags: list[DAG] = []

    @classmethod
    def push_context_managed_dag(cls, dag: DAG) -> None:
        cls._stack.append(dag)

    @classmethod
    def pop_context_managed_dag(cls) -> DAG | None:
        dag = cls._stack.pop() if cls._stack else None
        if dag is not None and dag.auto_register and all(d is not dag for d in cls.autoregistered_dags):
            cls.autoregistered_dags.append(dag)
        return dag

    @classmethod
    def get_current_dag(cls) -> DAG | None:
        return cls._stack[-1] if cls._stack else None

    @classmethod
    @contextlib.contextmanager
    def suspended(cls) -> Iterator[None]:
        """Build operators that join no DAG and no group (a mapped task's instance at run time)."""
        from dags_app.sdk.task_group import TaskGroupContext

        saved, saved_groups = list(cls._stack), list(TaskGroupContext._stack)
        cls._stack.clear()
        TaskGroupContext._stack.clear()
        try:
            yield
        finally:
            cls._stack[:] = saved
            TaskGroupContext._stack[:] = saved_groups

    @classmethod
    def reset(cls) -> None:
        """Forget the stack and the registered DAGs (the parser calls this before each file)."""
        from dags_app.sdk.task_group import TaskGroupContext

        cls._stack.clear()
        cls.autoregistered_dags.clear()
        TaskGroupContext.reset()

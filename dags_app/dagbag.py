"""Import DAG files in child processes, with a timeout, and return their DAGs serialized.

DAG files are user code: they may raise, hang, call ``os._exit`` or crash the interpreter. None of
that may harm the process that asked for the parse (the scheduler, the CLI). So every file is
imported in a forked child process of a small pool; the parent only receives JSON-able results
through a pipe. A child that misses its deadline is killed (SIGKILL) and replaced; a child that
dies is replaced; either way the file becomes an import error and the rest of the folder goes on.

Forked children start in about a millisecond with the SDK already imported, so parsing a large
folder costs the files' own import time, spread over ``processes`` children.

This module never touches the database (the sync in ``services.py`` does); it is framework-free
apart from what DAG files themselves import.
"""

from __future__ import annotations

import hashlib
import importlib.util
import multiprocessing
import multiprocessing.connection
import os
import re
import sys
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dags_app.sdk import airflow_compat
from dags_app.sdk.dag import DAG
from dags_app.sdk.dag_context import DagContext
from dags_app.sdk.secrets import redact
from dags_app.serialization import serialize_dag

IGNORE_FILE = ".airflowignore"


@dataclass
class FileResult:
    """What importing one file produced: serialized DAGs, or an error with its traceback."""

    path: str
    dags: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    traceback: str = ""
    duration: float = 0.0


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ignore_patterns(folder: Path) -> list[re.Pattern[str]]:
    ignore = folder / IGNORE_FILE
    if not ignore.is_file():
        return []
    patterns = []
    for line in ignore.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            try:
                patterns.append(re.compile(line))
            except re.error:
                continue
    return patterns


def might_contain_dag(path: Path) -> bool:
    """Return True if the file mentions "dag" at all (Airflow's safe mode heuristic, case-insensitive)."""
    try:
        return b"dag" in path.read_bytes().lower()
    except OSError:
        return False


def list_dag_files(folder: Path) -> list[Path]:
    """Return the ``.py`` files under ``folder`` that may define DAGs, sorted.

    Skips hidden entries, ``__pycache__``, paths matching a regex line of ``.airflowignore``
    (relative to the folder, as Airflow's regexp syntax) and files that never mention "dag".
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    patterns = _ignore_patterns(folder)
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(files):
            if not name.endswith(".py") or name.startswith("."):
                continue
            path = Path(root) / name
            relative = str(path.relative_to(folder))
            if any(p.search(relative) for p in patterns):
                continue
            if might_contain_dag(path):
                found.append(path)
    return sorted(found)


def _module_name(path: str) -> str:
    digest = hashlib.sha1(path.encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", Path(path).stem)
    return f"unusual_prefix_{digest}_{stem}"


def load_dags(path: str) -> dict[str, DAG]:
    """Import ``path`` in this process and return its DAGs by id, each validated.

    Raises whatever the file raises, ``AirflowDagCycleException`` for a cycle, and ValueError
    for a DAG id defined twice; a problem in any DAG fails the whole file, as in Airflow.
    """
    airflow_compat.install()  # Airflow DAG files import airflow...: answered by our SDK here
    DagContext.reset()
    name = _module_name(path)
    folder = str(Path(path).parent)
    added_path = folder not in sys.path
    if added_path:
        # DAG files import helper modules that sit beside them, as in Airflow.
        sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"Cannot import {path}: not a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        found: dict[int, DAG] = {}
        for value in [*vars(module).values(), *DagContext.autoregistered_dags]:
            if isinstance(value, DAG):
                found.setdefault(id(value), value)
        dags: dict[str, DAG] = {}
        for dag in sorted(found.values(), key=lambda d: d.dag_id):
            if dag.dag_id in dags:
                raise ValueError(f"DAG id '{dag.dag_id}' is defined twice in {path}")
            dag.fileloc = path
            dag.validate()
            dags[dag.dag_id] = dag
        return dags
    finally:
        sys.modules.pop(name, None)
        if added_path and folder in sys.path:
            sys.path.remove(folder)
        DagContext.reset()


def import_dag_file(path: str) -> FileResult:
    """Import ``path`` in this process and return its DAGs serialized, or the error as a result."""
    started = time.monotonic()
    try:
        serialized = [serialize_dag(dag) for dag in load_dags(path).values()]
        return FileResult(path=path, dags=serialized, duration=time.monotonic() - started)
    except BaseException as exc:  # a DAG file may raise anything, SystemExit included
        return FileResult(
            path=path,
            # Masked: the file may have fetched a secret (a Connection, a sensitive Variable) before failing.
            error=redact(f"{type(exc).__name__}: {exc}"),
            traceback=redact("".join(traceback.format_exception(exc))),
            duration=time.monotonic() - started,
        )


def _child_main(conn: multiprocessing.connection.Connection) -> None:
    """Serve import requests over ``conn`` until it closes (runs in the forked child)."""
    # DAG files print; keep their output off the parent's stdout (a CLI may be printing JSON).
    # Both levels: fd 1 for C code and subprocesses, sys.stdout for a parent that replaced it in
    # Python (redirect_stdout, a test's capture) and whose object the fork inherited.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    while True:
        try:
            path = conn.recv()
        except (EOFError, OSError):
            return
        result = import_dag_file(path)
        try:
            conn.send(result)
        except Exception as exc:  # an unpicklable value slipped into the result
            conn.send(FileResult(path=path, error=f"Cannot send the parse result: {exc}"))


class _Child:
    def __init__(self, ctx: Any) -> None:
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_child_main, args=(child_conn,), daemon=True)
        self.process.start()
        child_conn.close()
        self.path: str | None = None
        self.deadline = 0.0

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class DagFileProcessorPool:
    """Child processes that import DAG files; use as a context manager, call ``parse(paths)``."""

    def __init__(self, *, processes: int = 2, timeout: float = 30.0) -> None:
        self.processes = max(1, processes)
        self.timeout = timeout
        self._ctx = multiprocessing.get_context("fork")
        self._children: list[_Child] = []

    def __enter__(self) -> DagFileProcessorPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for child in self._children:
            child.kill()
        self._children.clear()

    def _spawn(self) -> _Child:
        child = _Child(self._ctx)
        self._children.append(child)
        return child

    def _replace(self, child: _Child) -> None:
        child.kill()
        self._children.remove(child)

    def parse(self, paths: Iterable[str | Path]) -> Iterator[FileResult]:
        """Yield one FileResult per path, in completion order, never raising for a file's fault."""
        pending = [str(p) for p in paths]
        pending.reverse()
        while len(self._children) < min(self.processes, len(pending)):
            self._spawn()
        busy: dict[Any, _Child] = {}
        while pending or busy:
            for child in [c for c in self._children if c.path is None]:
                if not pending:
                    break
                child.path = pending.pop()
                child.deadline = time.monotonic() + self.timeout
                child.conn.send(child.path)
                busy[child.conn] = child
            wait_for = max(0.0, min(c.deadline for c in busy.values()) - time.monotonic())
            ready = multiprocessing.connection.wait(list(busy), timeout=wait_for)
            for conn in ready:
                child = busy.pop(conn)
                path, child.path = child.path, None
                try:
                    yield child.conn.recv()
                except (EOFError, OSError):
                    child.process.join(timeout=5)
                    code = child.process.exitcode
                    self._replace(child)
                    if pending:
                        self._spawn()
                    yield FileResult(
                        path=path or "",
                        error=f"The process importing this file exited unexpectedly (exit code {code})",
                    )
            now = time.monotonic()
            for conn, child in list(busy.items()):
                if child.deadline <= now:
                    del busy[conn]
                    path = child.path or ""
                    self._replace(child)
                    if pending:
                        self._spawn()
                    yield FileResult(
                        path=path,
                        error=(f"DagFileProcessor timeout: importing {path} took longer than {self.timeout:g} seconds"),
                        duration=self.timeout,
                    )

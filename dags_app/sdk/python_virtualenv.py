"""The callable runs in another Python: ``PythonVirtualenvOperator`` (a virtualenv made for the
task, with its ``requirements``), ``ExternalPythonOperator`` (an existing interpreter), their
branching forms, and ``@task.virtualenv`` / ``@task.external_python`` / ``@task.branch_*``.

As in Airflow, the function's source (without its decorators) is written to a script; its
arguments go there pickled (or with ``dill``/``cloudpickle`` when asked and installed), and its
return value comes back the same way. The function must be self-contained: it imports what it uses
inside its body, since the other Python has neither this DAG file nor its globals. Of the
context, the plain-string keys the function names (``ds``, ``ts``, ``run_id``, ...) are passed.
The script's output goes to the task log like any other, secrets masked.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from dags_app.sdk.exceptions import AirflowException, AirflowSkipException
from dags_app.sdk.operators import BranchMixIn, PythonOperator, determine_kwargs
from dags_app.sdk.xcom_arg import resolve_xcom_args

log = logging.getLogger("dags_app.task")

# The context values the other Python gets when the function names them: plain strings and
# numbers only (Airflow's AIRFLOW_SERIALIZABLE_CONTEXT_KEYS without its own objects).
SERIALIZABLE_CONTEXT_KEYS = frozenset(
    {
        "ds",
        "ds_nodash",
        "run_id",
        "task_instance_key_str",
        "test_mode",
        "templates_dict",
        "ts",
        "ts_nodash",
        "ts_nodash_with_tz",
        "try_number",
    }
)

_SCRIPT = """\
import pickle as _pickle
import sys as _sys

virtualenv_string_args = {string_args!r}

{source}

if __name__ == "__main__":
    _serializer = __import__({serializer!r})
    with open(_sys.argv[1], "rb") as _file:
        _args, _kwargs = _serializer.load(_file)
    _result = {name}(*_args, **_kwargs)
    with open(_sys.argv[2], "wb") as _file:
        _serializer.dump(_result, _file)
"""


def function_source(function: Callable[..., Any]) -> str:
    """The function's source, dedented, without the decorators above its ``def``."""
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError) as exc:
        raise AirflowException(f"Cannot read the source of {function!r} to run it in another Python: {exc}") from exc
    lines = source.splitlines()
    start = next(
        (i for i, line in enumerate(lines) if line.lstrip().startswith(("def ", "async def "))),
        None,
    )
    if start is None:
        raise AirflowException(f"{function.__name__}: only a function defined with def can run in another Python")
    return "\n".join(lines[start:]) + "\n"


class _BasePythonVenvOperator(PythonOperator):
    """Shared by the virtualenv and external-Python operators: write, run, read back."""

    template_fields = ("templates_dict", "op_args", "op_kwargs", "requirements")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        serializer: str | None = None,
        use_dill: bool = False,
        use_cloudpickle: bool = False,
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        string_args: Iterable[str] | None = None,
        templates_dict: dict | None = None,
        templates_exts: list[str] | None = None,
        expect_airflow: bool = True,
        skip_on_exit_code: int | Collection[int] | None = None,
        env_vars: dict[str, str] | None = None,
        inherit_env: bool = True,
        **kwargs: Any,
    ) -> None:
        if not inspect.isfunction(python_callable) or python_callable.__name__ == "<lambda>":
            raise AirflowException(f"{type(self).__name__} only supports functions for python_callable arg")
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            templates_dict=templates_dict,
            templates_exts=templates_exts,
            **kwargs,
        )
        if not hasattr(self, "requirements"):
            self.requirements: list[str] | str = []
        self.serializer = serializer or ("dill" if use_dill else "cloudpickle" if use_cloudpickle else "pickle")
        if self.serializer not in ("pickle", "dill", "cloudpickle"):
            raise AirflowException(f"Unsupported serializer {self.serializer!r}: use pickle, dill or cloudpickle")
        self.string_args = [str(a) for a in string_args or []]
        self.expect_airflow = expect_airflow
        if skip_on_exit_code is None:
            self.skip_on_exit_code: set[int] = set()
        elif isinstance(skip_on_exit_code, int):
            self.skip_on_exit_code = {skip_on_exit_code}
        else:
            self.skip_on_exit_code = set(skip_on_exit_code)
        self.env_vars = dict(env_vars or {})
        self.inherit_env = inherit_env

    def _python(self, workdir: Path) -> str:
        raise NotImplementedError

    def _serializer_module(self) -> Any:
        try:
            return __import__(self.serializer)
        except ImportError as exc:
            raise AirflowException(f"serializer={self.serializer!r} needs the {self.serializer} package") from exc

    def execute(self, context: dict[str, Any]) -> Any:
        op_args = resolve_xcom_args(self.op_args, context)
        op_kwargs = resolve_xcom_args(self.op_kwargs, context)
        available = {k: v for k, v in context.items() if k in SERIALIZABLE_CONTEXT_KEYS}
        merged = {**available, "templates_dict": self.templates_dict, **op_kwargs}
        kwargs = determine_kwargs(self.python_callable, op_args, merged)
        serializer = self._serializer_module()
        with tempfile.TemporaryDirectory(prefix="venv-task-") as tmp:
            workdir = Path(tmp)
            python = self._python(workdir)
            script = workdir / "script.py"
            script.write_text(
                _SCRIPT.format(
                    string_args=self.string_args,
                    source=function_source(self.python_callable),
                    serializer=self.serializer,
                    name=self.python_callable.__name__,
                )
            )
            with open(workdir / "input.pkl", "wb") as handle:
                serializer.dump((list(op_args), kwargs), handle)
            env = {**(os.environ if self.inherit_env else {}), **self.env_vars}
            # The script must not import this project: the other Python runs the function alone.
            env.pop("PYTHONPATH", None)
            sys.stdout.flush()
            sys.stderr.flush()
            log.info("Running %s in %s", self.python_callable.__name__, python)
            code = subprocess.run(
                [python, str(script), str(workdir / "input.pkl"), str(workdir / "output.pkl")],
                env=env,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                check=False,
            ).returncode
            if code in self.skip_on_exit_code:
                raise AirflowSkipException(f"Process exited with code {code}. Skipping.")
            if code != 0:
                raise AirflowException(f"Process returned non-zero exit status {code}")
            with open(workdir / "output.pkl", "rb") as handle:
                result = serializer.load(handle)
        if self.show_return_value_in_logs:
            log.info("Done. Returned value was: %s", result)
        return result


class PythonVirtualenvOperator(_BasePythonVenvOperator):
    """Run the callable in a virtualenv made for the task, with ``requirements`` installed.

    ``requirements`` is a list of pip requirements or the path of a requirements file;
    ``python_version`` picks ``python3.X`` from PATH; ``system_site_packages`` (default True) lets
    the virtualenv see this Python's packages; ``pip_install_options`` and ``index_urls`` go to
    pip; ``venv_cache_path`` keeps one virtualenv per set of requirements there instead of making
    one per try.
    """

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        requirements: Iterable[str] | str | None = None,
        python_version: str | None = None,
        system_site_packages: bool = True,
        pip_install_options: list[str] | None = None,
        index_urls: list[str] | str | None = None,
        venv_cache_path: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(requirements, str) and not requirements.strip().endswith(".txt"):
            requirements = [requirements]
        self.requirements = requirements if isinstance(requirements, str) else list(requirements or [])
        self.python_version = str(python_version) if python_version else None
        self.system_site_packages = system_site_packages
        self.pip_install_options = list(pip_install_options or [])
        self.index_urls = [index_urls] if isinstance(index_urls, str) else list(index_urls or [])
        self.venv_cache_path = Path(venv_cache_path) if venv_cache_path else None
        super().__init__(python_callable=python_callable, **kwargs)

    def _base_python(self) -> str:
        if not self.python_version:
            return sys.executable
        found = shutil.which(f"python{self.python_version}")
        if found is None:
            raise AirflowException(f"python_version={self.python_version!r}: no python{self.python_version} on PATH")
        return found

    def _requirement_args(self) -> list[str]:
        """pip's arguments: the requirements, plus the serializer's package (as Airflow adds it)."""
        if isinstance(self.requirements, str):
            wanted = ["-r", self.requirements]
        else:
            wanted = [r for r in self.requirements if r.strip()]
        if self.serializer != "pickle" and not any(
            r.split("=")[0].split("<")[0].split(">")[0].strip() == self.serializer for r in wanted
        ):
            wanted.append(self.serializer)
        return wanted

    def _create(self, target: Path) -> None:
        base = self._base_python()
        command = [base, "-m", "venv", "--without-pip"]
        if self.system_site_packages:
            command.append("--system-site-packages")
        subprocess.run([*command, str(target)], check=True, stdin=subprocess.DEVNULL)
        if self.system_site_packages and sys.prefix != sys.base_prefix:
            # The worker itself runs in a virtualenv: "system" packages are the ones it sees, so
            # the new one gets them through a .pth file (after its own, which win).
            site_dirs = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
            for lib in (target / "lib").glob("python*/site-packages"):
                (lib / "_worker_site_packages.pth").write_text("\n".join(site_dirs) + "\n")
        requirements = self._requirement_args()
        if requirements:
            indexes = []
            for i, url in enumerate(self.index_urls):
                indexes += ["--index-url" if i == 0 else "--extra-index-url", url]
            log.info("Installing %s into the virtualenv", " ".join(requirements))
            # This Python's pip installs into the new one: no pip inside it is needed.
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "--python",
                    str(target / "bin" / "python"),
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    *indexes,
                    *self.pip_install_options,
                    *requirements,
                ],
                check=True,
                stdin=subprocess.DEVNULL,
            )

    def _python(self, workdir: Path) -> str:
        if self.venv_cache_path is None:
            target = workdir / "venv"
            self._create(target)
            return str(target / "bin" / "python")
        key = json.dumps([self._base_python(), self.system_site_packages, self._requirement_args(), self.index_urls])
        target = self.venv_cache_path / f"venv-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
        if not (target / ".ready").exists():
            building = self.venv_cache_path / f"{target.name}.{os.getpid()}"
            self.venv_cache_path.mkdir(parents=True, exist_ok=True)
            self._create(building)
            (building / ".ready").touch()
            try:
                building.rename(target)  # atomic: another task may have made the same one meanwhile
            except OSError:
                shutil.rmtree(building, ignore_errors=True)
        return str(target / "bin" / "python")


class ExternalPythonOperator(_BasePythonVenvOperator):
    """Run the callable with the existing interpreter ``python`` (a virtualenv's bin/python)."""

    template_fields = ("templates_dict", "op_args", "op_kwargs", "python")

    def __init__(self, *, python: str, python_callable: Callable[..., Any], **kwargs: Any) -> None:
        if not python:
            raise ValueError("Python Path must be defined in ExternalPythonOperator")
        self.python = python
        super().__init__(python_callable=python_callable, **kwargs)

    def _python(self, workdir: Path) -> str:
        if not Path(self.python).exists():
            raise ValueError(f"Python Path '{self.python}' must exists")
        if not os.access(self.python, os.X_OK):
            raise ValueError(f"Python Path '{self.python}' must be an executable")
        return self.python


class BranchPythonVirtualenvOperator(PythonVirtualenvOperator, BranchMixIn):
    """A PythonVirtualenvOperator whose result names the task(s) to follow."""

    def execute(self, context: dict[str, Any]) -> Any:
        return self.do_branch(context, super().execute(context))


class BranchExternalPythonOperator(ExternalPythonOperator, BranchMixIn):
    """An ExternalPythonOperator whose result names the task(s) to follow."""

    def execute(self, context: dict[str, Any]) -> Any:
        return self.do_branch(context, super().execute(context))


__all__ = [
    "BranchExternalPythonOperator",
    "BranchPythonVirtualenvOperator",
    "ExternalPythonOperator",
    "PythonVirtualenvOperator",
    "function_source",
]

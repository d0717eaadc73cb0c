"""``import airflow...`` in DAG files, answered by our SDK: Airflow DAG files run unchanged.

``install()`` puts a meta-path finder in front of ``sys.meta_path`` in the processes that import
DAG files (parse children, the task and callback children of workers, ``dags test``, ``tasks
test``: all of them through ``dagbag.load_dags``). There is no ``airflow`` package on disk, so a
real Airflow installed in the same environment is never shadowed anywhere else (the web, the
scheduler, the CLI's own process).

Each Airflow module path that DAG files use (Airflow 2.x and 3.x spellings) is a module made here
whose names resolve lazily to ours (``MODULES``). A name we do not provide is an ImportError that
names the module and the name and lists what that module offers (and where else the name is, if
it is); so is a module we do not provide.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence
from typing import Any

# The Airflow version whose DAG-facing names (and REST API shapes) we follow.
AIRFLOW_VERSION = "3.3.0"

_S = "dags_app.sdk"


def _exception_names() -> tuple[str, ...]:
    """Every exception class our SDK defines (``dags_app.sdk.exceptions``), by name."""
    from dags_app.sdk import exceptions

    return tuple(
        name
        for name, value in vars(exceptions).items()
        if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == exceptions.__name__
    )


_EXCEPTIONS = _exception_names()


def _from(module: str, *names: str) -> dict[str, str]:
    """``{name: "module:name"}`` for each of ``names`` (``name=attr`` to rename)."""
    pairs = (n.split("=", 1) if "=" in n else (n, n) for n in names)
    return {ours: f"{module}:{attr}" for ours, attr in pairs}


_DAG = _from(f"{_S}.dag", "DAG", "dag")
_DECORATORS = _from(f"{_S}.decorators", "task", "setup", "teardown") | _from(f"{_S}.task_group", "task_group")
_BASEOPERATOR = _from(f"{_S}.baseoperator", "BaseOperator", "chain", "chain_linear", "cross_downstream")
_EXC = (
    _from(f"{_S}.exceptions", *_EXCEPTIONS)
    | _from(f"{_S}.connection", "AirflowNotFoundException")
    | _from(f"{_S}.param", "ParamValidationError")
)
_CONNECTION = _from(f"{_S}.connection", "Connection")
_HOOK = _from(f"{_S}.connection", "BaseHook")
_BASH = _from(f"{_S}.operators", "BashOperator")
_PYTHON = (
    _from(f"{_S}.operators", "PythonOperator", "BranchPythonOperator", "ShortCircuitOperator")
    | _from(f"{_S}.context", "get_current_context")
    | _from(
        f"{_S}.python_virtualenv",
        "PythonVirtualenvOperator",
        "ExternalPythonOperator",
        "BranchPythonVirtualenvOperator",
        "BranchExternalPythonOperator",
    )
)
_MASK = _from(f"{_S}.secrets", "mask_secret", "redact")
_EMPTY = _from(f"{_S}.operators", "EmptyOperator")
_BRANCH = _from(f"{_S}.branch", "BaseBranchOperator") | _from(f"{_S}.operators", "BranchMixIn", "SkipMixin")
_TRIGGER = _from(f"{_S}.trigger_dagrun", "TriggerDagRunOperator")
_DATETIME = _from(f"{_S}.branch", "BranchDateTimeOperator")
_WEEKDAY = _from(f"{_S}.branch", "BranchDayOfWeekOperator", "WeekDay")
_SENSOR_BASE = _from(f"{_S}.sensors", "BaseSensorOperator", "PokeReturnValue")
_SENSORS = {
    "base": _SENSOR_BASE,
    "python": _from(f"{_S}.sensors", "PythonSensor"),
    "filesystem": _from(f"{_S}.sensors", "FileSensor"),
    "time_delta": _from(f"{_S}.sensors", "TimeDeltaSensor", "TimeDeltaSensorAsync"),
    "date_time": _from(f"{_S}.sensors", "DateTimeSensor", "DateTimeSensorAsync"),
    "time": _from(f"{_S}.sensors", "TimeSensor", "TimeSensorAsync"),
    "weekday": _from(f"{_S}.sensors", "DayOfWeekSensor"),
    "bash": _from(f"{_S}.sensors", "BashSensor"),
    "external_task": _from(f"{_S}.sensors", "ExternalTaskSensor", "ExternalTaskMarker"),
}
# The standard provider's sensor modules that Airflow 2 named otherwise (``airflow.sensors.<name>``).
_AIRFLOW2_SENSOR_MODULES = {"time": "time_sensor"}
_OPERATORS = {
    "bash": _BASH,
    "python": _PYTHON,
    "empty": _EMPTY,
    "branch": _BRANCH,
    "trigger_dagrun": _TRIGGER,
    "datetime": _DATETIME,
    "weekday": _WEEKDAY,
    "latest_only": _from(f"{_S}.branch", "LatestOnlyOperator"),
}
_ASSET = _from(f"{_S}.assets", "Asset", "AssetAlias", "AssetAll", "AssetAny", "Metadata")
_DATASET = _from(f"{_S}.assets", "Dataset", "DatasetAlias", "DatasetAll", "DatasetAny", "Metadata")
_TIMEZONE = _from(
    f"{_S}.timezone",
    "utc",
    "utcnow",
    "datetime",
    "is_localized",
    "is_naive",
    "make_aware",
    "make_naive",
    "convert_to_utc",
    "parse",
)
_TIMETABLES = {
    "base": _from("dags_app.timetables", "Timetable", "DataInterval", "TimeRestriction", "DagRunInfo"),
    "interval": _from("dags_app.timetables", "CronDataIntervalTimetable", "DeltaDataIntervalTimetable"),
    "simple": _from("dags_app.timetables", "NullTimetable", "OnceTimetable"),
    "trigger": _from("dags_app.timetables", "CronTriggerTimetable"),
    "assets": _from(f"{_S}.assets", "AssetOrTimeSchedule"),
    "datasets": _from(f"{_S}.assets", "DatasetOrTimeSchedule=AssetOrTimeSchedule"),
}
_SDK = (
    _DAG
    | _DECORATORS
    | _BASEOPERATOR
    | _SENSOR_BASE
    | _from(f"{_S}.task_group", "TaskGroup")
    | _from(f"{_S}.param", "Param")
    | _from(f"{_S}.edgemodifier", "Label", "EdgeModifier")
    | _from(f"{_S}.context", "get_current_context")
    | _from(f"{_S}.xcom_arg", "XComArg")
    | _from(f"{_S}.trigger_rule", "TriggerRule")
    | _from(f"{_S}.notifier", "BaseNotifier")
    | _from(f"{_S}.variable", "Variable")
    | _CONNECTION
    | _HOOK
    | _from(f"{_S}.context", "Context")
    | {"timezone": f"{_S}.timezone:"}
    | _ASSET
    | _from(f"{_S}.assets", "asset", "AssetOrTimeSchedule")
    | _from("dags_app.timetables", "CronTriggerTimetable")
)

# Airflow module path -> {name: "our module:attribute"} ("our module:" is the module itself).
MODULES: dict[str, dict[str, str]] = {
    "airflow": _DAG
    | _from(f"{_S}.xcom_arg", "XComArg")
    | _from(f"{_S}.assets", "Dataset")
    | {"__version__": f"{__name__}:AIRFLOW_VERSION"},
    "airflow.datasets": _DATASET,
    "airflow.datasets.metadata": _from(f"{_S}.assets", "Metadata"),
    "airflow.sdk.definitions.asset": _ASSET | _from(f"{_S}.assets", "AssetDefinition"),
    "airflow.sdk.definitions.asset.decorators": _from(f"{_S}.assets", "asset", "AssetDefinition"),
    "airflow.sdk.definitions.asset.metadata": _from(f"{_S}.assets", "Metadata"),
    "airflow.sdk": _SDK,
    "airflow.sdk.exceptions": _EXC,
    "airflow.sdk.timezone": _TIMEZONE,
    "airflow.providers.common.compat.sdk": _SDK | _EXC,
    "airflow.decorators": _DECORATORS | _from(f"{_S}.dag", "dag"),
    "airflow.exceptions": _EXC,
    "airflow.models": _DAG
    | _from(f"{_S}.baseoperator", "BaseOperator")
    | _from(f"{_S}.param", "Param")
    | _from(f"{_S}.variable", "Variable")
    | _CONNECTION
    | _from(f"{_S}.xcom_arg", "XComArg"),
    "airflow.models.dag": _DAG,
    "airflow.models.connection": _CONNECTION,
    "airflow.hooks.base": _HOOK,
    "airflow.sdk.bases.hook": _HOOK,
    "airflow.models.baseoperator": _BASEOPERATOR,
    "airflow.models.param": _from(f"{_S}.param", "Param", "ParamValidationError"),
    "airflow.models.xcom_arg": _from(f"{_S}.xcom_arg", "XComArg"),
    "airflow.models.variable": _from(f"{_S}.variable", "Variable"),
    "airflow.utils.trigger_rule": _from(f"{_S}.trigger_rule", "TriggerRule"),
    "airflow.utils.task_group": _from(f"{_S}.task_group", "TaskGroup"),
    "airflow.utils.edgemodifier": _from(f"{_S}.edgemodifier", "Label", "EdgeModifier"),
    "airflow.utils.dates": _from(f"{_S}.timezone", "days_ago"),
    "airflow.utils.timezone": _TIMEZONE,
    "airflow.utils.helpers": _from(f"{_S}.baseoperator", "chain", "cross_downstream"),
    "airflow.utils.context": _from(f"{_S}.context", "Context"),
    **{f"airflow.operators.{name}": names for name, names in _OPERATORS.items()},
    **{f"airflow.providers.standard.operators.{name}": names for name, names in _OPERATORS.items()},
    "airflow.operators.empty_operator": _EMPTY,
    **{f"airflow.sensors.{_AIRFLOW2_SENSOR_MODULES.get(name, name)}": names for name, names in _SENSORS.items()},
    **{f"airflow.providers.standard.sensors.{name}": names for name, names in _SENSORS.items()},
    "airflow.sensors.base_sensor_operator": _SENSOR_BASE,
    "airflow.providers.standard.decorators.python": {"python_task": f"{_S}.decorators:task"},
    "airflow.sdk.log": _MASK,
    "airflow.sdk.execution_time.secrets_masker": _MASK,
    "airflow.utils.log.secrets_masker": _MASK,
    "airflow.providers.standard.utils.weekday": _from(f"{_S}.branch", "WeekDay"),
    "airflow.utils.weekday": _from(f"{_S}.branch", "WeekDay"),
    **{f"airflow.timetables.{name}": names for name, names in _TIMETABLES.items()},
}


def _packages() -> set[str]:
    """Every parent of a mapped module is a package (``airflow.providers`` for ``airflow.providers.x``)."""
    parents = set()
    for name in MODULES:
        parts = name.split(".")
        parents.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return parents


_PACKAGES = _packages()


class AirflowNameNotProvided(ImportError):
    """``from airflow.x import Name`` (or ``airflow.x.Name``) for a name we do not provide. An
    ImportError, not an AttributeError: Python would replace an AttributeError's message by its
    generic "cannot import name", and ours says what to use instead."""


def where_else(name: str, module: str) -> list[str]:
    """The other Airflow modules of ours that offer ``name``."""
    return sorted(m for m, names in MODULES.items() if name in names and m != module)


def _missing_name(module: str, name: str) -> str:
    offered = sorted(n for n in MODULES.get(module, {}) if not n.startswith("__"))
    message = f"cannot import name {name!r} from {module!r}: this orchestrator does not provide {module}.{name}"
    elsewhere = where_else(name, module)
    if elsewhere:
        message += f"; import it from {' or '.join(elsewhere)}"
    if offered:
        message += f". {module} offers: {', '.join(offered)}"
    return message + ". See docs/airflow.md for what is supported."


def _missing_module(fullname: str) -> str:
    # The modules (or packages) of ours one level below the nearest package we have.
    prefix = fullname.rsplit(".", 1)[0]
    while prefix not in _PACKAGES and "." in prefix:
        prefix = prefix.rsplit(".", 1)[0]
    depth = prefix.count(".") + 2
    near = sorted({".".join(m.split(".")[:depth]) for m in MODULES if m.startswith(prefix + ".")})
    return (
        f"No module named {fullname!r}: this orchestrator runs Airflow DAG files with its own SDK, which does "
        f"not provide {fullname} (under {prefix} it provides: {', '.join(near)}). See docs/airflow.md."
    )


def _module(fullname: str) -> types.ModuleType:
    module = types.ModuleType(fullname, f"Airflow's {fullname}, answered by this orchestrator's SDK")
    names = MODULES.get(fullname, {})
    module.__all__ = sorted(n for n in names if not n.startswith("__"))  # type: ignore[attr-defined]

    def __getattr__(name: str) -> Any:
        if name.startswith("__") and name not in names:
            raise AttributeError(name)
        target = names.get(name)
        submodule = f"{fullname}.{name}"
        if target is None and (submodule in MODULES or submodule in _PACKAGES):
            return importlib.import_module(submodule)  # ``from airflow.utils import timezone``
        if target is None:
            raise AirflowNameNotProvided(_missing_name(fullname, name), name=fullname)
        where, _, attr = target.partition(":")
        value = importlib.import_module(where)
        if attr:
            value = getattr(value, attr)
        setattr(module, name, value)
        return value

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    return module


class _AirflowFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``airflow`` and the mapped modules under it; refuses the others under it clearly."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: Any = None) -> Any:
        if fullname != "airflow" and not fullname.startswith("airflow."):
            return None
        is_package = fullname in _PACKAGES
        if fullname not in MODULES and not is_package:
            raise ModuleNotFoundError(_missing_module(fullname), name=fullname)
        return importlib.machinery.ModuleSpec(fullname, self, is_package=is_package)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _module(spec.name)
        if spec.name in _PACKAGES:
            module.__path__ = []  # a package: its submodules are found by this finder too
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the module's names resolve on first use."""


_FINDER = _AirflowFinder()


def install() -> None:
    """Answer ``import airflow...`` from our SDK in this process (idempotent). Only for processes
    that import DAG files: see the module docstring."""
    if _FINDER in sys.meta_path:
        return
    for name in [m for m in sys.modules if m == "airflow" or m.startswith("airflow.")]:
        del sys.modules[name]  # a real Airflow imported before must not mix with ours here
    sys.meta_path.insert(0, _FINDER)

"""Airflow DAG files run unchanged: ``import airflow...`` is answered by our SDK in the processes
that import DAG files, and only there."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dags_app.models import DagImportError, DagModel
from dags_app.sdk import airflow_compat
from runs_app.models import TaskInstance, XCom
from runs_app.states import DagRunState, TaskInstanceState
from tests.runs_app.test_runner import executes_tasks, run_dag

ROOT = Path(__file__).resolve().parents[2]

# An Airflow 3 DAG file, with Airflow 2 spellings mixed in, as teams have them.
AIRFLOW_DAG = """
import pendulum
from datetime import timedelta

import airflow
from airflow import DAG
from airflow.decorators import task, task_group
from airflow.exceptions import AirflowSkipException
from airflow.models.baseoperator import chain
from airflow.models.param import Param
from airflow.operators.empty import EmptyOperator
from airflow.operators.python import BranchPythonOperator, get_current_context
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.standard.operators.weekday import BranchDayOfWeekOperator
from airflow.providers.standard.sensors.python import PythonSensor
from airflow.providers.standard.utils.weekday import WeekDay
from airflow.sdk import Label, TaskGroup
from airflow.utils.trigger_rule import TriggerRule
from airflow.utils import timezone

with DAG(
    dag_id="airflow_style",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="Europe/Amsterdam"),
    catchup=False,
    default_args={"retries": 0, "retry_delay": timedelta(seconds=1)},
    params={"who": Param("world", type="string")},
    tags=["airflow"],
) as dag:
    version = BashOperator(task_id="version", bash_command=f"echo {airflow.__version__}")

    @task
    def greet(params=None):
        return f"hello {params['who']} at {timezone.utcnow().year > 2000}"

    @task_group
    def checks():
        PythonSensor(task_id="ready", python_callable=lambda: True, poke_interval=1, timeout=10)

    with TaskGroup("legacy") as legacy:
        PythonOperator(task_id="py", python_callable=lambda: get_current_context()["ti"].task_id)

    branch = BranchPythonOperator(task_id="branch", python_callable=lambda: "legacy.py")
    weekday = BranchDayOfWeekOperator(
        task_id="weekday",
        follow_task_ids_if_true="weekend",
        follow_task_ids_if_false="weekday_work",
        week_day={WeekDay.SATURDAY, WeekDay.SUNDAY},
        use_task_logical_date=True,
    )
    end = EmptyOperator(task_id="end", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    chain(version, greet(), checks(), branch >> Label("chosen") >> legacy, weekday)
    weekday >> [EmptyOperator(task_id="weekend"), EmptyOperator(task_id="weekday_work")] >> end
"""


@executes_tasks
def test_an_airflow_dag_file_parses_and_runs_unchanged(dag_file, sync):
    dag_file("airflow_style.py", AIRFLOW_DAG)
    assert sync().import_errors == 0, DagImportError.objects.values_list("stacktrace", flat=True)
    dag = DagModel.objects.get(dag_id="airflow_style")
    assert dag.serialized["timezone"] == "Europe/Amsterdam"

    # 2022-01-01 was a Saturday.
    run, final = run_dag("airflow_style", logical_date=dt.datetime(2022, 1, 1, tzinfo=dt.UTC))

    assert final == DagRunState.SUCCESS
    states = dict(TaskInstance.objects.filter(dag_run=run).values_list("task_id", "state"))
    assert states["weekend"] == TaskInstanceState.SUCCESS
    assert states["weekday_work"] == TaskInstanceState.SKIPPED
    assert states["legacy.py"] == TaskInstanceState.SUCCESS
    values = dict(XCom.objects.filter(dag_run=run).values_list("task_id", "value"))
    assert values["version"] == airflow_compat.AIRFLOW_VERSION
    assert values["greet"] == "hello world at True"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "from airflow.sdk import DAG, KubernetesPodOperator\n",
            "AirflowNameNotProvided: cannot import name 'KubernetesPodOperator' from 'airflow.sdk': this "
            "orchestrator does not provide airflow.sdk.KubernetesPodOperator. airflow.sdk offers: Asset, "
            "AssetAlias,",
        ),
        (
            "from airflow.models import PythonOperator\n",
            "import it from airflow.operators.python or airflow.providers.standard.operators.python.",
        ),
        (
            "from airflow.providers.amazon.aws.operators.s3 import S3CreateBucketOperator\n",
            "ModuleNotFoundError: No module named 'airflow.providers.amazon': this orchestrator runs Airflow DAG "
            "files with its own SDK, which does not provide airflow.providers.amazon (under airflow.providers it "
            "provides: airflow.providers.common, airflow.providers.standard).",
        ),
        ("import airflow.contrib.operators\n", "No module named 'airflow.contrib'"),
    ],
)
def test_a_name_or_module_we_do_not_provide_is_an_import_error_saying_what_we_offer(dag_file, sync, source, message):
    dag_file("missing.py", source + "# a dag file\n")
    assert sync().import_errors == 1
    error = DagImportError.objects.get()
    assert message in error.message
    assert "See docs/airflow.md" in error.message


def test_every_mapped_name_resolves_to_one_of_ours():
    """Walk the whole table in a child (installing the finder here would change this process)."""
    script = (
        "import importlib\n"
        "from dags_app.sdk import airflow_compat\n"
        "airflow_compat.install()\n"
        "for module, names in airflow_compat.MODULES.items():\n"
        "    imported = importlib.import_module(module)\n"
        "    for name in names:\n"
        "        assert getattr(imported, name) is not None, (module, name)\n"
        "print(len(airflow_compat.MODULES))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 50


def test_the_issue_s_module_paths_are_all_answered():
    wanted = [
        "airflow",
        "airflow.sdk",
        "airflow.decorators",
        "airflow.models",
        "airflow.models.dag",
        "airflow.models.baseoperator",
        "airflow.models.param",
        "airflow.models.variable",
        "airflow.models.xcom_arg",
        *(f"airflow.operators.{m}" for m in ("bash", "python", "empty", "branch", "trigger_dagrun", "datetime")),
        "airflow.operators.weekday",
        "airflow.operators.latest_only",
        *(f"airflow.sensors.{m}" for m in ("base", "python", "filesystem", "time_delta", "date_time")),
        *(f"airflow.sensors.{m}" for m in ("bash", "time_sensor", "weekday", "external_task")),
        "airflow.providers.standard.operators.bash",
        "airflow.providers.standard.operators.latest_only",
        *(f"airflow.providers.standard.sensors.{m}" for m in ("bash", "time", "weekday", "time_delta", "date_time")),
        "airflow.providers.standard.sensors.external_task",
        "airflow.providers.common.compat.sdk",
        *(f"airflow.utils.{m}" for m in ("trigger_rule", "task_group", "edgemodifier", "dates", "timezone")),
        "airflow.utils.helpers",
        "airflow.exceptions",
        "airflow.sdk.exceptions",
        "airflow.timetables.interval",
    ]
    assert [m for m in wanted if m not in airflow_compat.MODULES] == []


def test_the_finder_is_only_in_processes_that_import_dag_files(tmp_path):
    """The web, the scheduler and the CLI's own process never see an ``airflow`` module: after a
    sync that imported an Airflow DAG file (in its parse children), ``airflow`` is not importable."""
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "airflow_style.py").write_text(AIRFLOW_DAG)
    script = (
        "import django, importlib.util, sys\n"
        "django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0)\n"
        "from django.utils import timezone\n"
        "from dags_app.services import dag_folder_sync\n"
        f"report = dag_folder_sync(now=timezone.now(), folder={str(folder)!r})\n"
        "assert report.dags_added == 1 and report.import_errors == 0, report\n"
        "print(importlib.util.find_spec('airflow') is None, 'airflow' in sys.modules)\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"]


def test_install_is_idempotent_and_drops_an_airflow_imported_before():
    fake = type(sys)("airflow")
    saved_meta_path = list(sys.meta_path)
    sys.modules["airflow"] = fake
    try:
        airflow_compat.install()
        airflow_compat.install()
        assert sys.meta_path.count(airflow_compat._FINDER) == 1
        assert importlib.import_module("airflow") is not fake
        assert importlib.import_module("airflow.sdk").DAG.__module__ == "dags_app.sdk.dag"
    finally:
        sys.meta_path[:] = saved_meta_path
        for name in [m for m in sys.modules if m == "airflow" or m.startswith("airflow.")]:
            del sys.modules[name]


# -- the branch operators Airflow's standard provider has -------------------------------------


def _choose(operator, when: dt.datetime) -> object:
    return operator.choose_branch({"logical_date": when})


def test_branch_date_time_operator_compares_the_logical_date_with_times_of_day_across_midnight():
    from dags_app.sdk import DAG
    from dags_app.sdk.branch import BranchDateTimeOperator

    with DAG("branch_dt", schedule=None, start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)):
        night = BranchDateTimeOperator(
            task_id="night",
            follow_task_ids_if_true="dark",
            follow_task_ids_if_false="light",
            target_lower=dt.time(22, 0),
            target_upper=dt.time(2, 0),
            use_task_logical_date=True,
        )
        window = BranchDateTimeOperator(
            task_id="window",
            follow_task_ids_if_true="inside",
            follow_task_ids_if_false="outside",
            target_lower=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            target_upper=None,
            use_task_logical_date=True,
        )
    at = lambda hour: dt.datetime(2024, 5, 1, hour, tzinfo=dt.UTC)  # noqa: E731
    assert [_choose(night, at(h)) for h in (23, 1, 12)] == ["dark", "dark", "light"]
    assert _choose(window, at(0)) == "inside"
    assert _choose(window, dt.datetime(2023, 6, 1, tzinfo=dt.UTC)) == "outside"
    with pytest.raises(Exception, match="At least one must be defined"):
        BranchDateTimeOperator(
            task_id="none", follow_task_ids_if_true="a", follow_task_ids_if_false="b", target_lower=None,
            target_upper=None,
        )  # fmt: skip


def test_branch_day_of_week_operator_takes_names_enums_and_sets_and_refuses_a_bad_day():
    from dags_app.sdk import DAG
    from dags_app.sdk.branch import BranchDayOfWeekOperator, WeekDay

    with DAG("branch_dow", schedule=None, start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)):
        by_name = BranchDayOfWeekOperator(
            task_id="by_name", follow_task_ids_if_true="yes", follow_task_ids_if_false="no", week_day="Monday",
            use_task_logical_date=True,
        )  # fmt: skip
        by_set = BranchDayOfWeekOperator(
            task_id="by_set", follow_task_ids_if_true="yes", follow_task_ids_if_false="no",
            week_day={WeekDay.SATURDAY, "sunday"}, use_task_logical_date=True,
        )  # fmt: skip
        with pytest.raises(AttributeError, match='Invalid Week Day passed: "Caturday"'):
            BranchDayOfWeekOperator(
                task_id="bad", follow_task_ids_if_true="yes", follow_task_ids_if_false="no", week_day="Caturday"
            )
    monday, sunday = dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.datetime(2024, 1, 7, tzinfo=dt.UTC)
    assert [_choose(by_name, monday), _choose(by_name, sunday)] == ["yes", "no"]
    assert [_choose(by_set, monday), _choose(by_set, sunday)] == ["no", "yes"]


def test_docs_airflow_md_lists_every_module_path_with_its_names():
    text = (ROOT / "docs" / "airflow.md").read_text()
    for module, names in airflow_compat.MODULES.items():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{module}` |")), None)
        assert row is not None, module
        for name in names:
            if not name.startswith("__"):
                assert f"`{name}`" in row, (module, name)

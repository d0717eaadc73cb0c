"""Every argument of BaseOperator.__init__ and DAG.__init__ is either acted on or refused.

Airflow users' DAG files pass options we may not support: one that is accepted must do what
Airflow does, one we cannot act on is an import error naming it. This module walks both
signatures: a new argument without a decision here fails ``test_every_..._is_acted_on_or_refused``.
Each acted-on option names the test file that shows it working (and the option must appear in
that file); each refused option is tried with a value and must raise naming it.
"""

from __future__ import annotations

import datetime as dt
import inspect
from pathlib import Path

import jinja2
import pytest

from dags_app.sdk import DAG, AirflowException, BaseOperator, BashOperator, EmptyOperator
from dags_app.sdk.baseoperator import UNSUPPORTED_OPERATOR_ARGS
from dags_app.serialization import serialize_dag

pytestmark = pytest.mark.no_database

TESTS = Path(__file__).resolve().parents[1]
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

# Acted on: option -> the test file where it is shown to work.
OPERATOR_ACTED_ON = {
    "task_id": "dags_app/test_sdk.py",
    "owner": "dags_app/test_sdk.py",
    "email": "runs_app/test_callbacks.py",
    "email_on_retry": "runs_app/test_callbacks.py",
    "email_on_failure": "runs_app/test_callbacks.py",
    "retries": "runs_app/test_runner.py",
    "retry_delay": "runs_app/test_runner.py",
    "retry_exponential_backoff": "runs_app/test_runner.py",
    "max_retry_delay": "runs_app/test_runner.py",
    "start_date": "runs_app/test_tick.py",
    "end_date": "runs_app/test_tick.py",
    "depends_on_past": "runs_app/test_tick.py",
    "ignore_first_depends_on_past": "runs_app/test_tick.py",
    "wait_for_downstream": "runs_app/test_tick.py",
    "dag": "dags_app/test_sdk.py",
    "params": "dags_app/test_sdk_operators.py",
    "priority_weight": "runs_app/test_tick.py",
    "weight_rule": "runs_app/test_tick.py",
    "queue": "runs_app/test_tick.py",
    "pool": "runs_app/test_tick.py",
    "pool_slots": "runs_app/test_tick.py",
    "execution_timeout": "runs_app/test_runner.py",
    "on_execute_callback": "runs_app/test_callbacks.py",
    "on_failure_callback": "runs_app/test_callbacks.py",
    "on_success_callback": "runs_app/test_callbacks.py",
    "on_retry_callback": "runs_app/test_callbacks.py",
    "on_skipped_callback": "runs_app/test_callbacks.py",
    "trigger_rule": "runs_app/test_deps.py",
    "max_active_tis_per_dag": "runs_app/test_tick.py",
    "max_active_tis_per_dagrun": "runs_app/test_tick.py",
    "do_xcom_push": "dags_app/test_sdk.py",
    "multiple_outputs": "dags_app/test_sdk_operators.py",
    "doc": "dags_app/test_options.py",
    "doc_md": "dags_app/test_options.py",
    "doc_json": "dags_app/test_options.py",
    "doc_yaml": "dags_app/test_options.py",
    "doc_rst": "dags_app/test_options.py",
    "task_display_name": "dags_app/test_options.py",
    "map_index_template": "runs_app/test_mapping.py",
    "task_group": "dags_app/test_task_groups.py",
    "inlets": "runs_app/test_assets.py",
    "outlets": "runs_app/test_assets.py",
    "pre_execute": "runs_app/test_assets.py",
    "post_execute": "runs_app/test_assets.py",
}

DAG_ACTED_ON = {
    "dag_id": "dags_app/test_sdk.py",
    "description": "dags_app/test_sync.py",
    "schedule": "dags_app/test_timetables.py",
    "schedule_interval": "dags_app/test_sdk.py",
    "timetable": "dags_app/test_timetables.py",
    "start_date": "dags_app/test_timetables.py",
    "end_date": "dags_app/test_timetables.py",
    "default_args": "dags_app/test_sdk.py",
    "concurrency": "dags_app/test_options.py",
    "max_active_tasks": "runs_app/test_tick.py",
    "max_active_runs": "runs_app/test_tick.py",
    "dagrun_timeout": "runs_app/test_isolation.py",
    "catchup": "dags_app/test_timetables.py",
    "on_success_callback": "runs_app/test_callbacks.py",
    "on_failure_callback": "runs_app/test_callbacks.py",
    "doc_md": "dags_app/test_serialization.py",
    "params": "dags_app/test_sdk_operators.py",
    "access_control": "security/test_dag_access.py",
    "is_paused_upon_creation": "dags_app/test_sync.py",
    "jinja_environment_kwargs": "dags_app/test_options.py",
    "render_template_as_native_obj": "dags_app/test_sdk_operators.py",
    "tags": "cli/test_dags.py",
    "owner_links": "dags_app/test_options.py",
    "template_searchpath": "dags_app/test_sdk_operators.py",
    "template_undefined": "dags_app/test_options.py",
    "user_defined_macros": "dags_app/test_sdk_operators.py",
    "user_defined_filters": "dags_app/test_sdk_operators.py",
    "default_view": "dags_app/test_options.py",
    "orientation": "dags_app/test_options.py",
    "fail_stop": "runs_app/test_tick.py",
    "fail_fast": "runs_app/test_tick.py",
    "dag_display_name": "dags_app/test_options.py",
    "auto_register": "dags_app/test_sdk.py",
}

# Refused: a value that must raise, for each option we do not act on.
OPERATOR_REFUSED_VALUES = {
    "sla": dt.timedelta(hours=1),
    "executor_config": {"pod_override": {}},
    "run_as_user": "airflow",
    "resources": {"cpus": 2},
}
DAG_REFUSED_VALUES: dict[str, object] = {}


def _parameters(function) -> set[str]:
    return {
        name
        for name, p in inspect.signature(function).parameters.items()
        if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }


@pytest.mark.parametrize(
    ("function", "acted_on", "refused"),
    [
        (BaseOperator.__init__, OPERATOR_ACTED_ON, OPERATOR_REFUSED_VALUES),
        (DAG.__init__, DAG_ACTED_ON, DAG_REFUSED_VALUES),
    ],
    ids=["BaseOperator", "DAG"],
)
def test_every_argument_is_acted_on_or_refused(function, acted_on, refused):
    names = _parameters(inspect.unwrap(function))
    undecided = names - acted_on.keys() - refused.keys()
    assert not undecided, f"decide for each: act on it (and test it) or refuse it: {sorted(undecided)}"
    assert not acted_on.keys() & refused.keys()
    assert not (acted_on.keys() | refused.keys()) - names, "options listed here that the SDK no longer has"
    for name, test_file in acted_on.items():
        assert name in (TESTS / test_file).read_text(), f"{name} is not exercised in {test_file}"


def test_the_refused_operator_options_are_exactly_the_unsupported_ones():
    assert set(OPERATOR_REFUSED_VALUES) == set(UNSUPPORTED_OPERATOR_ARGS)


@pytest.mark.parametrize(("name", "value"), sorted(OPERATOR_REFUSED_VALUES.items()))
def test_a_refused_operator_option_is_an_import_error_naming_it(name, value):
    with DAG("refusing", schedule=None, start_date=START):
        with pytest.raises(AirflowException, match=rf"Task 't': {name} is not supported \("):
            EmptyOperator(task_id="t", **{name: value})
        # At its default it is accepted, as in every Airflow DAG file that does not set it.
        EmptyOperator(task_id="fine", **{name: None})


def test_a_refused_option_in_default_args_is_refused_too():
    defaults = {"sla": dt.timedelta(1)}
    with (
        pytest.raises(AirflowException, match="sla is not supported"),
        DAG("refusing_defaults", schedule=None, start_date=START, default_args=defaults),
    ):
        EmptyOperator(task_id="t")


# -- the options acted on here ---------------------------------------------------------------------


def test_task_docs_of_every_kind_are_shown_as_the_task_s_doc_md():
    with DAG("documented", schedule=None, start_date=START) as dag:
        EmptyOperator(task_id="md", doc_md="# Loads *rows*")
        EmptyOperator(task_id="plain", doc="Loads rows")
        EmptyOperator(task_id="json", doc_json='{"table": "rows"}')
        EmptyOperator(task_id="yaml", doc_yaml="table: rows")
        EmptyOperator(task_id="rst", doc_rst="Loads **rows**")

    docs = {t["task_id"]: t["doc_md"] for t in serialize_dag(dag)["tasks"]}

    assert docs == {
        "md": "# Loads *rows*",
        "plain": "Loads rows",
        "json": '```json\n{"table": "rows"}\n```',
        "yaml": "```yaml\ntable: rows\n```",
        "rst": "```rst\nLoads **rows**\n```",
    }


def test_task_display_name_is_the_label_the_graph_and_grid_show():
    with DAG("named", schedule=None, start_date=START) as dag:
        EmptyOperator(task_id="load_rows", task_display_name="Load rows 🚚")
        EmptyOperator(task_id="plain")

    tasks = {t["task_id"]: t for t in serialize_dag(dag)["tasks"]}

    assert tasks["load_rows"]["label"] == "Load rows 🚚"
    assert tasks["load_rows"]["task_display_name"] == "Load rows 🚚"
    assert tasks["plain"]["label"] == "plain"


def test_concurrency_is_the_old_name_of_max_active_tasks():
    assert DAG("old_name", schedule=None, start_date=START, concurrency=3).max_active_tasks == 3


def test_jinja_environment_kwargs_and_template_undefined_shape_the_rendering():
    with DAG(
        "jinja_opts",
        schedule=None,
        start_date=START,
        jinja_environment_kwargs={"trim_blocks": True},
        template_undefined=jinja2.Undefined,
    ) as dag:
        task = BashOperator(task_id="t", bash_command="{% if true %}\nyes{% endif %}{{ missing }}")

    task.render_template_fields({})

    # trim_blocks drops the newline after the block; a lenient Undefined renders "" for a typo.
    assert task.bash_command == "yes"
    assert dag.get_template_env().undefined is jinja2.Undefined


def test_bad_jinja_environment_kwargs_are_an_import_error():
    with pytest.raises(AirflowException, match="Invalid jinja_environment_kwargs of DAG 'bad_jinja'"):
        DAG("bad_jinja", schedule=None, start_date=START, jinja_environment_kwargs={"no_such_option": 1})
    with pytest.raises(AirflowException, match="cannot set the loader"):
        DAG("bad_loader", schedule=None, start_date=START, jinja_environment_kwargs={"loader": None})


def test_owner_links_must_be_http_or_mailto_and_are_serialized():
    links = {"data-team": "https://wiki.example.com/data", "ops": "mailto:ops@example.com"}
    dag = DAG("linked", schedule=None, start_date=START, owner_links=links)
    assert serialize_dag(dag)["owner_links"] == links
    with pytest.raises(AirflowException, match="Wrong link format was used for the owner 'x'"):
        DAG("xss_link", schedule=None, start_date=START, owner_links={"x": "javascript:alert(1)"})


@pytest.mark.parametrize(("option", "bad"), [("default_view", "tree"), ("orientation", "diagonal")])
def test_default_view_and_orientation_take_airflow_s_presets(option, bad):
    with pytest.raises(AirflowException, match=f"Invalid value for {option} of DAG 'presets'"):
        DAG("presets", schedule=None, start_date=START, **{option: bad})
    dag = DAG("presets_ok", schedule=None, start_date=START, default_view="graph", orientation="TB")
    serialized = serialize_dag(dag)
    assert (serialized["default_view"], serialized["orientation"]) == ("graph", "TB")


def test_dag_display_name_is_serialized():
    dag = DAG("shown", schedule=None, start_date=START, dag_display_name="Daily sales ✨")
    assert serialize_dag(dag)["dag_display_name"] == "Daily sales ✨"

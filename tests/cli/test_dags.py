"""``python manage.py dags ...``: Airflow's ``airflow dags`` subcommands."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml
from django.core.management.base import CommandError

from dags_app.models import DagModel
from runs_app.models import AuditLog, DagRun, TaskInstance
from runs_app.states import AuditEvent, DagRunState, DagRunType, TaskInstanceState

pytestmark = pytest.mark.django_db

UTC = dt.UTC
DAG_LIST_KEYS = {"dag_id", "fileloc", "owners", "is_paused", "schedule", "next_dagrun"}


# -- dags list ------------------------------------------------------------------------------------


def test_dags_list_table_shows_dag_id_owner_schedule_paused_and_next_run(cli, example_dags):
    out = cli("dags", "list")

    header = out.splitlines()[1]
    for column in ("dag_id", "owners", "schedule", "is_paused", "next_dagrun"):
        assert column in header
    row = next(line for line in out.splitlines() if "| example " in line)
    assert "data-team" in row
    assert "@daily" in row
    assert "True" in row
    assert "2024-01-01T00:00:00+00:00" in row


@pytest.mark.parametrize("flag", ["-o", "--output"])
def test_dags_list_json_is_an_array_of_dag_objects(cli, example_dags, flag):
    rows = json.loads(cli("dags", "list", flag, "json"))

    assert [r["dag_id"] for r in rows] == ["example", "other"]
    assert rows[0].keys() >= DAG_LIST_KEYS
    assert {key: rows[0][key] for key in sorted(DAG_LIST_KEYS)} == {
        "dag_id": "example",
        "fileloc": str(example_dags["example"]),
        "is_paused": True,
        "next_dagrun": "2024-01-01T00:00:00+00:00",
        "owners": "data-team",
        "schedule": "@daily",
    }
    assert rows[1]["next_dagrun"] is None


def test_dags_list_yaml_is_a_list_of_dag_mappings(cli, example_dags):
    rows = yaml.safe_load(cli("dags", "list", "-o", "yaml"))

    assert [r["dag_id"] for r in rows] == ["example", "other"]
    assert rows[0].keys() >= DAG_LIST_KEYS


def test_dags_list_plain_has_a_header_line_and_one_line_per_dag(cli, example_dags):
    lines = cli("dags", "list", "-o", "plain").splitlines()

    assert lines[0].split() == ["dag_id", "fileloc", "owners", "is_paused", "schedule", "next_dagrun"]
    assert [line.split()[0] for line in lines[1:]] == ["example", "other"]


def test_dags_list_columns_option_picks_columns(cli, example_dags):
    lines = cli("dags", "list", "-o", "plain", "--columns", "dag_id,owners").splitlines()

    assert lines == ["dag_id   owners", "example  data-team", "other    airflow"]


def test_dags_list_rejects_an_unknown_column(cli, example_dags):
    with pytest.raises(CommandError, match="Unknown columns: nope"):
        cli("dags", "list", "--columns", "dag_id,nope")


def test_dags_list_of_an_empty_folder_says_no_data(cli, dags_folder):
    assert cli("dags", "list").strip() == "No data found"


def test_dags_list_leaves_out_inactive_dags(cli, example_dags):
    cli("dags", "list")
    example_dags["other"].unlink()

    rows = json.loads(cli("dags", "list", "-o", "json"))

    assert [r["dag_id"] for r in rows] == ["example"]


def test_dags_list_picks_up_a_new_file_without_a_scheduler(cli, example_dags, dag_file):
    cli("dags", "list")
    dag_file("late.py", "from dags_app.sdk import DAG\ndag = DAG('late', schedule=None)\n")

    rows = json.loads(cli("dags", "list", "-o", "json"))

    assert "late" in [r["dag_id"] for r in rows]


# -- dags show / details --------------------------------------------------------------------------


def test_dags_show_prints_dot_with_the_edges(cli, example_dags):
    out = cli("dags", "show", "example")

    assert out.startswith("digraph example {")
    assert "extract -> transform" in out
    assert "transform -> load" in out
    assert "extract -> audit" in out


def test_dags_show_save_writes_an_svg_with_dot(cli, example_dags, tmp_path):
    target = tmp_path / "example.svg"

    out = cli("dags", "show", "example", "--save", str(target))

    assert out.strip() == f"File {target} saved"
    svg = target.read_text()
    assert svg.startswith("<?xml")
    assert "<svg" in svg
    assert ">transform</text>" in svg


def test_dags_show_save_writes_dot_source_for_a_dot_file(cli, example_dags, tmp_path):
    target = tmp_path / "example.dot"

    cli("dags", "show", "example", "--save", str(target))

    assert "extract -> transform" in target.read_text()


def test_dags_show_rejects_an_unknown_file_format(cli, example_dags, tmp_path):
    with pytest.raises(CommandError, match=r"Unsupported file format 'bmpx'"):
        cli("dags", "show", "example", "--save", str(tmp_path / "x.bmpx"))


def test_dags_show_reports_a_folder_that_does_not_exist(cli, example_dags, tmp_path):
    with pytest.raises(CommandError, match=r"^Cannot write .*missing/x.dot"):
        cli("dags", "show", "example", "--save", str(tmp_path / "missing" / "x.dot"))


def test_dags_details_json_describes_the_dag(cli, example_dags):
    [details] = json.loads(cli("dags", "details", "example", "-o", "json"))

    assert details["dag_id"] == "example"
    assert details["owners"] == "data-team"
    assert details["description"] == "The example of the CLI tests"
    assert details["fileloc"] == str(example_dags["example"])
    assert details["tags"] == ["demo"]
    assert details["task_count"] == 4
    assert details["is_paused"] is True
    assert details["next_dagrun"] == "2024-01-01T00:00:00+00:00"


def test_dags_details_table_lists_property_names_and_values(cli, example_dags):
    out = cli("dags", "details", "example")

    assert "property_name" in out
    assert "property_value" in out
    assert any("| dag_id " in line and "example" in line for line in out.splitlines())


def test_dags_details_of_an_unknown_dag_fails(cli, example_dags):
    with pytest.raises(CommandError, match=r"^Dag id nope not found in DagModel$"):
        cli("dags", "details", "nope")


# -- dags pause / unpause -------------------------------------------------------------------------


def test_dags_unpause_unpauses_the_dag(cli, example_dags):
    out = cli("dags", "unpause", "example", "-o", "json")

    assert DagModel.objects.get(dag_id="example").is_paused is False
    assert json.loads(out) == [{"dag_id": "example", "is_paused": False}]


def test_dags_unpause_writes_an_audit_log_row(cli, example_dags):
    cli("dags", "unpause", "example")

    entry = AuditLog.objects.get()
    assert (entry.event, entry.dag_id, entry.source) == (AuditEvent.UNPAUSE, "example", "cli")


def test_dags_pause_pauses_the_dag_and_writes_an_audit_log_row(cli, example_dags):
    cli("dags", "unpause", "example")

    cli("dags", "pause", "example")

    assert DagModel.objects.get(dag_id="example").is_paused is True
    assert list(AuditLog.objects.order_by("pk").values_list("event", flat=True)) == [
        AuditEvent.UNPAUSE,
        AuditEvent.PAUSE,
    ]


def test_dags_pause_of_a_paused_dag_writes_no_audit_log_row(cli, example_dags):
    cli("dags", "pause", "example")

    assert not AuditLog.objects.exists()


def test_dags_pause_of_an_unknown_dag_fails(cli, example_dags):
    with pytest.raises(CommandError, match=r"^Dag id nope not found in DagModel$"):
        cli("dags", "pause", "nope")


# -- dags trigger ---------------------------------------------------------------------------------


def test_dags_trigger_creates_a_queued_manual_run_at_the_given_date(cli, example_dags):
    cli("dags", "trigger", "example", "-e", "2024-02-03")

    run = DagRun.objects.get()
    assert run.dag.dag_id == "example"
    assert run.run_type == DagRunType.MANUAL
    assert run.state == DagRunState.QUEUED
    assert run.logical_date == dt.datetime(2024, 2, 3, tzinfo=UTC)
    assert run.conf == {}


def test_dags_trigger_creates_task_instances_in_state_none(cli, example_dags):
    cli("dags", "trigger", "example", "-e", "2024-02-03")

    tis = TaskInstance.objects.filter(dag_run__dag__dag_id="example")
    assert sorted(tis.values_list("task_id", flat=True)) == ["audit", "extract", "load", "transform"]
    assert set(tis.values_list("state", flat=True)) == {TaskInstanceState.NONE}


def test_dags_trigger_stores_the_conf(cli, example_dags):
    cli("dags", "trigger", "example", "-c", '{"a": 1}')

    assert DagRun.objects.get().conf == {"a": 1}


def test_dags_trigger_accepts_a_date_and_time(cli, example_dags):
    cli("dags", "trigger", "example", "--exec-date", "2024-02-03T10:30:00+02:00")

    assert DagRun.objects.get().logical_date == dt.datetime(2024, 2, 3, 8, 30, tzinfo=UTC)


def test_dags_trigger_uses_the_run_id_given(cli, example_dags):
    cli("dags", "trigger", "example", "-r", "my_run")

    assert DagRun.objects.get().run_id == "my_run"


def test_dags_trigger_prints_the_run(cli, example_dags):
    [row] = json.loads(cli("dags", "trigger", "example", "-e", "2024-02-03", "-o", "json"))

    assert row["dag_id"] == "example"
    assert row["state"] == "queued"
    assert row["logical_date"] == "2024-02-03T00:00:00+00:00"


def test_dags_trigger_writes_an_audit_log_row(cli, example_dags):
    cli("dags", "trigger", "example", "-e", "2024-02-03")

    entry = AuditLog.objects.get()
    assert (entry.event, entry.dag_id, entry.run_id) == (AuditEvent.TRIGGER, "example", DagRun.objects.get().run_id)


def test_dags_trigger_twice_at_the_same_date_fails_clearly(cli, example_dags):
    cli("dags", "trigger", "example", "-e", "2024-02-03")

    with pytest.raises(CommandError, match=r"^A DAG Run already exists for DAG example at 2024-02-03T00:00:00\+00:00"):
        cli("dags", "trigger", "example", "-e", "2024-02-03")
    assert DagRun.objects.count() == 1


def test_dags_trigger_of_an_unknown_dag_fails(cli, example_dags):
    with pytest.raises(CommandError, match=r"^Dag id nope not found in DagModel$"):
        cli("dags", "trigger", "nope")


def test_dags_trigger_rejects_a_malformed_date(cli, example_dags):
    with pytest.raises(CommandError, match=r"^Invalid --exec-date '2022-13-45': expected an ISO date"):
        cli("dags", "trigger", "-e", "2022-13-45", "example")
    assert not DagRun.objects.exists()


def test_dags_trigger_rejects_invalid_json_conf(cli, example_dags):
    with pytest.raises(CommandError, match=r"^Invalid JSON in the conf: "):
        cli("dags", "trigger", "example", "-c", "{not json")


def test_dags_trigger_rejects_a_conf_that_is_a_json_list(cli, example_dags):
    with pytest.raises(CommandError, match=r"^The conf must be a JSON object, like .*, not a list$"):
        cli("dags", "trigger", "example", "-c", "[1, 2]")


def test_dags_trigger_rejects_an_invalid_run_id(cli, example_dags):
    with pytest.raises(CommandError, match="run_id"):
        cli("dags", "trigger", "example", "-r", "../escape")


def test_dags_trigger_of_a_dag_whose_file_is_gone_fails(cli, example_dags):
    cli("dags", "list")
    example_dags["example"].unlink()

    with pytest.raises(CommandError, match=r"^Dag id example not found in DagModel$"):
        cli("dags", "trigger", "example")


# -- dags delete ----------------------------------------------------------------------------------


def test_dags_delete_removes_the_dag_and_its_runs(cli, example_dags):
    cli("dags", "trigger", "example", "-e", "2024-02-03")

    out = cli("dags", "delete", "example", "-y")

    assert out.startswith("Removed ")
    assert not DagModel.objects.filter(dag_id="example").exists()
    assert not DagRun.objects.exists()
    assert not TaskInstance.objects.exists()


def test_dags_delete_writes_an_audit_log_row(cli, example_dags):
    cli("dags", "list")

    cli("dags", "delete", "example", "--yes")

    assert AuditLog.objects.filter(event=AuditEvent.DELETE, dag_id="example").count() == 1


def test_dag_deleted_while_its_file_exists_reappears_on_the_next_list(cli, example_dags):
    cli("dags", "trigger", "example", "-e", "2024-02-03")
    cli("dags", "delete", "example", "-y")

    rows = json.loads(cli("dags", "list", "-o", "json"))

    assert "example" in [r["dag_id"] for r in rows]
    assert not DagRun.objects.exists()


def test_dags_delete_without_yes_outside_a_terminal_changes_nothing(cli, example_dags):
    cli("dags", "list")

    with pytest.raises(CommandError, match=r"Pass -y/--yes to confirm"):
        cli("dags", "delete", "example")
    assert DagModel.objects.filter(dag_id="example").exists()


def test_dags_delete_of_an_unknown_dag_fails(cli, example_dags):
    with pytest.raises(CommandError, match=r"^Dag id nope not found$"):
        cli("dags", "delete", "nope", "-y")


# -- dags list-runs -------------------------------------------------------------------------------

RUN_KEYS = {"dag_id", "run_id", "state", "logical_date", "start_date", "end_date"}


def test_dags_list_runs_json_lists_the_runs_newest_first(cli, example_dags):
    cli("dags", "trigger", "example", "-e", "2024-02-03")
    cli("dags", "trigger", "example", "-e", "2024-02-04")

    rows = json.loads(cli("dags", "list-runs", "example", "-o", "json"))

    assert [r["logical_date"] for r in rows] == ["2024-02-04T00:00:00+00:00", "2024-02-03T00:00:00+00:00"]
    assert rows[0].keys() >= RUN_KEYS
    assert rows[0]["dag_id"] == "example"
    assert rows[0]["state"] == "queued"
    assert rows[0]["start_date"] is None
    assert rows[0]["end_date"] is None


def test_dags_list_runs_takes_the_dag_id_as_an_option_too(cli, example_dags):
    cli("dags", "trigger", "example", "-e", "2024-02-03", "-r", "the_run")

    rows = json.loads(cli("dags", "list-runs", "-d", "example", "-o", "json"))

    assert [r["run_id"] for r in rows] == ["the_run"]


def test_dags_list_runs_filters_by_state_and_dates(cli, example_dags):
    for day in ("2024-02-01", "2024-02-02", "2024-02-03"):
        cli("dags", "trigger", "example", "-e", day)
    DagRun.objects.filter(logical_date__day=3).update(state=DagRunState.FAILED)

    queued = json.loads(cli("dags", "list-runs", "example", "--state", "queued", "-o", "json"))
    window = json.loads(cli("dags", "list-runs", "example", "-s", "2024-02-02", "-e", "2024-02-03", "-o", "json"))

    assert [r["logical_date"][:10] for r in queued] == ["2024-02-02", "2024-02-01"]
    assert [r["logical_date"][:10] for r in window] == ["2024-02-03", "2024-02-02"]


def test_dags_list_runs_without_a_dag_id_fails(cli, example_dags):
    with pytest.raises(CommandError, match="the following arguments are required: dag_id"):
        cli("dags", "list-runs")


def test_dags_list_runs_of_an_unknown_dag_fails(cli, example_dags):
    with pytest.raises(CommandError, match=r"^Dag id nope not found in DagModel$"):
        cli("dags", "list-runs", "nope")


# -- dags list-import-errors / report -------------------------------------------------------------


def test_dags_list_import_errors_json_has_filepath_and_error(cli, example_dags, dag_file):
    broken = dag_file("broken.py", "# dag\nraise RuntimeError('cannot import this')\n")

    rows = json.loads(cli("dags", "list-import-errors", "-o", "json"))

    assert rows == [{"filepath": str(broken), "error": "RuntimeError: cannot import this"}]


def test_dags_list_import_errors_lists_one_row_per_broken_file_and_dags_stay_listed(
    cli, example_dags, dag_file, settings
):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "PARSE_TIMEOUT": 2.0}
    dag_file("syntax.py", "from dags_app.sdk import DAG\nwith DAG('x' as dag:\n")
    dag_file("hangs.py", "# dag\nimport time\ntime.sleep(600)\n")
    dag_file(
        "cycle.py",
        "from dags_app.sdk import DAG, EmptyOperator\nwith DAG('cyc', schedule=None) as dag:\n"
        "    a = EmptyOperator(task_id='a')\n    b = EmptyOperator(task_id='b')\n    a >> b >> a\n",
    )

    errors = json.loads(cli("dags", "list-import-errors", "-o", "json"))
    dags = json.loads(cli("dags", "list", "-o", "json"))

    assert [e["filepath"].rsplit("/", 1)[1] for e in errors] == ["cycle.py", "hangs.py", "syntax.py"]
    assert [d["dag_id"] for d in dags] == ["example", "other"]


def test_dags_list_import_errors_without_errors_says_no_data(cli, example_dags):
    assert cli("dags", "list-import-errors").strip() == "No data found"


def test_dags_report_lists_each_file_with_its_dags_and_tasks(cli, example_dags, dag_file):
    dag_file("broken.py", "# dag\nraise RuntimeError('nope')\n")

    rows = {r["file"]: r for r in json.loads(cli("dags", "report", "-o", "json"))}

    assert sorted(rows) == ["broken.py", "example.py", "other.py"]
    assert (rows["example.py"]["dags"], rows["example.py"]["dag_num"], rows["example.py"]["task_num"]) == (
        "example",
        1,
        4,
    )
    assert rows["broken.py"]["error"] == "RuntimeError: nope"


def test_dags_report_table_has_the_airflow_columns(cli, example_dags):
    header = cli("dags", "report").splitlines()[1]

    for column in ("file", "duration", "dag_num", "task_num", "dags"):
        assert column in header


# -- argument errors ------------------------------------------------------------------------------


def test_dags_without_a_subcommand_fails(cli):
    with pytest.raises(CommandError, match="the following arguments are required: COMMAND"):
        cli("dags")


def test_dags_list_rejects_an_unknown_output_format(cli, example_dags):
    with pytest.raises(CommandError, match=r"argument -o/--output: invalid choice: 'xml'"):
        cli("dags", "list", "-o", "xml")


# -- dags test ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_dags_test_after_a_trigger_at_that_date_writes_every_try_s_log(cli, example_dags, capsys):
    # Issue 14: `dags trigger -e 2022-01-01 example_xcom` then `dags test example_xcom 2022-01-01`
    # left a "Try 2" tab with no log: the test run logged only to the console.
    cli("dags", "trigger", "-e", "2022-01-01", "example")
    out = cli("dags", "test", "example", "2022-01-01")

    assert "ended success" in out
    tis = TaskInstance.objects.select_related("dag_run__dag").order_by("task_id")
    assert [(ti.task_id, ti.state) for ti in tis] == [
        ("audit", "success"), ("extract", "success"), ("load", "success"), ("transform", "success"),
    ]  # fmt: skip
    extract = tis.get(task_id="extract")  # the one task a worker runs (EmptyOperator ends unrun)
    for attempt in range(1, extract.try_number + 1):
        assert f"Starting attempt {attempt} of" in extract.log_path(attempt).read_text(), attempt
    extract_log = extract.log_path().read_text()
    assert "2022-01-01" in extract_log  # the bash task's own output is in the file
    echoed = capsys.readouterr().out
    assert extract_log in echoed  # and on the console, as Airflow's dags test shows it


@pytest.mark.django_db(transaction=True)
def test_dags_test_twice_keeps_the_first_run_s_logs_and_writes_the_next_try_s(cli, example_dags, capsys):
    cli("dags", "test", "example", "2022-01-01")
    cli("dags", "test", "example", "2022-01-01")

    ti = TaskInstance.objects.select_related("dag_run__dag").get(task_id="extract")
    assert ti.try_number == 2
    assert "Starting attempt 1 of" in ti.log_path(1).read_text()
    assert "Starting attempt 2 of" in ti.log_path(2).read_text()

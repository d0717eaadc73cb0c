"""Keeping the metastore in step with the DAG folder (dags_app.services.dag_folder_sync)."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest

from dags_app.models import DagFile, DagImportError, DagModel

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def good_dag(dag_id: str, *, extra: str = "", dag_args: str = "") -> str:
    """Source of a valid daily DAG ``dag_id`` with tasks a >> b."""
    return (
        "import datetime\n"
        "from dags_app.sdk import DAG, EmptyOperator\n"
        f"{extra}\n"
        f"with DAG({dag_id!r}, start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),"
        f" schedule='@daily'{dag_args}) as dag:\n"
        "    EmptyOperator(task_id='a') >> EmptyOperator(task_id='b')\n"
    )


def counting_dag(dag_id: str, counter: Path) -> str:
    """Source of a DAG file that appends a line to ``counter`` every time it is imported."""
    return good_dag(dag_id, extra=f"open({str(counter)!r}, 'a').write('imported\\n')")


def imports(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def bump_mtime(path: Path, seconds: float = 10.0) -> None:
    """Move the file's modification time forward, as an edit a moment later would."""
    stat = path.stat()
    os.utime(path, (stat.st_atime + seconds, stat.st_mtime + seconds))


BROKEN_FILES = {
    "syntax-error": (
        "from dags_app.sdk import DAG\nwith DAG('x' as dag:\n    pass\n",
        r"^SyntaxError: ",
    ),
    "raises": (
        "# a dag file\nraise RuntimeError('cannot reach the config service')\n",
        r"^RuntimeError: cannot reach the config service$",
    ),
    "os-exit": (
        "# a dag file\nimport os\nos._exit(3)\n",
        r"^The process importing this file exited unexpectedly \(exit code 3\)$",
    ),
    "cycle": (
        "from dags_app.sdk import DAG, EmptyOperator\n"
        "with DAG('cyclic', schedule=None) as dag:\n"
        "    a = EmptyOperator(task_id='a')\n"
        "    b = EmptyOperator(task_id='b')\n"
        "    a >> b >> a\n",
        r"Cycle detected in DAG: cyclic",
    ),
    "duplicate-task-id": (
        "from dags_app.sdk import DAG, EmptyOperator\n"
        "with DAG('dupes', schedule=None) as dag:\n"
        "    EmptyOperator(task_id='a')\n"
        "    EmptyOperator(task_id='a')\n",
        r"Task id 'a' has already been added to the DAG 'dupes'",
    ),
    "invalid-schedule": (
        "from dags_app.sdk import DAG\ndag = DAG('bad_schedule', schedule='every tuesday-ish')\n",
        r"Invalid schedule for DAG 'bad_schedule'",
    ),
}


@pytest.mark.parametrize(("source", "message"), BROKEN_FILES.values(), ids=BROKEN_FILES.keys())
def test_broken_file_becomes_one_import_error_and_the_other_dags_still_import(dag_file, sync, source, message):
    broken = dag_file("broken.py", source)
    dag_file("alpha.py", good_dag("alpha"))
    dag_file("omega.py", good_dag("omega"))

    report = sync()

    error = DagImportError.objects.get()
    assert error.filename == str(broken)
    assert error.message
    assert re.search(message, error.message), error.message
    assert report.import_errors == 1
    assert list(DagModel.objects.filter(is_active=True).values_list("dag_id", flat=True)) == ["alpha", "omega"]


def test_file_that_raises_keeps_its_traceback(dag_file, sync):
    dag_file("raises.py", "# dag\ndef load():\n    raise KeyError('missing')\nload()\n")

    sync()

    stacktrace = DagImportError.objects.get().stacktrace
    assert "Traceback (most recent call last)" in stacktrace
    assert "in load" in stacktrace


def test_file_that_hangs_at_import_is_cut_off_by_the_parse_timeout(dag_file, sync, settings):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "PARSE_TIMEOUT": 2.0}
    hang = dag_file("hang.py", "# dag\nimport time\ntime.sleep(600)\n")
    dag_file("alpha.py", good_dag("alpha"))

    sync()

    error = DagImportError.objects.get()
    assert error.filename == str(hang)
    assert error.message == f"DagFileProcessor timeout: importing {hang} took longer than 2 seconds"
    assert DagModel.objects.get(dag_id="alpha").is_active is True


def test_fixed_file_clears_its_import_error(dag_file, sync):
    path = dag_file("fixme.py", "# dag\nraise RuntimeError('not yet')\n")
    sync()
    assert DagImportError.objects.count() == 1

    path.write_text(good_dag("fixed"))
    bump_mtime(path)
    sync()

    assert DagImportError.objects.count() == 0
    assert DagModel.objects.get(dag_id="fixed").is_active is True


def test_import_error_deactivates_the_dags_the_file_defined_before(dag_file, sync):
    path = dag_file("one.py", good_dag("one"))
    sync()

    path.write_text("# dag\nraise RuntimeError('broken now')\n")
    bump_mtime(path)
    sync()

    assert DagModel.objects.get(dag_id="one").is_active is False


def test_unchanged_file_is_skipped_on_the_next_sync(dag_file, sync, tmp_path):
    counter = tmp_path / "imports.txt"
    dag_file("counted.py", counting_dag("counted", counter))
    first = sync()
    assert imports(counter) == 1

    second = sync()

    assert (first.parsed, first.skipped) == (1, 0)
    assert (second.parsed, second.skipped) == (0, 1)
    assert imports(counter) == 1


def test_touched_but_identical_file_is_not_reimported(dag_file, sync, tmp_path):
    counter = tmp_path / "imports.txt"
    path = dag_file("counted.py", counting_dag("counted", counter))
    sync()

    bump_mtime(path)
    report = sync()

    assert report.skipped == 1
    assert imports(counter) == 1
    assert DagFile.objects.get(path=str(path)).mtime == path.stat().st_mtime


def test_modified_file_is_reimported_and_its_dag_updated(dag_file, sync, tmp_path):
    counter = tmp_path / "imports.txt"
    path = dag_file("counted.py", counting_dag("counted", counter))
    sync()

    path.write_text(
        counting_dag("counted", counter).replace(
            "'a') >> EmptyOperator", "'a') >> EmptyOperator(task_id='c') >> EmptyOperator"
        )
    )
    bump_mtime(path)
    report = sync()

    assert report.parsed == 1
    assert imports(counter) == 2
    assert sorted(DagModel.objects.get(dag_id="counted").task_ids) == ["a", "b", "c"]


def test_modified_file_updates_the_dags_description(dag_file, sync):
    path = dag_file("described.py", good_dag("described", dag_args=", description='first'"))
    sync()

    path.write_text(good_dag("described", dag_args=", description='second version'"))
    bump_mtime(path)
    sync()

    assert DagModel.objects.get(dag_id="described").description == "second version"


def test_force_reimports_unchanged_files(dag_file, sync, tmp_path):
    counter = tmp_path / "imports.txt"
    dag_file("counted.py", counting_dag("counted", counter))
    sync()

    report = sync(force=True)

    assert report.parsed == 1
    assert imports(counter) == 2


def test_deleted_file_makes_its_dags_inactive(dag_file, sync):
    path = dag_file("gone.py", good_dag("gone"))
    dag_file("stays.py", good_dag("stays"))
    sync()

    path.unlink()
    report = sync()

    assert DagModel.objects.get(dag_id="gone").is_active is False
    assert DagModel.objects.get(dag_id="stays").is_active is True
    assert report.removed_files == 1
    assert not DagFile.objects.filter(path=str(path)).exists()


def test_deleted_file_clears_its_import_error(dag_file, sync):
    path = dag_file("broken.py", "# dag\nraise RuntimeError('broken')\n")
    sync()
    assert DagImportError.objects.count() == 1

    path.unlink()
    sync()

    assert DagImportError.objects.count() == 0


def test_dag_removed_from_a_file_that_still_exists_becomes_inactive(dag_file, sync):
    two = good_dag("first") + "\n" + good_dag("second").replace("as dag:", "as dag2:")
    path = dag_file("two.py", two)
    sync()
    assert DagModel.objects.filter(is_active=True).count() == 2

    path.write_text(good_dag("first"))
    bump_mtime(path)
    report = sync()

    assert DagModel.objects.get(dag_id="first").is_active is True
    assert DagModel.objects.get(dag_id="second").is_active is False
    assert report.dags_deactivated == 1


def test_dag_coming_back_to_its_file_becomes_active_again(dag_file, sync):
    path = dag_file("flip.py", good_dag("flip"))
    sync()
    path.write_text("# dag\nraise RuntimeError('off')\n")
    bump_mtime(path)
    sync()

    path.write_text(good_dag("flip"))
    bump_mtime(path, 20)
    sync()

    assert DagModel.objects.get(dag_id="flip").is_active is True


def test_same_dag_id_in_a_second_file_is_an_import_error_for_that_file(dag_file, sync):
    first = dag_file("a_first.py", good_dag("shared"))
    second = dag_file("b_second.py", good_dag("shared"))

    sync()

    error = DagImportError.objects.get()
    assert error.filename == str(second)
    assert error.message == (
        f"AirflowDagDuplicatedIdException: Ignoring DAG shared from {second} - also found in {first}"
    )
    assert DagModel.objects.get(dag_id="shared").fileloc == str(first)


def test_same_dag_id_added_later_in_another_file_is_an_import_error_for_the_new_file(dag_file, sync):
    first = dag_file("z_first.py", good_dag("shared"))
    sync()

    second = dag_file("a_second.py", good_dag("shared"))
    sync()

    assert DagImportError.objects.get().filename == str(second)
    assert DagModel.objects.get(dag_id="shared").fileloc == str(first)


def test_same_dag_id_twice_in_one_file_is_an_import_error(dag_file, sync):
    source = good_dag("twin") + "\n" + good_dag("twin").replace("as dag:", "as dag2:")
    path = dag_file("twins.py", source)

    sync()

    error = DagImportError.objects.get()
    assert error.filename == str(path)
    assert error.message == f"ValueError: DAG id 'twin' is defined twice in {path}"


def test_new_dag_starts_paused_by_default(dag_file, sync):
    dag_file("new.py", good_dag("new"))

    sync()

    assert DagModel.objects.get(dag_id="new").is_paused is True


def test_new_dag_starts_unpaused_when_the_setting_says_so(dag_file, sync, settings):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "DAGS_ARE_PAUSED_AT_CREATION": False}
    dag_file("new.py", good_dag("new"))

    sync()

    assert DagModel.objects.get(dag_id="new").is_paused is False


def test_new_dag_with_is_paused_upon_creation_false_starts_unpaused(dag_file, sync):
    dag_file("eager.py", good_dag("eager", dag_args=", is_paused_upon_creation=False"))

    sync()

    assert DagModel.objects.get(dag_id="eager").is_paused is False


def test_resync_keeps_a_dag_paused_state_set_by_a_user(dag_file, sync):
    path = dag_file("kept.py", good_dag("kept"))
    sync()
    DagModel.objects.filter(dag_id="kept").update(is_paused=False)

    path.write_text(good_dag("kept", dag_args=", description='changed'"))
    bump_mtime(path)
    sync()

    assert DagModel.objects.get(dag_id="kept").is_paused is False


def test_tags_are_stored_as_dag_tags(dag_file, sync):
    dag_file("tagged.py", good_dag("tagged", dag_args=", tags=['finance', 'daily']"))

    sync()

    dag = DagModel.objects.get(dag_id="tagged")
    assert list(dag.tags.values_list("name", flat=True)) == ["daily", "finance"]


def test_changed_tags_replace_the_stored_ones(dag_file, sync):
    path = dag_file("tagged.py", good_dag("tagged", dag_args=", tags=['old', 'kept']"))
    sync()

    path.write_text(good_dag("tagged", dag_args=", tags=['kept', 'new']"))
    bump_mtime(path)
    sync()

    assert list(DagModel.objects.get(dag_id="tagged").tags.values_list("name", flat=True)) == ["kept", "new"]


def test_next_dagrun_of_a_daily_dag_with_catchup_is_its_start_date(dag_file, sync):
    dag_file("daily.py", good_dag("daily", dag_args=", catchup=True"))

    sync(now=dt.datetime(2024, 3, 15, 12, tzinfo=UTC))

    dag = DagModel.objects.get(dag_id="daily")
    assert dag.next_dagrun == dt.datetime(2024, 1, 1, tzinfo=UTC)
    assert dag.next_dagrun_data_interval_end == dt.datetime(2024, 1, 2, tzinfo=UTC)
    assert dag.next_dagrun_create_after == dt.datetime(2024, 1, 2, tzinfo=UTC)


def test_next_dagrun_of_an_unscheduled_dag_is_none(dag_file, sync):
    dag_file(
        "manual.py",
        "from dags_app.sdk import DAG, EmptyOperator\nwith DAG('manual', schedule=None) as dag:\n"
        "    EmptyOperator(task_id='a')\n",
    )

    sync()

    assert DagModel.objects.get(dag_id="manual").next_dagrun is None


def test_dag_model_stores_owner_schedule_and_serialized_tasks(dag_file, sync):
    path = dag_file("owned.py", good_dag("owned", dag_args=", default_args={'owner': 'data-team'}"))

    sync()

    dag = DagModel.objects.get(dag_id="owned")
    assert dag.fileloc == str(path)
    assert dag.owners == "data-team"
    assert dag.schedule == "@daily"
    assert dag.get_task("b")["upstream_task_ids"] == ["a"]
    assert dag.source_hash
    assert dag.last_parsed_time is not None


def test_airflowignore_regex_lines_skip_files(dag_file, dags_folder, sync, tmp_path):
    counter = tmp_path / "imports.txt"
    dag_file("ignored_scratch.py", counting_dag("ignored", counter))
    dag_file("kept.py", good_dag("kept"))
    (dags_folder / ".airflowignore").write_text(".*_scratch\n")

    report = sync()

    assert report.files == 1
    assert imports(counter) == 0
    assert list(DagModel.objects.values_list("dag_id", flat=True)) == ["kept"]


def test_file_that_never_mentions_dag_is_not_imported(dag_file, sync, tmp_path):
    counter = tmp_path / "imports.txt"
    dag_file("helper.py", f"open({str(counter)!r}, 'a').write('imported\\n')\n")

    report = sync()

    assert report.files == 0
    assert imports(counter) == 0
    assert not DagImportError.objects.exists()


def test_dag_file_printing_does_not_pollute_the_parents_stdout(dag_file, sync, capfd):
    dag_file("noisy.py", good_dag("noisy", extra="print('NOISE-FROM-DAG-FILE')"))

    sync()

    assert "NOISE-FROM-DAG-FILE" not in capfd.readouterr().out
    assert DagModel.objects.get(dag_id="noisy").is_active is True


def test_dag_file_imports_a_helper_module_beside_it(dag_file, sync):
    dag_file("common_helpers.py", "OWNER = 'helper-owner'\n")
    dag_file(
        "uses_helper.py",
        good_dag("uses_helper", extra="from common_helpers import OWNER", dag_args=", default_args={'owner': OWNER}"),
    )

    sync()

    assert DagModel.objects.get(dag_id="uses_helper").owners == "helper-owner"


def test_dag_whose_file_is_renamed_stays_active_under_its_new_path(dag_file, sync):
    old = dag_file("old_name.py", good_dag("moved"))
    sync()

    new = old.rename(old.with_name("new_name.py"))
    sync()

    dag = DagModel.objects.get(dag_id="moved")
    assert dag.is_active is True
    assert dag.fileloc == str(new)
    assert not DagImportError.objects.exists()


def test_dag_moved_into_another_file_in_one_edit_stays_active_under_its_new_file(dag_file, sync):
    holder = dag_file("z_holder.py", good_dag("moving") + "\n" + good_dag("staying").replace("as dag:", "as dag2:"))
    sync()

    holder.write_text(good_dag("staying"))
    bump_mtime(holder)
    target = dag_file("a_target.py", good_dag("moving"))
    sync()

    dag = DagModel.objects.get(dag_id="moving")
    assert dag.is_active is True
    assert dag.fileloc == str(target)
    assert not DagImportError.objects.exists()


def test_file_that_holds_a_dag_keeps_it_when_a_new_file_defines_it_in_the_same_sync(dag_file, sync):
    holder = dag_file("z_holder.py", good_dag("shared"))
    sync()

    holder.write_text(good_dag("shared", dag_args=", description='edited'"))
    bump_mtime(holder)
    newcomer = dag_file("a_newcomer.py", good_dag("shared"))
    sync()

    dag = DagModel.objects.get(dag_id="shared")
    assert (dag.fileloc, dag.is_active, dag.description) == (str(holder), True, "edited")
    assert DagImportError.objects.get().filename == str(newcomer)


def test_a_dag_another_parser_created_meanwhile_is_updated_not_a_failed_sync(dag_file, sync):
    """Two parsers (two schedulers, or the scheduler and ``dags reserialize``) that both see a new
    file: the second one's insert hits the unique dag_id; it updates that row instead."""
    from dags_app.services import _apply_dag, _Index, _sync_tags

    dag_file("raced.py", good_dag("raced", dag_args=", tags=['etl']"))
    sync()
    first = DagModel.objects.get(dag_id="raced")
    DagModel.objects.filter(pk=first.pk).update(is_paused=False)  # a user unpaused it meanwhile

    # What the slower parser does: its index, loaded before the other one committed, lacks the DAG.
    data = {**first.serialized, "description": "from the second parser"}
    dag, created = _apply_dag(data, None, now=dt.datetime(2025, 1, 1, tzinfo=UTC), source_hash="other")
    _sync_tags(dag, ["etl"], _Index(dags={}, by_file={}, tags={}, files={}, errors=set(), batch=set()))

    assert (created, dag.pk) == (False, first.pk)
    row = DagModel.objects.get(dag_id="raced")
    assert (row.description, row.is_paused, row.next_dagrun) == ("from the second parser", False, first.next_dagrun)
    assert list(row.tags.values_list("name", flat=True)) == ["etl"]

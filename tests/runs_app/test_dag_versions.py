"""DAG versions: a parse that changes a DAG's serialized form records a version; a run records
the version it was created with; a try whose DAG file changed since says so in its log."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from dags_app.models import DagModel, DagVersion
from runs_app.runner import dag_run_execute_inline
from runs_app.services import dag_trigger
from tests.runs_app.helpers import dag_source

ONE = "    BashOperator(task_id='a', bash_command='echo one')\n"
TWO = "    BashOperator(task_id='a', bash_command='echo two')\n"


@pytest.mark.django_db
def test_a_version_per_change_of_the_serialized_form_not_per_parse(dag_file, sync):
    path = dag_file("versioned.py", dag_source("versioned", body=ONE, schedule="None"))
    sync()
    sync(force=True)  # parsed again, unchanged: no new version
    dag = DagModel.objects.get(dag_id="versioned")
    assert list(dag.versions.values_list("version_number", flat=True)) == [1]

    path.write_text(path.read_text() + "# a comment only\n")
    sync()  # the file changed, the DAG did not
    assert dag.versions.count() == 1
    dag_file("versioned.py", dag_source("versioned", body=TWO, schedule="None"))
    sync()

    versions = list(DagVersion.objects.filter(dag=dag).order_by("version_number"))
    dag.refresh_from_db()
    assert [v.version_number for v in versions] == [1, 2]
    assert "echo one" in versions[0].source and "echo two" in versions[1].source
    assert versions[0].serialized_hash != versions[1].serialized_hash
    assert dag.latest_version_id == versions[1].pk
    assert versions[1].source_hash == dag.source_hash


@pytest.mark.django_db
def test_a_run_records_the_version_it_was_created_with(dag_file, sync):
    dag_file("versioned.py", dag_source("versioned", body=ONE, schedule="None"))
    sync()
    dag = DagModel.objects.get(dag_id="versioned")
    first = dag_trigger(dag=dag, now=timezone.now(), logical_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    dag_file("versioned.py", dag_source("versioned", body=TWO, schedule="None"))
    sync()
    dag.refresh_from_db()
    second = dag_trigger(dag=dag, now=timezone.now(), logical_date=dt.datetime(2024, 1, 2, tzinfo=dt.UTC))

    assert first.dag_version.version_number == 1
    assert second.dag_version.version_number == 2


@pytest.mark.django_db(transaction=True)
def test_a_try_logs_that_its_dag_file_changed_since_its_run_was_created(dag_file, sync):
    dag_file("versioned.py", dag_source("versioned", body=ONE, schedule="None"))
    sync()
    dag = DagModel.objects.get(dag_id="versioned")
    run = dag_trigger(dag=dag, now=timezone.now(), logical_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    dag_file("versioned.py", dag_source("versioned", body=TWO, schedule="None"))  # not parsed yet

    assert dag_run_execute_inline(run=run, max_wait=60) == "success"

    log = run.task_instances.select_related("dag_run__dag").get(task_id="a").log_path(1).read_text()
    assert "changed since this run was created with version 1 of DAG versioned" in log
    assert "two" in log  # the file as it is now ran

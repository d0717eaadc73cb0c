"""Task callbacks (on_execute/on_success/on_failure/on_retry/on_skipped_callback).

Each runs exactly once per event, in a child that imports the DAG file after the try's state is
committed (on_execute_callback: in the task's own child, before ``execute``); an error in a
callback goes to that try's log and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy

import pytest

from dags_app.models import DagImportError, DagModel
from runs_app import transitions
from runs_app.models import TaskCallbackRequest, TaskInstance
from runs_app.runner import execute_dag_callbacks, execute_task_callbacks
from runs_app.scheduler import tick
from runs_app.scheduling import InlineExecutor
from runs_app.services import dag_trigger
from runs_app.states import DagRunState, TaskInstanceState
from runs_app.tries import task_instance_claim
from tests.runs_app.helpers import NOW, dag_source
from tests.runs_app.test_runner import executes_tasks, log_of, run_dag, ti_of

# A callback that appends one line per call: "<callback> <task_id> <state> try=<n> <extra>".
CALLBACKS = """\
    import pathlib

    MARKS = pathlib.Path({marks!r})

    def mark(name):
        def callback(context):
            ti = context["ti"]
            extra = str(context.get("exception") or "")
            with MARKS.open("a") as out:
                out.write(f"{{name}} {{ti.task_id}} {{ti.state}} try={{ti.try_number}} {{extra}}".rstrip() + "\\n")
        callback.__qualname__ = name
        return callback

    callbacks = dict(
        on_execute_callback=mark("execute"),
        on_success_callback=mark("success"),
        on_failure_callback=mark("failure"),
        on_retry_callback=mark("retry"),
        on_skipped_callback=mark("skipped"),
    )
"""


def marks(path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@executes_tasks
def test_success_calls_execute_then_success_callback_once_with_the_committed_state(write_dag, tmp_path):
    path = tmp_path / "marks"
    write_dag(
        "cb_success",
        CALLBACKS.format(marks=str(path))
        + """\
    PythonOperator(task_id="work", python_callable=lambda: 42, **callbacks)
""",
    )

    run, final = run_dag("cb_success")

    assert final == DagRunState.SUCCESS
    assert marks(path) == ["execute work running try=1", "success work success try=1"]
    assert "Running on_success_callback" in log_of(run, "work")


@executes_tasks
def test_a_retry_then_a_final_failure_call_the_retry_and_the_failure_callback_once_each(write_dag, tmp_path):
    path = tmp_path / "marks"
    write_dag(
        "cb_failure",
        CALLBACKS.format(marks=str(path))
        + """\
    def broken():
        raise ValueError("the source table is empty")

    PythonOperator(
        task_id="load", python_callable=broken, retries=1, retry_delay=datetime.timedelta(0), **callbacks
    )
""",
    )

    _, final = run_dag("cb_failure")

    assert final == DagRunState.FAILED
    assert marks(path) == [
        "execute load running try=1",
        "retry load up_for_retry try=1 ValueError: the source table is empty",
        "execute load running try=2",
        "failure load failed try=2 ValueError: the source table is empty",
    ]


@executes_tasks
def test_a_skip_raised_by_the_task_calls_the_skipped_callback(write_dag, tmp_path):
    path = tmp_path / "marks"
    write_dag(
        "cb_skip",
        CALLBACKS.format(marks=str(path))
        + """\
    from dags_app.sdk import AirflowSkipException

    def nothing():
        raise AirflowSkipException("no new files")

    PythonOperator(task_id="maybe", python_callable=nothing, **callbacks) >> PythonOperator(
        task_id="after", python_callable=lambda: 1, **callbacks
    )
""",
    )

    _, final = run_dag("cb_skip")

    assert final == DagRunState.SUCCESS
    # "after" is skipped by the scheduler, never run: Airflow calls no callback for it either.
    assert marks(path) == ["execute maybe running try=1", "skipped maybe skipped try=1"]


@executes_tasks
def test_a_list_of_callbacks_runs_each_and_a_raising_one_is_logged_without_changing_the_state(write_dag, tmp_path):
    path = tmp_path / "marks"
    write_dag(
        "cb_list",
        CALLBACKS.format(marks=str(path))
        + """\
    def explode(context):
        raise RuntimeError("the alerting webhook is down")

    PythonOperator(
        task_id="work", python_callable=lambda: 1, on_success_callback=[explode, mark("success"), mark("again")]
    )
""",
    )

    run, final = run_dag("cb_list")

    assert final == DagRunState.SUCCESS
    assert ti_of(run, "work").state == TaskInstanceState.SUCCESS
    assert marks(path) == ["success work success try=1", "again work success try=1"]
    log = log_of(run, "work")
    assert "Error when executing on_success_callback" in log
    assert "RuntimeError: the alerting webhook is down" in log


@executes_tasks
def test_a_callback_that_hangs_is_killed_after_the_callback_timeout(write_dag, tmp_path, settings):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "CALLBACK_TIMEOUT": 1.0}
    write_dag(
        "cb_hang",
        """\
    import time

    PythonOperator(task_id="work", python_callable=lambda: 1, on_success_callback=lambda context: time.sleep(60))
""",
    )

    run, final = run_dag("cb_hang")

    assert final == DagRunState.SUCCESS
    assert "Callback timed out after 1 seconds (ORCHESTRATOR_CALLBACK_TIMEOUT)" in log_of(run, "work")


@executes_tasks
def test_an_error_on_execute_callback_does_not_stop_the_task(write_dag):
    write_dag(
        "cb_exec_error",
        """\
    def explode(context):
        raise RuntimeError("cannot announce the start")

    PythonOperator(task_id="work", python_callable=lambda: 7, on_execute_callback=explode)
""",
    )

    run, final = run_dag("cb_exec_error")

    assert final == DagRunState.SUCCESS
    assert "Error when executing on_execute_callback" in log_of(run, "work")


@pytest.mark.django_db
def test_a_callback_that_is_not_callable_is_an_import_error(dag_file, sync):
    dag_file(
        "cb_bad.py",
        """\
import datetime
from dags_app.sdk import DAG, EmptyOperator

with DAG("cb_bad", schedule=None, start_date=datetime.datetime(2022, 1, 1)):
    EmptyOperator(task_id="t", on_failure_callback="page the on-call")
""",
    )

    report = sync()

    assert report.import_errors == 1
    error = DagImportError.objects.get()
    assert "on_failure_callback of 't' must be a callable or a list of callables" in error.stacktrace


@pytest.mark.django_db
def test_the_serialized_task_lists_the_callbacks_it_defines(dag_file, sync):
    from dags_app.models import DagModel

    dag_file(
        "cb_listed.py",
        """\
import datetime
from dags_app.sdk import DAG, EmptyOperator

def alert(context):
    pass

with DAG("cb_listed", schedule=None, start_date=datetime.datetime(2022, 1, 1)):
    EmptyOperator(task_id="t", on_failure_callback=alert, on_retry_callback=[alert])
    EmptyOperator(task_id="plain")
""",
    )
    sync()

    dag = DagModel.objects.get(dag_id="cb_listed")
    assert dag.get_task("t")["callbacks"] == ["on_failure_callback", "on_retry_callback"]
    assert dag.get_task("plain")["callbacks"] == []


# -- DAG callbacks ---------------------------------------------------------------------------------


def write_dag_with_callbacks(dag_file, sync, dag_id: str, marks_path, body: str, dag_args: str = "") -> None:
    """A DAG file whose DAG callbacks are set in the DAG(...) call (as Airflow's users write them)."""
    source = dag_source(
        dag_id,
        body=body,
        schedule="None",
        dag_args=", on_success_callback=mark('dag-success'), on_failure_callback=mark('dag-failure')" + dag_args,
    )
    helpers = (
        "import pathlib\n"
        f"MARKS = pathlib.Path({str(marks_path)!r})\n"
        "def mark(name):\n"
        "    def callback(context):\n"
        "        ti = context['ti']\n"
        "        with MARKS.open('a') as out:\n"
        "            out.write(f\"{name} {context['reason']} {context['run_id']} {ti.task_id} {ti.state}\\n\")\n"
        "    return callback\n"
    )
    head, _, rest = source.partition("with DAG(")
    dag_file(f"{dag_id}.py", head + helpers + "with DAG(" + rest)
    report = sync()
    assert report.import_errors == 0


@executes_tasks
def test_a_run_that_succeeds_calls_the_dag_success_callback_once_with_the_reason(dag_file, sync, tmp_path):
    path = tmp_path / "marks"
    write_dag_with_callbacks(dag_file, sync, "dagcb_ok", path, "    BashOperator(task_id='a', bash_command='true')\n")

    run, final = run_dag("dagcb_ok")

    assert final == DagRunState.SUCCESS
    assert marks(path) == [f"dag-success success {run.run_id} a success"]
    run.refresh_from_db()
    assert run.callback_pending == ""
    assert "Running DAG on_success_callback of dagcb_ok" in run.callback_log_path().read_text()
    # Delivered again (a duplicate job): it was taken, so nothing runs twice.
    assert execute_dag_callbacks(run_id=run.pk) == "not pending"
    assert len(marks(path)) == 1


@executes_tasks
def test_a_failed_run_calls_the_dag_failure_callback_with_the_failed_task_as_its_context(dag_file, sync, tmp_path):
    path = tmp_path / "marks"
    write_dag_with_callbacks(
        dag_file,
        sync,
        "dagcb_fail",
        path,
        "    BashOperator(task_id='broken', bash_command='exit 3')"
        " >> BashOperator(task_id='z_after', bash_command='true')\n"
        "    BashOperator(task_id='z_other', bash_command='true')\n",
    )

    run, final = run_dag("dagcb_fail")

    assert final == DagRunState.FAILED
    assert marks(path) == [f"dag-failure task_failure {run.run_id} broken failed"]


@executes_tasks
def test_an_error_in_a_dag_callback_is_logged_to_the_run_s_callback_log(dag_file, sync):
    dag_file(
        "dagcb_err.py",
        dag_source(
            "dagcb_err",
            body="    BashOperator(task_id='a', bash_command='true')\n",
            schedule="None",
            dag_args=", on_success_callback=lambda context: 1 / 0",
        ),
    )
    sync()

    run, final = run_dag("dagcb_err")

    assert final == DagRunState.SUCCESS
    log = run.callback_log_path().read_text()
    assert "Error when executing on_success_callback" in log
    assert "ZeroDivisionError" in log


@pytest.mark.django_db
def test_the_scheduler_hands_a_pending_dag_callback_out_once_and_again_only_when_stale(make_dag):
    make_dag(
        "dagcb_tick",
        body="    EmptyOperator(task_id='a')\n",
        schedule="None",
        dag_args=", on_failure_callback=print",
    )
    no_callbacks = make_dag("dagcb_none", body="    EmptyOperator(task_id='a')\n", schedule="None")
    dag = DagModel.objects.get(dag_id="dagcb_tick")
    assert dag.serialized["callbacks"] == ["on_failure_callback"]
    run = dag_trigger(dag=dag, now=NOW, logical_date=NOW)
    quiet = dag_trigger(dag=no_callbacks, now=NOW, logical_date=NOW)
    executor = InlineExecutor()

    tick(now=NOW, reparse=False, executor=executor)  # starts the runs; EmptyOperator succeeds at once
    tick(now=NOW, reparse=False, executor=executor)
    run.refresh_from_db()
    quiet.refresh_from_db()
    assert (run.state, quiet.state) == (DagRunState.SUCCESS, DagRunState.SUCCESS)
    # on_success_callback is not defined: nothing is pending for a success.
    assert (run.callback_pending, quiet.callback_pending) == ("", "")

    # Mark it failed as a worker's last write would: a failure callback is now pending.
    transitions.run_reopen(run, target=DagRunState.RUNNING, now=NOW)
    run.dag = dag
    assert transitions.run_finish(run, state=DagRunState.FAILED, now=NOW)
    run.refresh_from_db()
    assert run.callback_pending == "task_failure"

    report = tick(now=NOW, reparse=False, executor=executor)
    assert (report.dag_callbacks, executor.callbacks) == (1, [run.pk])
    assert tick(now=NOW + dt.timedelta(seconds=30), reparse=False, executor=executor).dag_callbacks == 0
    # Not taken a minute later (the job was lost): handed out again.
    assert tick(now=NOW + dt.timedelta(seconds=61), reparse=False, executor=executor).dag_callbacks == 1
    assert transitions.run_take_callback(run.pk) == "task_failure"
    assert transitions.run_take_callback(run.pk) is None
    assert tick(now=NOW + dt.timedelta(seconds=200), reparse=False, executor=executor).dag_callbacks == 0


@pytest.mark.django_db
def test_a_run_that_times_out_leaves_the_timed_out_reason(make_dag):
    dag = make_dag(
        "dagcb_timeout",
        body="    BashOperator(task_id='slow', bash_command='sleep 600')\n",
        schedule="None",
        dag_args=", dagrun_timeout=datetime.timedelta(minutes=5), on_failure_callback=print",
    )
    run = dag_trigger(dag=dag, now=NOW, logical_date=NOW)
    executor = InlineExecutor()
    tick(now=NOW, reparse=False, executor=executor)
    tick(now=NOW + dt.timedelta(minutes=6), reparse=False, executor=executor)

    run.refresh_from_db()
    assert (run.state, run.callback_pending) == (DagRunState.FAILED, "timed_out")


# -- notifiers -------------------------------------------------------------------------------------


@executes_tasks
def test_a_failed_run_posts_the_webhook_and_a_failed_task_mails_the_on_call(
    dag_file, sync, tmp_path, settings, webhook_server
):
    url, hook = webhook_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    dag_file(
        "notified.py",
        dag_source(
            "notified",
            imports="from dags_app.sdk import DAG, BashOperator, EmailNotifier, WebhookNotifier\n",
            body=(
                "    BashOperator(task_id='load', bash_command='exit 4', on_failure_callback=EmailNotifier(\n"
                "        to='oncall@example.com, lead@example.com', subject='{{ ti.task_id }} failed on {{ ds }}'))\n"
            ),
            schedule="None",
            dag_args=(
                f", on_failure_callback=[WebhookNotifier(url={url + '/hooks/ops'!r}),"
                f" WebhookNotifier(url={url + '/chat'!r},"
                " payload={'text': '{{ dag.dag_id }}: {{ reason }}'})]"
            ),
        ),
    )
    assert sync().import_errors == 0

    run, final = run_dag("notified")

    assert final == DagRunState.FAILED
    paths = [path for path, _, _ in hook.received]
    assert paths == ["/hooks/ops", "/chat"]
    _, headers, summary = hook.received[0]
    assert headers["Content-Type"] == "application/json"
    assert summary["dag_id"] == "notified"
    assert summary["run_id"] == run.run_id
    assert (summary["reason"], summary["task_id"], summary["state"]) == ("task_failure", "load", "failed")
    assert hook.received[1][2] == {"text": "notified: task_failure"}
    assert "Webhook " + url + "/chat answered 200" in run.callback_log_path().read_text()

    mails = list((tmp_path / "mail").iterdir())
    assert len(mails) == 1
    mail = mails[0].read_text()
    assert "Subject: load failed on 2022-01-01" in mail
    assert "To: oncall@example.com, lead@example.com" in mail
    assert "state: failed" in mail
    assert "exception: " in mail


@executes_tasks
def test_a_webhook_that_redirects_or_fails_is_an_error_in_the_callback_log_and_the_run_state_stands(
    dag_file, sync, webhook_server
):
    url, hook = webhook_server
    hook.status, hook.location = 302, "http://169.254.169.254/latest/meta-data"
    dag_file(
        "redirected.py",
        dag_source(
            "redirected",
            imports="from dags_app.sdk import DAG, BashOperator, WebhookNotifier\n",
            body="    BashOperator(task_id='a', bash_command='true')\n",
            schedule="None",
            dag_args=f", on_success_callback=WebhookNotifier(url={url!r}, timeout=2)",
        ),
    )
    assert sync().import_errors == 0

    run, final = run_dag("redirected")

    assert final == DagRunState.SUCCESS
    assert len(hook.received) == 1  # posted once; the redirect was not followed
    log = run.callback_log_path().read_text()
    assert "Error when executing on_success_callback" in log
    assert f"Webhook {url} answered 302" in log


@executes_tasks
def test_a_webhook_notifier_posts_to_the_url_of_a_connection_with_its_headers_and_credentials(
    dag_file, sync, webhook_server
):
    import base64

    from runs_app.services import connection_set

    url, hook = webhook_server
    port = int(url.rsplit(":", 1)[1])
    connection_set(
        conn_id="ops_hook",
        fields={
            "conn_type": "http",
            "host": "127.0.0.1",
            "port": port,
            "schema": "http",
            "login": "bot",
            "password": "hook-pw",
            "extra": {"headers": {"X-Team": "data"}},
        },
    )
    dag_file(
        "conn_hook.py",
        dag_source(
            "conn_hook",
            imports="from dags_app.sdk import DAG, BashOperator, WebhookNotifier\n",
            body="    BashOperator(task_id='load', bash_command='exit 4')\n",
            schedule="None",
            dag_args=", on_failure_callback=WebhookNotifier(conn_id='ops_hook', endpoint='/alerts/{{ dag.dag_id }}')",
        ),
    )
    assert sync().import_errors == 0

    _, final = run_dag("conn_hook")

    assert final == DagRunState.FAILED
    [(path, headers, summary)] = hook.received
    assert path == "/alerts/conn_hook"
    assert headers["X-Team"] == "data"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"bot:hook-pw").decode()
    assert summary["reason"] == "task_failure"


def test_a_webhook_notifier_without_a_url_or_with_another_scheme_says_so():
    from dags_app.sdk import AirflowException, WebhookNotifier
    from dags_app.sdk import notifier as notifier_module

    saved = notifier_module._default_webhook_url
    notifier_module.configure(webhook_url="")
    try:
        with pytest.raises(AirflowException, match="no URL: pass url=, conn_id= or set ORCHESTRATOR_WEBHOOK_URL"):
            WebhookNotifier()({"dag": None})
        with pytest.raises(AirflowException, match="only posts to http:// or https:// URLs"):
            WebhookNotifier(url="file:///etc/passwd")({"dag": None})
    finally:
        notifier_module.configure(webhook_url=saved)


# -- Airflow's alert emails (email=, email_on_failure, email_on_retry) ----------------------------


@executes_tasks
def test_a_task_with_email_gets_airflow_s_alert_on_retry_and_on_failure(write_dag, tmp_path, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    write_dag(
        "alerting",
        """\
    BashOperator(task_id="load", bash_command="exit 2", email=["oncall@example.com"], retries=1,
                 retry_delay=datetime.timedelta(0))
    BashOperator(task_id="quiet", bash_command="exit 2", email="oncall@example.com", email_on_failure=False)
""",
    )

    run, final = run_dag("alerting")

    assert final == DagRunState.FAILED
    mails = sorted(path.read_text() for path in (tmp_path / "mail").iterdir())
    # Parsed as mail: the headers fold a long subject over two lines.
    parsed = [email.message_from_string(mail, policy=email.policy.default) for mail in mails]
    subjects = sorted(str(message["Subject"]) for message in parsed)
    assert subjects == [
        f"Airflow alert: <TaskInstance: alerting.load {run.run_id} [failed]>",
        f"Airflow alert: <TaskInstance: alerting.load {run.run_id} [up_for_retry]>",
    ]
    assert any("Try 2 out of 2" in mail for mail in mails)
    assert "Sent the failed alert email to oncall@example.com" in log_of(run, "load", 2)
    assert "alert email" not in log_of(run, "quiet")


# -- callbacks of tries the scheduler's repair ended (no worker is left to call them) ------------


def zombie(make_dag, dag_id: str, task: str) -> TaskInstance:
    """Return the claimed try of ``task`` in a fresh run of ``dag_id``; its worker then went silent."""
    dag = make_dag(dag_id, body=task, schedule="None")
    dag_trigger(dag=dag, now=NOW)
    executor = InlineExecutor()
    tick(now=NOW, reparse=False, executor=executor)
    [(ti_id, try_number)] = executor.queued
    ti = task_instance_claim(ti_id=ti_id, try_number=try_number, now=NOW)
    assert ti is not None
    return ti


ZOMBIE_LATER = NOW + dt.timedelta(minutes=10)


@executes_tasks
def test_a_zombie_s_failure_callback_is_called_once_by_a_worker_after_the_repair(make_dag, tmp_path):
    path = tmp_path / "marks"
    ti = zombie(
        make_dag,
        "cb_zombie",
        CALLBACKS.format(marks=str(path)) + "    BashOperator(task_id='t', bash_command='sleep 600', **callbacks)\n",
    )
    executor = InlineExecutor()

    report = tick(now=ZOMBIE_LATER, reparse=False, executor=executor)

    [request] = TaskCallbackRequest.objects.all()
    assert (report.zombies, report.task_callbacks, executor.task_callbacks) == (1, 1, [request.pk])
    assert (request.task_instance_id, request.try_number, request.ended_state) == (ti.pk, 1, TaskInstanceState.FAILED)
    assert "Detected zombie" in request.error
    # Handed out once; again only when its job is lost (a minute later, not taken).
    assert tick(now=ZOMBIE_LATER + dt.timedelta(seconds=30), reparse=False, executor=executor).task_callbacks == 0
    assert tick(now=ZOMBIE_LATER + dt.timedelta(seconds=61), reparse=False, executor=executor).task_callbacks == 1

    assert execute_task_callbacks(request_id=request.pk) == TaskInstanceState.FAILED
    assert execute_task_callbacks(request_id=request.pk) == "not pending"  # a second delivery

    assert marks(path) == [f"failure t failed try=1 {request.error}"]
    assert not TaskCallbackRequest.objects.exists()
    text = log_of(ti.dag_run, "t")
    assert "Calling the callbacks of try 1 (failed), which the scheduler ended" in text
    assert "Running on_failure_callback" in text


@executes_tasks
def test_a_zombie_with_retries_left_calls_the_retry_callback_for_the_try_that_died(make_dag, tmp_path, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    path = tmp_path / "marks"
    ti = zombie(
        make_dag,
        "cb_zombie_retry",
        CALLBACKS.format(marks=str(path))
        + "    BashOperator(task_id='t', bash_command='sleep 600', retries=1, email='oncall@example.com',\n"
        + "                 **callbacks)\n",
    )

    tick(now=ZOMBIE_LATER, reparse=False, executor=InlineExecutor())
    ti.refresh_from_db()
    assert ti.state == TaskInstanceState.UP_FOR_RETRY
    [request] = TaskCallbackRequest.objects.all()
    # The retry starts before the callback job runs: the callback still gets the try that died.
    executor = InlineExecutor()
    tick(now=ZOMBIE_LATER + dt.timedelta(hours=1), reparse=False, executor=executor)
    assert executor.queued == [(ti.pk, 2)]
    assert task_instance_claim(ti_id=ti.pk, try_number=2, now=ZOMBIE_LATER + dt.timedelta(hours=1)) is not None
    assert request.ended_state == TaskInstanceState.UP_FOR_RETRY

    execute_task_callbacks(request_id=request.pk)

    assert marks(path) == [f"retry t up_for_retry try=1 {request.error}"]
    [mail] = (tmp_path / "mail").iterdir()
    assert "[up_for_retry]" in mail.read_text()
    assert "Sent the up_for_retry alert email to oncall@example.com" in log_of(ti.dag_run, "t", 1)


@executes_tasks
def test_a_zombie_without_callbacks_owes_nothing(make_dag):
    zombie(make_dag, "cb_zombie_none", "    BashOperator(task_id='t', bash_command='sleep 600')\n")

    report = tick(now=ZOMBIE_LATER, reparse=False, executor=InlineExecutor())

    assert (report.zombies, report.task_callbacks) == (1, 0)
    assert not TaskCallbackRequest.objects.exists()


@executes_tasks
def test_a_try_failed_for_staying_queued_owes_its_failure_callback(make_dag, tmp_path, settings):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "TASK_QUEUED_TIMEOUT": 60.0, "TASK_QUEUED_RETRIES": 0}
    path = tmp_path / "marks"
    dag = make_dag(
        "cb_stuck",
        body=CALLBACKS.format(marks=str(path)) + "    BashOperator(task_id='t', bash_command='true', **callbacks)\n",
        schedule="None",
    )
    dag_trigger(dag=dag, now=NOW)
    tick(now=NOW, reparse=False, executor=InlineExecutor())

    executor = InlineExecutor()
    tick(now=NOW + dt.timedelta(seconds=61), reparse=False, executor=executor)

    [request] = TaskCallbackRequest.objects.all()
    assert (request.ended_state, executor.task_callbacks) == (TaskInstanceState.FAILED, [request.pk])
    execute_task_callbacks(request_id=request.pk)
    assert marks(path) == [f"failure t failed try=1 {request.error}"]

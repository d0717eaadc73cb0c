"""Stored XSS: text from DAG authors and users, shown in every page that shows it, runs no script
in Chromium. Each payload sets ``window.__xss`` (or opens a dialog) if it ever runs."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.utils import timezone

from dags_app.services import dag_folder_sync
from runs_app.models import DagRun, TaskInstance, XCom
from runs_app.services import dag_trigger

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=1</script>"
PAYLOAD = f"{IMG}{SCRIPT}\"'><svg onload=window.__xss=1>"

HOSTILE_DAG = f"""
import pendulum
from dags_app.sdk import DAG, BashOperator, Param

HOSTILE = {PAYLOAD!r}
with DAG(
    "hostile",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    description=HOSTILE,
    doc_md="# Docs\\n\\n" + HOSTILE + "\\n\\n[click](javascript:window.__xss=1)",
    default_args={{"owner": HOSTILE}},
    tags=["x-tag"],
    params={{"p": Param(HOSTILE, type="string", description=HOSTILE)}},
) as dag:
    BashOperator(task_id="t", bash_command="echo hi", doc_md=HOSTILE)
"""
BROKEN = f"from dags_app.sdk import DAG  # a dag file\nraise RuntimeError({PAYLOAD!r})\n"


def test_no_author_or_user_text_runs_a_script_on_any_page(page, login, admin_user, dags_folder, live_server):
    (dags_folder / "hostile.py").write_text(HOSTILE_DAG)
    (dags_folder / "broken.py").write_text(BROKEN)
    report = dag_folder_sync(now=timezone.now(), folder=dags_folder)
    assert report.import_errors == 1
    from dags_app.models import DagModel

    dag = DagModel.objects.get(dag_id="hostile")
    run = dag_trigger(dag=dag, now=timezone.now(), conf={"k": PAYLOAD, PAYLOAD: 1}, run_id="manual_hostile")
    ti = TaskInstance.objects.get(dag_run=run)
    TaskInstance.objects.filter(pk=ti.pk).update(try_number=1, start_date=timezone.now())
    XCom.objects.create(task_instance=ti, dag_run=run, task_id="t", key="return_value", value={"v": PAYLOAD})
    log = ti.log_path(1)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"[2024-01-01 00:00:00,000] {{x.py:1}} INFO - {PAYLOAD}\n")
    assert DagRun.objects.filter(run_id="manual_hostile").exists()

    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(admin_user.username)
    base = live_server.url
    pages = [
        "/",
        "/dags/hostile/grid/",
        f"/dags/hostile/grid/?run_id={quote(run.run_id)}&task_id=t",
        f"/dags/hostile/graph/?run_id={quote(run.run_id)}",
        f"/dags/hostile/runs/{run.run_id}/",
        f"/dags/hostile/runs/{run.run_id}/tasks/t/",
        f"/dags/hostile/runs/{run.run_id}/tasks/t/log/",
        "/dags/hostile/code/",
        "/dags/hostile/details/",
        "/dags/hostile/trigger/",
        "/dags/hostile/gantt/",
        "/browse/runs/",
        "/browse/task-instances/",
        "/browse/xcoms/",
        "/browse/audit-log/",
        "/admin/runs_app/dagrun/",
        f"/admin/runs_app/dagrun/{run.pk}/change/",
        "/admin/runs_app/xcom/",
        "/admin/dags_app/dagimporterror/",
        "/admin/dags_app/dagmodel/",
    ]
    ran = []
    for path in pages:
        response = page.goto(base + path)
        assert response is not None and response.status == 200, path
        page.wait_for_load_state("networkidle")
        if page.evaluate("window.__xss") is not None:
            ran.append(path)
        if path == "/dags/hostile/grid/":
            # The doc_md link must not be a javascript: URL that a click would run.
            hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
            assert not [h for h in hrefs if h.strip().lower().startswith("javascript:")]
    assert ran == [] and dialogs == []

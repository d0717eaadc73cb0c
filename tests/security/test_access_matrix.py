"""Who may open what: every route of the URL conf (the admin's included) for anonymous, Viewer,
User, Op and Admin, by GET and by POST, against a table written here.

A route the table does not name fails the test (so a new route needs its rule), and so does a
rule naming a route that no longer exists. POSTs carry no confirmation, so an allowed role sees a
confirmation page or a form, and nothing changes for a denied one (the audit log shows it).
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from runs_app.models import AuditLog, Connection, Pool, Variable, XCom
from runs_app.services import audit_log_record, job_start
from runs_app.states import AuditEvent, JobType
from tests.web.test_dag_views import DAG_ID, make_run, write_dag

ROLES = ["anonymous", "Viewer", "User", "Op", "Admin"]
NOBODY = "nobody"  # the route answers no role (405, 404 or 403 for all)

# route -> (least role that may GET it, least role that may POST to it). Each role may do what
# the roles before it in ROLES may. Routes of the app:
APP_RULES: dict[str, tuple[str, str]] = {
    "login": ("anonymous", "anonymous"),
    "logout": (NOBODY, "anonymous"),  # POST only
    "runs:dag-list": ("Viewer", NOBODY),
    "dags:code": ("Viewer", NOBODY),
    "dags:details": ("Viewer", NOBODY),
    "runs:grid": ("Viewer", NOBODY),
    "runs:grid-fragment": ("Viewer", NOBODY),
    "runs:graph": ("Viewer", NOBODY),
    "runs:graph-states": ("Viewer", NOBODY),
    "runs:gantt": ("Viewer", NOBODY),
    "runs:calendar": ("Viewer", NOBODY),
    "runs:durations": ("Viewer", NOBODY),
    "runs:tries": ("Viewer", NOBODY),
    "runs:landing-times": ("Viewer", NOBODY),
    "runs:run": ("Viewer", NOBODY),
    "runs:task-instance": ("Viewer", NOBODY),
    "runs:task-log": ("Viewer", NOBODY),
    "runs:task-log-fragment": ("Viewer", NOBODY),
    "runs:task-log-download": ("Viewer", NOBODY),
    "runs:browse-runs": ("Viewer", NOBODY),
    "runs:browse-task-instances": ("Viewer", NOBODY),
    "runs:browse-runs-bulk": (NOBODY, "User"),  # POST only
    "runs:browse-task-instances-bulk": (NOBODY, "User"),
    "runs:browse-xcoms": ("Viewer", NOBODY),
    "runs:browse-audit-log": ("Viewer", NOBODY),
    "runs:asset-list": ("Viewer", NOBODY),
    "runs:asset-detail": ("Viewer", NOBODY),
    "runs:dag-pause": (NOBODY, "User"),
    "runs:dag-trigger": ("User", "User"),
    "runs:dag-delete": ("User", "User"),
    "runs:run-clear": ("User", "User"),
    "runs:run-mark": ("User", "User"),
    "runs:ti-run": ("User", "User"),
    "runs:ti-clear": ("User", "User"),
    "runs:ti-mark": ("User", "User"),
    "runs:set-timezone": (NOBODY, "Viewer"),  # POST only: every user picks their own zone
}

# Admin: per model, the least role that may view, add, change and delete (roles.py's permissions;
# NOBODY where the admin allows no one, e.g. rows only the system writes).
ADMIN_MODELS: dict[str, tuple[str, str, str, str]] = {
    "auth_user": ("Admin", "Admin", "Admin", "Admin"),
    "auth_group": ("Admin", "Admin", "Admin", "Admin"),
    # DAG rows come from files: pause, trigger and delete are the UI's actions (services), and
    # only an Admin (superuser) may edit a row's fields in the admin.
    "dags_app_dagmodel": ("Viewer", NOBODY, "Admin", NOBODY),
    "dags_app_dagtag": ("Viewer", NOBODY, NOBODY, NOBODY),
    "dags_app_dagfile": ("Viewer", NOBODY, NOBODY, NOBODY),
    "dags_app_dagimporterror": ("Viewer", NOBODY, NOBODY, NOBODY),
    # Runs and task instances change through the services (mark, clear), never by editing a row.
    "runs_app_dagrun": ("Viewer", NOBODY, NOBODY, NOBODY),
    "runs_app_taskinstance": ("Viewer", NOBODY, NOBODY, NOBODY),
    "runs_app_xcom": ("Viewer", NOBODY, NOBODY, NOBODY),
    "runs_app_pool": ("Viewer", "Op", "Op", "Op"),
    # Variable values may be secrets: as in Airflow, Viewer and User do not see them.
    "runs_app_variable": ("Op", "Op", "Op", "Op"),
    "runs_app_connection": ("Op", "Op", "Op", "Op"),
    "runs_app_job": ("Viewer", NOBODY, NOBODY, NOBODY),
    "runs_app_auditlog": ("Viewer", NOBODY, NOBODY, NOBODY),
    # Assets come from the parse and asset events from successes (or the scheduler): read-only.
    "dags_app_assetmodel": ("Viewer", NOBODY, NOBODY, NOBODY),
    "dags_app_assetaliasmodel": ("Viewer", NOBODY, NOBODY, NOBODY),
    "dags_app_dagassetreference": ("Viewer", NOBODY, NOBODY, NOBODY),
    "runs_app_assetevent": ("Viewer", NOBODY, NOBODY, NOBODY),
    "runs_app_assetdagrunqueue": ("Viewer", NOBODY, NOBODY, NOBODY),
    "axes_accessattempt": ("Admin", NOBODY, NOBODY, "Admin"),
    "axes_accesslog": ("Admin", NOBODY, NOBODY, "Admin"),
    "axes_accessfailurelog": ("Admin", NOBODY, NOBODY, "Admin"),
    "django_rq_dashboard": ("Admin", NOBODY, NOBODY, NOBODY),
}
ADMIN_OTHER: dict[str, tuple[str, str]] = {
    "admin:index": ("Viewer", NOBODY),
    "admin:login": ("anonymous", "anonymous"),
    "admin:logout": (NOBODY, "anonymous"),
    "admin:password_change": ("Viewer", "Viewer"),
    "admin:password_change_done": ("Viewer", NOBODY),
    "admin:autocomplete": (NOBODY, NOBODY),  # without its query parameters it refuses everyone
    "admin:jsi18n": ("Viewer", NOBODY),
    "admin:view_on_site": ("Viewer", NOBODY),
    "admin:app_list": ("Viewer", NOBODY),
    "admin:auth_user_password_change": ("Admin", "Admin"),
}
# django-rq's dashboard pages: Admins only (runs_app/admin.py re-registers them so).
DJANGO_RQ = re.compile(r"^admin:django_rq_")
DJANGO_RQ_POST_ONLY = {"admin:django_rq_stop_job"}


def _routes() -> list[tuple[str, str]]:
    """(name, regex-free path template) of every named route, the admin's included."""
    found = []

    def walk(resolver: URLResolver, prefix: str, namespace: str | None) -> None:
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                ns = pattern.namespace or namespace
                if pattern.namespace and namespace:
                    ns = f"{namespace}:{pattern.namespace}"
                walk(pattern, prefix + str(pattern.pattern), ns)
            elif isinstance(pattern, URLPattern) and pattern.name:
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                found.append((name, prefix + str(pattern.pattern)))

    walk(get_resolver(), "", None)
    # The REST API has its own matrix (tests/api/test_api_access_matrix.py): tokens, not pages.
    found = [(name, path) for name, path in found if not name.startswith("api:") and name != "api-token"]
    # Deleting the DAG (a bare POST does it, after the confirmation page) goes last.
    return sorted(found, key=lambda route: route[0] == "runs:dag-delete")


def _rule(name: str) -> tuple[str, str] | None:
    if name in APP_RULES:
        return APP_RULES[name]
    if name in ADMIN_OTHER:
        return ADMIN_OTHER[name]
    if name in DJANGO_RQ_POST_ONLY:
        return (NOBODY, "Admin")
    if DJANGO_RQ.match(name):
        return ("Admin", "Admin")
    match = re.match(r"^admin:(.+)_(changelist|add|change|delete|history)$", name)
    if match and match.group(1) in ADMIN_MODELS:
        view, add, change, delete = ADMIN_MODELS[match.group(1)]
        return {
            "changelist": (view, change),  # POST: bulk actions
            "add": (add, add),
            "change": (view, change),
            "history": (view, NOBODY),
            "delete": (delete, delete),
        }[match.group(2)]
    return None


def test_every_route_has_a_rule_and_every_rule_a_route():
    names = {name for name, _ in _routes()}
    assert sorted(n for n in names if _rule(n) is None) == []
    models = {re.sub(r"_(changelist|add|change|delete|history)$", "", n[len("admin:") :]) for n in names}
    assert sorted((set(APP_RULES) | set(ADMIN_OTHER)) - names) == []
    assert sorted(set(ADMIN_MODELS) - models) == []


def _kwarg_names(template: str) -> list[str]:
    return re.findall(r"<(?:\w+:)?(\w+)>", template) + re.findall(r"\(\?P<(\w+)>", template)


@pytest.fixture
def world(db, dag_file, sync, redis_url, admin_user, op_user, user_user, viewer_user):
    """One object of every kind a route names, and a logged-in client per role."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.contrib.auth import get_user_model
    from django.contrib.contenttypes.models import ContentType

    from dags_app.models import (
        AssetAliasModel,
        AssetModel,
        DagAssetReference,
        DagFile,
        DagImportError,
        DagModel,
        DagTag,
    )
    from runs_app.assets import asset_events_record
    from runs_app.models import AssetDagRunQueue

    dag = write_dag(dag_file, sync)
    run = make_run(dag)
    ti = run.task_instances.get(task_id="extract")
    tag = DagTag.objects.create(dag=dag, name="matrix")
    asset = AssetModel.objects.create(name="matrix", uri="s3://matrix")
    alias = AssetAliasModel.objects.create(name="matrix-alias")
    reference = DagAssetReference.objects.create(
        dag=dag, kind=DagAssetReference.Kind.OUTLET, task_id="extract", asset=asset
    )
    [asset_event] = asset_events_record(events=[{"name": asset.name, "uri": asset.uri}], now=run.logical_date, ti=ti)
    ids = {
        "auth_user": viewer_user.pk,
        "auth_group": Group.objects.get(name="Viewer").pk,
        "dags_app_dagmodel": dag.pk,
        "dags_app_dagtag": tag.pk,
        "dags_app_dagfile": DagFile.objects.first().pk,
        "dags_app_dagimporterror": DagImportError.objects.create(
            filename="/x.py", message="boom", timestamp=run.logical_date
        ).pk,
        "runs_app_dagrun": run.pk,
        "runs_app_taskinstance": ti.pk,
        "runs_app_xcom": XCom.objects.create(task_instance=ti, dag_run=run, task_id=ti.task_id, key="k", value=1).pk,
        "runs_app_pool": Pool.objects.create(name="matrix", slots=3).pk,  # default_pool cannot go
        "runs_app_variable": Variable.objects.create(key="matrix", val="v").pk,
        "runs_app_connection": Connection.objects.create(conn_id="matrix", conn_type="http").pk,
        "runs_app_job": job_start(job_type=JobType.SCHEDULER, now=run.logical_date).pk,
        "runs_app_auditlog": audit_log_record(event=AuditEvent.TRIGGER, user=None, source="test").pk,
        "axes_accessattempt": AccessAttempt.objects.create(
            username="x", ip_address="10.0.0.1", failures_since_start=1
        ).pk,
        "axes_accesslog": AccessLog.objects.create(username="x", ip_address="10.0.0.1").pk,
        "axes_accessfailurelog": AccessFailureLog.objects.create(username="x", ip_address="10.0.0.1").pk,
        "dags_app_assetmodel": asset.pk,
        "dags_app_assetaliasmodel": alias.pk,
        "dags_app_dagassetreference": reference.pk,
        "runs_app_assetevent": asset_event.pk,
        "runs_app_assetdagrunqueue": AssetDagRunQueue.objects.create(
            asset=asset, target_dag=dag, created_at=run.logical_date
        ).pk,
        "django_rq_dashboard": 1,
    }
    clients = {"anonymous": Client()}
    users = {"Viewer": viewer_user, "User": user_user, "Op": op_user, "Admin": admin_user}
    for role, user in users.items():
        clients[role] = Client()
        clients[role].force_login(user)
    values = {
        "dag_id": DAG_ID,
        "run_id": run.run_id,
        "task_id": ti.task_id,
        "state": "success",
        "id": str(get_user_model().objects.get(username="victor").pk),
        "content_type_id": str(ContentType.objects.get_for_model(DagModel).pk),
        "queue_index": "0",
        "scheduler_index": "0",
        "connection_index": "0",
        "job_id": "no-such-job",
        "key": "no-such-worker",
        "result_id": "no-such-result",
        "scheduler_name": "no-such-scheduler",
        "cron_job_name": "no-such-cron-job",
        "app_label": "runs_app",
        "token": "x",
        "url": "x",
        "asset_id": str(asset.pk),
    }
    return {"dag": DagModel.objects.get(pk=dag.pk), "ids": ids, "clients": clients, "users": users, "values": values}


def _path(name: str, template: str, world) -> str | None:
    from django.urls import NoReverseMatch, reverse

    kwargs = {}
    for kwarg in _kwarg_names(template):
        if kwarg == "object_id":
            model = re.match(r"^admin:(.+)_(change|delete|history)$", name)
            kwargs[kwarg] = str(world["ids"][model.group(1)]) if model else str(world["ids"]["dags_app_dagmodel"])
        else:
            kwargs[kwarg] = world["values"][kwarg]
    try:
        return reverse(name, kwargs=kwargs or None)
    except NoReverseMatch:
        return None


LOGOUTS = {"logout", "admin:logout"}  # their success is a redirect to the login page


def _refused(response, role: str, name: str) -> bool:
    if response.status_code in (403, 405):
        return True
    if name in LOGOUTS and response.request["REQUEST_METHOD"] == "POST":
        return False
    if response.status_code == 302:
        location = response["Location"]
        return location.startswith(("/login/", "/admin/login/")) and (role == "anonymous" or "admin" in location)
    return False


def _allowed(rule: str, role: str) -> bool:
    return rule != NOBODY and ROLES.index(role) >= ROLES.index(rule)


def _fingerprint() -> tuple:
    """What a refused POST must leave as it was."""
    from django.contrib.auth import get_user_model

    from dags_app.models import DagModel
    from runs_app.models import DagRun, TaskInstance

    return (
        AuditLog.objects.count(),
        tuple(DagModel.objects.values_list("is_paused", "is_active").order_by("pk")),
        tuple(DagRun.objects.values_list("state", flat=True).order_by("pk")),
        tuple(TaskInstance.objects.values_list("state", "try_number").order_by("pk")),
        tuple(Pool.objects.values_list("name", "slots").order_by("pk")),
        get_user_model().objects.count(),
        Group.objects.count(),
    )


def test_every_route_answers_each_role_as_its_rule_says(world):
    """GET: a role below the rule is refused (login redirect, 403, 405), one at or above it is not.
    POST (no confirmation, no form data): a role below the rule is refused or changes nothing;
    one at or above it is not refused."""
    wrong = []
    checked = 0
    for name, template in _routes():
        rule = _rule(name)
        path = _path(name, template, world)
        if rule is None or path is None:
            continue
        for method, least in zip(("get", "post"), rule, strict=True):
            for role in ROLES:
                before = _fingerprint() if method == "post" else None
                response = getattr(world["clients"][role], method)(path)
                checked += 1
                refused = _refused(response, role, name)
                if name in LOGOUTS and role != "anonymous":
                    world["clients"][role].force_login(world["users"][role])  # signed in again
                allowed = _allowed(least, role)
                where = f"{method.upper()} {name} as {role}: {response.status_code} (rule: {least})"
                if allowed and refused:
                    wrong.append(where + " refused")
                elif not allowed and not refused and (method == "get" or _fingerprint() != before):
                    wrong.append(where + " not refused" + (" and changed data" if method == "post" else ""))
    assert wrong == [], "\n".join(wrong)
    assert checked > 1000


def test_no_post_without_a_csrf_token_changes_anything(world):
    """Every route that takes a POST, as an Admin whose browser was tricked into posting: 403."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["users"]["Admin"])
    checked = 0
    for name, template in _routes():
        rule = _rule(name)
        path = _path(name, template, world)
        if rule is None or path is None or rule[1] == NOBODY:
            continue
        before = _fingerprint()
        response = client.post(path, {"confirmed": "yes", "post": "yes", "is_paused": "false"})
        checked += 1
        assert response.status_code == 403, f"POST {name} without a CSRF token: {response.status_code}"
        assert _fingerprint() == before, name
    assert checked > 30

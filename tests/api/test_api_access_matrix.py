"""Who may call what in the REST API: every operation of ``/api/v2/`` (each method of each path
in the API's URL conf) for anonymous, a user in no role, Viewer, User, Op and Admin, against a
table written here.

A route the table does not name fails the test, and so does a rule naming a route that no
longer exists: a new route needs its rule. The rule is the least role the route answers with a
2xx; below it an authenticated caller gets a 403 problem, an anonymous one a 401 (the public
routes, health, version and the docs, answer everyone). Each call runs in a savepoint rolled
back after it, so every role meets the same world, and a refused write leaves no audit log line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from api_app.api import api
from runs_app.models import AuditLog, Connection, Pool, Variable, XCom
from runs_app.services import job_start
from runs_app.states import DagRunState, JobType
from tests.api.conftest import API, API_DAG_ID, T0, ApiClient
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

ANONYMOUS, NO_ROLE = "anonymous", "no role"
ROLES = [ANONYMOUS, NO_ROLE, "Viewer", "User", "Op", "Admin"]
PUBLIC, NOBODY = ANONYMOUS, "nobody"  # NOBODY: every caller is refused (401 or 403)


@dataclass(frozen=True)
class Rule:
    """``least``: the least role that gets a 2xx; ``url`` (after ``/api/v2``, with ``{run}``,
    ``{ie}``, ``{event}``, ``{asset}``, ``{alias}`` from the world) and the JSON ``body`` to send."""

    least: str
    url: str
    body: Any = None
    # What the roles from ``least`` get: a 2xx, or the 4xx of a route that cannot do it here.
    allowed: str = "2xx"


RUN = "/dags/api_dag/dagRuns/{run}"
TI = RUN + "/taskInstances/extract"

# (method, path as the OpenAPI document writes it, after /api/v2) -> rule
RULES: dict[tuple[str, str], Rule] = {
    # docs
    ("GET", "/docs"): Rule(PUBLIC, "/docs"),
    ("GET", "/openapi.json"): Rule(PUBLIC, "/openapi.json"),
    # monitor, version: for load balancers and the client's version check
    ("GET", "/monitor/health"): Rule(PUBLIC, "/monitor/health"),
    ("GET", "/version"): Rule(PUBLIC, "/version"),
    # to the sign-in page, and out of the web session
    ("GET", "/auth/login"): Rule(PUBLIC, "/auth/login?next=/dags/", allowed="307"),
    ("GET", "/auth/logout"): Rule(PUBLIC, "/auth/logout", allowed="307"),
    # DAGs
    ("GET", "/dags"): Rule("Viewer", "/dags"),
    ("PATCH", "/dags"): Rule("User", "/dags?dag_id_pattern=api", {"is_paused": False}),
    ("GET", "/dags/{dag_id}"): Rule("Viewer", "/dags/api_dag"),
    ("PATCH", "/dags/{dag_id}"): Rule("User", "/dags/api_dag", {"is_paused": False}),
    ("DELETE", "/dags/{dag_id}"): Rule("User", "/dags/api_dag"),
    ("GET", "/dags/{dag_id}/details"): Rule("Viewer", "/dags/api_dag/details"),
    ("GET", "/dags/{dag_id}/tasks"): Rule("Viewer", "/dags/api_dag/tasks"),
    ("GET", "/dags/{dag_id}/tasks/{task_id}"): Rule("Viewer", "/dags/api_dag/tasks/extract"),
    # DAG runs
    ("GET", "/dags/{dag_id}/dagRuns"): Rule("Viewer", "/dags/~/dagRuns"),
    ("POST", "/dags/{dag_id}/dagRuns"): Rule("User", "/dags/api_dag/dagRuns", {"logical_date": None, "conf": {}}),
    ("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}"): Rule("Viewer", RUN),
    ("PATCH", "/dags/{dag_id}/dagRuns/{dag_run_id}"): Rule("User", RUN, {"state": "success"}),
    ("DELETE", "/dags/{dag_id}/dagRuns/{dag_run_id}"): Rule("User", RUN),
    ("POST", "/dags/{dag_id}/dagRuns/{dag_run_id}/clear"): Rule("User", RUN + "/clear", {"dry_run": False}),
    ("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/wait"): Rule("Viewer", RUN + "/wait?interval=0.01"),
    ("PUT", "/parseDagFile/{file_token}"): Rule("User", "/parseDagFile/{token}"),
    # task instances, logs, XComs
    ("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances"): Rule("Viewer", "/dags/~/dagRuns/~/taskInstances"),
    ("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}"): Rule("Viewer", TI),
    ("PATCH", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}"): Rule(
        "User", TI, {"new_state": "success"}
    ),
    ("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}"): Rule("Viewer", TI + "/-1"),
    ("POST", "/dags/{dag_id}/clearTaskInstances"): Rule(
        "User", "/dags/api_dag/clearTaskInstances", {"dry_run": False, "dag_run_id": "{run}"}
    ),
    ("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}"): Rule(
        "Viewer", TI + "/logs/1"
    ),
    ("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries"): Rule(
        "Viewer", TI + "/xcomEntries"
    ),
    ("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}"): Rule(
        "Viewer", TI + "/xcomEntries/return_value"
    ),
    ("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries"): Rule("Viewer", TI + "/tries"),
    ("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}/tries"): Rule(
        "Viewer", TI + "/-1/tries"
    ),
    ("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries/{task_try_number}"): Rule(
        "Viewer", TI + "/tries/1"
    ),
    ("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}/tries/{task_try_number}"): Rule(
        "Viewer", TI + "/-1/tries/1"
    ),
    ("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/dependencies"): Rule(
        "Viewer", TI + "/dependencies"
    ),
    ("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}/dependencies"): Rule(
        "Viewer", TI + "/-1/dependencies"
    ),
    ("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/links"): Rule("Viewer", TI + "/links"),
    # No external log system: a 400 for everyone who may read the task instance.
    ("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/externalLogUrl/{try_number}"): Rule(
        "Viewer", TI + "/externalLogUrl/1", allowed="400"
    ),
    ("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/listMapped"): Rule(
        "Viewer", TI + "/listMapped"
    ),
    ("PATCH", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/dry_run"): Rule(
        "Viewer", TI + "/dry_run", {"new_state": "success"}
    ),
    ("PATCH", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}/dry_run"): Rule(
        "Viewer", TI + "/-1/dry_run", {"new_state": "success"}
    ),
    ("PATCH", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}"): Rule(
        "User", TI + "/-1", {"new_state": "success"}
    ),
    ("POST", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/list"): Rule(
        "Viewer", "/dags/~/dagRuns/~/taskInstances/list", {"dag_ids": ["api_dag"]}
    ),
    ("POST", "/dags/{dag_id}/dagRuns/list"): Rule("Viewer", "/dags/~/dagRuns/list", {"states": ["failed"]}),
    # XComs by hand: Op (as Airflow's Op role)
    ("POST", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries"): Rule(
        "Op", TI + "/xcomEntries", {"key": "new_key", "value": {"a": 1}}
    ),
    ("PATCH", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}"): Rule(
        "Op", TI + "/xcomEntries/return_value", {"value": 2}
    ),
    ("DELETE", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}"): Rule(
        "Op", TI + "/xcomEntries/return_value"
    ),
    # import errors, event logs
    ("GET", "/importErrors"): Rule("Viewer", "/importErrors"),
    ("GET", "/importErrors/{import_error_id}"): Rule("Viewer", "/importErrors/{ie}"),
    ("GET", "/eventLogs"): Rule("Viewer", "/eventLogs"),
    ("GET", "/eventLogs/{event_log_id}"): Rule("Viewer", "/eventLogs/{event}"),
    # pools: everyone reads them, Op manages them
    ("GET", "/pools"): Rule("Viewer", "/pools"),
    ("POST", "/pools"): Rule("Op", "/pools", {"name": "new_pool", "slots": 3}),
    ("PATCH", "/pools"): Rule(
        "Op", "/pools", {"actions": [{"action": "create", "entities": [{"name": "bulk_pool", "slots": 1}]}]}
    ),
    ("GET", "/pools/{pool_name}"): Rule("Viewer", "/pools/matrix_pool"),
    ("PATCH", "/pools/{pool_name}"): Rule("Op", "/pools/matrix_pool", {"pool": "matrix_pool", "slots": 5}),
    ("DELETE", "/pools/{pool_name}"): Rule("Op", "/pools/matrix_pool"),
    # variables and connections hold secrets: Viewer and User do not even read them
    ("GET", "/variables"): Rule("Op", "/variables"),
    ("POST", "/variables"): Rule("Op", "/variables", {"key": "new_var", "value": "v"}),
    ("PATCH", "/variables"): Rule(
        "Op", "/variables", {"actions": [{"action": "create", "entities": [{"key": "bulk_var", "value": "v"}]}]}
    ),
    ("GET", "/variables/{variable_key}"): Rule("Op", "/variables/matrix_var"),
    ("PATCH", "/variables/{variable_key}"): Rule("Op", "/variables/matrix_var", {"key": "matrix_var", "value": "w"}),
    ("DELETE", "/variables/{variable_key}"): Rule("Op", "/variables/matrix_var"),
    ("GET", "/connections"): Rule("Op", "/connections"),
    ("POST", "/connections"): Rule("Op", "/connections", {"connection_id": "new_conn", "conn_type": "http"}),
    ("PATCH", "/connections"): Rule(
        "Op",
        "/connections",
        {"actions": [{"action": "create", "entities": [{"connection_id": "bulk_conn", "conn_type": "http"}]}]},
    ),
    # Testing a connection is disabled, as Airflow's default [core] test_connection = Disabled.
    ("POST", "/connections/test"): Rule(NOBODY, "/connections/test", {"connection_id": "t", "conn_type": "http"}),
    ("POST", "/connections/enqueue-test"): Rule(NOBODY, "/connections/enqueue-test", {}),
    ("GET", "/connections/enqueue-test"): Rule(NOBODY, "/connections/enqueue-test"),
    ("POST", "/connections/defaults"): Rule("Op", "/connections/defaults"),
    ("GET", "/connections/{connection_id}"): Rule("Op", "/connections/matrix_conn"),
    ("PATCH", "/connections/{connection_id}"): Rule(
        "Op", "/connections/matrix_conn", {"connection_id": "matrix_conn", "conn_type": "http", "host": "example.org"}
    ),
    ("DELETE", "/connections/{connection_id}"): Rule("Op", "/connections/matrix_conn"),
    # assets: everyone reads them; an event by hand is a trigger
    ("GET", "/assets"): Rule("Viewer", "/assets"),
    ("GET", "/assets/aliases"): Rule("Viewer", "/assets/aliases"),
    ("GET", "/assets/aliases/{asset_alias_id}"): Rule("Viewer", "/assets/aliases/{alias}"),
    ("GET", "/assets/events"): Rule("Viewer", "/assets/events"),
    ("POST", "/assets/events"): Rule("User", "/assets/events", {"asset_id": "{asset}"}),
    ("GET", "/assets/{asset_id}"): Rule("Viewer", "/assets/{asset}"),
    ("POST", "/assets/{asset_id}/materialize"): Rule("User", "/assets/{asset}/materialize", {}),
    ("GET", "/assets/{asset_id}/queuedEvents"): Rule("Viewer", "/assets/{asset}/queuedEvents"),
    ("GET", "/dags/{dag_id}/assets/queuedEvents"): Rule("Viewer", "/dags/api_dag/assets/queuedEvents"),
    ("DELETE", "/assets/{asset_id}/queuedEvents"): Rule("User", "/assets/{asset}/queuedEvents"),
    ("DELETE", "/dags/{dag_id}/assets/queuedEvents"): Rule("User", "/dags/api_dag/assets/queuedEvents"),
    ("DELETE", "/dags/{dag_id}/assets/{asset_id}/queuedEvents"): Rule(
        "User", "/dags/api_dag/assets/{asset}/queuedEvents"
    ),
    ("GET", "/dags/{dag_id}/assets/{asset_id}/queuedEvents"): Rule(
        "Viewer", "/dags/api_dag/assets/{asset}/queuedEvents"
    ),
    ("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/upstreamAssetEvents"): Rule("Viewer", RUN + "/upstreamAssetEvents"),
    # the rest
    ("GET", "/dagSources/{dag_id}"): Rule("Viewer", "/dagSources/api_dag"),
    ("GET", "/dags/{dag_id}/dagVersions"): Rule("Viewer", "/dags/api_dag/dagVersions"),
    ("GET", "/dags/{dag_id}/dagVersions/{version_number}"): Rule("Viewer", "/dags/api_dag/dagVersions/1"),
    ("GET", "/dagStats"): Rule("Viewer", "/dagStats"),
    ("GET", "/dagTags"): Rule("Viewer", "/dagTags"),
    ("GET", "/jobs"): Rule("Viewer", "/jobs"),
    ("GET", "/plugins"): Rule("Viewer", "/plugins"),
    ("GET", "/plugins/importErrors"): Rule("Viewer", "/plugins/importErrors"),
    ("GET", "/providers"): Rule("Viewer", "/providers"),
    # The configuration is never shown, as Airflow's default [api] expose_config = False.
    ("GET", "/config"): Rule(NOBODY, "/config"),
    ("GET", "/config/section/{section}/option/{option}"): Rule(NOBODY, "/config/section/core/option/dags_folder"),
}


def _api_routes() -> set[tuple[str, str]]:
    """(method, path) of every operation the API serves: its OpenAPI document's, and the URL
    patterns that are not operations (the docs) with the methods their views answer."""
    routes = {
        (method.upper(), path.removeprefix(API))
        for path, operations in api.get_openapi_schema()["paths"].items()
        for method in operations
    }
    documented = {re.sub(r"\{(?:\w+:)?(\w+)\}", r"<\1>", path).lstrip("/") for _, path in routes}
    for pattern in api.urls[0]:
        template = re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", str(pattern.pattern))
        if template and template not in documented:
            routes.add(("GET", "/" + re.sub(r"<(\w+)>", r"{\1}", template)))
    return routes


def test_every_api_route_has_a_rule_and_every_rule_a_route():
    routes = _api_routes()
    assert sorted(routes - RULES.keys()) == [], "give each new route a rule in RULES"
    assert sorted(RULES.keys() - routes) == [], "these rules name routes that no longer exist"


def test_the_openapi_document_marks_exactly_the_public_routes_as_needing_no_auth():
    schema = api.get_openapi_schema()
    open_routes = {
        (method.upper(), path.removeprefix(API))
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if not operation.get("security")
    }
    assert open_routes == {key for key, rule in RULES.items() if rule.least == PUBLIC} - {
        ("GET", "/docs"),
        ("GET", "/openapi.json"),
    }


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """The personas' passwords hashed quickly (the hasher is not what this test checks)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(api_dag, make_run, redis_url, admin_user, op_user, user_user, viewer_user, outsider, settings):
    """One object of every kind a route names; returns the ids the rules' URLs take."""
    from dags_app.models import AssetAliasModel, AssetModel, DagAssetReference, DagImportError
    from dags_app.services import dag_file_token
    from runs_app.assets import asset_events_record
    from runs_app.models import AssetDagRunQueue

    run = make_run(api_dag, 0, state=DagRunState.FAILED)
    ti = run.task_instances.select_related("dag_run__dag").get(task_id="extract")
    log = ti.log_path(1)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("a line\n")
    XCom.objects.create(task_instance=ti, dag_run=run, task_id="extract", key="return_value", value=1)
    error = DagImportError.objects.create(filename=str(settings.DAGS_FOLDER / "broken.py"), message="x", timestamp=T0)
    event = AuditLog.objects.create(event="trigger", source="cli", dag_id=API_DAG_ID)
    Pool.objects.create(name="matrix_pool", slots=2)
    Variable.objects.create(key="matrix_var", val="v")
    Connection.objects.create(conn_id="matrix_conn", conn_type="http")
    asset = AssetModel.objects.create(name="matrix", uri="s3://matrix")
    alias = AssetAliasModel.objects.create(name="matrix-alias")
    asset_events_record(events=[{"name": asset.name, "uri": asset.uri}], now=run.logical_date, ti=ti)
    AssetDagRunQueue.objects.get_or_create(asset=asset, target_dag=api_dag, defaults={"created_at": T0})
    DagAssetReference.objects.create(dag=api_dag, kind=DagAssetReference.Kind.OUTLET, task_id="load", asset=asset)
    job_start(job_type=JobType.SCHEDULER, now=timezone.now())
    users = {"no role": outsider, "Viewer": viewer_user, "User": user_user, "Op": op_user, "Admin": admin_user}
    ids = {
        "run": run.run_id,
        "ie": error.pk,
        "event": event.pk,
        "asset": asset.pk,
        "alias": alias.pk,
        "token": dag_file_token(api_dag.fileloc),
    }
    return ids, users


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        if re.fullmatch(r"\{\w+\}", value):
            return ids[value[1:-1]]
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def _expected(rule: Rule, role: str) -> str:
    if rule.least == PUBLIC:
        return rule.allowed
    if role == ANONYMOUS:
        return "401"
    allowed = rule.least != NOBODY and role != NO_ROLE and ROLES.index(role) >= ROLES.index(rule.least)
    return rule.allowed if allowed else "403"


def _call(client: ApiClient, method: str, url: str, body: Any):
    if method in ("POST", "PATCH"):
        return getattr(client, f"{method.lower()}_json")(url, body)
    return getattr(client, method.lower())(url)


def _routes_in_order() -> list[tuple[str, str]]:
    """The rules' routes, deletions last (a deleted file or log is not rolled back)."""
    return sorted(RULES, key=lambda route: (route[0] == "DELETE", route))


def test_every_route_answers_each_role_as_its_rule_says(world, api_client):
    ids, users = world
    clients = {role: api_client(users.get(role)) for role in ROLES}
    wrong = {}
    for method, path in _routes_in_order():
        rule = RULES[(method, path)]
        url = API + _fill(rule.url, ids)
        body = _fill(rule.body, ids)
        answers = {}
        for role in ROLES:
            audit_lines = AuditLog.objects.count()
            with transaction.atomic():
                response = _call(clients[role], method, url, body)
                status = response.status_code
                if 200 <= status < 300:
                    answers[role] = "2xx"
                else:
                    answers[role] = str(status)
                    if status < 400:  # a redirect: no body to check
                        pass
                    elif response.get("Content-Type", "").startswith("application/json"):
                        if response.json().keys() != {"detail"}:
                            answers[role] += " (not a problem JSON)"
                    else:
                        answers[role] += f" ({response.get('Content-Type')})"
                    if AuditLog.objects.count() != audit_lines:
                        answers[role] += " (and an audit line was added)"
                transaction.set_rollback(True)
        expected = {role: _expected(rule, role) for role in ROLES}
        if answers != expected:
            wrong[f"{method} {path}"] = " ".join(f"{role}={answers[role]}/{expected[role]}" for role in ROLES)
    assert wrong == {}, "\n".join(f"{k}: {v}" for k, v in wrong.items())


def test_a_token_is_given_to_anyone_with_a_password(world):
    client = ApiClient()
    for username in ("charlie", "victor", "ursula", "oscar", "alice"):
        response = client.post_json("/auth/token", {"username": username, "password": PASSWORD})
        assert response.status_code == 201, username


# -- a DAG's access_control ----------------------------------------------------------------------------

SECRET_DAG_ID = "secret_dag"
# team_a may read the DAG and nothing more; team_b is not named: the DAG does not exist for it.
SECRET_ACL = {"team_a": {"can_read"}}


@pytest.fixture
def secret_world(world, dag_file, sync, make_run, django_user_model):
    """``secret_dag`` (read by team_a only) with a run like api_dag's; ann (User, team_a) and ben
    (User, team_b). Returns (ids, {name: client})."""
    from django.contrib.auth.models import Group

    from dags_app.models import DagModel
    from orchestrator_site.accounts import user_add_role
    from tests.api.conftest import API_DAG_SOURCE
    from tests.conftest import _make_user

    ids, _ = world
    source = API_DAG_SOURCE.format(dag_id=SECRET_DAG_ID).replace(
        "catchup=False,", f"catchup=False, access_control={SECRET_ACL!r},"
    )
    dag_file(f"{SECRET_DAG_ID}.py", source)
    assert sync().import_errors == 0
    secret = DagModel.objects.get(dag_id=SECRET_DAG_ID)
    run = make_run(secret, 0, state=DagRunState.FAILED)
    assert run.run_id == ids["run"]
    ti = run.task_instances.get(task_id="extract")
    XCom.objects.create(task_instance=ti, dag_run=run, task_id="extract", key="return_value", value=1)
    AuditLog.objects.create(event="trigger", source="cli", dag_id=SECRET_DAG_ID)
    users = {}
    for name, team in (("ann", "team_a"), ("ben", "team_b")):
        Group.objects.get_or_create(name=team)
        users[name] = _make_user(django_user_model, "User", name)
        user_add_role(username=name, role=team)
    return ids, users


def _dag_routes() -> list[tuple[str, str]]:
    """The routes of one DAG: their rule's URL names api_dag."""
    return [route for route in _routes_in_order() if RULES[route].url.startswith("/dags/api_dag")]


def _secret_url(route: tuple[str, str], ids: dict[str, Any]) -> tuple[str, Any]:
    rule = RULES[route]
    url = API + _fill(rule.url, ids).replace("/dags/api_dag", f"/dags/{SECRET_DAG_ID}", 1)
    return url, _fill(rule.body, ids)


def test_a_dag_hidden_by_its_access_control_is_a_404_on_each_of_its_routes(secret_world, api_client):
    ids, users = secret_world
    ben = api_client(users["ben"])
    answers = {}
    for route in _dag_routes():
        url, body = _secret_url(route, ids)
        with transaction.atomic():
            response = _call(ben, route[0], url, body)
            answers[f"{route[0]} {route[1]}"] = response.status_code
            transaction.set_rollback(True)
    assert {route: status for route, status in answers.items() if status != 404} == {}


def test_a_dag_hidden_by_its_access_control_is_left_out_of_every_list(secret_world, api_client):
    ids, users = secret_world
    ben, ann = api_client(users["ben"]), api_client(users["ann"])
    lists = [
        API + _fill(RULES[route].url, ids)
        for route in _routes_in_order()
        if route[0] == "GET" and not RULES[route].url.startswith("/dags/api_dag") and RULES[route].least == "Viewer"
    ]
    leaks = {url: ben.get(url).status_code for url in lists if SECRET_DAG_ID in ben.get(url).content.decode()}
    assert leaks == {}
    # ... while team_a sees it where the DAG's rows are listed.
    for url in (f"{API}/dags", f"{API}/dags/~/dagRuns", f"{API}/dags/~/dagRuns/~/taskInstances", f"{API}/eventLogs"):
        assert SECRET_DAG_ID in ann.get(url).content.decode(), url


def test_a_dag_that_gives_a_team_read_only_refuses_its_writes_with_403(secret_world, api_client):
    ids, users = secret_world
    ann = api_client(users["ann"])
    answers = {}
    for route in _dag_routes():
        url, body = _secret_url(route, ids)
        with transaction.atomic():
            response = _call(ann, route[0], url, body)
            answers[f"{route[0]} {route[1]}"] = response.status_code
            transaction.set_rollback(True)
    # A read-only DAG answers what a Viewer may do (reads, dry runs) and refuses the rest.
    expected = {
        f"{m} {p}": (200 if RULES[(m, p)].allowed == "2xx" else int(RULES[(m, p)].allowed))
        if RULES[(m, p)].least == "Viewer"
        else 403
        for m, p in _dag_routes()
    }
    # Its queued asset events and upstream events exist only for api_dag's run and asset.
    for route in ("GET /dags/{dag_id}/assets/{asset_id}/queuedEvents",):
        expected[route] = 404
    assert answers == expected

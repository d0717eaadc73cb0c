"""``/api/v2/dagSources``, ``/dagStats``, ``/dagTags``, ``/jobs``, ``/plugins``, ``/providers`` and
``/config``: Airflow's shapes read by the official client, access controls and errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import airflow_client.client as ac
import pytest
from django.utils import timezone

from dags_app.models import DagModel
from runs_app import services
from runs_app.models import Job
from runs_app.states import DagRunState, JobType
from tests.api.conftest import API, write_api_dag

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(api_client, viewer_user):
    return api_client(viewer_user)


# -- /dagSources -----------------------------------------------------------------------------------


def test_dag_source_is_the_files_code_as_json_or_text(viewer, api_dag):
    code = Path(api_dag.fileloc).read_text()

    as_json = viewer.get(f"{API}/dagSources/api_dag")
    as_text = viewer.get(f"{API}/dagSources/api_dag", HTTP_ACCEPT="text/plain")

    source = ac.DAGSourceResponse.from_dict(as_json.json())
    assert (source.dag_id, source.dag_display_name, source.content, source.version_number) == (
        "api_dag",
        "api_dag",
        code,
        1,
    )
    assert as_text.status_code == 200 and as_text["Content-Type"].startswith("text/plain")
    assert as_text.content.decode() == code


def test_dag_versions_list_each_change_and_keep_each_versions_source(viewer, api_dag, dag_file, sync, make_run):
    from tests.api.conftest import API_DAG_SOURCE

    first_run = make_run(api_dag, 0)
    first_code = Path(api_dag.fileloc).read_text()
    dag_file("api_dag.py", API_DAG_SOURCE.format(dag_id="api_dag").replace("echo", "echo v2"))
    sync()
    api_dag.refresh_from_db()
    second_run = make_run(api_dag, 1)

    versions = viewer.get(f"{API}/dags/api_dag/dagVersions").json()
    old = viewer.get(f"{API}/dagSources/api_dag?version_number=1").json()
    new = viewer.get(f"{API}/dagSources/api_dag").json()

    assert [v["version_number"] for v in versions["dag_versions"]] == [1, 2]
    assert versions["dag_versions"][0]["bundle_name"] == "dags-folder"
    assert (old["content"], old["version_number"]) == (first_code, 1)
    assert "echo v2" in new["content"] and new["version_number"] == 2
    assert viewer.get(f"{API}/dags/api_dag/dagVersions/2").json()["version_number"] == 2
    assert viewer.get(f"{API}/dags/api_dag/dagVersions/3").status_code == 404
    assert viewer.get(f"{API}/dagSources/api_dag?version_number=3").status_code == 404
    run_url = f"{API}/dags/api_dag/dagRuns"
    runs = {r["dag_run_id"]: r["dag_versions"] for r in viewer.get(run_url).json()["dag_runs"]}
    assert [v["version_number"] for v in runs[first_run.run_id]] == [1]
    assert [v["version_number"] for v in runs[second_run.run_id]] == [2]
    ti = viewer.get(f"{run_url}/{second_run.run_id}/taskInstances/extract").json()
    assert ti["dag_version"]["version_number"] == 2


def test_dag_source_of_a_file_outside_the_dag_folder_is_not_read(viewer, api_dag, tmp_path):
    outside = tmp_path / "secret.py"
    outside.write_text("PASSWORD = 'x'")
    DagModel.objects.filter(pk=api_dag.pk).update(fileloc=str(outside))

    source = viewer.get(f"{API}/dagSources/api_dag").json()

    assert source["content"] is None


def test_dag_source_errors(viewer, api_dag):
    assert viewer.get(f"{API}/dagSources/nope").status_code == 404
    assert viewer.get(f"{API}/dagSources/api_dag", {"version_number": 3}).status_code == 404
    refused = viewer.get(f"{API}/dagSources/api_dag", HTTP_ACCEPT="text/html")
    assert refused.status_code == 406
    assert refused.json() == {"detail": "Only application/json or text/plain is supported"}


def test_dag_source_of_a_dag_hidden_from_the_user_is_a_404(viewer, api_dag):
    DagModel.objects.filter(pk=api_dag.pk).update(access_control={"Admin": ["can_read"]})

    assert viewer.get(f"{API}/dagSources/api_dag").status_code == 404


# -- /dagStats -------------------------------------------------------------------------------------


def test_dag_stats_count_the_runs_of_each_dag_in_each_state(viewer, api_dag, make_run, dag_file, sync):
    other = write_api_dag(dag_file, sync, "other_dag")
    make_run(api_dag, 0, state=DagRunState.SUCCESS)
    make_run(api_dag, 1, state=DagRunState.SUCCESS)
    make_run(api_dag, 2, state=DagRunState.FAILED)
    make_run(other, 0, state=DagRunState.RUNNING)

    response = viewer.get(f"{API}/dagStats")
    only = viewer.get(f"{API}/dagStats", {"dag_ids": "other_dag"}).json()

    body = ac.DagStatsCollectionResponse.from_dict(response.json())
    assert body.total_entries == 2
    counts = {d.dag_id: {s.state.value: s.count for s in d.stats} for d in body.dags}
    assert counts == {
        "api_dag": {"queued": 0, "running": 0, "success": 2, "failed": 1},
        "other_dag": {"queued": 0, "running": 1, "success": 0, "failed": 0},
    }
    assert [d["dag_id"] for d in only["dags"]] == ["other_dag"]


def test_dag_stats_leave_out_dags_hidden_from_the_user(viewer, api_dag):
    DagModel.objects.filter(pk=api_dag.pk).update(access_control={"Admin": ["can_read"]})

    assert viewer.get(f"{API}/dagStats").json() == {"dags": [], "total_entries": 0}


def test_dag_stats_are_one_query_whatever_the_number_of_dags(viewer, api_dag, make_run, django_assert_max_num_queries):
    make_run(api_dag, 0)
    with django_assert_max_num_queries(20) as few:
        viewer.get(f"{API}/dagStats")
    for i in range(29):
        DagModel.objects.create(dag_id=f"copy_{i:02}", fileloc=api_dag.fileloc)

    with django_assert_max_num_queries(len(few)):
        assert viewer.get(f"{API}/dagStats").json()["total_entries"] == 30


# -- /dagTags --------------------------------------------------------------------------------------


def test_dag_tags_are_the_distinct_tag_names_of_readable_dags(viewer, api_dag, dag_file, sync):
    write_api_dag(dag_file, sync, "other_dag")

    response = viewer.get(f"{API}/dagTags")
    descending = viewer.get(f"{API}/dagTags", {"order_by": "-name"}).json()
    filtered = viewer.get(f"{API}/dagTags", {"tag_name_pattern": "ex"}).json()
    paged = viewer.get(f"{API}/dagTags", {"limit": 1, "offset": 1}).json()

    body = ac.DAGTagCollectionResponse.from_dict(response.json())
    assert (body.tags, body.total_entries) == (["api", "example"], 2)
    assert descending["tags"] == ["example", "api"]
    assert filtered == {"tags": ["example"], "total_entries": 1}
    assert paged == {"tags": ["example"], "total_entries": 2}
    assert viewer.get(f"{API}/dagTags", {"order_by": "dag_id"}).status_code == 400


def test_dag_tags_of_dags_hidden_from_the_user_are_left_out(viewer, api_dag):
    DagModel.objects.filter(pk=api_dag.pk).update(access_control={"Admin": ["can_read"]})

    assert viewer.get(f"{API}/dagTags").json() == {"tags": [], "total_entries": 0}


# -- /jobs -----------------------------------------------------------------------------------------


def test_jobs_are_the_scheduler_and_worker_heartbeats(viewer):
    now = timezone.now()
    scheduler = services.job_start(job_type=JobType.SCHEDULER, now=now)
    worker = services.job_start(job_type=JobType.WORKER, now=now - dt.timedelta(hours=2))
    ended = services.job_start(job_type=JobType.SCHEDULER, now=now - dt.timedelta(hours=1))
    services.job_end(job=ended, now=now - dt.timedelta(minutes=30))

    response = viewer.get(f"{API}/jobs")
    alive = viewer.get(f"{API}/jobs", {"is_alive": "true"}).json()
    schedulers = viewer.get(f"{API}/jobs", {"job_type": "SchedulerJob", "job_state": "running"}).json()

    body = ac.JobCollectionResponse.from_dict(response.json())
    assert body.total_entries == 3
    rows = {j.id: (j.job_type, j.state, j.hostname is not None, j.end_date is None) for j in body.jobs}
    assert rows == {
        scheduler.pk: ("SchedulerJob", "running", True, True),
        worker.pk: ("WorkerJob", "running", True, True),
        ended.pk: ("SchedulerJob", "success", True, False),
    }
    assert [j["id"] for j in alive["jobs"]] == [scheduler.pk]
    assert [j["id"] for j in schedulers["jobs"]] == [scheduler.pk]


def test_job_list_filters_by_date_and_is_a_fixed_number_of_queries(viewer, django_assert_max_num_queries):
    now = timezone.now()
    for i in range(2):
        services.job_start(job_type=JobType.WORKER, now=now - dt.timedelta(days=i))
    with django_assert_max_num_queries(20) as few:
        assert viewer.get(f"{API}/jobs").json()["total_entries"] == 2
    for i in range(2, 30):
        services.job_start(job_type=JobType.WORKER, now=now - dt.timedelta(days=i))

    with django_assert_max_num_queries(len(few)):
        assert len(viewer.get(f"{API}/jobs").json()["jobs"]) == 30
    recent = viewer.get(f"{API}/jobs", {"start_date_gte": (now - dt.timedelta(days=1, hours=1)).isoformat()}).json()
    assert recent["total_entries"] == 2
    assert Job.objects.count() == 30


# -- /plugins, /providers, /config ---------------------------------------------------------------


def test_there_are_no_plugins(viewer):
    plugins = ac.PluginCollectionResponse.from_dict(viewer.get(f"{API}/plugins").json())
    errors = ac.PluginImportErrorCollectionResponse.from_dict(viewer.get(f"{API}/plugins/importErrors").json())

    assert (plugins.plugins, plugins.total_entries) == ([], 0)
    assert (errors.import_errors, errors.total_entries) == ([], 0)


def test_the_standard_provider_is_the_only_provider(viewer):
    body = ac.ProviderCollectionResponse.from_dict(viewer.get(f"{API}/providers").json())

    assert body.total_entries == 1
    [provider] = body.providers
    assert (provider.package_name, provider.version) == ("apache-airflow-providers-standard", "1.21.0")


def test_the_configuration_is_never_exposed(api_client, admin_user):
    admin = api_client(admin_user)

    whole = admin.get(f"{API}/config")
    one = admin.get(f"{API}/config/section/core/option/fernet_key")

    detail = "Your Airflow administrator chose not to expose the configuration, most likely for security reasons."
    assert (whole.status_code, whole.json()) == (403, {"detail": detail})
    assert (one.status_code, one.json()) == (403, {"detail": detail})
    assert api_client(None).get(f"{API}/config").status_code == 401


def test_users_without_a_role_are_refused(api_client, outsider, api_dag):
    client = api_client(outsider)

    for path in ("dagStats", "dagTags", "jobs", "plugins", "providers", "dagSources/api_dag"):
        assert client.get(f"{API}/{path}").status_code == 403, path


def test_auth_login_redirects_to_the_sign_in_page_with_a_safe_next_only(db):
    from django.test import Client

    client = Client()
    response = client.get("/api/v2/auth/login?next=/dags/x/grid/")
    assert (response.status_code, response["Location"]) == (307, "/login/?next=%2Fdags%2Fx%2Fgrid%2F")
    assert client.get("/api/v2/auth/login").headers["Location"] == "/login/"
    unsafe = client.get("/api/v2/auth/login?next=https://evil.example/")
    assert unsafe.status_code == 400 and unsafe.json() == {"detail": "Invalid or unsafe next URL"}


def test_auth_logout_ends_the_web_session(admin_user):
    from django.test import Client

    client = Client()
    client.force_login(admin_user)
    assert client.get("/api/v2/dags").status_code == 200
    response = client.get("/api/v2/auth/logout")
    assert (response.status_code, response["Location"]) == (307, "/login/")
    assert client.get("/api/v2/dags").status_code == 401

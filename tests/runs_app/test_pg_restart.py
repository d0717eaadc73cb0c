"""PostgreSQL restarted while a task's final write is due, and while the scheduler ticks [PG].

The test has a PostgreSQL server of its own (``private_postgres``), so that stopping it leaves
the other tests' server alone. A worker and a scheduler run against it; a counter task signals
that it runs and waits, then the server is stopped (``pg_ctl stop -m fast``: every connection is cut, as
a restart does) so that the task ends with the database gone. The server is started again once
the worker has said it is waiting to record the outcome. The try's result must not be lost: it
is recorded once the database is back, the task ran once, its downstream ran once, and the
scheduler went through the outage with one line per tick.
"""

from __future__ import annotations

import os
import time

import pytest
from django.db import connection

from tests.runs_app.test_processes import VENV_BIN, Cluster, lines

pytestmark = pytest.mark.slow

DAG = """
import datetime
from dags_app.sdk import DAG, BashOperator

with DAG("restart", schedule=None, start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)) as dag:
    # It ends only once the test has stopped the server (the "go" file), however slow the machine.
    slow = BashOperator(
        task_id="slow",
        bash_command=(
            "echo 1 >> {markers}/slow; touch {markers}/started; "
            "for i in $(seq 600); do [ -e {markers}/go ] && break; sleep 0.1; done"
        ),
    )
    after = BashOperator(task_id="after", bash_command="echo 1 >> {markers}/after")
    slow >> after
"""


def query(url: str, sql: str) -> list[tuple] | None:
    """Run ``sql`` on the private server; None while it is unavailable."""
    import psycopg

    try:
        with psycopg.connect(url.replace("postgres://", "postgresql://"), connect_timeout=2) as conn:
            return conn.execute(sql).fetchall()
    except psycopg.OperationalError:
        return None


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the PostgreSQL phase runs it (a server of its own, once per suite)"
)
def test_the_final_write_of_a_task_waits_out_a_postgresql_restart_and_the_task_runs_once(
    private_postgres, redis_url, tmp_path
):
    markers, dags = tmp_path / "markers", tmp_path / "dags"
    markers.mkdir()
    dags.mkdir()
    (dags / "restart.py").write_text(DAG.format(markers=markers))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings",
        "DATABASE_URL": private_postgres.url,
        "REDIS_URL": redis_url,
        "DAGS_FOLDER": str(dags),
        "LOGS_FOLDER": str(tmp_path / "logs"),
        # Longer than the outage: the repair must not take the try over while the server is down.
        "ORCHESTRATOR_ZOMBIE_THRESHOLD": "60",
        "ORCHESTRATOR_HEARTBEAT_INTERVAL": "0.5",
        "ORCHESTRATOR_PARSE_INTERVAL": "1",
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    }
    (tmp_path / "processes").mkdir()
    cluster = Cluster(env=env, directory=tmp_path / "processes")
    try:
        cluster.manage("migrate", "--noinput", "-v", "0")
        worker = cluster.worker()
        scheduler = cluster.scheduler()
        cluster.manage("dags", "unpause", "restart")
        cluster.manage("dags", "trigger", "restart")
        cluster.wait_for(lambda: (markers / "started").exists(), "the task to start", timeout=60)

        private_postgres.stop("fast")
        (markers / "go").touch()  # now the task ends, with the database gone
        cluster.wait_for(
            lambda: "database unavailable while recording" in worker.log(),
            "the worker to wait for the database to record the outcome",
        )
        private_postgres.start()

        def finished() -> list[tuple] | None:
            rows = query(private_postgres.url, "SELECT state FROM runs_app_dagrun")
            return rows if rows and rows[0][0] in {"success", "failed"} else None

        cluster.wait_for(finished, "the run to finish after the restart", timeout=60)
        tis = query(private_postgres.url, "SELECT task_id, state, try_number FROM runs_app_taskinstance ORDER BY 1")
        assert finished() == [("success",)]
        assert tis == [("after", "success", 1), ("slow", "success", 1)]
        # Each task ran once: the result of the first try was kept, not run again.
        assert lines(markers / "slow") == ["1"]
        assert lines(markers / "after") == ["1"]
        logs = "\n".join(p.read_text(errors="replace") for p in (tmp_path / "logs").rglob("*") if p.is_file())
        assert "Database unavailable while recording the outcome" in logs, logs
        # The scheduler went through the outage with one line per tick and came back by itself.
        deadline = time.monotonic() + 10
        while "database is back after" not in scheduler.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "database is back after" in scheduler.log(), scheduler.log()
        for proc in (worker, scheduler):
            assert "Traceback" not in proc.log(), proc.log()
    finally:
        cluster.stop()
        print(cluster.logs(), private_postgres.log_tail(), sep="\n")

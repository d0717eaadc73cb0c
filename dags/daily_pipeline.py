"""The seed's daily pipeline: download (external API) -> process (Spark job) -> store (database).

Runs every day at 10:00 (UTC). It works offline so it can run anywhere: `download` writes the
day's records as they would come from an API, `process` aggregates them as a Spark job would,
and `store` upserts the result into a SQLite database. Files go to `$PIPELINE_DATA_DIR`
(default: a `pipeline-data` folder in the system's temp directory), one folder per logical date.
"""

import json
import os
import random
import sqlite3
import tempfile
from datetime import timedelta
from pathlib import Path

import pendulum

from dags_app.sdk import DAG, PythonOperator


def _data_dir(ds: str) -> Path:
    root = Path(os.environ.get("PIPELINE_DATA_DIR") or Path(tempfile.gettempdir()) / "pipeline-data")
    folder = root / ds
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def download(ds: str, **context) -> str:
    """Fetch the day's records (simulated, reproducible per date) and save them as JSON."""
    rng = random.Random(ds)
    records = [{"user": f"user{rng.randint(1, 20)}", "amount": round(rng.uniform(1, 100), 2)} for _ in range(100)]
    path = _data_dir(ds) / "raw.json"
    path.write_text(json.dumps(records))
    print(f"Downloaded {len(records)} records to {path}")
    return str(path)


def process(ti, ds: str, **context) -> str:
    """Aggregate the raw records per user, as the Spark job would."""
    raw_path = ti.xcom_pull(task_ids="download")
    totals: dict[str, float] = {}
    for record in json.loads(Path(raw_path).read_text()):
        totals[record["user"]] = round(totals.get(record["user"], 0.0) + record["amount"], 2)
    path = _data_dir(ds) / "totals.json"
    path.write_text(json.dumps(totals, sort_keys=True))
    print(f"Aggregated {len(totals)} users into {path}")
    return str(path)


def store(ti, ds: str, **context) -> int:
    """Upsert the day's totals into the pipeline database; return the number of rows written."""
    totals = json.loads(Path(ti.xcom_pull(task_ids="process")).read_text())
    db_path = _data_dir(ds).parent / "pipeline.sqlite3"
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS totals (ds TEXT, user TEXT, amount REAL, PRIMARY KEY (ds, user))")
        db.executemany(
            "INSERT OR REPLACE INTO totals (ds, user, amount) VALUES (?, ?, ?)",
            [(ds, user, amount) for user, amount in totals.items()],
        )
    print(f"Stored {len(totals)} rows for {ds} in {db_path}")
    return len(totals)


with DAG(
    dag_id="daily_pipeline",
    description="download -> process -> store, every day at 10:00",
    schedule="0 10 * * *",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"owner": "data-team", "retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["example", "pipeline"],
    doc_md=__doc__,
) as dag:
    download_task = PythonOperator(task_id="download", python_callable=download)
    process_task = PythonOperator(task_id="process", python_callable=process)
    store_task = PythonOperator(task_id="store", python_callable=store)

    download_task >> process_task >> store_task

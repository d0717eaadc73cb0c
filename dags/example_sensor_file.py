"""Wait for a file without holding a worker: a FileSensor in reschedule mode.

``wait_for_file`` looks for ``<folder>/sales-<ds>.csv`` every 5 seconds for up to an hour. Between
pokes its try is ``up_for_reschedule``: the worker slot is free for other tasks, and the
scheduler queues the *same* try again at the next poke time. Once the file is there, ``load``
counts its rows.

Try it::

    python manage.py dags unpause example_sensor_file
    python manage.py dags trigger -e 2024-01-01 example_sensor_file -c '{"folder": "/tmp/incoming"}'
    mkdir -p /tmp/incoming && printf 'a\\nb\\n' > /tmp/incoming/sales-2024-01-01.csv
"""

import pendulum

from dags_app.sdk import DAG, BashOperator, FileSensor

with DAG(
    "example_sensor_file",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "sensors"],
    params={"folder": "/tmp/orchestrator-example"},
    doc_md=__doc__,
) as dag:
    wait_for_file = FileSensor(
        task_id="wait_for_file",
        filepath="{{ params.folder }}/sales-{{ ds }}.csv",
        mode="reschedule",
        poke_interval=5,
        timeout=3600,
    )
    load = BashOperator(
        task_id="load",
        bash_command="echo \"loaded $(wc -l < '{{ params.folder }}/sales-{{ ds }}.csv') rows\"",
    )
    wait_for_file >> load

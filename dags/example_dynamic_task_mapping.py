"""Dynamic task mapping: fan out over what an upstream task returns, then reduce.

``list_files`` returns the day's files; ``count_rows`` is mapped over them (one task instance
per file, each with its own try, log and XCom, named after its file in the UI);
``total`` receives every count, in map-index order. ``greet`` maps a classic operator over
literal values with ``partial``/``expand``. An empty list would skip ``count_rows`` and
``total``.

Try it::

    python manage.py dags unpause example_dynamic_task_mapping
    python manage.py dags trigger -e 2024-01-01 example_dynamic_task_mapping
    python manage.py tasks states-for-dag-run example_dynamic_task_mapping \\
        manual__2024-01-01T00:00:00+00:00
"""

import pendulum

from dags_app.sdk import DAG, BashOperator, get_current_context, task

with DAG(
    "example_dynamic_task_mapping",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "mapping"],
    doc_md=__doc__,
) as dag:

    @task
    def list_files() -> list[str]:
        return ["sales_eu.csv", "sales_us.csv", "sales_apac.csv"]

    @task(map_index_template="{{ filename }}")
    def count_rows(filename: str, rows_per_letter: int) -> int:
        # The instance's name in the UI comes from its context (Airflow's map_index_template).
        get_current_context()["filename"] = filename
        rows = len(filename) * rows_per_letter
        print(f"{filename}: {rows} rows")
        return rows

    @task
    def total(counts: list[int]) -> int:
        print(f"Total rows: {sum(counts)} in {len(counts)} files")
        return sum(counts)

    total(count_rows.partial(rows_per_letter=10).expand(filename=list_files()))

    BashOperator.partial(task_id="greet", map_index_template="{{ task.bash_command }}").expand(
        bash_command=["echo hello EU", "echo hello US"]
    )

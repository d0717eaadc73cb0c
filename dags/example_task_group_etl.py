"""An ETL in task groups: ``TaskGroup`` blocks, ``@task_group``, nesting, group default_args.

Two sources are extracted and cleaned each in its own group (one written with ``with
TaskGroup(...)``, one with ``@task_group``), the clean step of the orders is a nested group,
both groups feed the load through their XComs, and a report group without the id prefix is set
downstream of the load with ``>>``.
"""

import pendulum

from dags_app.sdk import DAG, BashOperator, EmptyOperator, TaskGroup, task, task_group

with DAG(
    "example_task_group_etl",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "task_group"],
    default_args={"retries": 0},
    doc_md=__doc__,
) as dag:

    @task
    def start(ds=None):
        return ds

    day = start()

    with TaskGroup("orders", tooltip="Extract and clean the orders", default_args={"retries": 1}) as orders:

        @task
        def extract(day):
            print(f"orders of {day}")
            return [{"id": 1, "amount": 30}, {"id": 2, "amount": -5}, {"id": 2, "amount": -5}]

        rows = extract(day)

        with TaskGroup("clean", tooltip="Drop duplicates and bad rows"):

            @task
            def dedupe(rows):
                return [dict(t) for t in {tuple(sorted(r.items())) for r in rows}]

            @task
            def validate(rows):
                return [r for r in rows if r["amount"] > 0]

            cleaned = validate(dedupe(rows))

    @task_group
    def customers(day):
        """Extract the customers and keep the active ones."""

        @task
        def extract(day):
            print(f"customers of {day}")
            return [{"id": 1, "active": True}, {"id": 2, "active": False}]

        @task
        def keep_active(rows):
            return [r for r in rows if r["active"]]

        return keep_active(extract(day))

    active = customers(day)

    @task
    def load(orders, customers):
        print(f"loading {len(orders)} orders of {len(customers)} active customers")
        return len(orders)

    loaded = load(cleaned, active)

    with TaskGroup("report", prefix_group_id=False, tooltip="Task ids without the group prefix") as report:
        summary = BashOperator(
            task_id="summary", bash_command="echo 'rows loaded: {{ ti.xcom_pull(task_ids=\"load\") }}'"
        )
        publish = EmptyOperator(task_id="publish")
        summary >> publish

    # A group on either side of >> stands for its tasks: upstream, its leaves; downstream, its roots.
    loaded >> report
    [orders, report] >> EmptyOperator(task_id="end")

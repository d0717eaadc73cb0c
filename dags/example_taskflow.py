"""TaskFlow API example (Apache Airflow's ``tutorial_taskflow_api``): extract, transform, load.

Each task is a plain Python function; return values travel between them as XComs, and
`transform` returns a dict split into one XCom per key (`multiple_outputs=True`).
"""

import json

import pendulum

from dags_app.sdk import dag, task


@dag(
    schedule=None,
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    # Examples start active, so `dags trigger` runs them at once (other new DAGs start paused).
    is_paused_upon_creation=False,
    tags=["example"],
)
def example_taskflow():
    """
    ### TaskFlow API Tutorial Documentation
    A simple data pipeline: extract order data, sum it, print the total.
    """

    @task()
    def extract():
        """Read the orders (a hard-coded JSON string standing in for an API call)."""
        data_string = '{"1001": 301.27, "1002": 433.21, "1003": 502.22}'
        return json.loads(data_string)

    @task(multiple_outputs=True)
    def transform(order_data_dict: dict):
        """Sum the order values."""
        total_order_value = 0
        for value in order_data_dict.values():
            total_order_value += value
        return {"total_order_value": total_order_value}

    @task()
    def load(total_order_value: float):
        """Print the total instead of saving it to end-user review."""
        print(f"Total order value is: {total_order_value:.2f}")

    order_data = extract()
    order_summary = transform(order_data)
    load(order_summary["total_order_value"])


example_taskflow()

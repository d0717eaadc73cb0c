"""Example DAG demonstrating BranchPythonOperator (Apache Airflow's ``example_branch_operator``).

`branching` picks one of four branches at random; the three others are skipped, and `join`
(trigger rule ``none_failed_min_one_success``) runs after the branch that was taken.
"""

import random

import pendulum

from dags_app.sdk import DAG, BranchPythonOperator, EmptyOperator, TriggerRule

with DAG(
    dag_id="example_branch_operator",
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    # Examples start active, so `dags trigger` runs them at once (other new DAGs start paused).
    is_paused_upon_creation=False,
    schedule="@daily",
    tags=["example", "example2"],
    doc_md=__doc__,
) as dag:
    run_this_first = EmptyOperator(task_id="run_this_first")

    options = ["branch_a", "branch_b", "branch_c", "branch_d"]

    branching = BranchPythonOperator(
        task_id="branching",
        python_callable=lambda: random.choice(options),
    )
    run_this_first >> branching

    join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)

    for option in options:
        t = EmptyOperator(task_id=option)
        empty_follow = EmptyOperator(task_id="follow_" + option)
        # The untaken branches are skipped; "follow_*" after them is skipped too (all_success).
        branching >> t >> empty_follow >> join

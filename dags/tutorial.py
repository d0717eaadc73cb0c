"""
### Tutorial Documentation
Apache Airflow's tutorial DAG: three BashOperator tasks, a templated command, retries.

`print_date` runs first; `sleep` and `templated` run after it, in parallel.
"""

import textwrap
from datetime import datetime, timedelta

from dags_app.sdk import DAG, BashOperator

with DAG(
    "tutorial",
    # These args are passed on to each operator; override them per task.
    default_args={
        "depends_on_past": False,
        "email": ["airflow@example.com"],
        "email_on_failure": False,
        "email_on_retry": False,
        "retries": 1,
        "retry_delay": timedelta(minutes=5),
    },
    description="A simple tutorial DAG",
    schedule=timedelta(days=1),
    start_date=datetime(2021, 1, 1),
    catchup=False,
    tags=["example"],
) as dag:
    t1 = BashOperator(
        task_id="print_date",
        bash_command="date",
    )
    t1.doc_md = textwrap.dedent(
        """\
    #### Task Documentation
    Prints the date of the machine that runs it.
    """
    )

    t2 = BashOperator(
        task_id="sleep",
        depends_on_past=False,
        bash_command="sleep 5",
        retries=3,
    )

    dag.doc_md = __doc__

    templated_command = textwrap.dedent(
        """
    {% for i in range(5) %}
        echo "{{ ds }}"
        echo "{{ macros.ds_add(ds, 7)}}"
    {% endfor %}
    """
    )

    t3 = BashOperator(
        task_id="templated",
        depends_on_past=False,
        bash_command=templated_command,
    )

    t1 >> [t2, t3]

def test_sync_imports_a_dag(dag_file, sync, db):
    from dags_app.models import DagModel

    dag_file(
        "one.py",
        """
        import datetime
        from dags_app.sdk import DAG, EmptyOperator

        with DAG("one", start_date=datetime.datetime(2024, 1, 1), schedule="@daily") as dag:
            EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
        """,
    )
    report = sync()
    assert report.parsed == 1
    dag = DagModel.objects.get(dag_id="one")
    assert dag.task_ids == ["a", "b"]

"""Params and the trigger form (Airflow's ``example_params_trigger_ui``, shortened): each param
gets a field of its type on the trigger page, and a value that does not fit its schema is refused
before any run is made."""

import datetime

from dags_app.sdk import DAG, Param, task

with DAG(
    "example_params_trigger",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
    tags=["example", "params"],
    doc_md=__doc__,
    params={
        "names": Param(["Linda", "Martha", "Thomas"], type="array", description="Whom to greet"),
        "english": Param(True, type="boolean", title="English"),
        "german": Param(True, type="boolean", title="German (Formal)"),
        "times": Param(2, type="integer", minimum=1, maximum=5, description="How often to greet each"),
        "day": Param("2024-01-01", type="string", format="date", description="The day of the greeting"),
        "tone": Param("warm", enum=["warm", "formal", "brief"], title="Tone"),
    },
) as dag:

    @task
    def greetings(params=None) -> list[str]:
        said = []
        for name in params["names"]:
            for _ in range(params["times"]):
                if params["english"]:
                    said.append(f"Hello {name} ({params['tone']}, {params['day']})")
                if params["german"]:
                    said.append(f"Guten Tag {name}")
        return said

    greetings()

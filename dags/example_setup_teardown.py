"""Setup and teardown tasks: create a scratch folder, use it, and always remove it.

``create_workspace`` is a setup and ``remove_workspace`` its teardown: the teardown runs once the
work is done *even if the work failed* (set ``params.fail`` to true to see it), it does not decide
the run's state, and clearing ``count_files`` clears the setup and the teardown with it. The work
is written inside ``with ... as_teardown(setups=...)``, which wires it between the two. The Graph
marks setups with an up arrow, teardowns with a down arrow, and dashes the edge between them.

Try it::

    python manage.py dags unpause example_setup_teardown
    python manage.py dags trigger example_setup_teardown -c '{"fail": true}'
"""

import pendulum

from dags_app.sdk import DAG, setup, task, teardown

with DAG(
    "example_setup_teardown",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example"],
    params={"fail": False},
    doc_md=__doc__,
) as dag:

    @setup
    def create_workspace(run_id=None) -> str:
        import pathlib
        import tempfile

        path = pathlib.Path(tempfile.gettempdir()) / f"orchestrator-workspace-{abs(hash(run_id))}"
        path.mkdir(exist_ok=True)
        (path / "input.txt").write_text("a\nb\nc\n")
        return str(path)

    @teardown
    def remove_workspace(path: str) -> None:
        import shutil

        shutil.rmtree(path, ignore_errors=True)
        print(f"removed {path}")

    @task
    def count_files(path: str, params=None) -> int:
        import pathlib

        if params and params.get("fail"):
            raise RuntimeError("failing on purpose: the teardown still runs")
        return len(list(pathlib.Path(path).iterdir()))

    @task
    def report(n: int) -> None:
        print(f"{n} file(s) in the workspace")

    workspace = create_workspace()
    with remove_workspace(workspace).as_teardown(setups=workspace):
        report(count_files(workspace))

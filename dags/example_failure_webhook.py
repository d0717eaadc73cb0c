"""A DAG whose failure is announced: a webhook for the run, an email for the task.

``load`` fails on purpose (the warehouse refuses the write). Then:

- the task's ``on_failure_callback`` (an ``EmailNotifier``) mails the on-call address; with the
  default console mail backend the mail is written into the try's log;
- the DAG's ``on_failure_callback`` (a ``WebhookNotifier``) POSTs a JSON message to the URL in
  ``ORCHESTRATOR_WEBHOOK_URL`` (e.g. a chat's incoming webhook), set where the workers run;
  what it did is in the run's ``dag_callbacks.log`` beside the task logs;
- ``on_success_callback`` of ``extract`` shows a plain function as a callback.

Try it: ``python manage.py dags test example_failure_webhook 2024-01-01``.
"""

import pendulum

from dags_app.sdk import DAG, BashOperator, EmailNotifier, WebhookNotifier


def announce_extract(context):
    print(f"extract finished for {context['ds']}: try {context['ti'].try_number}")


with DAG(
    "example_failure_webhook",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "callbacks"],
    on_failure_callback=WebhookNotifier(
        payload={
            "text": (
                "DAG {{ dag.dag_id }} failed ({{ reason }}) in run {{ run_id }}: "
                "task {{ ti.task_id }} is {{ ti.state }}"
            ),
            "dag_id": "{{ dag.dag_id }}",
            "run_id": "{{ run_id }}",
            "reason": "{{ reason }}",
        },
        timeout=5,
    ),
    doc_md=__doc__,
) as dag:
    extract = BashOperator(
        task_id="extract",
        bash_command="echo 'extracted 3 files'",
        on_success_callback=announce_extract,
    )
    load = BashOperator(
        task_id="load",
        bash_command="echo 'ERROR: the warehouse is read-only' >&2; exit 1",
        on_failure_callback=EmailNotifier(
            to="oncall@example.com",
            subject="[orchestrator] {{ dag.dag_id }}.{{ ti.task_id }} failed on {{ ds }}",
            html_content="<p>Try {{ ti.try_number }} of <b>{{ ti.task_id }}</b> failed: {{ exception }}</p>",
        ),
    )
    extract >> load

"""Example DAG showing every trigger rule against the same three upstream outcomes.

Three upstream tasks end in the three basic ways: `succeed` succeeds, `fail` fails (no retries)
and `skip` is skipped (bash exit code 99). Each `rule_<name>` task is downstream of all three and
uses trigger rule `<name>`; the documented outcome of each is in `EXPECTED_STATES` below.
`end` (trigger rule `all_done`) closes the run once every rule task is done, so the run itself
succeeds whatever the rules decide.

| trigger rule | upstream: success, failed, skipped | result |
| --- | --- | --- |
| all_success | not all succeeded, one failed | upstream_failed |
| all_failed | not all failed, one succeeded | skipped |
| all_done | all finished | success (runs) |
| all_done_min_one_success | all finished, one succeeded | success (runs) |
| all_skipped | not all skipped | skipped |
| one_success | one succeeded | success (runs) |
| one_failed | one failed | success (runs) |
| one_done | one finished (success or failed) | success (runs) |
| none_failed | one failed | upstream_failed |
| none_failed_min_one_success | one failed | upstream_failed |
| none_skipped | one skipped | skipped |
| always | - | success (runs) |
| all_done_setup_success | all finished (no setup task upstream) | success (runs) |
"""

import pendulum

from dags_app.sdk import DAG, BashOperator, EmptyOperator, TriggerRule

EXPECTED_STATES = {
    "succeed": "success",
    "fail": "failed",
    "skip": "skipped",
    "rule_all_success": "upstream_failed",
    "rule_all_failed": "skipped",
    "rule_all_done": "success",
    "rule_all_done_min_one_success": "success",
    "rule_all_skipped": "skipped",
    "rule_one_success": "success",
    "rule_one_failed": "success",
    "rule_one_done": "success",
    "rule_none_failed": "upstream_failed",
    "rule_none_failed_min_one_success": "upstream_failed",
    "rule_none_skipped": "skipped",
    "rule_always": "success",
    "rule_all_done_setup_success": "success",
    "end": "success",
}

with DAG(
    dag_id="example_trigger_rules",
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    schedule=None,
    catchup=False,
    # Examples start active, so `dags trigger` runs them at once (other new DAGs start paused).
    is_paused_upon_creation=False,
    tags=["example"],
    doc_md=__doc__,
) as dag:
    succeed = BashOperator(task_id="succeed", bash_command="echo ok")
    fail = BashOperator(task_id="fail", bash_command="echo 'failing on purpose'; exit 1", retries=0)
    skip = BashOperator(task_id="skip", bash_command="echo 'skipping on purpose'; exit 99")
    end = EmptyOperator(task_id="end", trigger_rule=TriggerRule.ALL_DONE)

    for rule in TriggerRule:
        rule_task = EmptyOperator(task_id=f"rule_{rule.value}", trigger_rule=rule)
        [succeed, fail, skip] >> rule_task >> end

"""Trigger rules: when a task may run, given the states of its direct upstream tasks."""

from enum import StrEnum


class TriggerRule(StrEnum):
    """The trigger rules of Airflow, with the same values."""

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_DONE_MIN_ONE_SUCCESS = "all_done_min_one_success"
    ALL_SKIPPED = "all_skipped"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"
    # A teardown task's rule (Airflow 2.7): every upstream done and one of its setups succeeded.
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"

    @classmethod
    def is_valid(cls, value: object) -> bool:
        return value in cls.all_triggers()

    @classmethod
    def all_triggers(cls) -> set[str]:
        return {rule.value for rule in cls}

    def __str__(self) -> str:
        return self.value

"""Exceptions DAG authors raise or meet, named as in Airflow."""


class AirflowException(Exception):
    """Base of every error the SDK raises; a task raising it fails (and may be retried)."""


class AirflowSkipException(AirflowException):
    """Raise inside a task to mark it skipped instead of failed."""


class AirflowFailException(AirflowException):
    """Raise inside a task to fail it at once, without using its remaining retries."""


class AirflowTaskTimeout(AirflowException):
    """The task ran longer than its ``execution_timeout``."""


class DuplicateTaskIdFound(AirflowException):
    """Two tasks of one DAG share a task id."""


class AirflowDagCycleException(AirflowException):
    """The DAG's dependencies form a cycle."""


class TaskNotFound(AirflowException):
    """A task id names no task of the DAG."""


class AirflowSensorTimeout(AirflowException):
    """A sensor waited longer than its ``timeout``: the task fails at once, without retries."""


class AirflowRescheduleException(AirflowException):
    """Raised by a sensor in ``mode="reschedule"``: free the worker slot and run this try again
    at ``reschedule_date``."""

    def __init__(self, reschedule_date):
        super().__init__(f"Rescheduled to {reschedule_date}")
        self.reschedule_date = reschedule_date

"""The authoring SDK that DAG files import: Airflow's public names, arguments and semantics.

An Airflow DAG file needs only its imports changed, e.g.::

    from dags_app.sdk import DAG, BashOperator, PythonOperator, task, TriggerRule, chain

This package never imports Django, so DAG files import it in any process.
"""

from dags_app.sdk.assets import Asset, AssetAlias, Dataset, Metadata, asset
from dags_app.sdk.baseoperator import BaseOperator, chain, chain_linear, cross_downstream
from dags_app.sdk.branch import LatestOnlyOperator
from dags_app.sdk.context import get_current_context
from dags_app.sdk.dag import DAG, dag
from dags_app.sdk.decorators import setup, task, teardown
from dags_app.sdk.edgemodifier import EdgeModifier, Label
from dags_app.sdk.exceptions import (
    AirflowDagCycleException,
    AirflowException,
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    DuplicateTaskIdFound,
    TaskNotFound,
)
from dags_app.sdk.notifier import BaseNotifier, EmailNotifier, WebhookNotifier
from dags_app.sdk.operators import (
    BashOperator,
    BranchPythonOperator,
    EmptyOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from dags_app.sdk.param import Param
from dags_app.sdk.python_virtualenv import ExternalPythonOperator, PythonVirtualenvOperator
from dags_app.sdk.secrets import mask_secret
from dags_app.sdk.sensors import (
    BaseSensorOperator,
    BashSensor,
    DateTimeSensor,
    DayOfWeekSensor,
    ExternalTaskMarker,
    ExternalTaskSensor,
    FileSensor,
    PokeReturnValue,
    PythonSensor,
    TimeDeltaSensor,
    TimeSensor,
)
from dags_app.sdk.task_group import TaskGroup, task_group
from dags_app.sdk.trigger_dagrun import TriggerDagRunOperator
from dags_app.sdk.trigger_rule import TriggerRule
from dags_app.sdk.variable import Variable
from dags_app.sdk.xcom_arg import XComArg

__all__ = [
    "DAG",
    "AirflowDagCycleException",
    "AirflowException",
    "AirflowFailException",
    "AirflowRescheduleException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "Asset",
    "AssetAlias",
    "BaseNotifier",
    "BaseOperator",
    "BaseSensorOperator",
    "BashOperator",
    "BashSensor",
    "BranchPythonOperator",
    "Dataset",
    "DateTimeSensor",
    "DayOfWeekSensor",
    "DuplicateTaskIdFound",
    "EdgeModifier",
    "EmailNotifier",
    "EmptyOperator",
    "ExternalPythonOperator",
    "ExternalTaskMarker",
    "ExternalTaskSensor",
    "FileSensor",
    "Label",
    "LatestOnlyOperator",
    "Metadata",
    "Param",
    "PokeReturnValue",
    "PythonOperator",
    "PythonSensor",
    "PythonVirtualenvOperator",
    "ShortCircuitOperator",
    "TaskGroup",
    "TaskNotFound",
    "TimeDeltaSensor",
    "TimeSensor",
    "TriggerDagRunOperator",
    "TriggerRule",
    "Variable",
    "WebhookNotifier",
    "XComArg",
    "asset",
    "chain",
    "chain_linear",
    "cross_downstream",
    "dag",
    "get_current_context",
    "mask_secret",
    "setup",
    "task",
    "task_group",
    "teardown",
]

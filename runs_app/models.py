"""Executions in the metastore: DAG runs, task instances, XComs, pools, jobs and the audit log."""

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.db import models
from django.urls import reverse

from dags_app.models import AssetModel, DagModel, key_validator
from runs_app.states import (
    DAG_RUN_FINISHED,
    TI_FINISHED,
    AuditEvent,
    DagRunState,
    DagRunType,
    JobType,
    TaskInstanceState,
)


class DagRun(models.Model):
    """One run of a DAG for one logical date."""

    dag = models.ForeignKey(DagModel, on_delete=models.CASCADE, related_name="runs")
    run_id = models.CharField(max_length=250, validators=[key_validator])
    logical_date = models.DateTimeField()
    data_interval_start = models.DateTimeField(null=True, blank=True)
    data_interval_end = models.DateTimeField(null=True, blank=True)
    run_type = models.CharField(max_length=20, choices=DagRunType.choices)
    state = models.CharField(max_length=20, choices=DagRunState.choices, default=DagRunState.QUEUED)
    conf = models.JSONField(default=dict, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    start_date = models.DateTimeField(null=True, blank=True)
    end_date = models.DateTimeField(null=True, blank=True)
    # What made the run (scheduler, asset, web, cli, api, admin, <dag>.<task>, dags test) and, for
    # a person's trigger, who (Airflow's triggered_by and triggering_user_name).
    triggered_by = models.CharField(max_length=150, blank=True, default="")
    triggering_user_name = models.CharField(max_length=150, blank=True, default="")
    # The version of the DAG the run was created with (None for runs from before versions).
    dag_version = models.ForeignKey(
        "dags_app.DagVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when scheduling this run raised: the error (shown in the UI), how many passes in a row
    # failed, and until when the scheduler leaves the run parked (a back-off) while others move.
    scheduling_error = models.TextField(blank=True, default="")
    scheduling_failures = models.PositiveIntegerField(default=0)
    scheduling_retry_at = models.DateTimeField(null=True, blank=True)
    # Set in the transaction that finishes the run when the DAG defines a callback for how it
    # ended: why it ended (Airflow's context["reason"]: success, task_failure, timed_out). A
    # worker clears it when it takes the callback, so it runs once; callback_queued_at is when
    # the scheduler last handed it to a worker (handed again if that job is lost).
    callback_pending = models.CharField(max_length=20, blank=True, default="")
    # A user marked the run success/failed while teardown tasks were still to run: the run stays
    # running until they end, then takes this state (Airflow runs teardowns after a run mark).
    marked_state = models.CharField(max_length=20, blank=True, default="")
    callback_queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-logical_date"]
        verbose_name = "DAG run"
        constraints = [
            # A scheduler that crashes and restarts can never create the same run twice.
            models.UniqueConstraint(fields=["dag", "run_id"], name="unique_dag_run_id"),
            models.UniqueConstraint(fields=["dag", "logical_date"], name="unique_dag_logical_date"),
        ]
        indexes = [
            # The scheduler's "unfinished runs" scan and the browse page's state filter.
            models.Index(fields=["state", "dag"], name="dagrun_state_idx"),
            # DAG list "last run" and grid: newest runs of one DAG.
            models.Index(fields=["dag", "-logical_date"], name="dagrun_dag_date_idx"),
            # The scheduler's scan for DAG callbacks to hand out: only the few pending rows.
            models.Index(
                fields=["callback_pending"], condition=~models.Q(callback_pending=""), name="dagrun_callback_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dag_id} @ {self.run_id}"

    @property
    def is_finished(self) -> bool:
        return self.state in DAG_RUN_FINISHED

    @property
    def duration(self) -> dt.timedelta | None:
        if self.start_date and self.end_date:
            return self.end_date - self.start_date
        return None

    def callback_log_path(self) -> Path:
        """Return the log file of this run's DAG callbacks, beside its tasks' folders.

        Raises ValueError if the path would leave the logs folder.
        """
        root = Path(settings.LOGS_FOLDER).resolve()
        path = (root / f"dag_id={self.dag.dag_id}" / f"run_id={self.run_id}" / "dag_callbacks.log").resolve()
        if not path.is_relative_to(root):
            raise ValueError(f"Log path {path} leaves the logs folder")
        return path


class AssetEvent(models.Model):
    """An update of an asset: written with the success of the try that produced it (or by hand).

    The source fields are copies, so an event outlives the run and the DAG that produced it.
    ``created_dagruns`` are the asset-triggered runs this event took part in triggering.
    """

    asset = models.ForeignKey(AssetModel, on_delete=models.CASCADE, related_name="events")
    extra = models.JSONField(default=dict, blank=True)
    source_task_instance = models.ForeignKey(
        "TaskInstance", null=True, blank=True, on_delete=models.SET_NULL, related_name="asset_events"
    )
    source_dag_id = models.CharField(max_length=250, blank=True, default="")
    source_task_id = models.CharField(max_length=250, blank=True, default="")
    source_run_id = models.CharField(max_length=250, blank=True, default="")
    source_map_index = models.IntegerField(default=-1)
    source_alias = models.CharField(max_length=1500, blank=True, default="")
    timestamp = models.DateTimeField(db_index=True)
    created_dagruns = models.ManyToManyField(DagRun, related_name="consumed_asset_events", blank=True)

    class Meta:
        ordering = ["-timestamp", "-pk"]
        verbose_name = "asset event"
        indexes = [models.Index(fields=["asset", "-timestamp"], name="asset_event_asset_time_idx")]

    def __str__(self) -> str:
        return f"{self.asset} @ {self.timestamp.isoformat()}"

    def as_view(self) -> dict:
        """The event as the SDK's ``AssetEventView.from_dict`` reads it."""
        return {
            "id": self.pk,
            "name": self.asset.name,
            "uri": self.asset.uri,
            "group": self.asset.group,
            "extra": self.extra,
            "timestamp": self.timestamp.isoformat(),
            "source_dag_id": self.source_dag_id or None,
            "source_task_id": self.source_task_id or None,
            "source_run_id": self.source_run_id or None,
            "source_map_index": self.source_map_index,
        }


class AssetDagRunQueue(models.Model):
    """An asset that has had an event since the last asset-triggered run of a DAG scheduled on it.

    Written with the event; the scheduler creates the DAG's run once its asset condition holds
    over these rows, and deletes them in the same transaction. ``created_at`` is the first such
    event's time: the run consumes the events from there on.
    """

    asset = models.ForeignKey(AssetModel, on_delete=models.CASCADE, related_name="queued_dags")
    target_dag = models.ForeignKey(DagModel, on_delete=models.CASCADE, related_name="queued_assets")
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "queued asset event"
        constraints = [models.UniqueConstraint(fields=["asset", "target_dag"], name="unique_asset_dag_queue")]

    def __str__(self) -> str:
        return f"{self.asset} -> {self.target_dag}"


class TaskInstance(models.Model):
    """One task of one DAG run; ``try_number`` counts its attempts."""

    dag_run = models.ForeignKey(DagRun, on_delete=models.CASCADE, related_name="task_instances")
    # Denormalized from dag_run so per-DAG queries (recent task states, pools) need no join.
    dag = models.ForeignKey(DagModel, on_delete=models.CASCADE, related_name="task_instances")
    task_id = models.CharField(max_length=250, validators=[key_validator])
    # Dynamic task mapping: -1 for a task that is not mapped (and for a mapped task not expanded
    # yet), else the instance's index among the values mapped over.
    map_index = models.IntegerField(default=-1)
    # A mapped instance's name from the task's map_index_template, rendered when it ran.
    rendered_map_index = models.CharField(max_length=250, blank=True, default="")
    state = models.CharField(max_length=20, choices=TaskInstanceState.choices, default=TaskInstanceState.NONE)
    try_number = models.PositiveIntegerField(default=0)
    max_tries = models.PositiveIntegerField(default=0)
    operator = models.CharField(max_length=100, blank=True, default="")
    queue = models.CharField(max_length=100, default="default")
    pool = models.CharField(max_length=100, default="default_pool")
    pool_slots = models.PositiveIntegerField(default=1)
    priority_weight = models.IntegerField(default=1)
    queued_at = models.DateTimeField(null=True, blank=True)
    start_date = models.DateTimeField(null=True, blank=True)
    end_date = models.DateTimeField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True)
    hostname = models.CharField(max_length=250, blank=True, default="")
    pid = models.IntegerField(null=True, blank=True)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    rq_job_id = models.CharField(max_length=250, blank=True, default="")
    # When the scheduler may queue this instance again: the retry time of an up_for_retry try,
    # the next poke of an up_for_reschedule sensor.
    next_retry_at = models.DateTimeField(null=True, blank=True)
    # A sensor in reschedule mode: when the first poke of this try started (its timeout counts
    # from there) and how often the try was rescheduled (its poke number, for the back-off).
    first_poke_at = models.DateTimeField(null=True, blank=True)
    reschedule_count = models.PositiveIntegerField(default=0)
    # How often this queued try was enqueued again because nobody picked it up (task_queued_timeout).
    queued_requeues = models.PositiveIntegerField(default=0)
    # The templated fields as the last try rendered them (the UI's "Rendered" tab).
    rendered_fields = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["dag_run", "task_id", "map_index"]
        verbose_name = "task instance"
        permissions = [
            ("clear_taskinstance", "Can clear task instances so they run again"),
            ("mark_taskinstance", "Can mark task instances and runs success or failed"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["dag_run", "task_id", "map_index"], name="unique_ti_per_run_and_index")
        ]
        indexes = [
            # The scheduler's per-state scans (queued/running repair, retries due, pools).
            models.Index(fields=["state", "pool"], name="ti_state_pool_idx"),
            # DAG list "recent tasks" and per-DAG concurrency counts.
            models.Index(fields=["dag", "state"], name="ti_dag_state_idx"),
            # The REST API's task-instance lists, ordered by Airflow's default (map_index) then id:
            # a page is an index range, not a sort of every row (PostgreSQL at 100,000 rows).
            models.Index(fields=["map_index", "id"], name="ti_map_index_id_idx"),
        ]

    def __str__(self) -> str:
        index = f" [{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}.{self.task_id}{index} ({self.dag_run.run_id})"

    @property
    def is_mapped_instance(self) -> bool:
        return self.map_index >= 0

    @property
    def map_index_query(self) -> str:
        """``map_index=N`` for a mapped instance's URLs (empty otherwise), as Airflow's UI has it."""
        return f"map_index={self.map_index}" if self.map_index >= 0 else ""

    @property
    def display_name(self) -> str:
        """The task id, with the instance's index or rendered name when it is mapped."""
        if self.map_index < 0:
            return self.task_id
        return f"{self.task_id} [{self.rendered_map_index or self.map_index}]"

    @property
    def is_finished(self) -> bool:
        return self.state in TI_FINISHED

    def log_path(self, try_number: int | None = None) -> Path:
        """Return the log file of one try, built only from validated database fields.

        Raises ValueError if the path would leave the logs folder.
        """
        attempt = self.try_number if try_number is None else try_number
        root = Path(settings.LOGS_FOLDER).resolve()
        path = root / f"dag_id={self.dag_run.dag.dag_id}" / f"run_id={self.dag_run.run_id}" / f"task_id={self.task_id}"
        if self.map_index >= 0:
            path = path / f"map_index={int(self.map_index)}"  # Airflow's layout for mapped instances
        path = path / f"attempt={int(attempt)}.log"
        resolved = path.resolve()
        if not resolved.is_relative_to(root):
            raise ValueError(f"Log path {path} leaves the logs folder")
        return resolved


class TaskInstanceHistory(models.Model):
    """One ended try of a task instance, kept when the instance starts another (a retry, or a
    clear and run again): Airflow's ``task_instance_history``. The instance's row holds its
    latest try; its earlier tries are here (the API's ``tries``, the Gantt chart's every try).

    Recorded by ``transitions`` in the move that starts the next try, from the row as that try
    left it; a try is recorded once (``ignore_conflicts`` on the unique pair).
    """

    task_instance = models.ForeignKey(TaskInstance, on_delete=models.CASCADE, related_name="history")
    try_number = models.PositiveIntegerField()
    state = models.CharField(max_length=20, choices=TaskInstanceState.choices)
    max_tries = models.PositiveIntegerField(default=0)
    operator = models.CharField(max_length=100, blank=True, default="")
    queue = models.CharField(max_length=100, default="default")
    pool = models.CharField(max_length=100, default="default_pool")
    pool_slots = models.PositiveIntegerField(default=1)
    priority_weight = models.IntegerField(default=1)
    queued_at = models.DateTimeField(null=True, blank=True)
    start_date = models.DateTimeField(null=True, blank=True)
    end_date = models.DateTimeField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True)
    hostname = models.CharField(max_length=250, blank=True, default="")
    pid = models.IntegerField(null=True, blank=True)

    class Meta:
        ordering = ["task_instance", "try_number"]
        verbose_name = "task instance try"
        verbose_name_plural = "task instance tries"
        constraints = [
            models.UniqueConstraint(fields=["task_instance", "try_number"], name="unique_ti_history_try"),
        ]

    def __str__(self) -> str:
        return f"{self.task_instance_id} try {self.try_number} ({self.state})"


class TaskCallbackRequest(models.Model):
    """A task callback (and alert email) owed by a try that a worker did not end itself.

    The scheduler's repair fails a zombie or a try stuck in ``queued``: there is no worker left to
    call the task's ``on_failure_callback``/``on_retry_callback``, so the repair records the request
    in the transaction that writes the state (Airflow's ``TaskCallbackRequest``) and the next tick
    hands it to a worker. The worker deletes the row before calling, so each runs once.
    """

    task_instance = models.ForeignKey(TaskInstance, on_delete=models.CASCADE, related_name="callback_requests")
    # The try that ended, and how: the callback's context (and its log) are that try's.
    try_number = models.PositiveIntegerField()
    ended_state = models.CharField(max_length=20, choices=TaskInstanceState.choices)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    # When it was handed to a worker (handed out again if its job is lost).
    queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"callback for {self.task_instance_id} try {self.try_number} ({self.ended_state})"


class XCom(models.Model):
    """A value a task instance pushed (its return value under key ``return_value``, or ``xcom_push``)."""

    task_instance = models.ForeignKey(TaskInstance, on_delete=models.CASCADE, related_name="xcoms")
    # Denormalized so ``xcom_pull(task_ids=...)`` is one indexed lookup within a run.
    dag_run = models.ForeignKey(DagRun, on_delete=models.CASCADE, related_name="xcoms")
    task_id = models.CharField(max_length=250)
    map_index = models.IntegerField(default=-1)
    key = models.CharField(max_length=512)
    value = models.JSONField(null=True, blank=True)
    timestamp = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["dag_run", "task_id", "map_index", "key"]
        verbose_name = "XCom"
        constraints = [models.UniqueConstraint(fields=["task_instance", "key"], name="unique_xcom_key")]
        indexes = [models.Index(fields=["dag_run", "task_id", "key"], name="xcom_pull_idx")]

    def __str__(self) -> str:
        return f"{self.task_id}:{self.key}"


class Pool(models.Model):
    """A named number of slots shared by the task instances that name it."""

    DEFAULT_POOL_NAME = "default_pool"

    name = models.CharField(max_length=100, unique=True, validators=[key_validator])
    slots = models.IntegerField(default=128, help_text="-1 means unlimited")
    description = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Variable(models.Model):
    """A key and a value DAGs read at run time (Airflow's Variable): ``Variable.get`` in task code,
    ``{{ var.value.key }}`` and ``{{ var.json.key }}`` in templates."""

    key = models.CharField(max_length=250, unique=True, validators=[key_validator])
    val = models.TextField(blank=True, default="", verbose_name="value")
    description = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class Connection(models.Model):
    """How to reach an external system (Airflow's Connection). The password and the extra (JSON)
    are stored encrypted with the Fernet key (``runs_app.crypto``); read them through
    ``password`` and ``extra``, never the ``_``-columns."""

    conn_id = models.CharField(max_length=250, unique=True, validators=[key_validator], verbose_name="connection id")
    conn_type = models.CharField(max_length=500, verbose_name="connection type")
    description = models.TextField(blank=True, default="")
    host = models.CharField(max_length=500, blank=True, default="")
    schema = models.CharField(max_length=500, blank=True, default="")
    login = models.CharField(max_length=500, blank=True, default="")
    encrypted_password = models.TextField(blank=True, default="")
    port = models.PositiveIntegerField(null=True, blank=True)
    encrypted_extra = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["conn_id"]

    def __str__(self) -> str:
        return self.conn_id

    @property
    def password(self) -> str:
        from runs_app.crypto import decrypt

        return decrypt(self.encrypted_password)

    @property
    def extra(self) -> str:
        from runs_app.crypto import decrypt

        return decrypt(self.encrypted_extra)


class Job(models.Model):
    """A scheduler or worker process and its heartbeat (``dags list-jobs``, the health banner)."""

    job_type = models.CharField(max_length=20, choices=JobType.choices)
    hostname = models.CharField(max_length=250)
    pid = models.IntegerField()
    start_date = models.DateTimeField()
    latest_heartbeat = models.DateTimeField()
    end_date = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-latest_heartbeat"]
        indexes = [models.Index(fields=["job_type", "-latest_heartbeat"], name="job_heartbeat_idx")]

    def __str__(self) -> str:
        return f"{self.job_type} {self.hostname}:{self.pid}"

    def is_alive(self, *, now: dt.datetime, threshold: float) -> bool:
        return self.end_date is None and (now - self.latest_heartbeat).total_seconds() < threshold


class AuditLog(models.Model):
    """Who did what, when, to which DAG, run or task. Ids are kept as text so rows outlive deletes."""

    when = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150, blank=True, default="")
    event = models.CharField(max_length=30, choices=AuditEvent.choices)
    source = models.CharField(max_length=20, blank=True, default="")
    dag_id = models.CharField(max_length=250, blank=True, default="", db_index=True)
    run_id = models.CharField(max_length=250, blank=True, default="")
    task_id = models.CharField(max_length=250, blank=True, default="")
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-when"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        return f"{self.when:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.event} {self.dag_id}"

    def get_absolute_url(self) -> str:
        return reverse("admin:runs_app_auditlog_change", args=[self.pk])


class UserPreference(models.Model):
    """What a user chose for the UI: the time zone every page shows times in (Airflow's navbar
    time zone). The session carries a copy (``orchestrator_site.timezones``), so pages read no row."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ui_preference")
    timezone = models.CharField(max_length=64, default="UTC")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.timezone}"

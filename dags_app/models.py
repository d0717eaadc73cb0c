"""Definitions in the metastore: DAGs as the scheduler last parsed them, and import errors.

The web process reads DAGs only from here (``DagModel.serialized``); it never imports DAG files.
"""

from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse

from dags_app.sdk.validation import KEY_PATTERN

key_validator = RegexValidator(
    regex=KEY_PATTERN,
    message="Use only letters, digits and _ . ~ : + - (and not '.' or '..').",
)


class DagModel(models.Model):
    """One DAG as last parsed from its file, plus the scheduler's bookkeeping for it."""

    dag_id = models.CharField(max_length=250, unique=True, validators=[key_validator])
    fileloc = models.CharField("file", max_length=1000)
    owners = models.CharField(max_length=250, blank=True, default="")
    # The DAG's dag_display_name (shown instead of the id) and owner_links ({owner: http(s) or
    # mailto link}, the DAG list links each owner): columns, as the list shows them per row.
    dag_display_name = models.CharField(max_length=250, blank=True, default="")
    owner_links = models.JSONField(default=dict, blank=True)
    description = models.TextField(blank=True, default="")
    # The schedule as the author wrote it ("@daily", "0 10 * * *", "None", "1 day, 0:00:00").
    schedule = models.CharField(max_length=250, blank=True, default="None")
    # The timetable's normalized summary and human description ("At 10:00").
    timetable_summary = models.CharField(max_length=250, blank=True, default="None")
    timetable_description = models.CharField(max_length=1000, blank=True, default="")
    is_paused = models.BooleanField(default=True)
    # False once the DAG's file no longer defines it (file deleted, DAG removed, import error).
    is_active = models.BooleanField(default=True)
    max_active_runs = models.PositiveIntegerField(default=16)
    max_active_tasks = models.PositiveIntegerField(default=16)
    # The whole DAG as JSON (tasks, operators, edges, templated fields, docs): see serialization.py.
    serialized = models.JSONField(default=dict)
    # The DAG's access_control, normalized ({role: ["can_edit", "can_read", ...]}); None: every role.
    # Kept out of ``serialized`` so that lists filter on it (``has_any_keys``) without loading that.
    access_control = models.JSONField(null=True, blank=True, default=None)
    source_hash = models.CharField(max_length=64, blank=True, default="")
    last_parsed_time = models.DateTimeField(null=True, blank=True)
    # The DAG's latest version (a parse that changed its serialized form made it); each new run
    # records it (DagRun.dag_version) without a query.
    latest_version = models.ForeignKey("DagVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Where the scheduler continues: the next automated run's logical date and data interval,
    # and the moment it becomes due (the data interval's end). None when nothing is scheduled.
    next_dagrun = models.DateTimeField(null=True, blank=True)
    next_dagrun_data_interval_start = models.DateTimeField(null=True, blank=True)
    next_dagrun_data_interval_end = models.DateTimeField(null=True, blank=True)
    next_dagrun_create_after = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when creating this DAG's runs raised (e.g. its timetable): shown in the UI; the DAG is
    # parked until ``scheduling_retry_at`` (a back-off) while every other DAG keeps moving.
    scheduling_error = models.TextField(blank=True, default="")
    scheduling_failures = models.PositiveIntegerField(default=0)
    scheduling_retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["dag_id"]
        verbose_name = "DAG"
        verbose_name_plural = "DAGs"
        permissions = [
            ("trigger_dag", "Can trigger DAG runs and backfills"),
            ("pause_dag", "Can pause and unpause DAGs"),
        ]
        indexes = [
            # The scheduler's "which DAGs are due" query.
            models.Index(fields=["is_active", "is_paused", "next_dagrun_create_after"], name="dag_due_idx"),
        ]

    def __str__(self) -> str:
        return self.dag_id

    def get_absolute_url(self) -> str:
        return reverse("admin:dags_app_dagmodel_change", args=[self.pk])

    @property
    def tasks(self) -> list[dict]:
        return self.serialized.get("tasks", [])

    @property
    def task_ids(self) -> list[str]:
        return [t["task_id"] for t in self.tasks]

    @property
    def display_name(self) -> str:
        return self.dag_display_name or self.dag_id

    @property
    def owner_list(self) -> list[tuple[str, str]]:
        """Each owner with its link ("" when the DAG gives none), for the DAG list."""
        links = self.owner_links or {}
        return [(owner, links.get(owner, "")) for owner in (o.strip() for o in self.owners.split(",")) if owner]

    @property
    def tag_list(self) -> list[str]:
        return list(self.serialized.get("tags", []))

    def get_task(self, task_id: str) -> dict | None:
        """Return the serialized task ``task_id``, or None."""
        for task in self.tasks:
            if task["task_id"] == task_id:
                return task
        return None


class DagTag(models.Model):
    """A tag of a DAG, as a row so the DAG list can filter by tag on any database."""

    dag = models.ForeignKey(DagModel, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dag", "name"], name="unique_dag_tag")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DagImportError(models.Model):
    """A DAG file that could not be imported: syntax error, exception, timeout, cycle..."""

    filename = models.CharField(max_length=1000, unique=True)
    message = models.TextField()
    stacktrace = models.TextField(blank=True, default="")
    timestamp = models.DateTimeField()

    class Meta:
        ordering = ["filename"]
        verbose_name = "DAG import error"

    def __str__(self) -> str:
        return f"{self.filename}: {self.message.splitlines()[0] if self.message else ''}"


class DagVersion(models.Model):
    """One version of a DAG: recorded by each parse that changes its serialized form (Airflow 3's
    ``dag_version``), with that form, the file's hash and its source. A run records the version
    it was created with, so its code and graph are shown as they were."""

    dag = models.ForeignKey(DagModel, on_delete=models.CASCADE, related_name="versions")
    version_number = models.PositiveIntegerField()
    serialized = models.JSONField(default=dict)
    # The sha256 of the serialized form (what changed) and of the file's bytes (which file).
    serialized_hash = models.CharField(max_length=64)
    source_hash = models.CharField(max_length=64, blank=True, default="")
    fileloc = models.CharField("file", max_length=1000, blank=True, default="")
    source = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["dag", "version_number"]
        verbose_name = "DAG version"
        constraints = [
            models.UniqueConstraint(fields=["dag", "version_number"], name="unique_dag_version_number"),
        ]

    def __str__(self) -> str:
        return f"{self.dag_id} v{self.version_number}"


class DagFile(models.Model):
    """Parse bookkeeping for one file of the DAG folder, so unchanged files are not re-imported."""

    path = models.CharField(max_length=1000, unique=True)
    mtime = models.FloatField()
    size = models.BigIntegerField()
    source_hash = models.CharField(max_length=64)
    last_parsed = models.DateTimeField()
    dag_ids = models.JSONField(default=list)

    class Meta:
        ordering = ["path"]
        verbose_name = "DAG file"

    def __str__(self) -> str:
        return self.path


class AssetModel(models.Model):
    """An asset some DAG names (in a schedule, an outlet or an inlet) or some event updated.

    The name identifies it (Airflow 3); its URI defaults to the name. Rows stay when no DAG
    names them any more, so their events keep their history.
    """

    name = models.CharField(max_length=1500, unique=True)
    uri = models.CharField(max_length=1500, db_index=True)
    group = models.CharField(max_length=1500, default="asset")
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "asset"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("runs:asset-detail", args=[self.pk])


class AssetAliasModel(models.Model):
    """An alias a task attaches assets to at run time; ``assets`` are the ones attached so far."""

    name = models.CharField(max_length=1500, unique=True)
    group = models.CharField(max_length=1500, default="asset")
    assets = models.ManyToManyField(AssetModel, related_name="aliases", blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "asset alias"

    def __str__(self) -> str:
        return self.name


class DagAssetReference(models.Model):
    """A DAG's use of an asset or alias: scheduled on it, or a task's outlet or inlet. Rewritten on
    each parse that changes the DAG, so producers and consumers are one indexed query away."""

    class Kind(models.TextChoices):
        SCHEDULE = "schedule", "schedule"
        OUTLET = "outlet", "outlet"
        INLET = "inlet", "inlet"

    dag = models.ForeignKey(DagModel, on_delete=models.CASCADE, related_name="asset_references")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    task_id = models.CharField(max_length=250, blank=True, default="")
    asset = models.ForeignKey(AssetModel, null=True, blank=True, on_delete=models.CASCADE, related_name="references")
    alias = models.ForeignKey(
        AssetAliasModel, null=True, blank=True, on_delete=models.CASCADE, related_name="references"
    )

    class Meta:
        indexes = [
            models.Index(fields=["asset", "kind"], name="asset_ref_asset_kind"),
            models.Index(fields=["alias", "kind"], name="asset_ref_alias_kind"),
        ]

    def __str__(self) -> str:
        target = self.asset or self.alias
        return f"{self.dag_id} {self.kind} {target}"

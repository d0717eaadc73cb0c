"""Admin for DAGs and everything about their executions.

Actions call the same services as the CLI and the web UI (``runs_app.services``); scheduler-owned
fields are read-only. ``DagModel`` is registered here because its actions are run services.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from dags_app.admin import ReadOnlyAdmin
from dags_app.errors import ServiceError
from dags_app.graph import STATE_COLORS
from dags_app.models import DagModel
from runs_app import services
from runs_app.models import AuditLog, DagRun, Job, Pool, TaskInstance, XCom


def state_badge(state: str) -> str:
    color = STATE_COLORS.get(state, "#ffffff")
    return format_html(
        '<span style="display:inline-block;padding:1px 8px;border-radius:8px;border:2px solid {};">{}</span>',
        color,
        state,
    )


@admin.register(DagModel)
class DagModelAdmin(admin.ModelAdmin):
    list_display = [
        "dag_id",
        "owners",
        "schedule",
        "is_paused",
        "is_active",
        "next_dagrun",
        "last_parsed_time",
    ]
    list_filter = ["is_paused", "is_active", "tags__name"]
    search_fields = ["dag_id", "owners", "fileloc", "description"]
    readonly_fields = [
        "dag_id",
        "fileloc",
        "owners",
        "description",
        "schedule",
        "timetable_summary",
        "timetable_description",
        "is_paused",
        "is_active",
        "max_active_runs",
        "max_active_tasks",
        "serialized",
        "source_hash",
        "last_parsed_time",
        "next_dagrun",
        "next_dagrun_data_interval_start",
        "next_dagrun_data_interval_end",
        "next_dagrun_create_after",
        "created_at",
    ]
    actions = ["trigger_dags", "pause_dags", "unpause_dags"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_trigger_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("dags_app.trigger_dag")

    def has_pause_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("dags_app.pause_dag")

    @admin.action(description="Trigger a run now", permissions=["trigger"])
    def trigger_dags(self, request: HttpRequest, queryset: QuerySet[DagModel]) -> None:
        done = 0
        for dag in queryset:
            try:
                services.dag_trigger(dag=dag, now=timezone.now(), user=request.user, source="admin")
                done += 1
            except ServiceError as exc:
                self.message_user(request, f"{dag.dag_id}: {exc}", messages.ERROR)
        if done:
            self.message_user(request, f"Triggered {done} DAG run(s).", messages.SUCCESS)

    def _set_paused(self, request: HttpRequest, queryset: QuerySet[DagModel], *, is_paused: bool) -> None:
        changed = sum(
            services.dag_set_paused(dag=dag, is_paused=is_paused, user=request.user, source="admin") for dag in queryset
        )
        self.message_user(request, f"{'Paused' if is_paused else 'Unpaused'} {changed} DAG(s).", messages.SUCCESS)

    @admin.action(description="Pause", permissions=["pause"])
    def pause_dags(self, request: HttpRequest, queryset: QuerySet[DagModel]) -> None:
        self._set_paused(request, queryset, is_paused=True)

    @admin.action(description="Unpause", permissions=["pause"])
    def unpause_dags(self, request: HttpRequest, queryset: QuerySet[DagModel]) -> None:
        self._set_paused(request, queryset, is_paused=False)


@admin.register(DagRun)
class DagRunAdmin(ReadOnlyAdmin):
    list_display = ["run_id", "dag", "state_badge", "run_type", "logical_date", "start_date", "end_date"]
    list_filter = ["state", "run_type", "dag", "logical_date"]
    search_fields = ["run_id", "dag__dag_id"]
    list_select_related = ["dag"]
    date_hierarchy = "logical_date"
    readonly_fields = [f.name for f in DagRun._meta.fields]

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj: DagRun) -> str:
        return state_badge(obj.state)


@admin.register(TaskInstance)
class TaskInstanceAdmin(ReadOnlyAdmin):
    list_display = [
        "task_id",
        "dag",
        "run_id",
        "state_badge",
        "try_number",
        "operator",
        "start_date",
        "end_date",
        "duration",
        "hostname",
    ]
    list_filter = ["state", "pool", "queue", "operator", "dag"]
    search_fields = ["task_id", "dag__dag_id", "dag_run__run_id"]
    list_select_related = ["dag", "dag_run"]
    readonly_fields = [f.name for f in TaskInstance._meta.fields]

    @admin.display(description="run id", ordering="dag_run__run_id")
    def run_id(self, obj: TaskInstance) -> str:
        return obj.dag_run.run_id

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj: TaskInstance) -> str:
        return state_badge(obj.state)


@admin.register(XCom)
class XComAdmin(ReadOnlyAdmin):
    list_display = ["key", "task_id", "dag_run", "short_value", "timestamp"]
    list_filter = ["key", "timestamp"]
    search_fields = ["key", "task_id", "dag_run__run_id", "dag_run__dag__dag_id"]
    list_select_related = ["dag_run", "dag_run__dag"]
    readonly_fields = ["task_instance", "dag_run", "task_id", "key", "value", "timestamp"]

    @admin.display(description="value")
    def short_value(self, obj: XCom) -> str:
        text = repr(obj.value)
        return text if len(text) <= 80 else text[:77] + "..."


@admin.register(Pool)
class PoolAdmin(admin.ModelAdmin):
    list_display = ["name", "slots", "description"]
    search_fields = ["name", "description"]

    def has_delete_permission(self, request: HttpRequest, obj: Pool | None = None) -> bool:
        if obj is not None and obj.name == Pool.DEFAULT_POOL_NAME:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ["job_type", "hostname", "pid", "start_date", "latest_heartbeat", "end_date"]
    list_filter = ["job_type", "latest_heartbeat"]
    search_fields = ["hostname"]


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["when", "username", "event", "source", "dag_id", "run_id", "task_id"]
    list_filter = ["event", "source", "when"]
    search_fields = ["username", "dag_id", "run_id", "task_id"]
    readonly_fields = ["when", "user", "username", "event", "source", "dag_id", "run_id", "task_id", "extra"]

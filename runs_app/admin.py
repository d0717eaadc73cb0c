"""Admin for DAGs and everything about their executions.

Actions call the same services as the CLI and the web UI (``runs_app.services``, with
``source="admin"`` so the audit log tells them apart); scheduler-owned fields are read-only.
``DagModel`` is registered here because its actions are run services.

Each action is tied to a role's permission with ``@admin.action(permissions=[...])`` and a
``has_<name>_permission`` method, so a Viewer sees none of them and cannot post them. Actions
that change state first show a confirmation page, as Django's ``delete_selected`` does
(``ConfirmActionMixin.confirm``): the page re-posts the selected ids, the action and
``post=yes``.

The django-rq dashboard (``admin:django_rq_home``) is re-registered for Admins only: queues,
workers and jobs can be emptied or re-queued there, which no other role may do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db.models import Count, Model, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, reverse
from django.utils import timezone
from django.utils.html import format_html
from django_rq.admin import QueueAdmin
from django_rq.models import Dashboard

from dags_app.admin import DagAccessMixin, ReadOnlyAdmin
from dags_app.errors import ServiceError
from dags_app.graph import STATE_COLORS
from dags_app.models import DagModel, DagTag
from dags_app.sdk.secrets import MASK, should_hide_value_for_key
from orchestrator_site.access import CLEAR, DELETE, MARK, PAUSE, TRIGGER, actionable, readable
from runs_app import services
from runs_app.masking import PageMasker
from runs_app.models import (
    AssetDagRunQueue,
    AssetEvent,
    AuditLog,
    Connection,
    DagRun,
    Job,
    Pool,
    TaskInstance,
    TaskInstanceHistory,
    Variable,
    XCom,
)
from runs_app.states import DagRunState, TaskInstanceState

CONFIRM_TEMPLATE = "admin/orchestrator_confirm_action.html"
CONFIRM_LIST_LIMIT = 100  # objects listed by name on a confirmation page; all are re-posted


def state_badge(state: str) -> str:
    color = STATE_COLORS.get(state, "#ffffff")
    return format_html(
        '<span style="display:inline-block;padding:1px 8px;border-radius:8px;border:2px solid {};">{}</span>',
        color,
        state,
    )


def short_json(value: Any, limit: int = 80) -> str:
    """Return ``value`` as compact JSON, cut to ``limit`` characters (the admin escapes it)."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


class ConfirmActionMixin:
    """Confirmation pages for admin actions, shaped like ``django.contrib.admin.actions.delete_selected``."""

    def confirm(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        *,
        action: str,
        title: str,
        question: str,
        button: str,
        perform: Callable[[], None],
        label: Callable[[Any], str] = str,
        note: str = "",
        danger: bool = False,
    ) -> TemplateResponse | None:
        """Run ``perform`` when the form says ``post=yes``; otherwise return the confirmation page.

        Returning None sends the admin back to the change list, where ``perform``'s messages show.
        """
        if request.POST.get("post") == "yes":
            perform()
            return None
        objects = list(queryset)
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "question": question,
            "note": note,
            "button": button,
            "danger": danger,
            "objects": [(obj.pk, label(obj)) for obj in objects],
            "list_limit": CONFIRM_LIST_LIMIT,
            "hidden_count": max(0, len(objects) - CONFIRM_LIST_LIMIT),
            "objects_name": opts.verbose_name if len(objects) == 1 else opts.verbose_name_plural,
            "opts": opts,
            "action_name": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, CONFIRM_TEMPLATE, context)

    def actionable(self, request: HttpRequest, queryset: QuerySet, permission: str) -> QuerySet:
        """Keep the selected rows whose DAG's access_control allows ``permission``; say how many were left."""
        allowed = actionable(request.user, queryset, permission, self.dag_path)
        skipped = queryset.count() - allowed.count()
        if skipped:
            self.message_user(
                request,
                f"Skipped {skipped} selected row(s): their DAG's access control does not give your roles this.",
                messages.WARNING,
            )
        return allowed

    def report(self, request: HttpRequest, text: str, errors: list[str]) -> None:
        """End an action: one success message, plus one error message per failure."""
        for error in errors:
            self.message_user(request, error, messages.ERROR)
        self.message_user(request, text, messages.SUCCESS)


def _link(url: str, text: str) -> str:
    return format_html('<a href="{}">{}</a>', url, text)


def _links(*pairs: tuple[str, str]) -> str:
    return format_html(" &middot; ".join(["{}"] * len(pairs)), *(_link(url, text) for url, text in pairs))


# -- DAGs -----------------------------------------------------------------------------------------


class TagFilter(admin.SimpleListFilter):
    """Filter DAGs by tag, offering only the tags of DAGs the user may read."""

    title = "tag"
    parameter_name = "tags__name"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        tags = readable(request.user, DagTag.objects.all(), "dag").values_list("name", flat=True)
        return [(name, name) for name in tags.distinct().order_by("name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(tags__name=self.value()).distinct() if self.value() else queryset


@admin.register(DagModel)
class DagModelAdmin(DagAccessMixin, ConfirmActionMixin, admin.ModelAdmin):
    dag_path = ""
    list_display = [
        "dag_id",
        "owners",
        "schedule",
        "is_paused",
        "is_active",
        "next_dagrun",
        "last_parsed_time",
        "ui_links",
    ]
    list_filter = ["is_paused", "is_active", TagFilter]
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
        "access_control",
        "source_hash",
        "last_parsed_time",
        "next_dagrun",
        "next_dagrun_data_interval_start",
        "next_dagrun_data_interval_end",
        "next_dagrun_create_after",
        "created_at",
    ]
    actions = ["trigger_dags", "pause_dags", "unpause_dags", "delete_dag_metadata"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Deleting a DAG is the service's job (runs, logs, parse bookkeeping): see delete_dag_metadata.
        return False

    def has_trigger_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(TRIGGER)

    def has_pause_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PAUSE)

    def has_delete_metadata_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(DELETE)

    @admin.display(description="UI")
    def ui_links(self, obj: DagModel) -> str:
        return _links(
            (reverse("runs:grid", args=[obj.dag_id]), "Grid"),
            (reverse("runs:graph", args=[obj.dag_id]), "Graph"),
            (reverse("dags:code", args=[obj.dag_id]), "Code"),
        )

    @admin.action(description="Trigger a run now", permissions=["trigger"])
    def trigger_dags(self, request: HttpRequest, queryset: QuerySet[DagModel]) -> None:
        done = 0
        for dag in self.actionable(request, queryset, TRIGGER):
            try:
                services.dag_trigger(dag=dag, now=timezone.now(), user=request.user, source="admin")
                done += 1
            except ServiceError as exc:
                self.message_user(request, f"{dag.dag_id}: {exc}", messages.ERROR)
        if done:
            self.message_user(request, f"Triggered {done} DAG run(s).", messages.SUCCESS)

    def _set_paused(self, request: HttpRequest, queryset: QuerySet[DagModel], *, is_paused: bool) -> None:
        changed = sum(
            services.dag_set_paused(dag=dag, is_paused=is_paused, user=request.user, source="admin")
            for dag in self.actionable(request, queryset, PAUSE)
        )
        self.message_user(request, f"{'Paused' if is_paused else 'Unpaused'} {changed} DAG(s).", messages.SUCCESS)

    @admin.action(description="Pause", permissions=["pause"])
    def pause_dags(self, request: HttpRequest, queryset: QuerySet[DagModel]) -> None:
        self._set_paused(request, queryset, is_paused=True)

    @admin.action(description="Unpause", permissions=["pause"])
    def unpause_dags(self, request: HttpRequest, queryset: QuerySet[DagModel]) -> None:
        self._set_paused(request, queryset, is_paused=False)

    @admin.action(
        description="Delete DAG metadata (runs, task instances, XComs, logs)", permissions=["delete_metadata"]
    )
    def delete_dag_metadata(self, request: HttpRequest, queryset: QuerySet[DagModel]) -> TemplateResponse | None:
        queryset = self.actionable(request, queryset, DELETE)

        def perform() -> None:
            deleted, errors = 0, []
            for dag in queryset:
                try:
                    services.dag_delete(dag_id=dag.dag_id, user=request.user, source="admin")
                    deleted += 1
                except ServiceError as exc:
                    errors.append(f"{dag.dag_id}: {exc}")
            self.report(request, f"Deleted the metadata of {deleted} DAG(s).", errors)

        return self.confirm(
            request,
            queryset.annotate(run_count=Count("runs")),
            action="delete_dag_metadata",
            title="Delete DAG metadata",
            question="Delete these DAGs with all their runs, task instances, XComs and logs?",
            note="A DAG whose file still defines it comes back, without history, at the next parse.",
            button="Yes, delete",
            danger=True,
            perform=perform,
            label=lambda dag: f"{dag.dag_id} ({dag.run_count} run(s))",
        )


# -- DAG runs -------------------------------------------------------------------------------------


@admin.register(DagRun)
class DagRunAdmin(DagAccessMixin, ConfirmActionMixin, ReadOnlyAdmin):
    dag_path = "dag"
    list_display = [
        "run_id",
        "dag",
        "state_badge",
        "run_type",
        "logical_date",
        "start_date",
        "end_date",
        "ui_links",
    ]
    list_filter = ["state", "run_type", ("dag", admin.RelatedOnlyFieldListFilter), "logical_date"]
    search_fields = ["run_id", "dag__dag_id"]
    list_select_related = ["dag"]
    date_hierarchy = "logical_date"
    readonly_fields = [f.name for f in DagRun._meta.fields]
    actions = ["clear_runs", "mark_runs_success", "mark_runs_failed"]

    def has_clear_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CLEAR)

    def has_mark_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MARK)

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj: DagRun) -> str:
        return state_badge(obj.state)

    @admin.display(description="UI")
    def ui_links(self, obj: DagRun) -> str:
        dag_id = obj.dag.dag_id
        return _links(
            (reverse("runs:run", args=[dag_id, obj.run_id]), "Run"),
            (f"{reverse('runs:grid', args=[dag_id])}?{urlencode({'run_id': obj.run_id})}", "Grid"),
            (f"{reverse('runs:graph', args=[dag_id])}?{urlencode({'run_id': obj.run_id})}", "Graph"),
        )

    @staticmethod
    def _label(run: DagRun) -> str:
        return f"{run.dag.dag_id} / {run.run_id} ({run.state})"

    @admin.action(description="Clear all tasks of the selected runs (run them again)", permissions=["clear"])
    def clear_runs(self, request: HttpRequest, queryset: QuerySet[DagRun]) -> TemplateResponse | None:
        queryset = self.actionable(request, queryset, CLEAR)

        def perform() -> None:
            runs = list(queryset)
            cleared = services.dag_runs_clear(runs=runs, now=timezone.now(), user=request.user, source="admin")
            self.report(request, f"Cleared {cleared} task instance(s) of {len(runs)} DAG run(s).", [])

        return self.confirm(
            request,
            queryset,
            action="clear_runs",
            title="Clear DAG runs",
            question="Clear every task instance of these DAG runs so that they run again?",
            button="Yes, clear",
            perform=perform,
            label=self._label,
        )

    def _mark(self, request: HttpRequest, queryset: QuerySet[DagRun], state: DagRunState) -> TemplateResponse | None:
        queryset = self.actionable(request, queryset, MARK)

        def perform() -> None:
            done, errors = services.dag_runs_set_state(
                runs=queryset, state=state, now=timezone.now(), user=request.user, source="admin"
            )
            self.report(request, f"Marked {done} DAG run(s) {state.label}.", errors)

        return self.confirm(
            request,
            queryset,
            action=f"mark_runs_{state.value}",
            title=f"Mark DAG runs {state.label}",
            question=f"Mark these DAG runs {state.label}?",
            note=(
                "Every task instance not yet successful becomes success."
                if state == DagRunState.SUCCESS
                else "Queued and running task instances become failed, the other unfinished ones skipped."
            ),
            button=f"Yes, mark {state.label}",
            danger=state == DagRunState.FAILED,
            perform=perform,
            label=self._label,
        )

    @admin.action(description="Mark the selected runs success", permissions=["mark"])
    def mark_runs_success(self, request: HttpRequest, queryset: QuerySet[DagRun]) -> TemplateResponse | None:
        return self._mark(request, queryset, DagRunState.SUCCESS)

    @admin.action(description="Mark the selected runs failed", permissions=["mark"])
    def mark_runs_failed(self, request: HttpRequest, queryset: QuerySet[DagRun]) -> TemplateResponse | None:
        return self._mark(request, queryset, DagRunState.FAILED)


# -- Task instances -------------------------------------------------------------------------------


class TaskInstanceHistoryInline(admin.TabularInline):
    """The instance's earlier tries, read only (the transitions write them)."""

    model = TaskInstanceHistory
    extra = 0
    can_delete = False
    fields = ["try_number", "state", "start_date", "end_date", "duration", "hostname", "pool", "queue"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TaskInstance)
class TaskInstanceAdmin(DagAccessMixin, ConfirmActionMixin, ReadOnlyAdmin):
    dag_path = "dag"
    inlines = [TaskInstanceHistoryInline]
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
        "ui_links",
    ]
    list_filter = ["state", "pool", "queue", "operator", ("dag", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["task_id", "dag__dag_id", "dag_run__run_id"]
    list_select_related = ["dag", "dag_run"]
    readonly_fields = [f.name for f in TaskInstance._meta.fields]
    actions = ["clear_task_instances", "clear_task_instances_downstream", "mark_success", "mark_failed"]

    def has_clear_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CLEAR)

    def has_mark_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MARK)

    @admin.display(description="run id", ordering="dag_run__run_id")
    def run_id(self, obj: TaskInstance) -> str:
        return obj.dag_run.run_id

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj: TaskInstance) -> str:
        return state_badge(obj.state)

    @admin.display(description="UI")
    def ui_links(self, obj: TaskInstance) -> str:
        args = [obj.dag.dag_id, obj.dag_run.run_id, obj.task_id]
        return _links(
            (reverse("runs:task-instance", args=args), "Instance"),
            (reverse("runs:task-log", args=args), "Log"),
            (f"{reverse('runs:graph', args=args[:1])}?{urlencode({'run_id': obj.dag_run.run_id})}", "Graph"),
        )

    @staticmethod
    def _label(ti: TaskInstance) -> str:
        return f"{ti.dag.dag_id} / {ti.dag_run.run_id} / {ti.task_id} ({ti.state})"

    def _clear(self, request: HttpRequest, queryset: QuerySet[TaskInstance], *, downstream: bool):
        queryset = self.actionable(request, queryset, CLEAR)

        def perform() -> None:
            cleared = services.task_instances_clear(
                tis=queryset, now=timezone.now(), downstream=downstream, user=request.user, source="admin"
            )
            self.report(request, f"Cleared {cleared} task instance(s).", [])

        return self.confirm(
            request,
            queryset,
            action="clear_task_instances_downstream" if downstream else "clear_task_instances",
            title="Clear task instances" + (" and their downstream" if downstream else ""),
            question="Clear these task instances"
            + (", and every task downstream of them," if downstream else "")
            + " so that they run again?",
            note="A finished run goes back to running.",
            button="Yes, clear",
            perform=perform,
            label=self._label,
        )

    @admin.action(description="Clear (run again)", permissions=["clear"])
    def clear_task_instances(self, request: HttpRequest, queryset: QuerySet[TaskInstance]) -> TemplateResponse | None:
        return self._clear(request, queryset, downstream=False)

    @admin.action(description="Clear with downstream", permissions=["clear"])
    def clear_task_instances_downstream(
        self, request: HttpRequest, queryset: QuerySet[TaskInstance]
    ) -> TemplateResponse | None:
        return self._clear(request, queryset, downstream=True)

    def _mark(self, request: HttpRequest, queryset: QuerySet[TaskInstance], state: TaskInstanceState):
        queryset = self.actionable(request, queryset, MARK)

        def perform() -> None:
            try:
                changed = services.task_instances_set_state(
                    tis=queryset, state=state, now=timezone.now(), user=request.user, source="admin"
                )
            except ServiceError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return
            self.report(request, f"Marked {changed} task instance(s) {state.label}.", [])

        return self.confirm(
            request,
            queryset,
            action=f"mark_{state.value}",
            title=f"Mark task instances {state.label}",
            question=f"Mark these task instances {state.label}?",
            note=(
                "Their upstream-failed downstream tasks are evaluated again, so they can run."
                if state == TaskInstanceState.SUCCESS
                else "Their downstream tasks become upstream failed."
            ),
            button=f"Yes, mark {state.label}",
            danger=state == TaskInstanceState.FAILED,
            perform=perform,
            label=self._label,
        )

    @admin.action(description="Mark success", permissions=["mark"])
    def mark_success(self, request: HttpRequest, queryset: QuerySet[TaskInstance]) -> TemplateResponse | None:
        return self._mark(request, queryset, TaskInstanceState.SUCCESS)

    @admin.action(description="Mark failed", permissions=["mark"])
    def mark_failed(self, request: HttpRequest, queryset: QuerySet[TaskInstance]) -> TemplateResponse | None:
        return self._mark(request, queryset, TaskInstanceState.FAILED)


# -- XComs, pools, jobs, audit log ----------------------------------------------------------------


@admin.register(XCom)
class XComAdmin(DagAccessMixin, ReadOnlyAdmin):
    dag_path = "dag_run__dag"
    list_display = ["key", "task_id", "dag_run", "short_value", "timestamp", "ui_links"]
    list_filter = ["key", "timestamp"]
    search_fields = ["key", "task_id", "dag_run__run_id", "dag_run__dag__dag_id"]
    list_select_related = ["dag_run", "dag_run__dag"]
    readonly_fields = ["task_instance", "dag_run", "task_id", "key", "masked_value", "timestamp"]
    fields = readonly_fields

    @admin.display(description="value")
    def short_value(self, obj: XCom) -> str:
        return short_json(PageMasker().value(obj.value))

    @admin.display(description="value")
    def masked_value(self, obj: XCom) -> str:
        """The value with every stored secret as ``***`` (the tasks that pull it get it whole)."""
        return json.dumps(PageMasker().value(obj.value), indent=2, default=str)

    @admin.display(description="UI")
    def ui_links(self, obj: XCom) -> str:
        args = [obj.dag_run.dag.dag_id, obj.dag_run.run_id, obj.task_id]
        return _link(reverse("runs:task-instance", args=args), "Task instance")


def _slots_in(state: str) -> Subquery:
    used = (
        TaskInstance.objects.filter(pool=OuterRef("name"), state=state)
        .order_by()
        .values("pool")
        .annotate(used=Sum("pool_slots"))
        .values("used")
    )
    return Coalesce(Subquery(used), Value(0))


@admin.register(Pool)
class PoolAdmin(admin.ModelAdmin):
    """Airflow's Admin > Pools: slots, and the pool slots running and queued task instances hold
    and those still open (one query for the page, the counts as subqueries)."""

    list_display = ["name", "slots", "running_slots", "queued_slots", "open_slots", "description"]
    search_fields = ["name", "description"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                running_slots=_slots_in(TaskInstanceState.RUNNING), queued_slots=_slots_in(TaskInstanceState.QUEUED)
            )
        )

    @admin.display(description="running slots", ordering="running_slots")
    def running_slots(self, obj: Pool) -> int:
        return obj.running_slots

    @admin.display(description="queued slots", ordering="queued_slots")
    def queued_slots(self, obj: Pool) -> int:
        return obj.queued_slots

    @admin.display(description="open slots")
    def open_slots(self, obj: Pool) -> str | int:
        return "unlimited" if obj.slots < 0 else obj.slots - obj.running_slots - obj.queued_slots

    def has_delete_permission(self, request: HttpRequest, obj: Pool | None = None) -> bool:
        if obj is not None and obj.name == Pool.DEFAULT_POOL_NAME:
            return False
        return super().has_delete_permission(request, obj)


class KeyedServiceAdmin(admin.ModelAdmin):
    """An admin whose rows are named by ``key_field`` and saved and deleted only through the
    services (audited, and the same code as the CLI): ``save_by_service(request, obj, form,
    change)`` and ``delete_by_service(request, key)``. Renaming a row deletes the old name."""

    key_field = ""

    def save_by_service(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> Model:
        raise NotImplementedError

    def delete_by_service(self, request: HttpRequest, key: str) -> None:
        raise NotImplementedError

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change and self.key_field in form.changed_data:
            self.delete_by_service(request, form.initial[self.key_field])
        obj.pk = self.save_by_service(request, obj, form, change).pk

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.delete_by_service(request, getattr(obj, self.key_field))

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for key in list(queryset.values_list(self.key_field, flat=True)):
            self.delete_by_service(request, key)


class VariableForm(forms.ModelForm):
    """The admin's variable form: a sensitive variable's value is never sent back to the browser
    (left empty, the stored value is kept), as a connection's password."""

    class Meta:
        model = Variable
        fields = ["key", "val", "description"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hidden_value = bool(self.instance.pk and should_hide_value_for_key(self.instance.key))
        if self.hidden_value:
            self.initial["val"] = ""
            self.fields["val"].required = False
            self.fields["val"].help_text = "A sensitive value: it is not shown. Leave empty to keep the stored value."

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.hidden_value and not data.get("val"):
            data["val"] = Variable.objects.filter(pk=self.instance.pk).values_list("val", flat=True).first() or ""
            self.instance.val = data["val"]
        return data


@admin.register(Variable)
class VariableAdmin(KeyedServiceAdmin):
    """Airflow's Admin > Variables (Op and Admin): the value of a sensitive key is shown as ``***``
    in the list; saving and deleting go through the same services as the CLI."""

    form = VariableForm
    list_display = ["key", "shown_value", "description"]
    search_fields = ["key", "description"]
    fields = ["key", "val", "description"]

    @admin.display(description="value")
    def shown_value(self, obj: Variable) -> str:
        if should_hide_value_for_key(obj.key):
            return MASK
        return obj.val if len(obj.val) <= 200 else obj.val[:200] + "..."

    key_field = "key"

    def save_by_service(self, request: HttpRequest, obj: Variable, form: Any, change: bool) -> Variable:
        return services.variable_set(
            key=obj.key, value=obj.val, description=obj.description, user=request.user, source="admin"
        )

    def delete_by_service(self, request: HttpRequest, key: str) -> None:
        services.variable_delete(key=key, user=request.user, source="admin")


def _masked_extra(extra: str) -> str:
    try:
        value = json.loads(extra) if extra else None
    except ValueError:
        return extra
    if not isinstance(value, dict):
        return extra
    return json.dumps(
        {k: MASK if should_hide_value_for_key(k) and v not in (None, "") else v for k, v in value.items()}
    )


def _unmasked_extra(submitted: str, stored: str) -> str:
    """The submitted extra, each sensitive field left as *** taking back its stored value."""
    try:
        value, old = json.loads(submitted) if submitted else None, json.loads(stored) if stored else {}
    except ValueError:
        return submitted  # the service reports the bad JSON
    if not isinstance(value, dict) or not isinstance(old, dict):
        return submitted
    return json.dumps({k: old.get(k, v) if v == MASK and should_hide_value_for_key(k) else v for k, v in value.items()})


class ConnectionForm(forms.ModelForm):
    """The admin's connection form: the password is never sent back to the browser (left empty,
    the stored one is kept) and the extra is edited as JSON; both are encrypted by the service."""

    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored password.",
    )
    extra = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), help_text="A JSON object.")
    clear_password = forms.BooleanField(required=False, label="Remove the stored password")

    class Meta:
        model = Connection
        fields = ["conn_id", "conn_type", "description", "host", "schema", "login", "port"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # The extra's sensitive fields are shown as ***; saved back as *** they keep their value.
            self.fields["extra"].initial = _masked_extra(self.instance.extra)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        password = data.get("password") or ""
        if self.instance.pk and not password and not data.get("clear_password"):
            password = self.instance.password
        self.service_fields = {
            "conn_type": data.get("conn_type"),
            "description": data.get("description"),
            "host": data.get("host"),
            "schema": data.get("schema"),
            "login": data.get("login"),
            "port": data.get("port"),
            "password": password,
            "extra": _unmasked_extra(data.get("extra") or "", self.instance.extra if self.instance.pk else ""),
        }
        try:
            services.connection_fields_check(data.get("conn_id") or "", self.service_fields)
        except ServiceError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(Connection)
class ConnectionAdmin(KeyedServiceAdmin):
    """Airflow's Admin > Connections (Op and Admin): secrets are never shown, and saving goes
    through the same service as the CLI (which encrypts them)."""

    form = ConnectionForm
    list_display = ["conn_id", "conn_type", "description", "host", "port", "login", "has_password"]
    search_fields = ["conn_id", "conn_type", "host", "description"]
    fieldsets = [
        (None, {"fields": ["conn_id", "conn_type", "description"]}),
        ("Where", {"fields": ["host", "schema", "port"]}),
        ("Credentials", {"fields": ["login", "password", "clear_password", "extra"]}),
    ]

    @admin.display(description="password", boolean=True)
    def has_password(self, obj: Connection) -> bool:
        return bool(obj.encrypted_password)

    key_field = "conn_id"

    def save_by_service(self, request: HttpRequest, obj: Connection, form: Any, change: bool) -> Connection:
        return services.connection_set(
            conn_id=obj.conn_id, fields=form.service_fields, replace=change, user=request.user, source="admin"
        )

    def delete_by_service(self, request: HttpRequest, key: str) -> None:
        services.connection_delete(conn_id=key, user=request.user, source="admin")


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ["job_type", "hostname", "pid", "start_date", "latest_heartbeat", "end_date"]
    list_filter = ["job_type", "latest_heartbeat"]
    search_fields = ["hostname"]


@admin.register(AuditLog)
class AuditLogAdmin(DagAccessMixin, ReadOnlyAdmin):
    dag_id_field = "dag_id"
    list_display = ["when", "username", "event", "source", "dag_id", "run_id", "task_id", "short_extra"]
    list_filter = ["event", "source", "when"]
    search_fields = ["username", "dag_id", "run_id", "task_id"]
    readonly_fields = ["when", "user", "username", "event", "source", "dag_id", "run_id", "task_id", "extra"]

    @admin.display(description="extra")
    def short_extra(self, obj: AuditLog) -> str:
        return short_json(obj.extra) if obj.extra else ""


# -- Asset events ----------------------------------------------------------------------------------


@admin.register(AssetEvent)
class AssetEventAdmin(DagAccessMixin, ReadOnlyAdmin):
    """Asset events are written with the producing success (or by hand): read-only here. An event
    of a DAG hidden from the user is left out, as its audit rows are. The extra, which a task may
    have given a secret, is shown masked on the event's page only (masking costs queries per call)."""

    dag_id_field = "source_dag_id"
    list_display = ["asset", "timestamp", "source_dag_id", "source_task_id", "source_run_id", "source_map_index"]
    list_filter = ["timestamp", "asset__group"]
    search_fields = ["asset__name", "asset__uri", "source_dag_id", "source_task_id", "source_run_id"]
    list_select_related = ["asset"]
    readonly_fields = [
        "asset",
        "timestamp",
        "masked_extra",
        "source_dag_id",
        "source_task_id",
        "source_run_id",
        "source_map_index",
        "source_alias",
        "source_task_instance",
        "created_dagruns",
    ]
    fields = readonly_fields

    @admin.display(description="extra")
    def masked_extra(self, obj: AssetEvent) -> str:
        return json.dumps(PageMasker().value(obj.extra), indent=2, sort_keys=True, default=str)


@admin.register(AssetDagRunQueue)
class AssetDagRunQueueAdmin(DagAccessMixin, ReadOnlyAdmin):
    """The assets updated since a DAG scheduled on them last ran (the scheduler consumes them)."""

    dag_path = "target_dag"
    list_display = ["asset", "target_dag", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["asset__name", "target_dag__dag_id"]
    list_select_related = ["asset", "target_dag"]
    readonly_fields = ["asset", "target_dag", "created_at"]


# -- The django-rq dashboard, for Admins only -----------------------------------------------------


def superuser_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap ``view`` so that a signed-in user who is not an Admin (superuser) gets a 403.

    Anonymous requests pass through to the view's own guard (the admin login redirect).
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and not request.user.is_superuser:
            raise PermissionDenied("Only Admins may open the queue dashboard.")
        from rq.exceptions import NoSuchJobError

        try:
            return view(request, *args, **kwargs)
        except (NoSuchJobError, ValueError) as exc:
            # django-rq's pages raise on an unknown (or expired) job id, or a malformed worker key,
            # taken from the URL: that is a 404, not a 500.
            raise Http404(f"No such job or worker: {exc}") from None
        except ImproperlyConfigured as exc:  # its rq-scheduler pages, without rq-scheduler
            raise Http404(f"Not available here: {exc}") from None

    return wrapper


def _is_object_page(url: URLPattern) -> bool:
    name = url.name or ""
    return name.endswith(("_add", "_change", "_history", "_delete")) or (not name and "object_id" in str(url.pattern))


class AdminsOnlyQueueAdmin(QueueAdmin):
    """django-rq's dashboard (``admin:django_rq_home``), shown to and served for Admins only."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def get_urls(self) -> list[URLPattern]:
        return [
            URLPattern(url.pattern, superuser_only(url.callback), url.default_args, url.name)
            if isinstance(url, URLPattern)
            else url
            for url in super().get_urls()
            # The dashboard is no table: ModelAdmin's object pages (add, change, history, delete)
            # would only fail on it with a 500.
            if not (isinstance(url, URLPattern) and _is_object_page(url))
        ]


# The admin carries the product's name (templates/admin/base_site.html adds its icon and links).
admin.site.site_header = "Administration"
admin.site.site_title = "Orchestrator admin"
admin.site.index_title = "Connections, variables, pools, users and the metastore"

if admin.site.is_registered(Dashboard):
    admin.site.unregister(Dashboard)
    admin.site.register(Dashboard, AdminsOnlyQueueAdmin)

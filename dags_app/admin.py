"""Admin for parse results: import errors, tags, the parse bookkeeping and the assets DAGs name
(all read-only).

``DagModel``'s admin lives in ``runs_app.admin``: its actions (trigger, pause, delete) are run
services, and definitions never import executions.
"""

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from dags_app.models import AssetAliasModel, AssetModel, DagAssetReference, DagFile, DagImportError, DagModel, DagTag
from orchestrator_site.access import hidden_dags, readable, sees_every_dag, without_hidden_files


class DagAccessMixin:
    """Leave rows of DAGs hidden from the user by their access_control out of the admin.

    ``dag_path`` leads from the model to its DagModel ("" for DagModel itself); set
    ``dag_id_field`` instead for rows that keep the DAG id as text, ``file_field`` for rows about
    DAG files. Lists, change pages (a hidden row "does not exist") and actions all start here.
    """

    dag_path: str | None = None
    dag_id_field: str | None = None
    file_field: str | None = None

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        user = request.user
        if self.dag_path is not None:
            return readable(user, queryset, self.dag_path)
        if self.dag_id_field and not sees_every_dag(user):
            hidden = hidden_dags(user, DagModel.objects.all()).values("dag_id")
            return queryset.exclude(**{f"{self.dag_id_field}__in": hidden})
        if self.file_field:
            return without_hidden_files(user, queryset, self.file_field)
        return queryset


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the scheduler owns: visible, never edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(DagImportError)
class DagImportErrorAdmin(DagAccessMixin, ReadOnlyAdmin):
    file_field = "filename"
    list_display = ["filename", "first_line", "timestamp"]
    search_fields = ["filename", "message"]
    list_filter = ["timestamp"]
    readonly_fields = ["filename", "message", "stacktrace", "timestamp"]

    @admin.display(description="error")
    def first_line(self, obj: DagImportError) -> str:
        return obj.message.splitlines()[0] if obj.message else ""


@admin.register(DagTag)
class DagTagAdmin(DagAccessMixin, ReadOnlyAdmin):
    dag_path = "dag"
    list_display = ["name", "dag"]
    list_filter = ["name"]
    search_fields = ["name", "dag__dag_id"]
    list_select_related = ["dag"]


@admin.register(DagFile)
class DagFileAdmin(DagAccessMixin, ReadOnlyAdmin):
    file_field = "path"
    list_display = ["path", "last_parsed", "size", "short_hash"]
    search_fields = ["path"]
    list_filter = ["last_parsed"]
    readonly_fields = ["path", "mtime", "size", "source_hash", "last_parsed", "dag_ids"]

    @admin.display(description="hash")
    def short_hash(self, obj: DagFile) -> str:
        return obj.source_hash[:12]


@admin.register(AssetModel)
class AssetModelAdmin(ReadOnlyAdmin):
    """Assets as the parse and the events wrote them; "View on site" opens the Assets page."""

    list_display = ["name", "uri", "group", "event_count", "updated_at"]
    list_filter = ["group", "updated_at"]
    search_fields = ["name", "uri"]
    readonly_fields = ["name", "uri", "group", "extra", "created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The events are runs_app's rows: counted through the reverse relation, never imported.
        return super().get_queryset(request).annotate(event_count=Count("events"))

    @admin.display(description="events", ordering="event_count")
    def event_count(self, obj: AssetModel) -> int:
        return obj.event_count


@admin.register(AssetAliasModel)
class AssetAliasModelAdmin(ReadOnlyAdmin):
    list_display = ["name", "group", "asset_names"]
    search_fields = ["name", "assets__name"]
    readonly_fields = ["name", "group", "assets"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("assets")

    @admin.display(description="assets attached")
    def asset_names(self, obj: AssetAliasModel) -> str:
        return ", ".join(asset.name for asset in obj.assets.all())


@admin.register(DagAssetReference)
class DagAssetReferenceAdmin(DagAccessMixin, ReadOnlyAdmin):
    dag_path = "dag"
    list_display = ["dag", "kind", "task_id", "asset", "alias"]
    list_filter = ["kind"]
    search_fields = ["dag__dag_id", "task_id", "asset__name", "alias__name"]
    list_select_related = ["dag", "asset", "alias"]
    readonly_fields = ["dag", "kind", "task_id", "asset", "alias"]

"""Admin for parse results: import errors, tags and the parse bookkeeping (all read-only).

``DagModel``'s admin lives in ``runs_app.admin``: its actions (trigger, pause, delete) are run
services, and definitions never import executions.
"""

from django.contrib import admin
from django.http import HttpRequest

from dags_app.models import DagFile, DagImportError, DagTag


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the scheduler owns: visible, never edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(DagImportError)
class DagImportErrorAdmin(ReadOnlyAdmin):
    list_display = ["filename", "first_line", "timestamp"]
    search_fields = ["filename", "message"]
    list_filter = ["timestamp"]
    readonly_fields = ["filename", "message", "stacktrace", "timestamp"]

    @admin.display(description="error")
    def first_line(self, obj: DagImportError) -> str:
        return obj.message.splitlines()[0] if obj.message else ""


@admin.register(DagTag)
class DagTagAdmin(ReadOnlyAdmin):
    list_display = ["name", "dag"]
    list_filter = ["name"]
    search_fields = ["name", "dag__dag_id"]
    list_select_related = ["dag"]


@admin.register(DagFile)
class DagFileAdmin(ReadOnlyAdmin):
    list_display = ["path", "last_parsed", "size", "short_hash"]
    search_fields = ["path"]
    list_filter = ["last_parsed"]
    readonly_fields = ["path", "mtime", "size", "source_hash", "last_parsed", "dag_ids"]

    @admin.display(description="hash")
    def short_hash(self, obj: DagFile) -> str:
        return obj.source_hash[:12]

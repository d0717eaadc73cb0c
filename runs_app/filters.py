"""FilterSets of the browse pages (django-filter): DAG runs, task instances, XComs, audit log, assets.

Parameter names are part of the UI's contract: the DAG list's run circles link to the DAG runs
page with ``?dag_id=<id>&state=<state>``, so those two names stay as they are. A ``dag_id``
filter matches the id exactly (a link narrows to one DAG); task ids, keys and usernames match
by substring, as a search box would.

A value that does not validate (an unknown state, a malformed date) is shown as a form error and
that filter is ignored; the page never fails.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django_filters.widgets import DateRangeWidget, SuffixedMultiWidget

from dags_app.models import AssetModel
from runs_app.models import AuditLog, DagRun, TaskInstance, XCom
from runs_app.states import AuditEvent, DagRunState, DagRunType, TaskInstanceState


class DateInput(forms.DateInput):
    """A browser date picker; its value is ISO (``YYYY-MM-DD``), which ``DateField`` parses."""

    input_type = "date"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%d")


class DatePickerRange(DateRangeWidget):
    """``<name>_after`` and ``<name>_before`` date pickers (both days included)."""

    def __init__(self, attrs: dict | None = None) -> None:
        SuffixedMultiWidget.__init__(self, (DateInput(), DateInput()), attrs)


def date_range(field_name: str, label: str) -> django_filters.DateFromToRangeFilter:
    return django_filters.DateFromToRangeFilter(field_name=field_name, label=label, widget=DatePickerRange())


class BrowseFilterSet(django_filters.FilterSet):
    """A FilterSet whose form widgets carry Bootstrap's small form classes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.form.fields.items():
            widgets = getattr(field.widget, "widgets", [field.widget])
            for widget in widgets:
                if isinstance(widget, forms.Select):
                    widget.attrs["class"] = "form-select form-select-sm"
                elif isinstance(widget, DateInput):
                    widget.attrs["class"] = "form-control form-control-sm d-inline-block w-auto"
                    widget.attrs["aria-label"] = f"{field.label} {'from' if widget is widgets[0] else 'to'}"
                else:
                    widget.attrs["class"] = "form-control form-control-sm"
                    widget.attrs.setdefault("placeholder", field.label)
            if name == "dag_id":
                # Suggestions from the page's <datalist id="dag-ids">.
                field.widget.attrs["list"] = "dag-ids"


class DagRunFilter(BrowseFilterSet):
    dag_id = django_filters.CharFilter(field_name="dag__dag_id", label="DAG id")
    run_id = django_filters.CharFilter(field_name="run_id", lookup_expr="icontains", label="Run id contains")
    state = django_filters.ChoiceFilter(choices=DagRunState.choices, empty_label="Any state", label="State")
    run_type = django_filters.ChoiceFilter(choices=DagRunType.choices, empty_label="Any run type", label="Run type")
    logical_date = date_range("logical_date", "Logical date")

    class Meta:
        model = DagRun
        fields: list[str] = []


class TaskInstanceFilter(BrowseFilterSet):
    dag_id = django_filters.CharFilter(field_name="dag__dag_id", label="DAG id")
    run_id = django_filters.CharFilter(field_name="dag_run__run_id", label="Run id")
    task_id = django_filters.CharFilter(field_name="task_id", lookup_expr="icontains", label="Task id contains")
    state = django_filters.ChoiceFilter(choices=TaskInstanceState.choices, empty_label="Any state", label="State")
    pool = django_filters.CharFilter(field_name="pool", label="Pool")
    queue = django_filters.CharFilter(field_name="queue", label="Queue")
    operator = django_filters.CharFilter(field_name="operator", lookup_expr="icontains", label="Operator")
    logical_date = date_range("dag_run__logical_date", "Logical date")

    class Meta:
        model = TaskInstance
        fields: list[str] = []


class XComFilter(BrowseFilterSet):
    dag_id = django_filters.CharFilter(field_name="dag_run__dag__dag_id", label="DAG id")
    run_id = django_filters.CharFilter(field_name="dag_run__run_id", label="Run id")
    task_id = django_filters.CharFilter(field_name="task_id", lookup_expr="icontains", label="Task id contains")
    key = django_filters.CharFilter(field_name="key", lookup_expr="icontains", label="Key contains")

    class Meta:
        model = XCom
        fields: list[str] = []


class AuditLogFilter(BrowseFilterSet):
    event = django_filters.ChoiceFilter(choices=AuditEvent.choices, empty_label="Any event", label="Event")
    username = django_filters.CharFilter(field_name="username", lookup_expr="icontains", label="User contains")
    dag_id = django_filters.CharFilter(field_name="dag_id", label="DAG id")
    source = django_filters.CharFilter(field_name="source", label="Source")
    when = date_range("when", "When")

    class Meta:
        model = AuditLog
        fields: list[str] = []


class AssetFilter(BrowseFilterSet):
    search = django_filters.CharFilter(method="filter_search", label="Name or URI contains")

    class Meta:
        model = AssetModel
        fields: list[str] = []

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(name__icontains=value) | Q(uri__icontains=value))

"""Forms of the web UI; invalid input becomes a form error, never a 500."""

from __future__ import annotations

from django import forms

from dags_app.errors import ServiceError
from runs_app.conf import parse_conf


class TriggerForm(forms.Form):
    """Trigger a manual run: logical date (default now) and a JSON object as conf."""

    logical_date = forms.DateTimeField(
        required=False,
        help_text="Leave empty for now. ISO format, e.g. 2022-01-01 or 2022-01-01 10:00 (UTC).",
        widget=forms.DateTimeInput(attrs={"placeholder": "YYYY-MM-DD HH:MM"}),
    )
    run_id = forms.CharField(required=False, max_length=250, help_text="Optional; generated when empty.")
    conf = forms.CharField(
        required=False,
        initial="{}",
        widget=forms.Textarea(attrs={"rows": 6, "class": "font-monospace"}),
        help_text="A JSON object passed to the run as dag_run.conf (and overriding params).",
    )

    def clean_conf(self) -> dict:
        try:
            return parse_conf(self.cleaned_data.get("conf"))
        except ServiceError as exc:
            raise forms.ValidationError(str(exc)) from None


class ClearForm(forms.Form):
    """Options of a clear: which related tasks to include."""

    upstream = forms.BooleanField(required=False, label="Upstream")
    downstream = forms.BooleanField(required=False, initial=True, label="Downstream")
    only_failed = forms.BooleanField(required=False, label="Only failed")


class MarkForm(forms.Form):
    """Options of a mark success/failed: which related tasks to include."""

    upstream = forms.BooleanField(required=False, label="Upstream")
    downstream = forms.BooleanField(required=False, label="Downstream")

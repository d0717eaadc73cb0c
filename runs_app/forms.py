"""Forms of the web UI; invalid input becomes a form error, never a 500."""

from __future__ import annotations

import json
from typing import Any

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

    def __init__(self, *args: Any, params: dict[str, dict[str, Any]] | None = None, **kwargs: Any) -> None:
        """``params``: the DAG's param specs; each gets a field of its type, filled with its default."""
        super().__init__(*args, **kwargs)
        self.params = params or {}
        conf = self.fields.pop("conf")
        for name, spec in self.params.items():
            self.fields[PARAM_PREFIX + name] = _param_field(name, spec)
        if self.params:
            conf.help_text = "A JSON object passed to the run as dag_run.conf; the params above are merged into it."
        self.fields["conf"] = conf

    def clean_conf(self) -> dict:
        try:
            return parse_conf(self.cleaned_data.get("conf"))
        except ServiceError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "conf" not in data:
            return data
        conf = dict(data["conf"])
        for name, spec in self.params.items():
            key = PARAM_PREFIX + name
            if key not in data:
                continue
            try:
                value = _param_value(data[key], spec)
            except ValueError as exc:
                self.add_error(key, f"Not valid JSON: {exc}")
                continue
            if value is not _OMIT:
                conf[name] = value
        data["conf"] = conf
        return data


PARAM_PREFIX = "param__"
_OMIT = object()


def _types(spec: dict[str, Any]) -> list[str]:
    """The param's JSON types but null: from its schema, or, for a plain value, its default's type."""
    kind = (spec.get("schema") or {}).get("type")
    if kind is None:
        default = spec.get("default")
        inferred = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "object", list: "array"}
        kind = inferred.get(type(default))
    types = [kind] if isinstance(kind, str) else list(kind or [])
    return [t for t in types if t != "null"]


def _param_field(name: str, spec: dict[str, Any]) -> forms.Field:
    """A form field for one param, by its schema: a checkbox, a number, a select, a date, a JSON
    text or a text field, with the param's description as help."""
    schema = spec.get("schema") or {}
    default = spec.get("default")
    types = _types(spec)
    options: dict[str, Any] = {
        "required": False,
        "label": schema.get("title") or name,
        "help_text": spec.get("description") or schema.get("description") or "",
    }
    if "enum" in schema:
        labels = schema.get("values_display") or {}
        choices = [(json.dumps(v), labels.get(str(v), str(v))) for v in schema["enum"]]
        return forms.ChoiceField(choices=choices, initial=json.dumps(default), **options)
    if types == ["boolean"]:
        return forms.BooleanField(initial=bool(default), **options)
    if types and set(types) <= {"integer", "number"}:
        field = forms.IntegerField if types == ["integer"] else forms.FloatField
        bounds = {k: schema[k] for k in ("minimum", "maximum") if k in schema}
        return field(initial=default, min_value=bounds.get("minimum"), max_value=bounds.get("maximum"), **options)
    if types == ["string"] and schema.get("format") in ("date", "date-time", "time"):
        kind = {"date": "date", "date-time": "datetime-local", "time": "time"}[schema["format"]]
        return forms.CharField(initial=default, widget=forms.TextInput(attrs={"type": kind}), **options)
    if set(types) & {"array", "object"}:
        widget = forms.Textarea(attrs={"rows": 3, "class": "font-monospace"})
        return forms.CharField(initial=json.dumps(default, indent=2), widget=widget, **options)
    return forms.CharField(initial="" if default is None else str(default), **options)


def _param_value(raw: Any, spec: dict[str, Any]) -> Any:
    """The conf value of a param field (``_OMIT``: left empty, the default applies)."""
    schema = spec.get("schema") or {}
    types = _types(spec)
    if "enum" in schema:
        return json.loads(raw) if raw else _OMIT
    if isinstance(raw, bool | int | float):
        return raw
    if raw is None or raw == "":
        return _OMIT
    if set(types) & {"array", "object"}:
        return json.loads(raw)  # a ValueError is the field's error
    if schema.get("format") == "date-time" and len(raw) == 16:
        return raw + ":00+00:00"  # the browser's datetime-local has no seconds and no zone (UTC here)
    return raw


class ClearForm(forms.Form):
    """Options of a clear: which related tasks to include."""

    upstream = forms.BooleanField(required=False, label="Upstream")
    downstream = forms.BooleanField(required=False, initial=True, label="Downstream")
    only_failed = forms.BooleanField(required=False, label="Only failed")


class MarkForm(forms.Form):
    """Options of a mark success/failed: which related tasks to include."""

    upstream = forms.BooleanField(required=False, label="Upstream")
    downstream = forms.BooleanField(required=False, label="Downstream")


class GridFilterForm(forms.Form):
    """The grid's filters, as Airflow's: how many runs, of which type and state, up to which date."""

    NUM_RUNS = (5, 10, 25, 50, 100, 365)

    num_runs = forms.TypedChoiceField(
        label="Runs", choices=[(n, n) for n in NUM_RUNS], coerce=int, required=False, empty_value=25
    )
    run_type = forms.ChoiceField(label="Run type", required=False)
    run_state = forms.ChoiceField(label="Run state", required=False)
    base_date = forms.DateTimeField(
        label="Up to",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}),
        input_formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"],
        help_text="Show the runs of this logical date and before",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from runs_app.states import DagRunState, DagRunType

        super().__init__(*args, **kwargs)
        self.fields["run_type"].choices = [("", "All types"), *DagRunType.choices]
        self.fields["run_state"].choices = [("", "All states"), *DagRunState.choices]
        for name in ("num_runs", "run_type", "run_state"):
            self.fields[name].widget.attrs.update({"class": "form-select form-select-sm", "data-autosubmit": ""})
        self.fields["base_date"].widget.attrs["class"] = "form-control form-control-sm"

    def values(self) -> dict[str, Any]:
        """The valid filters (defaults for any field that is not): the grid never fails on them."""
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "num_runs": data.get("num_runs") or 25,
            "run_type": data.get("run_type") or None,
            "run_state": data.get("run_state") or None,
            "base_date": data.get("base_date"),
        }

    def query(self) -> dict[str, str]:
        """The filters a link or a poll must carry on (only those set and valid)."""
        values = self.values()
        out = {}
        if values["num_runs"] != 25:
            out["num_runs"] = str(values["num_runs"])
        for key in ("run_type", "run_state"):
            if values[key]:
                out[key] = values[key]
        if values["base_date"] is not None:
            out["base_date"] = self.data.get("base_date", "")
        return out

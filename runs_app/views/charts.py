"""Per-DAG charts: Gantt, calendar, durations, tries and landing times, drawn as SVG on the server.

Each view runs a fixed number of queries whatever the number of runs: the runs in one query,
their task instances in one more, the calendar as one aggregate grouped by day and state (the
tests pin the counts). The SVG itself is built by ``runs_app.charts`` from plain values.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from dags_app.models import DagModel
from orchestrator_site.access import get_dag
from runs_app import charts, selectors
from runs_app.models import DagRun, TaskInstance
from runs_app.states import DagRunState
from runs_app.views.common import dag_page_context, selected_run

NUM_RUNS_DEFAULT = 25
NUM_RUNS_CHOICES = [5, 10, 25, 50, 100, 365]
NUM_RUNS_MAX = 365
# Runs offered by the Gantt's run selector (the selected run is added if older).
RUN_CHOICES = 50
# Years of the calendar: the latest ones that have runs.
CALENDAR_YEARS = 5


def _task_order(dag: DagModel, task_ids: Sequence[str]) -> list[str]:
    """Return the DAG's task ids in its (topological) order, then any others found in ``task_ids``."""
    known = dag.task_ids
    extra = sorted(set(task_ids) - set(known))
    return [*known, *extra]


def _ti_url(dag: DagModel, run: DagRun, task_id: str) -> str:
    return reverse("runs:task-instance", args=[dag.dag_id, run.run_id, task_id])


def gantt(request: HttpRequest, dag_id: str) -> HttpResponse:
    """Show how long each task of one run (``?run_id=``, default the latest) queued and ran."""
    dag = get_dag(request, dag_id)
    run = selected_run(dag, request)
    runs = list(
        DagRun.objects.filter(dag=dag)
        .order_by("-logical_date")
        .only("id", "run_id", "logical_date", "state", "dag_id")[:RUN_CHOICES]
    )
    if run is not None and all(r.pk != run.pk for r in runs):
        runs.insert(0, run)
    chart = None
    task_count = 0
    if run is not None:
        tis: dict[str, list[TaskInstance]] = defaultdict(list)
        for ti in TaskInstance.objects.filter(dag_run=run).defer("rendered_fields").order_by("map_index"):
            tis[ti.task_id].append(ti)
        task_count = len(tis)
        # One bar per task instance: a mapped task has one per instance, named as in the grid.
        rows = [
            charts.GanttRow(
                label=ti.display_name,
                state=ti.state,
                try_number=ti.try_number,
                queued_at=ti.queued_at,
                start_date=ti.start_date,
                end_date=ti.end_date,
                href=_ti_url(dag, run, task_id) + (f"?{ti.map_index_query}" if ti.map_index >= 0 else ""),
            )
            for task_id in _task_order(dag, list(tis))
            for ti in tis.get(task_id, [])
        ]
        chart = charts.gantt_svg(rows, now=timezone.now())
    return render(
        request,
        "runs_app/gantt.html",
        {
            **dag_page_context(dag, "Gantt"),
            "run": run,
            "runs": runs,
            "chart": chart,
            "task_count": task_count,
            "state_colors": charts.STATE_COLORS,
        },
    )


def calendar(request: HttpRequest, dag_id: str) -> HttpResponse:
    """Show a heatmap of the DAG's runs per day (by logical date, UTC), a year per row."""
    dag = get_dag(request, dag_id)
    days: dict[dt.date, dict[str, int]] = defaultdict(dict)
    totals: dict[str, int] = defaultdict(int)
    # One aggregate for every day and state; order_by() drops the model's ordering from GROUP BY.
    for day, state, n in (
        DagRun.objects.filter(dag=dag)
        .annotate(day=TruncDate("logical_date", tzinfo=dt.UTC))
        .values_list("day", "state")
        .annotate(n=Count("id"))
        .order_by()
    ):
        days[day][state] = n
        totals[state] += n
    today = timezone.now().astimezone(dt.UTC).date()
    all_years = sorted({day.year for day in days} or {today.year}, reverse=True)
    years = all_years[:CALENDAR_YEARS]
    busiest = max((sum(counts.values()) for counts in days.values()), default=1)
    year_totals: dict[int, int] = defaultdict(int)
    for day, counts in days.items():
        year_totals[day.year] += sum(counts.values())
    calendars = [
        (year, year_totals[year], charts.calendar_svg(year, days, busiest=busiest, today=today)) for year in years
    ]
    legend = [(state.value, charts.STATE_COLORS[state.value]) for state in DagRunState]
    return render(
        request,
        "runs_app/calendar.html",
        {
            **dag_page_context(dag, "Calendar"),
            "calendars": calendars,
            "hidden_years": all_years[CALENDAR_YEARS:],
            "totals": sorted(totals.items()),
            "run_total": sum(totals.values()),
            "legend": legend,
            "empty_color": charts.EMPTY_DAY_COLOR,
        },
    )


def _num_runs(request: HttpRequest) -> int:
    """Return ``?num_runs=`` clamped to 1..NUM_RUNS_MAX (the default when missing or not a number)."""
    try:
        value = int(request.GET.get("num_runs", NUM_RUNS_DEFAULT))
    except ValueError:
        value = NUM_RUNS_DEFAULT
    return min(max(value, 1), NUM_RUNS_MAX)


# A chart's value for one task instance of one run: (value, tooltip line), or None for no point.
Measure = Callable[[TaskInstance, DagRun], tuple[float, str] | None]


def _series(
    dag: DagModel, runs: Sequence[DagRun], tis: dict[int, dict[str, TaskInstance]], measure: Measure
) -> list[charts.Series]:
    """Return one series per task: a point per run, ``measure``d from that run's task instance."""
    seen = {task_id for by_task in tis.values() for task_id in by_task}
    result = []
    for task_id in _task_order(dag, list(seen)):
        series = charts.Series(name=task_id)
        for run in runs:
            ti = tis.get(run.pk, {}).get(task_id)
            measured = measure(ti, run) if ti is not None else None
            if measured is None:
                series.points.append(charts.Point(value=None))
                continue
            value, text = measured
            title = f"{task_id}\nRun: {run.run_id}\nLogical date: {charts.format_time(run.logical_date)}\n{text}"
            series.points.append(charts.Point(value=value, title=title, href=_ti_url(dag, run, task_id)))
        if task_id in seen:
            result.append(series)
    return result


def _scale(series: list[charts.Series], divisor: float) -> None:
    """Divide every value of ``series`` by ``divisor`` (seconds into the axis's unit)."""
    for s in series:
        for point in s.points:
            if point.value is not None:
                point.value /= divisor


def _line_chart_page(
    request: HttpRequest,
    dag_id: str,
    *,
    tab: str,
    template: str,
    measure: Measure,
    y_title: str,
    seconds: bool,
) -> HttpResponse:
    """Render one of the per-run line charts over the last ``?num_runs=`` runs (two queries for the data)."""
    dag = get_dag(request, dag_id)
    num_runs = _num_runs(request)
    runs = selectors.dag_runs_for_grid(dag, limit=num_runs)
    tis = selectors.task_instances_by_run(runs, mapped=any(t.get("is_mapped") for t in dag.tasks))
    series = _series(dag, runs, tis, measure)
    if seconds:
        largest = max((abs(p.value) for s in series for p in s.points if p.value is not None), default=0.0)
        unit, divisor = charts.time_unit(largest)
        _scale(series, divisor)
        y_title = f"{y_title} ({unit})"
    categories = [run.logical_date.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") for run in runs]
    chart = charts.line_chart_svg(categories, series, y_title=y_title, integer=not seconds, label=f"{tab} chart")
    return render(
        request,
        template,
        {
            **dag_page_context(dag, tab),
            "chart": chart,
            "num_runs": num_runs,
            "num_runs_choices": sorted({*NUM_RUNS_CHOICES, num_runs}),
            "run_count": len(runs),
            "first_run": runs[0] if runs else None,
            "last_run": runs[-1] if runs else None,
        },
    )


def _mapped(ti: TaskInstance) -> str:
    """`` over its N mapped instances`` for a mapped task's point (its instances taken together)."""
    return f" over its {ti.mapped_count} mapped instances" if ti.mapped_count else ""


def _span(ti: TaskInstance) -> tuple[dt.datetime | None, dt.datetime | None]:
    """When the task started and ended: for a mapped task, its first instance's start and its last
    one's end (no end while one is unfinished)."""
    if ti.mapped_count:
        return ti.mapped_start, ti.mapped_end
    return ti.start_date, ti.end_date


def _duration(ti: TaskInstance, run: DagRun) -> tuple[float, str] | None:
    start, end = _span(ti)
    if ti.duration is not None and not ti.mapped_count:
        seconds = ti.duration  # a try's own duration (a mapped task has none: its span is taken)
    elif start and end:
        seconds = (end - start).total_seconds()
    else:
        return None
    return seconds, f"Duration: {charts.format_seconds(seconds)}{_mapped(ti)} ({ti.state})"


def _tries(ti: TaskInstance, run: DagRun) -> tuple[float, str] | None:
    if ti.mapped_count:
        return float(ti.mapped_max_try), f"Tries: at most {ti.mapped_max_try}{_mapped(ti)} ({ti.state})"
    return float(ti.try_number), f"Tries: {ti.try_number} ({ti.state})"


def _landing_time(ti: TaskInstance, run: DagRun) -> tuple[float, str] | None:
    """Return the time from the end of the run's data interval (when it was due) to the task's end."""
    _, end = _span(ti)
    if end is None:
        return None
    due = run.data_interval_end or run.logical_date
    seconds = (end - due).total_seconds()
    return seconds, f"Landed {charts.format_seconds(seconds)}{_mapped(ti)} after {charts.format_time(due)} ({ti.state})"


def durations(request: HttpRequest, dag_id: str) -> HttpResponse:
    """Chart how long each task ran, per run, over the last ``?num_runs=`` runs."""
    return _line_chart_page(
        request,
        dag_id,
        tab="Durations",
        template="runs_app/durations.html",
        measure=_duration,
        y_title="Duration",
        seconds=True,
    )


def tries(request: HttpRequest, dag_id: str) -> HttpResponse:
    """Chart how many tries each task took, per run, over the last ``?num_runs=`` runs."""
    return _line_chart_page(
        request, dag_id, tab="Tries", template="runs_app/tries.html", measure=_tries, y_title="Tries", seconds=False
    )


def landing_times(request: HttpRequest, dag_id: str) -> HttpResponse:
    """Chart when each task finished relative to its run's scheduled time (the data interval's end)."""
    return _line_chart_page(
        request,
        dag_id,
        tab="Landing times",
        template="runs_app/landing_times.html",
        measure=_landing_time,
        y_title="Landing time",
        seconds=True,
    )

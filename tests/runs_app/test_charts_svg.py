"""The SVG builders of the charts (runs_app/charts.py): pure functions of plain values."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from django.conf import settings

from runs_app import charts
from runs_app.charts import GanttRow, Point, Series

pytestmark = pytest.mark.no_database

UTC = dt.UTC
T0 = dt.datetime(2024, 3, 10, 12, 0, 0, tzinfo=UTC)
S = dt.timedelta(seconds=1)
NS = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert('x')</script>&\""


def parse(svg: str) -> ET.Element:
    """Parse the SVG as XML: escaping mistakes make it fail."""
    return ET.fromstring(str(svg))


def find(root: ET.Element, tag: str, css: str | None = None) -> list[ET.Element]:
    found = root.iter(NS + tag)
    if css is None:
        return list(found)
    return [e for e in found if css in (e.get("class") or "").split()]


def titles(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(NS + "title")]


def gantt_rows() -> list[GanttRow]:
    return [
        GanttRow("extract", "success", 1, queued_at=T0, start_date=T0 + 2 * S, end_date=T0 + 12 * S, href="/ti/1/"),
        GanttRow("transform", "failed", 2, queued_at=T0 + 12 * S, start_date=T0 + 15 * S, end_date=T0 + 40 * S),
        GanttRow("load", "upstream_failed", 0),
    ]


# --- Gantt ---


def test_gantt_draws_a_bar_per_started_task_and_a_lighter_queued_part_before_it():
    root = parse(charts.gantt_svg(gantt_rows(), now=T0 + 60 * S))

    bars = find(root, "rect", "run-bar")
    queued = find(root, "rect", "queued-bar")
    assert [b.get("class") for b in bars] == ["run-bar state-success", "run-bar state-failed"]
    assert len(queued) == 2
    assert float(queued[0].get("x")) < float(bars[0].get("x"))
    assert float(queued[0].get("x")) + float(queued[0].get("width")) == pytest.approx(float(bars[0].get("x")), abs=0.2)
    assert queued[0].get("fill-opacity") == "0.3"
    assert bars[0].get("fill") == charts.STATE_COLORS["success"]
    assert bars[1].get("fill") == charts.STATE_COLORS["failed"]


def test_gantt_labels_every_task_and_says_which_never_started():
    svg = str(charts.gantt_svg(gantt_rows(), now=T0 + 60 * S))
    root = parse(svg)

    labels = [t.itertext() for t in find(root, "text", "task-label")]
    assert ["".join(label) for label in labels] == ["extractextract", "transformtransform", "loadload"]
    assert "upstream failed: not started" in svg


def test_gantt_tooltip_gives_times_try_and_durations():
    root = parse(charts.gantt_svg(gantt_rows(), now=T0 + 60 * S))

    tip = next(t for t in titles(root) if t.startswith("transform\n"))
    assert "State: failed" in tip
    assert "Try: 2" in tip
    assert "Queued: 2024-03-10 12:00:12 UTC" in tip
    assert "Started: 2024-03-10 12:00:15 UTC" in tip
    assert "Ended: 2024-03-10 12:00:40 UTC" in tip
    assert "Queued for: 3.00s" in tip
    assert "Duration: 25s" in tip


def test_gantt_running_task_extends_to_now():
    rows = [
        GanttRow("done", "success", 1, start_date=T0, end_date=T0 + 10 * S),
        GanttRow("busy", "running", 1, start_date=T0 + 10 * S),
    ]
    root = parse(charts.gantt_svg(rows, now=T0 + 30 * S))

    done, busy = find(root, "rect", "run-bar")
    px_per_second = float(done.get("width")) / 10
    assert float(busy.get("width")) == pytest.approx(20 * px_per_second, rel=0.02)
    assert any("Running for: 20s" in t for t in titles(root))


def test_gantt_links_a_bar_to_its_task_instance():
    root = parse(charts.gantt_svg(gantt_rows(), now=T0 + 60 * S))

    assert [a.get("href") for a in root.iter(NS + "a")] == ["/ti/1/"]


def test_gantt_time_axis_has_round_ticks_within_the_range():
    svg = str(charts.gantt_svg(gantt_rows(), now=T0 + 60 * S))

    ticks = re.findall(r'class="tick"[^>]*>([^<]+)<', svg)
    assert ticks[0] == "12:00:00"
    assert ticks[-1] == "12:00:40"
    assert 3 <= len(ticks) <= 9


def test_gantt_axis_has_tenths_of_seconds_for_a_run_under_a_second():
    ms = dt.timedelta(milliseconds=1)
    rows = [GanttRow("fast", "success", 1, queued_at=T0 + 120 * ms, start_date=T0 + 200 * ms, end_date=T0 + 640 * ms)]
    svg = str(charts.gantt_svg(rows, now=T0 + S))

    ticks = re.findall(r'class="tick"[^>]*>([^<]+)<', svg)
    assert ticks[0] == "12:00:00.1"
    assert ticks[-1] == "12:00:00.7"
    assert "Duration: 0.44s" in svg


def test_gantt_is_none_when_no_task_was_queued_or_started():
    assert charts.gantt_svg([GanttRow("a", "none"), GanttRow("b", "scheduled")], now=T0) is None


def test_gantt_escapes_labels_and_hrefs():
    rows = [GanttRow(HOSTILE, "success", 1, start_date=T0, end_date=T0 + S, href='/x/?a=1&b="2"')]
    svg = str(charts.gantt_svg(rows, now=T0))

    root = parse(svg)
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert root.find(f".//{NS}a").get("href") == '/x/?a=1&b="2"'
    assert HOSTILE in titles(root)


def test_gantt_shows_the_try_number_of_a_retried_task():
    svg = str(charts.gantt_svg(gantt_rows(), now=T0 + 60 * S))

    assert "25s \u00b7 try 2" in svg


# --- Calendar ---


def test_calendar_has_a_cell_per_day_of_the_year():
    root = parse(charts.calendar_svg(2024, {}))

    days = find(root, "rect", "day")
    assert len(days) == 366
    assert days[0].get("data-date") == "2024-01-01"
    assert days[-1].get("data-date") == "2024-12-31"


def test_calendar_colours_a_day_failed_if_any_run_failed():
    days = {
        dt.date(2024, 3, 1): {"success": 3, "failed": 1},
        dt.date(2024, 3, 2): {"success": 2, "running": 1},
        dt.date(2024, 3, 3): {"success": 4},
    }
    root = parse(charts.calendar_svg(2024, days))

    cells = {c.get("data-date"): c for c in find(root, "rect", "has-runs")}
    assert set(cells) == {"2024-03-01", "2024-03-02", "2024-03-03"}
    assert "state-failed" in cells["2024-03-01"].get("class")
    assert "state-running" in cells["2024-03-02"].get("class")
    assert cells["2024-03-03"].get("fill") == charts.STATE_COLORS["success"]


def test_calendar_shades_busier_days_darker():
    days = {dt.date(2024, 5, 1): {"success": 1}, dt.date(2024, 5, 2): {"success": 8}}
    root = parse(charts.calendar_svg(2024, days))

    cells = {c.get("data-date"): float(c.get("fill-opacity")) for c in find(root, "rect", "has-runs")}
    assert cells["2024-05-01"] < cells["2024-05-02"] == 1.0


def test_calendar_tooltip_counts_runs_per_state():
    root = parse(charts.calendar_svg(2024, {dt.date(2024, 3, 1): {"success": 3, "failed": 1}}))

    assert "2024-03-01: 4 runs (3 success, 1 failed)" in titles(root)
    assert "2024-03-02: no runs" in titles(root)


def test_calendar_labels_months_and_puts_weeks_in_columns():
    root = parse(charts.calendar_svg(2024, {}))

    months = [t.text for t in find(root, "text", "month")]
    assert months == ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    cells = {c.get("data-date"): c for c in find(root, "rect", "day")}
    # 2024-01-01 is a Monday: the next Monday starts the next column, on the same row.
    assert cells["2024-01-08"].get("y") == cells["2024-01-01"].get("y")
    assert float(cells["2024-01-08"].get("x")) > float(cells["2024-01-07"].get("x"))


def test_calendar_outlines_today():
    root = parse(charts.calendar_svg(2024, {}, today=dt.date(2024, 6, 1)))

    outlined = [c.get("data-date") for c in find(root, "rect", "day") if c.get("stroke")]
    assert outlined == ["2024-06-01"]


@pytest.mark.parametrize(
    ("counts", "state"),
    [
        ({"success": 5, "failed": 1}, "failed"),
        ({"success": 5, "running": 1}, "running"),
        ({"success": 5, "queued": 2}, "queued"),
        ({"success": 5}, "success"),
        ({}, "none"),
    ],
)
def test_day_state_prefers_failed_then_running_then_queued_then_success(counts, state):
    assert charts.day_state(counts) == state


# --- Line charts ---


def durations_series() -> list[Series]:
    return [
        Series("extract", [Point(1.0, "e1", "/ti/e1/"), Point(2.0, "e2"), Point(3.0, "e3")]),
        Series("transform", [Point(4.0, "t1"), Point(None), Point(6.0, "t3"), Point(7.0, "t4")]),
    ]


def test_line_chart_draws_a_series_per_task_with_a_dot_per_value():
    root = parse(charts.line_chart_svg(["r1", "r2", "r3", "r4"], durations_series(), y_title="Duration (seconds)"))

    series = find(root, "g", "series")
    assert [g.get("data-series") for g in series] == ["extract", "transform"]
    assert len(list(series[0].iter(NS + "circle"))) == 3
    assert len(list(series[1].iter(NS + "circle"))) == 3


def test_line_chart_breaks_a_line_where_a_value_is_missing():
    root = parse(charts.line_chart_svg(["r1", "r2", "r3", "r4"], durations_series(), y_title="s"))

    transform = find(root, "g", "series")[1]
    lines = [p.get("points").split() for p in transform.iter(NS + "polyline")]
    # t1 stands alone (no line); t3 and t4 are joined.
    assert [len(points) for points in lines] == [2]


def test_line_chart_has_axes_ticks_category_labels_and_a_legend():
    svg = str(charts.line_chart_svg(["r1", "r2", "r3", "r4"], durations_series(), y_title="Duration (seconds)"))
    root = parse(svg)

    ticks = [t.text for t in find(root, "text", "tick")]
    assert ticks[0] == "0"
    assert float(ticks[-1]) >= 7
    assert [t.text for t in find(root, "text", "category")] == ["r1", "r2", "r3", "r4"]
    assert "Duration (seconds)" in svg
    legend = ["".join(g.itertext()) for g in find(root, "g", "legend-item")]
    assert legend == ["extractextract", "transformtransform"]


def test_line_chart_points_carry_tooltips_and_links():
    root = parse(charts.line_chart_svg(["r1", "r2", "r3", "r4"], durations_series(), y_title="s"))

    assert {"e1", "e2", "e3", "t1", "t3", "t4"} <= set(titles(root))
    assert [a.get("href") for a in root.iter(NS + "a")] == ["/ti/e1/"]


def test_line_chart_axis_reaches_below_zero_for_negative_values():
    root = parse(charts.line_chart_svg(["r1", "r2"], [Series("a", [Point(-30.0), Point(90.0)])], y_title="s"))

    ticks = [float(t.text) for t in find(root, "text", "tick")]
    assert ticks[0] <= -30
    assert ticks[-1] >= 90


def test_line_chart_labels_only_some_runs_when_there_are_many_and_always_the_newest():
    categories = [f"run{i}" for i in range(100)]
    root = parse(charts.line_chart_svg(categories, [Series("a", [Point(1.0)] * 100)], y_title="s"))

    labels = [t.text for t in find(root, "text", "category")]
    assert 20 <= len(labels) <= 35
    assert labels[-1] == "run99"


def test_line_chart_is_none_without_values():
    assert charts.line_chart_svg(["r1"], [Series("a", [Point(None)])], y_title="s") is None
    assert charts.line_chart_svg([], [], y_title="s") is None


def test_line_chart_escapes_series_names_and_titles():
    svg = str(charts.line_chart_svg([HOSTILE], [Series(HOSTILE, [Point(1.0, HOSTILE)])], y_title=HOSTILE))

    root = parse(svg)
    assert "<script>" not in svg
    assert titles(root).count(HOSTILE) == 2


def test_line_chart_tells_series_past_the_palette_apart_by_dashes():
    series = [Series(f"t{i}", [Point(float(i)), Point(float(i))]) for i in range(12)]
    root = parse(charts.line_chart_svg(["r1", "r2"], series, y_title="s"))

    lines = [next(g.iter(NS + "polyline")) for g in find(root, "g", "series")]
    assert lines[0].get("stroke") == lines[10].get("stroke")
    assert lines[0].get("stroke-dasharray") is None
    assert lines[10].get("stroke-dasharray")


# --- Scales and formats ---


@pytest.mark.parametrize(
    ("low", "high", "integer"),
    [(0, 7, False), (0.2, 0.9, False), (-30, 90, False), (0, 3, True), (0, 1234, False), (5, 5, False)],
)
def test_nice_ticks_cover_the_range_from_zero_in_round_steps(low, high, integer):
    ticks = charts.nice_ticks(low, high, integer=integer)

    assert ticks[0] <= min(low, 0) and ticks[-1] >= high
    assert 0 in ticks
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    assert len(ticks) <= 12
    if integer:
        assert all(t == int(t) for t in ticks)


@pytest.mark.parametrize(
    ("seconds", "unit"), [(5, "seconds"), (179, "seconds"), (180, "minutes"), (3 * 3600 - 1, "minutes"), (4e4, "hours")]
)
def test_time_unit_reads_best_for_the_largest_value(seconds, unit):
    assert charts.time_unit(seconds)[0] == unit


@pytest.mark.parametrize(
    ("seconds", "text"), [(2.5, "2.50s"), (42, "42s"), (65, "1m 05s"), (7384, "2h 03m 04s"), (-90, "-1m 30s")]
)
def test_format_seconds(seconds, text):
    assert charts.format_seconds(seconds) == text


def test_state_colours_match_the_stylesheet():
    css = (Path(settings.BASE_DIR) / "static" / "css" / "orchestrator.css").read_text()
    # The light theme's rules (a line of their own); dark mode re-colours a few on top.
    in_css = dict(re.findall(r"^\.state-(\w+) \{ --state: (#[0-9a-f]{6}); \}", css, re.M))

    assert in_css == charts.STATE_COLORS

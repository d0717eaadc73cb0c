"""Build the per-DAG charts as SVG: Gantt bars, the calendar heatmap and line charts.

Pure functions of plain data: no queries, no requests, no templates. The charts need only
rects, lines and text, so no chart library is vendored (the UI works offline and the server
renders the same picture every browser shows). Every piece of text that may come from a DAG
author (task ids, run ids, tooltips built from them) is XML-escaped here, at the one place
where it enters markup; the finished SVG is then marked safe for the templates.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

# Airflow's state colours; static/css/orchestrator.css uses the same (a test keeps them equal).
STATE_COLORS: dict[str, str] = {
    "success": "#008000",
    "failed": "#ff0000",
    "running": "#00c000",
    "queued": "#808080",
    "scheduled": "#d2b48c",
    "up_for_retry": "#ffd700",
    "up_for_reschedule": "#40e0d0",
    "upstream_failed": "#ffa500",
    "skipped": "#ff69b4",
    "removed": "#d3d3d3",
    "none": "#e9ecef",
}
# States whose colour is dark enough for white text on it.
DARK_STATES = frozenset({"success", "failed", "queued"})
# Series colours of the line charts (Tableau 10); past ten, the dash pattern tells series apart.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]
DASHES = ["", "6 3", "2 3", "8 3 2 3"]

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
CHAR_WIDTH = 7.0  # average width of a 12px character, to size label columns without a font engine
AXIS_COLOR = "#6c757d"
GRID_COLOR = "#e9ecef"
EMPTY_DAY_COLOR = "#ebedf0"

# Steps of a time axis, in seconds: the first that gives at most ~8 ticks wins.
TIME_STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]


def esc(value: object) -> str:
    """Return ``value`` as text safe inside an SVG element or a double-quoted attribute."""
    return escape(str(value), quote=True)


def num(value: float) -> str:
    """Return a coordinate with at most one decimal, without a trailing ``.0``."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def truncate(text: str, limit: int) -> str:
    """Return ``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def format_seconds(seconds: float | None) -> str:
    """Return a duration as ``2.50s``, ``1m 05s`` or ``2h 03m 04s`` (negative values keep their sign)."""
    if seconds is None:
        return ""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds:.2f}s" if seconds < 10 else f"{sign}{seconds:.0f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{sign}{hours}h {minutes:02d}m {secs:02d}s"
    return f"{sign}{minutes}m {secs:02d}s"


def format_time(value: dt.datetime | None) -> str:
    """Return an aware datetime as ``YYYY-MM-DD HH:MM:SS ZONE`` in the zone pages show times in
    (the user's, ``orchestrator_site.timezones``; UTC by default); empty for None."""
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")


def time_unit(max_seconds: float) -> tuple[str, float]:
    """Return the unit a time axis reads best in for values up to ``max_seconds``: (name, seconds per unit)."""
    if max_seconds >= 3 * 3600:
        return "hours", 3600.0
    if max_seconds >= 180:
        return "minutes", 60.0
    return "seconds", 1.0


def nice_ticks(low: float, high: float, *, count: int = 5, integer: bool = False) -> list[float]:
    """Return round tick values covering ``low``..``high`` (0 included), about ``count`` of them.

    The step is 1, 2, 2.5 or 5 times a power of ten (at least 1 when ``integer``).
    """
    low, high = min(low, 0.0), max(high, 0.0)
    if high - low <= 0:
        high = low + 1.0
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if integer:
        step = max(1.0, math.ceil(step))
    start = math.floor(low / step) * step
    stop = math.ceil(high / step) * step
    ticks = []
    value = start
    while value <= stop + step / 1e6:
        ticks.append(round(value, 10))
        value += step
    return ticks


def format_tick(value: float) -> str:
    """Return a tick label: integers without decimals, others with up to two."""
    if abs(value - round(value)) < 1e-9:
        return str(round(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _svg(width: float, height: float, body: Iterable[str], *, label: str, css_class: str) -> SafeString:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg {css_class}" role="img" '
        f'aria-label="{esc(label)}" viewBox="0 0 {num(width)} {num(height)}" width="{num(width)}" '
        f'height="{num(height)}" font-family="{esc(FONT)}" font-size="12">'
    )
    # Every dynamic string in ``body`` went through esc(); the SVG is therefore safe to embed.
    return mark_safe(head + "".join(body) + "</svg>")


def _link(href: str | None, inner: str) -> str:
    return f'<a href="{esc(href)}">{inner}</a>' if href else inner


# --- Gantt -----------------------------------------------------------------------------------


@dataclass
class GanttRow:
    """One task instance of a run: its label, state, try and the moments of its current try."""

    label: str
    state: str
    try_number: int = 0
    queued_at: dt.datetime | None = None
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    href: str | None = None


def _time_step(span: float, max_ticks: int = 8) -> float:
    return next((s for s in TIME_STEPS if span / s <= max_ticks), math.ceil(span / max_ticks / 86400) * 86400)


def gantt_svg(rows: Sequence[GanttRow], *, now: dt.datetime, width: int = 1100) -> SafeString | None:
    """Return the Gantt chart of ``rows``, or None when no row has a start or queue time.

    1. The time range runs from the earliest queue or start time to the latest end (``now`` for
       a try still running).
    2. Each row is a label, a lighter bar from queued to started, and a bar coloured by state
       from started to ended; its tooltip gives the times and the durations.
    3. A time axis on top has round ticks (1s ... 1 day) and vertical grid lines.
    """
    moments = [m for r in rows for m in (r.queued_at, r.start_date, r.end_date) if m is not None]
    running_ends = [now for r in rows if r.start_date is not None and r.end_date is None]
    if not moments:
        return None
    t0 = min(moments)
    t1 = max([*moments, *running_ends])
    step = _time_step(max((t1 - t0).total_seconds(), 0.1))
    # Widen the range to whole steps of the clock, so ticks fall on round times at both edges.
    start_s = math.floor(t0.timestamp() / step) * step
    end_s = max(math.ceil(t1.timestamp() / step) * step, start_s + step)
    t0 = dt.datetime.fromtimestamp(start_s, tz=dt.UTC)
    span = end_s - start_s

    label_chars = min(max((len(r.label) for r in rows), default=8), 40)
    left = label_chars * CHAR_WIDTH + 24
    right = 64
    top = 42
    row_h = 26
    bar_h = 16
    plot_w = width - left - right
    height = top + row_h * len(rows) + 12

    def x(moment: dt.datetime) -> float:
        return left + plot_w * (moment - t0).total_seconds() / span

    def tick_label(moment: dt.datetime) -> str:
        moment = timezone.localtime(dt.datetime.fromtimestamp(round(moment.timestamp(), 1), tz=dt.UTC))
        if span >= 86400:
            return moment.strftime("%m-%d %H:%M")
        if step < 1:
            return moment.strftime("%H:%M:%S") + f".{moment.microsecond // 100000}"
        return moment.strftime("%H:%M:%S")

    body: list[str] = []
    day, zone = esc(format_time(t0)[:10]), esc(timezone.get_current_timezone_name())
    body.append(f'<text x="{num(left)}" y="14" fill="{AXIS_COLOR}" font-size="11">{day} ({zone})</text>')
    ticks = round(span / step)
    for i in range(ticks + 1):
        moment = t0 + dt.timedelta(seconds=i * step)
        tx = x(moment)
        body.append(
            f'<line x1="{num(tx)}" y1="{top - 6}" x2="{num(tx)}" y2="{height - 12}" stroke="{GRID_COLOR}"/>'
            f'<text class="tick" x="{num(tx)}" y="{top - 10}" text-anchor="middle" fill="{AXIS_COLOR}" '
            f'font-size="11">{esc(tick_label(moment))}</text>'
        )
    body.append(f'<line x1="{num(left)}" y1="{top - 4}" x2="{num(left + plot_w)}" y2="{top - 4}" stroke="#adb5bd"/>')
    for i, row in enumerate(rows):
        y = top + i * row_h
        if i % 2:
            body.append(f'<rect x="0" y="{y}" width="{width}" height="{row_h}" fill="#f8f9fa"/>')
        body.append(
            f'<text class="task-label" x="8" y="{y + row_h / 2 + 4:.0f}">'
            f"<title>{esc(row.label)}</title>{esc(truncate(row.label, 40))}</text>"
        )
        body.append(_gantt_bar(row, x=x, y=y + (row_h - bar_h) / 2, bar_h=bar_h, now=now, left=left, width=width))
    return _svg(width, height, body, label="Gantt chart", css_class="gantt")


def _gantt_bar(row: GanttRow, *, x, y: float, bar_h: int, now: dt.datetime, left: float, width: float) -> str:
    color = STATE_COLORS.get(row.state, STATE_COLORS["none"])
    start, end = row.start_date, row.end_date
    if start is None and row.queued_at is None:
        return (
            f'<text class="no-bar" x="{num(left + 4)}" y="{num(y + bar_h - 3)}" fill="{AXIS_COLOR}" '
            f'font-style="italic">{esc(row.state.replace("_", " "))}: not started</text>'
        )
    lines = [row.label, f"State: {row.state}", f"Try: {row.try_number}"]
    if row.queued_at:
        lines.append(f"Queued: {format_time(row.queued_at)}")
    if start:
        lines.append(f"Started: {format_time(start)}")
    if end:
        lines.append(f"Ended: {format_time(end)}")
    if row.queued_at and start:
        lines.append(f"Queued for: {format_seconds((start - row.queued_at).total_seconds())}")
    if start:
        running_for = ((end or now) - start).total_seconds()
        lines.append(f"{'Duration' if end else 'Running for'}: {format_seconds(running_for)}")
    parts = [f"<title>{esc(chr(10).join(lines))}</title>"]
    queued_end = start or end or now
    if row.queued_at is not None:
        qx = x(row.queued_at)
        qw = max(x(queued_end) - qx, 0)
        parts.append(
            f'<rect class="queued-bar" x="{num(qx)}" y="{num(y)}" width="{num(qw)}" height="{bar_h}" rx="2" '
            f'fill="{color}" fill-opacity="0.3" stroke="{color}" stroke-opacity="0.5"/>'
        )
    if start is not None:
        sx = x(start)
        sw = max(x(end or now) - sx, 2.0)
        parts.append(
            f'<rect class="run-bar state-{esc(row.state)}" x="{num(sx)}" y="{num(y)}" width="{num(sw)}" '
            f'height="{bar_h}" rx="2" fill="{color}"/>'
        )
        note = format_seconds(((end or now) - start).total_seconds())
        if row.try_number > 1:
            note += f" \u00b7 try {row.try_number}"
        # The note goes right of the bar, else inside it, else left of the queued part, wherever it fits.
        note_w = len(note) * 6.5
        bar_start = x(row.queued_at) if row.queued_at is not None else sx
        if sx + sw + 6 + note_w <= width:
            placement = f'x="{num(sx + sw + 6)}" fill="{AXIS_COLOR}"'
        elif sw >= note_w + 12 or bar_start - 6 - note_w < left:
            ink = "#fff" if row.state in DARK_STATES else "#212529"
            placement = f'x="{num(sx + sw - 6)}" text-anchor="end" fill="{ink}"'
        else:
            placement = f'x="{num(bar_start - 6)}" text-anchor="end" fill="{AXIS_COLOR}"'
        parts.append(f'<text class="bar-note" {placement} y="{num(y + bar_h - 3)}" font-size="11">{esc(note)}</text>')
    return _link(row.href, f'<g class="gantt-row">{"".join(parts)}</g>')


# --- Calendar --------------------------------------------------------------------------------

CELL = 13
GAP = 3
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
# The state a day is coloured by: the first of these that any of its runs has.
DAY_STATE_ORDER = ["failed", "running", "queued", "success"]


def day_state(counts: Mapping[str, int]) -> str:
    """Return the state a calendar day shows: failed if any run failed, then running, queued, success."""
    for state in DAY_STATE_ORDER:
        if counts.get(state):
            return state
    return "none"


def _shade(total: int, busiest: int) -> float:
    """Return the fill opacity of a day with ``total`` runs: four steps up to the busiest day."""
    level = math.ceil(4 * total / max(busiest, 1))
    return {1: 0.45, 2: 0.65, 3: 0.82}.get(level, 1.0)


def calendar_svg(
    year: int, days: Mapping[dt.date, Mapping[str, int]], *, busiest: int | None = None, today: dt.date | None = None
) -> SafeString:
    """Return the heatmap of one year: a cell per day (weeks as columns, Monday on top).

    ``days`` maps a date to its run counts per state. A day is coloured by ``day_state`` and
    shaded by its number of runs relative to ``busiest`` (the busiest day of the data shown);
    its tooltip lists the counts per state. Month names sit above the week of each month's 1st.
    """
    busiest = busiest or max((sum(c.values()) for c in days.values()), default=1)
    first = dt.date(year, 1, 1)
    origin = first - dt.timedelta(days=first.weekday())
    left, top = 34, 22
    last = dt.date(year, 12, 31)
    weeks = (last - origin).days // 7 + 1
    width = left + weeks * (CELL + GAP) + 4
    height = top + 7 * (CELL + GAP) + 2
    body: list[str] = []
    for row, name in ((0, "Mon"), (2, "Wed"), (4, "Fri")):
        body.append(
            f'<text x="0" y="{top + row * (CELL + GAP) + CELL - 2}" fill="{AXIS_COLOR}" font-size="10">{name}</text>'
        )
    for month in range(1, 13):
        column = (dt.date(year, month, 1) - origin).days // 7
        body.append(
            f'<text class="month" x="{left + column * (CELL + GAP)}" y="{top - 8}" fill="{AXIS_COLOR}" '
            f'font-size="10">{MONTHS[month - 1]}</text>'
        )
    day = first
    while day <= last:
        offset = (day - origin).days
        cx = left + (offset // 7) * (CELL + GAP)
        cy = top + (offset % 7) * (CELL + GAP)
        counts = {s: n for s, n in days.get(day, {}).items() if n}
        total = sum(counts.values())
        if total:
            state = day_state(counts)
            detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))
            tip = f"{day.isoformat()}: {total} run{'s' if total != 1 else ''} ({detail})"
            fill = f'fill="{STATE_COLORS.get(state, STATE_COLORS["none"])}" fill-opacity="{_shade(total, busiest):.2f}"'
            css = f"day has-runs state-{esc(state)}"
        else:
            tip = f"{day.isoformat()}: no runs"
            fill = f'fill="{EMPTY_DAY_COLOR}"'
            css = "day"
        outline = ' stroke="#212529" stroke-width="1.5"' if day == today else ""
        body.append(
            f'<rect class="{css}" data-date="{day.isoformat()}" x="{cx}" y="{cy}" width="{CELL}" height="{CELL}" '
            f'rx="2" {fill}{outline}><title>{esc(tip)}</title></rect>'
        )
        day += dt.timedelta(days=1)
    return _svg(width, height, body, label=f"Runs per day in {year}", css_class="calendar")


# --- Line charts -----------------------------------------------------------------------------


@dataclass
class Point:
    """One value of a series (None: no value for that run), with its tooltip and link."""

    value: float | None
    title: str = ""
    href: str | None = None


@dataclass
class Series:
    """A named line: one point per category, in category order."""

    name: str
    points: list[Point] = field(default_factory=list)


def _legend(series: Sequence[Series], *, x0: float, y0: float, width: float) -> tuple[list[str], float]:
    """Return the legend's markup, items wrapped in rows, and its height."""
    body: list[str] = []
    item_w = min(max((len(s.name) for s in series), default=4), 32) * CHAR_WIDTH + 34
    per_row = max(int(width // item_w), 1)
    for i, s in enumerate(series):
        col, row = i % per_row, i // per_row
        lx, ly = x0 + col * item_w, y0 + row * 20
        color, dash = PALETTE[i % len(PALETTE)], DASHES[(i // len(PALETTE)) % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        body.append(
            f'<g class="legend-item"><line x1="{num(lx)}" y1="{num(ly)}" x2="{num(lx + 18)}" y2="{num(ly)}" '
            f'stroke="{color}" stroke-width="2.5"{dash_attr}/><circle cx="{num(lx + 9)}" cy="{num(ly)}" r="3" '
            f'fill="{color}"/><text x="{num(lx + 24)}" y="{num(ly + 4)}"><title>{esc(s.name)}</title>'
            f"{esc(truncate(s.name, 32))}</text></g>"
        )
    rows = math.ceil(len(series) / per_row) if series else 0
    return body, rows * 20


def line_chart_svg(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    y_title: str,
    integer: bool = False,
    width: int = 1100,
    label: str = "Line chart",
) -> SafeString | None:
    """Return a line chart of ``series`` over ``categories`` (x: runs, oldest first), or None without values.

    1. The y axis spans 0 (or the lowest negative value) to the highest value, in round ticks.
    2. Each series is a polyline through its points, broken where a value is missing, and a dot
       per point whose tooltip is the point's title (and a link to its task instance).
    3. X labels are rotated; past about 30 categories only every k-th is written.
    4. A legend lists the series below the plot.
    """
    values = [p.value for s in series for p in s.points if p.value is not None]
    if not values or not categories:
        return None
    ticks = nice_ticks(min(values), max(values), integer=integer)
    y_low, y_high = ticks[0], ticks[-1]
    tick_chars = max(len(format_tick(t)) for t in ticks)
    n = len(categories)
    # Room on the left for the tick labels, and for the first category label, which is rotated
    # 35 degrees and so reaches left of its tick by about 0.82 of its length.
    first_label = len(truncate(categories[0], 24)) * 6.2 * 0.82
    left = max(40 + tick_chars * CHAR_WIDTH, first_label - (width / n) / 2 + 8)
    right, top = 24, 16
    plot_h = 300
    label_h = 84
    plot_w = width - left - right
    legend_body, legend_h = _legend(series, x0=left, y0=top + plot_h + label_h + 14, width=plot_w)
    height = top + plot_h + label_h + legend_h + 20

    def x(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n)

    def y(value: float) -> float:
        return top + plot_h * (1 - (value - y_low) / (y_high - y_low))

    body: list[str] = []
    for t in ticks:
        ty = y(t)
        stroke = "#adb5bd" if t == 0 else GRID_COLOR
        body.append(
            f'<line x1="{num(left)}" y1="{num(ty)}" x2="{num(left + plot_w)}" y2="{num(ty)}" stroke="{stroke}"/>'
            f'<text class="tick" x="{num(left - 6)}" y="{num(ty + 4)}" text-anchor="end" fill="{AXIS_COLOR}" '
            f'font-size="11">{format_tick(t)}</text>'
        )
    body.append(
        f'<text x="14" y="{num(top + plot_h / 2)}" transform="rotate(-90 14 {num(top + plot_h / 2)})" '
        f'text-anchor="middle" fill="{AXIS_COLOR}">{esc(y_title)}</text>'
    )
    body.append(
        f'<line x1="{num(left)}" y1="{top}" x2="{num(left)}" y2="{top + plot_h}" stroke="#adb5bd"/>'
        f'<line x1="{num(left)}" y1="{top + plot_h}" x2="{num(left + plot_w)}" y2="{top + plot_h}" stroke="#adb5bd"/>'
    )
    every = max(math.ceil(n / 30), 1)
    for i, name in enumerate(categories):
        cx = x(i)
        body.append(
            f'<line x1="{num(cx)}" y1="{top + plot_h}" x2="{num(cx)}" y2="{top + plot_h + 4}" stroke="#adb5bd"/>'
        )
        if (n - 1 - i) % every == 0:  # counted from the newest run, which is always labelled
            ly = top + plot_h + 14
            body.append(
                f'<text class="category" x="{num(cx)}" y="{ly}" transform="rotate(-35 {num(cx)} {ly})" '
                f'text-anchor="end" fill="{AXIS_COLOR}" font-size="11">{esc(truncate(name, 24))}</text>'
            )
    radius = 4 if n <= 40 else 3 if n <= 120 else 2
    for index, s in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        dash = DASHES[(index // len(PALETTE)) % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        segments: list[list[str]] = [[]]
        dots: list[str] = []
        for i, point in enumerate(s.points[:n]):
            if point.value is None:
                segments.append([])
                continue
            px, py = num(x(i)), num(y(point.value))
            segments[-1].append(f"{px},{py}")
            dot = f'<circle cx="{px}" cy="{py}" r="{radius}" fill="{color}"><title>{esc(point.title)}</title></circle>'
            dots.append(_link(point.href, dot))
        lines = "".join(
            f'<polyline points="{" ".join(seg)}" fill="none" stroke="{color}" stroke-width="2"{dash_attr}/>'
            for seg in segments
            if len(seg) > 1
        )
        body.append(f'<g class="series" data-series="{esc(s.name)}">{lines}{"".join(dots)}</g>')
    body.extend(legend_body)
    return _svg(width, height, body, label=label, css_class="line-chart")

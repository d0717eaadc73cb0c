"""A try's log text as the log viewer shows it: one element per line, with its level (for the
colours and the level filter) and its timestamp in the zone pages show times in.

Task logs are written in Airflow's format, ``[2024-01-01 00:00:05,123] {file.py:12} INFO - ...``,
with times in UTC (the workers run with TIME_ZONE=UTC). A line without that prefix (a traceback,
what a task printed) takes the level of the line before it, so a traceback after an ERROR line
is coloured and filtered with it.
"""

from __future__ import annotations

import datetime as dt
import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_PREFIX = re.compile(
    r"^\[(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(?P<ms>\d{3})\]"
    r" \{[^}\n]*\} (?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL)\b"
)
_TRACEBACK = "Traceback (most recent call last):"


def render_lines(text: str, zone: dt.tzinfo | None = None) -> SafeString:
    """Return ``text`` as escaped ``<span class="log-line log-LEVEL">`` elements, one per line
    (the newline kept inside, so copying gives the log back), timestamps shown in ``zone``."""
    convert = zone is not None and str(zone) != "UTC"
    parts = []
    level = "info"
    for line in text.splitlines(keepends=True):
        match = _PREFIX.match(line)
        if match:
            level = match["level"].lower()
            if convert:
                moment = dt.datetime.strptime(match["ts"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC).astimezone(zone)
                line = f"[{moment:%Y-%m-%d %H:%M:%S},{match['ms']}]{line[match.end('ms') + 1 :]}"
        elif line.startswith(_TRACEBACK):
            level = "error"
        parts.append(f'<span class="log-line log-{level}">{escape(line)}</span>')
    return mark_safe("".join(parts))  # every line went through escape()


def failure_excerpt(text: str, limit: int = 40) -> str:
    """Why a try failed, from the end of its log: its last ERROR (or CRITICAL) line and what
    follows it up to the next log line (the traceback), at most ``limit`` lines; "" if none."""
    lines = text.splitlines()
    errors = [i for i, line in enumerate(lines) if (m := _PREFIX.match(line)) and m["level"] in ("ERROR", "CRITICAL")]
    if not errors:
        return ""
    # The task's own failure ("Task failed ...") rather than a later callback's or email's error.
    failed = [i for i in errors if " - Task failed" in lines[i]]
    start = (failed or errors)[-1]
    end = start + 1
    while end < len(lines) and not _PREFIX.match(lines[end]) and end - start < limit:
        end += 1
    return "\n".join(lines[start:end])

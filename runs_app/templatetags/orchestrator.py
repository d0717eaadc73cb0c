"""Template filters of the UI."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

register = template.Library()

# CommonMark with tables and strikethrough, as Airflow renders ``doc_md``, but with raw HTML off:
# an author's ``<script>`` or ``<img onerror=...>`` shows as text, never as markup. markdown-it
# also refuses ``javascript:``, ``vbscript:``, ``file:`` and non-image ``data:`` link targets.
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)


@register.filter(is_safe=True)
def markdown(value: Any) -> SafeString:
    """Render ``doc_md`` (Markdown from a DAG file) as sanitised HTML: ``{{ doc|markdown }}``."""
    if not value:
        return mark_safe("")
    return mark_safe(_MARKDOWN.render(str(value)))  # html is off: markdown-it escapes every tag


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    """Return ``mapping[key]`` (or None): ``{{ counts|get_item:state }}``."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def duration(value: Any) -> str:
    """Format seconds (or a timedelta) as ``1h 02m 03s`` / ``2.5s``."""
    if value is None or value == "":
        return ""
    seconds = value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"

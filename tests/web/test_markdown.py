"""``doc_md`` is rendered as Markdown, sanitised: no raw HTML, no script URLs (issue 14)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from runs_app.templatetags.orchestrator import markdown

DOC = """# Daily sales

Loads **yesterday's** sales. See [the runbook](https://wiki.example.com/sales).

| step | owner |
|------|-------|
| load | data  |

```sql
SELECT 1;
```

- one
- ~~two~~
"""


def test_markdown_renders_headings_emphasis_links_tables_code_and_lists():
    html = markdown(DOC)

    assert "<h1>Daily sales</h1>" in html
    assert "<strong>yesterday's</strong>" in html
    assert '<a href="https://wiki.example.com/sales">the runbook</a>' in html
    assert "<table>" in html and "<td>load</td>" in html
    assert '<code class="language-sql">SELECT 1;\n</code>' in html
    assert "<li><s>two</s></li>" in html


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert('x')</script>",
        "<img src=x onerror=alert(1)>",
        "hello <a href='javascript:alert(1)'>x</a>",
        "[click](javascript:alert(1))",
        "[click](vbscript:msgbox(1))",
        "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        '<div onclick="alert(1)">x</div>',
    ],
)
def test_markdown_never_lets_raw_html_or_a_script_url_through(source):
    html = markdown(source)

    assert "<script" not in html and "<img" not in html and "<div" not in html and "<a href='" not in html
    assert 'href="javascript:' not in html and 'href="vbscript:' not in html and 'href="data:' not in html


def test_markdown_of_nothing_is_empty():
    assert markdown("") == "" and markdown(None) == ""


DAG_WITH_DOCS = """
import datetime
from dags_app.sdk import DAG, EmptyOperator

with DAG("documented", schedule=None, start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
         doc_md="## How to rerun\\n\\nClear **load** <script>alert(1)</script>") as dag:
    EmptyOperator(task_id="load", doc_md="Writes `sales` table")
"""


@pytest.mark.django_db
def test_grid_graph_details_and_task_panel_show_the_docs_as_markdown(client, viewer_user, dag_file, sync):
    dag_file("documented.py", DAG_WITH_DOCS)
    assert sync().import_errors == 0
    client.force_login(viewer_user)
    for name in ("runs:grid", "runs:graph", "dags:details"):
        html = client.get(reverse(name, args=["documented"])).content.decode()
        assert "<h2>How to rerun</h2>" in html, name
        assert "<strong>load</strong>" in html, name
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html, name
    details = client.get(reverse("dags:details", args=["documented"])).content.decode()
    assert "Writes <code>sales</code> table" in details

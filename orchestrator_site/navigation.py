"""Navigation shared by the definition and execution views."""

# The tabs of every per-DAG page: (label, URL name, icon).
DAG_TABS = [
    ("Grid", "runs:grid", "bi-grid-3x3"),
    ("Graph", "runs:graph", "bi-diagram-3"),
    ("Gantt", "runs:gantt", "bi-bar-chart-steps"),
    ("Calendar", "runs:calendar", "bi-calendar3"),
    ("Durations", "runs:durations", "bi-hourglass-split"),
    ("Tries", "runs:tries", "bi-arrow-repeat"),
    ("Landing times", "runs:landing-times", "bi-flag"),
    ("Details", "dags:details", "bi-info-circle"),
    ("Code", "dags:code", "bi-code-slash"),
]

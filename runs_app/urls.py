"""URLs of the execution views (namespace ``runs``). Paths are built from DAG, run and task ids,
which are validated at creation (letters, digits, ``_ . ~ : + -``), so they are safe in a path."""

from django.urls import path

from runs_app.views import actions, assets, browse, bulk, charts, dag_views, dags, preferences

app_name = "runs"

DAG = "dags/<str:dag_id>/"
RUN = DAG + "runs/<str:run_id>/"
TI = RUN + "tasks/<str:task_id>/"

urlpatterns = [
    path("", dags.dag_list, name="dag-list"),
    path("preferences/timezone/", preferences.set_timezone, name="set-timezone"),
    path(DAG + "pause/", dags.dag_pause, name="dag-pause"),
    path(DAG + "trigger/", dags.dag_trigger, name="dag-trigger"),
    path(DAG + "delete/", dags.dag_delete, name="dag-delete"),
    path(DAG + "grid/", dag_views.grid, name="grid"),
    path(DAG + "grid/fragment/", dag_views.grid_fragment, name="grid-fragment"),
    path(DAG + "graph/", dag_views.graph, name="graph"),
    path(DAG + "graph/states/", dag_views.graph_states, name="graph-states"),
    path(DAG + "gantt/", charts.gantt, name="gantt"),
    path(DAG + "calendar/", charts.calendar, name="calendar"),
    path(DAG + "durations/", charts.durations, name="durations"),
    path(DAG + "tries/", charts.tries, name="tries"),
    path(DAG + "landing-times/", charts.landing_times, name="landing-times"),
    path(RUN, dag_views.run_detail, name="run"),
    path(RUN + "clear/", actions.run_clear, name="run-clear"),
    path(RUN + "mark/<str:state>/", actions.run_mark, name="run-mark"),
    path(TI, dag_views.task_instance, name="task-instance"),
    path(TI + "log/", dag_views.task_log, name="task-log"),
    path(TI + "log/fragment/", dag_views.task_log_fragment, name="task-log-fragment"),
    path(TI + "log/download/", dag_views.task_log_download, name="task-log-download"),
    path(TI + "run/", actions.ti_run, name="ti-run"),
    path(TI + "clear/", actions.ti_clear, name="ti-clear"),
    path(TI + "mark/<str:state>/", actions.ti_mark, name="ti-mark"),
    path("browse/runs/", browse.dag_runs, name="browse-runs"),
    path("browse/runs/bulk/", bulk.dag_runs_bulk, name="browse-runs-bulk"),
    path("browse/task-instances/", browse.task_instances, name="browse-task-instances"),
    path("browse/task-instances/bulk/", bulk.task_instances_bulk, name="browse-task-instances-bulk"),
    path("browse/xcoms/", browse.xcoms, name="browse-xcoms"),
    path("browse/audit-log/", browse.audit_log, name="browse-audit-log"),
    path("assets/", assets.asset_list, name="asset-list"),
    path("assets/<int:asset_id>/", assets.asset_detail, name="asset-detail"),
]

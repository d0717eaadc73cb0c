from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_default_pool(sender: AppConfig, using: str = "default", **kwargs) -> None:
    from runs_app.services import pool_ensure_default

    pool_ensure_default()


class RunsAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "runs_app"
    verbose_name = "Runs"

    def ready(self) -> None:
        from orchestrator_site import roles, timezones  # noqa: F401 - timezones connects its login signal

        roles.connect_post_migrate(self)
        from django.conf import settings

        from dags_app.sdk import assets, connection, mappedoperator, sensors, trigger_dagrun, variable
        from runs_app.assets import read_events
        from runs_app.selectors import dag_exists, dag_run_state, external_states, task_group_task_ids
        from runs_app.services import (
            connection_get,
            dag_trigger_from_task,
            variable_delete,
            variable_get,
            variable_set,
        )

        # ExternalTaskSensor reads other runs through these (the SDK never imports Django).
        sensors.configure(
            external_states=external_states, dag_exists=dag_exists, task_group_task_ids=task_group_task_ids
        )
        mappedoperator.configure(max_map_length=settings.ORCHESTRATOR["MAX_MAP_LENGTH"])
        trigger_dagrun.configure(trigger=dag_trigger_from_task, run_state=dag_run_state)
        variable.configure(
            get=variable_get,
            set=lambda key, value, description: variable_set(
                key=key, value=value, description=description, source="task"
            ),
            delete=lambda key: variable_delete(key=key, source="task"),
        )
        connection.configure(get=connection_get)
        assets.configure(read_events=read_events)
        post_migrate.connect(_ensure_default_pool, sender=self, dispatch_uid="orchestrator_default_pool")

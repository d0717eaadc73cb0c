from django.apps import AppConfig


class DagsAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dags_app"
    verbose_name = "DAGs"

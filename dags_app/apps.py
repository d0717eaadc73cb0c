from typing import Any

from django.apps import AppConfig


class DagsAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dags_app"
    verbose_name = "DAGs"

    def ready(self) -> Any:
        from django.conf import settings

        from dags_app.mail import send_mail
        from dags_app.sdk import notifier

        # The SDK stays framework-free: it gets Django's mail and the webhook setting from here.
        notifier.configure(send_mail=send_mail, webhook_url=settings.ORCHESTRATOR.get("WEBHOOK_URL", ""))

from typing import Any

from django.apps import AppConfig


def send_notifier_mail(
    *,
    subject: str,
    text: str,
    html: str | None,
    to: list[str],
    cc: list[str],
    bcc: list[str],
    from_email: str | None,
) -> None:
    """EmailNotifier's sender: one message through Django's configured mail backend."""
    from django.core.mail import EmailMultiAlternatives

    message = EmailMultiAlternatives(subject=subject, body=text, from_email=from_email, to=to, cc=cc, bcc=bcc)
    if html:
        message.attach_alternative(html, "text/html")
    message.send(fail_silently=False)


class DagsAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dags_app"
    verbose_name = "DAGs"

    def ready(self) -> Any:
        from django.conf import settings

        from dags_app.sdk import notifier

        # The SDK stays framework-free: it gets Django's mail and the webhook setting from here.
        notifier.configure(send_mail=send_notifier_mail, webhook_url=settings.ORCHESTRATOR.get("WEBHOOK_URL", ""))

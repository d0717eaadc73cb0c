"""Mail through Django's configured backend (``EMAIL_*`` settings; console by default)."""

from __future__ import annotations


def send_mail(
    *,
    subject: str,
    text: str,
    html: str | None,
    to: list[str],
    cc: list[str],
    bcc: list[str],
    from_email: str | None,
) -> None:
    """Send one message through Django's configured mail backend (EmailNotifier, task alerts)."""
    from django.core.mail import EmailMultiAlternatives

    message = EmailMultiAlternatives(subject=subject, body=text, from_email=from_email, to=to, cc=cc, bcc=bcc)
    if html:
        message.attach_alternative(html, "text/html")
    message.send(fail_silently=False)

"""Notifiers: callbacks that tell someone a task or a run ended (Airflow's ``BaseNotifier``).

A notifier is passed where a callback goes (``on_failure_callback=WebhookNotifier(...)``, or in a
list of callbacks). When called with the callback's context it renders its ``template_fields``
with Jinja, as an operator renders its own, and then ``notify(context)`` sends the message.

Two notifiers come with us:

- ``EmailNotifier``: an email through Django's mail backend (the ``EMAIL_*`` settings; the
  console backend by default, which writes the mail into the callback's log);
- ``WebhookNotifier``: a JSON POST to a URL (``url=`` or the ``ORCHESTRATOR_WEBHOOK_URL``
  setting), with a timeout and no redirects followed.

This package never imports Django: the mail sender and the default webhook URL are given to it
by the ``dags_app`` application when Django starts (``configure``).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from dags_app.sdk.exceptions import AirflowException

log = logging.getLogger(__name__)

# Set by dags_app.apps at Django start-up; see ``configure``.
_send_mail: Callable[..., Any] | None = None
_default_webhook_url: str = ""


def configure(*, send_mail: Callable[..., Any] | None = None, webhook_url: str | None = None) -> None:
    """Give the notifiers a mail sender (``send_mail(subject=, text=, html=, to=, cc=, bcc=,
    from_email=)``) and the default webhook URL."""
    global _send_mail, _default_webhook_url
    if send_mail is not None:
        _send_mail = send_mail
    if webhook_url is not None:
        _default_webhook_url = webhook_url


class BaseNotifier:
    """A callable callback: render ``template_fields`` with the context, then ``notify``."""

    template_fields: Sequence[str] = ()
    template_ext: Sequence[str] = ()

    def render_template_fields(self, context: dict[str, Any], jinja_env: Any = None) -> None:
        """Render every field named in ``template_fields`` in place, with Jinja and ``context``."""
        from dags_app.sdk.templating import create_template_env, render_value

        dag = context.get("dag")
        env = jinja_env or (dag.get_template_env() if dag is not None else create_template_env())
        for name in self.template_fields:
            value = getattr(self, name)
            if value:
                setattr(self, name, render_value(value, context, env, self.template_ext))

    def notify(self, context: dict[str, Any]) -> None:
        """Send the notification; subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement notify()")

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def __call__(self, *args: Any) -> None:
        # Task and DAG callbacks pass the context.
        if len(args) != 1 or not isinstance(args[0], dict):
            raise TypeError(f"{type(self).__name__} is called with the callback's context")
        context = args[0]
        self.render_template_fields(context)
        self.notify(context)


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
    return [str(part) for part in value]


class EmailNotifier(BaseNotifier):
    """Send an email (Airflow's ``SmtpNotifier`` / ``send_smtp_notification``) through Django's
    mail backend. ``to``, ``cc``, ``bcc``: an address, a comma-separated string or a list."""

    template_fields = ("to", "cc", "bcc", "from_email", "subject", "html_content", "text_content")

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        subject: str | None = None,
        html_content: str | None = None,
        text_content: str | None = None,
        from_email: str | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
    ) -> None:
        if not _as_list(to):
            raise AirflowException("EmailNotifier needs at least one address in to=")
        self.to = to
        self.cc = cc
        self.bcc = bcc
        self.from_email = from_email
        self.subject = subject
        self.html_content = html_content
        self.text_content = text_content

    def notify(self, context: dict[str, Any]) -> None:
        if _send_mail is None:
            raise AirflowException("EmailNotifier has no mail backend here: it sends from a worker or `dags test`")
        html = self.html_content
        text = self.text_content or _default_text(context)
        _send_mail(
            subject=str(self.subject or _default_subject(context)),
            text=text,
            html=html,
            to=_as_list(self.to),
            cc=_as_list(self.cc),
            bcc=_as_list(self.bcc),
            from_email=self.from_email or None,
        )


def _default_subject(context: dict[str, Any]) -> str:
    summary = _summary(context)
    if summary["reason"]:  # a DAG callback
        return f"DAG {summary['dag_id']} run {summary['run_id']}: {summary['reason']}"
    return f"Task {summary['dag_id']}.{summary['task_id']} {summary['state']} (try {summary['try_number']})"


def _default_text(context: dict[str, Any]) -> str:
    """A plain summary of what ended, for a notifier given no body."""
    summary = _summary(context)
    return "\n".join(f"{key}: {value}" for key, value in summary.items() if value not in (None, ""))


def _summary(context: dict[str, Any]) -> dict[str, Any]:
    ti = context.get("ti")
    dag = context.get("dag")
    logical_date = context.get("logical_date")
    exception = context.get("exception")
    return {
        "dag_id": getattr(dag, "dag_id", None),
        "run_id": context.get("run_id"),
        "logical_date": logical_date.isoformat() if logical_date is not None else None,
        "reason": context.get("reason"),
        "task_id": getattr(ti, "task_id", None),
        "state": getattr(ti, "state", None),
        "try_number": getattr(ti, "try_number", None),
        "exception": str(exception) if exception is not None else None,
    }


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} not followed", headers, fp)


class WebhookNotifier(BaseNotifier):
    """POST a JSON body to ``url``, or to the connection ``conn_id`` (its host, port and schema as
    the protocol, ``endpoint`` after it, its extra's ``headers`` or flat text fields as headers,
    its login and password as basic auth), or else the ``ORCHESTRATOR_WEBHOOK_URL`` setting.

    ``payload`` (templated, any JSON value) is the body; by default a summary of what ended:
    dag_id, run_id, logical_date, reason, task_id, state, try_number, exception. A response that
    is not 2xx, a redirect or a timeout (``timeout`` seconds) is an error, logged to the
    callback's log.
    """

    template_fields = ("url", "payload", "headers", "endpoint")

    def __init__(
        self,
        *,
        url: str | None = None,
        conn_id: str | None = None,
        endpoint: str = "",
        payload: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        if url and conn_id:
            raise AirflowException("WebhookNotifier: pass url= or conn_id=, not both")
        self.url = url
        self.conn_id = conn_id
        self.endpoint = endpoint
        self.payload = payload
        self.headers = dict(headers or {})
        self.timeout = float(timeout)

    def _from_connection(self) -> tuple[str, dict[str, str]]:
        """The URL and headers the connection ``conn_id`` gives."""
        import base64

        from dags_app.sdk.connection import get_connection

        conn = get_connection(str(self.conn_id))
        host = conn.host or ""
        base = host if "://" in host else f"{conn.schema or 'https'}://{host}"
        if conn.port and "://" not in host:
            base += f":{conn.port}"
        extra = conn.extra_dejson
        headers = extra.get("headers") if isinstance(extra.get("headers"), dict) else extra
        headers = {str(k): v for k, v in headers.items() if isinstance(v, str)}
        if conn.login:
            token = base64.b64encode(f"{conn.login}:{conn.password or ''}".encode()).decode()
            headers.setdefault("Authorization", f"Basic {token}")
        endpoint = str(self.endpoint or "")
        if endpoint:
            base = base.rstrip("/") + "/" + endpoint.lstrip("/")
        return base, headers

    def notify(self, context: dict[str, Any]) -> None:
        conn_headers: dict[str, str] = {}
        if self.conn_id:
            url, conn_headers = self._from_connection()
        else:
            url = str(self.url or _default_webhook_url or "")
        if not url:
            raise AirflowException("WebhookNotifier has no URL: pass url=, conn_id= or set ORCHESTRATOR_WEBHOOK_URL")
        if not url.startswith(("http://", "https://")):
            raise AirflowException(f"WebhookNotifier only posts to http:// or https:// URLs, not {url!r}")
        body = self.payload if self.payload is not None else _summary(context)
        data = json.dumps(body, default=str).encode()
        request = urllib.request.Request(
            url,
            data=data,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "orchestrator-webhook",
                **conn_headers,
                **self.headers,
            },
        )
        opener = urllib.request.build_opener(_NoRedirects)
        try:
            with opener.open(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise AirflowException(f"Webhook {url} answered {exc.code}: {exc.reason}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AirflowException(f"Webhook {url} could not be reached: {reason}") from None
        log.info("Webhook %s answered %s", url, status)

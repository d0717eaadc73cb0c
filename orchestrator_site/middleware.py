"""Request guards that apply to every page."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict


class RejectNulBytesMiddleware:
    """Answer 400 to a request whose path or parameters hold a NUL byte.

    No id, search or form field of ours may contain one, and PostgreSQL refuses them in text
    (a ``DataError``, so a 500) wherever they reach a query: ``/dags/%00/grid/``, ``?search=%00``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        form = request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        )
        if "\x00" in request.path or _has_nul(request.GET) or (form and _has_nul(request.POST)):
            return HttpResponseBadRequest("A NUL byte is not allowed in a request.")
        return self.get_response(request)


def _has_nul(params: QueryDict) -> bool:
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in params.lists())

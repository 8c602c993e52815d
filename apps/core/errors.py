"""The server-error page: a database or broker outage is a 503 to retry, not a bare 500."""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views.decorators.csrf import requires_csrf_token

# Seconds a client is told to wait: a PostgreSQL restart or a failover takes a few.
RETRY_AFTER_S = 5


def _outage(exc: BaseException | None) -> bool:
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    try:
        from kombu.exceptions import OperationalError as BrokerDown
    except ImportError:  # pragma: no cover - kombu comes with celery
        return False
    return isinstance(exc, BrokerDown)


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: an outage answers 503 + Retry-After (nothing was stored: the request's
    transaction rolled back), anything else the plain 500 page. Renders without touching
    the database, which may be the thing that is down."""
    exc = sys.exc_info()[1]
    if not _outage(exc):
        body = loader.render_to_string("errors/500.html")
        return HttpResponse(body, status=500)
    message = "The service is briefly unavailable; nothing was saved. Please try again."
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": message}, status=503)
    else:
        body = loader.render_to_string("errors/503.html", {"retry_after": RETRY_AFTER_S})
        response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    return response

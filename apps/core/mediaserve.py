"""The HTTP answer for one ItemMedia, once a view has checked who may have it.

``settings.CHORUS_MEDIA_SERVE`` says who sends the bytes:

- ``python``: this module streams them, answering ``Range`` requests (206 with
  ``Content-Range``; 416 for a range outside the file) so an ``<audio>`` element can seek;
- ``x-accel``: an empty answer with ``X-Accel-Redirect`` to nginx's internal location for
  ``MEDIA_ROOT`` (``CHORUS_MEDIA_ACCEL_PREFIX``); nginx sends the file and handles ranges;
- ``signed-url``: a redirect to a short-lived signed URL of the object storage.

Every answer says ``Cache-Control: private, no-store`` (a shared cache must never hand one
participant's clip to another, and the URL of a file may be reused for a later assignment)
and ``X-Content-Type-Options: nosniff`` with the type decided from the content at upload.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.conf import settings
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)

from .media import media_storage
from .models import ItemMedia

CHUNK = 64 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single ``bytes=`` range, None for the whole file.

    Several ranges at once are answered with the whole file (allowed by RFC 9110 and never
    sent by media elements); a malformed or unsatisfiable range raises ``RangeNotSatisfiable``.
    """
    header = header.strip()
    if not header:
        return None
    if "," in header:
        return None
    match = _RANGE.match(header.replace(" ", ""))
    if not match:
        raise RangeNotSatisfiable
    first, last = match.groups()
    if first == "" and last == "":
        raise RangeNotSatisfiable
    if first == "":  # the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(size - length, 0), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or (last != "" and int(last) < start):
        raise RangeNotSatisfiable
    return start, end


def _private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store, max-age=0"
    response["X-Content-Type-Options"] = "nosniff"
    # Opened on its own (not in an <audio> or <img>), the file can run nothing.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Content-Disposition"] = "inline"
    response["Vary"] = "Cookie"
    return response


def _chunks(media: ItemMedia, start: int, length: int) -> Iterator[bytes]:
    with media_storage.open(media.file.name, "rb") as handle:
        handle.seek(start)
        while length > 0:
            data = handle.read(min(CHUNK, length))
            if not data:
                return
            length -= len(data)
            yield data


def media_response(request: HttpRequest, media: ItemMedia) -> HttpResponse:
    """Serve ``media`` to a requester the caller has already allowed to have it.

    A file missing from storage raises ``Http404``, the answer callers give for a file the
    requester may not have, so the two cannot be told apart.
    """
    mode = settings.CHORUS_MEDIA_SERVE
    if mode == "signed-url":
        url = media_storage.url(
            media.file.name,
            parameters={
                "ResponseContentType": media.content_type,
                "ResponseCacheControl": "private, no-store",
            },
            expire=settings.CHORUS_MEDIA_URL_SECONDS,
        )
        return _private(HttpResponseRedirect(url))
    if mode == "x-accel":
        response = HttpResponse(content_type=media.content_type)
        prefix = settings.CHORUS_MEDIA_ACCEL_PREFIX.rstrip("/")
        response["X-Accel-Redirect"] = f"{prefix}/{media.file.name}"
        return _private(response)
    try:
        size = media_storage.size(media.file.name)
    except OSError:
        raise Http404("No such file.") from None  # the same answer as someone else's file
    try:
        span = parse_range(request.headers.get("Range", ""), size)
    except RangeNotSatisfiable:
        response = HttpResponse(status=416, content_type="text/plain")
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return _private(response)
    start, end = span if span else (0, size - 1)
    length = end - start + 1 if size else 0
    if request.method == "HEAD":
        response = HttpResponse(content_type=media.content_type, status=206 if span else 200)
    else:
        response = StreamingHttpResponse(
            _chunks(media, start, length),
            content_type=media.content_type,
            status=206 if span else 200,
        )
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    if span:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return _private(response)

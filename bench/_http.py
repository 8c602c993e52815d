"""A small HTTP/1.1 client for the load generators: one keep-alive connection and a cookie jar.

The load generator runs on the same two cores as the server it measures, so its own CPU is
taken from the platform and shows up as queueing in the latencies it records. httpx spent
2.7 ms of CPU per answer here (URL parsing and merging, its cookie jar, h11's state machine:
py-spy of ``annotators.py``); this client does what the annotators need (GET and form POSTs,
cookies, no redirects unless asked) on ``http.client`` and costs a fraction of that. It is
not a browser: no caching, no compression, no cookie paths or domains (one host).
"""

from __future__ import annotations

import http.client
import select
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode, urljoin, urlsplit

# What a caller catches as "the connection failed" (httpx's TransportError, here).
TransportError = (OSError, http.client.HTTPException)


class Reply:
    """The parts of a response the load generators read (httpx's names)."""

    def __init__(self, status: int, headers: http.client.HTTPMessage, content: bytes):
        self.status_code = status
        self.headers = headers  # case-insensitive ``get`` and ``in``
        self.content = content
        self.num_bytes_downloaded = len(content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")


class Streamed:
    """A response whose body is read by the caller, as it arrives (``Browser.stream``)."""

    def __init__(self, response: http.client.HTTPResponse):
        self.status_code = response.status
        self.headers = response.headers
        self._response = response

    def iter_raw(self, size: int = 65536) -> Iterator[bytes]:
        while chunk := self._response.read1(size):
            yield chunk


class Browser:
    """One browser of a load test: its cookies and one persistent connection to ``base_url``."""

    def __init__(self, base_url: str, *, timeout: float = 60.0, cookies: dict | None = None):
        parts = urlsplit(base_url)
        self.base_url = base_url
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self.cookies: dict[str, str] = dict(cookies or {})
        self._conn: http.client.HTTPConnection | None = None

    def twin(self) -> Browser:
        """Another connection with the same cookies (a second click from the same browser)."""
        return Browser(self.base_url, timeout=self.timeout, cookies=self.cookies)

    def get(self, path: str, *, params=None, headers=None, follow_redirects=False) -> Reply:
        if params:
            path = f"{path}?{urlencode(params)}"
        return self._request("GET", path, None, headers, follow_redirects)

    def post(self, path: str, *, data=None, headers=None, follow_redirects=False) -> Reply:
        body = urlencode(data or {}).encode()
        return self._request("POST", path, body, headers, follow_redirects)

    @contextmanager
    def stream(self, method: str, path: str, *, headers=None) -> Iterator[Streamed]:
        """The response with its body unread: ``iter_raw()`` yields it as it arrives."""
        conn = self._connection()
        try:
            conn.request(method, path, headers=self._headers(headers, body=None))
            response = conn.getresponse()
            yield Streamed(response)
            response.read()  # what the caller left, so the connection can be reused
        except BaseException:
            self.close()
            raise
        self._received(response)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _request(self, method, path, body, headers, follow_redirects) -> Reply:
        reply = self._send(method, path, body, headers)
        for _ in range(10 if follow_redirects else 0):
            if reply.status_code not in (301, 302, 303, 307, 308):
                break
            path = urljoin(path, reply.headers["location"])
            if reply.status_code in (301, 302, 303):
                method, body = "GET", None
            reply = self._send(method, path, body, headers)
        return reply

    def _connection(self) -> http.client.HTTPConnection:
        conn = self._conn
        if conn is not None and conn.sock is not None:
            # An idle keep-alive connection the server closed reads as ready (EOF): replace it
            # before sending, as a browser does, rather than lose the request on it.
            if select.select([conn.sock], [], [], 0)[0]:
                conn.close()
                conn = None
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._conn = conn
        return conn

    def _headers(self, headers, *, body) -> dict:
        sent = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        return sent

    def _send(self, method, path, body, headers) -> Reply:
        conn = self._connection()
        try:
            conn.request(method, path, body=body, headers=self._headers(headers, body=body))
            response = conn.getresponse()
            content = response.read()
        except BaseException:
            self.close()
            raise
        self._received(response)
        return Reply(response.status, response.headers, content)

    def _received(self, response: http.client.HTTPResponse) -> None:
        if response.will_close:
            self.close()
        for header in response.headers.get_all("Set-Cookie") or ():
            self._cookie_set(header)

    def _cookie_set(self, header: str) -> None:
        pair, *attributes = header.split(";")
        name, _, value = pair.strip().partition("=")
        gone = any(a.strip().lower() in ("max-age=0", "max-age=-1") for a in attributes)
        if gone or value.strip('"') == "":
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

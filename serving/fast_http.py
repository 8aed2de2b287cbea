"""HTTP/1.1 connections for the project's gunicorn worker (:mod:`serving.fast_worker`).

One :class:`HttpConnection` (an asyncio protocol; ``httptools`` parses) per accepted socket.
A complete request goes to the worker's handler, which returns an :class:`HttpResponse` or a
future of one; responses leave in request order. What a connection guarantees, whatever bytes
arrive:

- a malformed request line or header, a request line over ``max_line``, more than
  ``max_fields`` headers, one over ``max_field`` or a head over ``max_head`` bytes: a 4xx with a
  JSON error in Seldon's format, then the connection is closed (the bytes still in flight are
  read and dropped for a moment first, so the client sees the answer rather than a reset);
- a body over ``max_body`` is not read: the handler gets the request at once with
  ``body_complete`` False (a chunked body: its first ``max_body`` bytes) and the connection
  closes after the answer;
- a request that is not complete ``read_timeout_s`` after its first byte: 408; a connection
  that sends nothing for ``read_timeout_s``: closed; an answer the client does not read within
  ``read_timeout_s``: the connection is dropped;
- ``keepalive_s`` 0 (gunicorn's ``--keepalive 0``): one request per connection, answered with
  ``Connection: close`` (anything pipelined behind it is dropped); otherwise HTTP/1.1
  keep-alive with pipelining, an idle connection closed after ``keepalive_s``;
- :meth:`HttpServerState.drain` (graceful stop): requests in progress are answered with
  ``Connection: close``, a connection accepted but still silent gets ``drain_idle_s`` to send its
  request, an idle keep-alive connection is left until its idle timeout (a request on it
  meanwhile is answered, with ``Connection: close``) rather than closed under a client that may
  be sending on it that very moment.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import httptools
from werkzeug.http import HTTP_STATUS_CODES

__all__ = [
    "HttpConnection",
    "HttpLimits",
    "HttpRequest",
    "HttpResponse",
    "HttpServerState",
    "error_response",
    "status_line",
]

logger = logging.getLogger(__name__)

SWEEP_S = 0.25  # how often deadlines are checked
LINGER_S = 2.0  # how long unread input is drained after an answer that leaves some unread
MAX_QUEUED = 16  # pipelined requests held per connection before it stops reading


@dataclass(frozen=True)
class HttpLimits:
    """What a connection accepts (see the module's docstring)."""

    max_line: int = 4094
    max_fields: int = 100
    max_field: int = 8190
    max_head: int = 64 * 1024
    max_body: int = 16 * 1024 * 1024
    read_timeout_s: float = 30.0
    keepalive_s: float = 0.0
    drain_idle_s: float = 2.0


@dataclass(slots=True)
class HttpRequest:
    """A parsed request; header names are lower-case bytes, in the order received."""

    method: str
    target: bytes
    version: str
    headers: list[tuple[bytes, bytes]]
    keep_alive: bool
    peer: Any
    sockname: Any
    body: bytes = b""
    #: False when the body was over the limit: not read (Content-Length), or cut at the limit (chunked)
    body_complete: bool = True
    chunked: bool = False
    received: float = 0.0  # loop time of its first byte

    def header(self, name: bytes) -> bytes | None:
        """The value of a header sent once (``name`` lower-case); None when absent or repeated."""
        found = None
        for key, value in self.headers:
            if key == name:
                if found is not None:
                    return None
                found = value
        return found

    def has_header(self, name: bytes) -> bool:
        return any(key == name for key, _ in self.headers)


@dataclass(slots=True)
class HttpResponse:
    """An answer: ``status`` as ``"200 OK"``, the application's headers, the whole body."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes
    close: bool = False  # close the connection after it, whatever keep-alive says


def status_line(code: int) -> str:
    """``"400 BAD REQUEST"``: werkzeug's form, as Flask's answers have it."""
    return f"{code} {HTTP_STATUS_CODES.get(code, 'unknown').upper()}"


def seldon_error_body(code: int, info: str) -> dict:
    """An error in Seldon's JSON format (what the model server answers for its own errors)."""
    reason = "BAD_REQUEST" if 400 <= code < 500 else "MICROSERVICE_INTERNAL_ERROR"
    return {"status": {"status": 1, "info": info, "code": -1, "reason": reason}}


def error_response(code: int, info: str, close: bool = True) -> HttpResponse:
    """:func:`seldon_error_body` as a complete HTTP answer."""
    data = (json.dumps(seldon_error_body(code, info), sort_keys=True, separators=(",", ":")) + "\n").encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    return HttpResponse(status_line(code), headers, data, close)


class _Refused(Exception):
    """Raised in a parser callback to stop parsing with this answer."""

    def __init__(self, code: int, info: str):
        super().__init__(info)
        self.code, self.info = code, info


class _Halt(Exception):
    """Raised in a parser callback to stop parsing quietly (input past the last request taken)."""


Handler = Callable[[HttpRequest], "HttpResponse | asyncio.Future[HttpResponse]"]


@dataclass
class HttpServerState:
    """What the connections of one worker share: limits, handler, the live connections, the clock.

    Args:
        loop: The worker's event loop.
        handler: Answers a request (an :class:`HttpResponse`, or a future of one).
        limits: See :class:`HttpLimits`.
        on_count: Called with the number of live connections whenever it changes.
        on_response: Called after each answer with (request, response, seconds), e.g. an access log.
    """

    loop: asyncio.AbstractEventLoop
    handler: Handler
    limits: HttpLimits
    on_count: Callable[[int], None] | None = None
    on_response: Callable[[HttpRequest, HttpResponse, float], None] | None = None
    connections: set[HttpConnection] = field(default_factory=set)
    stopping: bool = False
    _date: tuple[int, str] = (0, "")
    _sweeper: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Start checking the connections' deadlines."""
        self._sweeper = self.loop.call_later(SWEEP_S, self._sweep)

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()

    def date(self) -> str:
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, formatdate(now, usegmt=True))
        return self._date[1]

    def drain(self) -> None:
        """Graceful stop: answer what is in progress, close what is idle (see the module's docstring)."""
        self.stopping = True
        for connection in list(self.connections):
            connection.drain()

    def abort_all(self) -> None:
        for connection in list(self.connections):
            connection.abort()

    def _added(self, connection: HttpConnection) -> None:
        self.connections.add(connection)
        if self.on_count is not None:
            self.on_count(len(self.connections))

    def _removed(self, connection: HttpConnection) -> None:
        self.connections.discard(connection)
        if self.on_count is not None:
            self.on_count(len(self.connections))

    def _sweep(self) -> None:
        now = self.loop.time()
        for connection in list(self.connections):
            if connection.deadline <= now:
                connection.expire()
        self._sweeper = self.loop.call_later(SWEEP_S, self._sweep)


class HttpConnection(asyncio.Protocol):
    """One client connection (see the module's docstring)."""

    def __init__(self, state: HttpServerState):
        self.state = state
        self.limits = state.limits
        self.loop = state.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.peer = self.sockname = None
        self.queue: deque[HttpRequest | HttpResponse] = deque()
        self.busy = False  # the handler is answering a request of this connection
        self.served = 0
        self.taking = True  # False: input past the last request this connection takes is ignored
        self.closing = False
        self.lingering = False
        self.reading_paused = self.writing_paused = False
        self.eof = False
        self.deadline = float("inf")
        self.in_message = self.dispatched = False  # the rest is set when a message begins

    # ------------------------------------------------------------------ asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peer = transport.get_extra_info("peername")
        self.sockname = transport.get_extra_info("sockname")
        self.deadline = self.loop.time() + self.limits.read_timeout_s
        if self.state.stopping:
            self.deadline = self.loop.time() + self.limits.drain_idle_s
        self.state._added(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.transport = None
        self.queue.clear()
        self.parser = None  # it refers back to this protocol: no cycle left for the collector
        self.state._removed(self)

    def data_received(self, data: bytes) -> None:
        if self.lingering or self.closing:
            return  # read and dropped
        if not self.taking:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # llhttp stops after an Upgrade or CONNECT request's head: it is answered as plain
            # HTTP (when complete), and the connection closes after it
            self._stop_taking()
            if self.in_message:
                self._refuse(400, "a protocol upgrade is not supported here")
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, _Halt):
                pass
            elif isinstance(cause, _Refused):
                self._refuse(cause.code, cause.info)
            else:
                self._refuse(400, f"malformed HTTP request: {_reason(exc)}")
        else:
            if self.in_message and not self.head_done:
                self.head_received += len(data)
                if self.head_received > self.limits.max_head:
                    self._refuse(431, f"the request head is larger than {self.limits.max_head:,} bytes")
        self._next()

    def eof_received(self) -> bool:
        """The client sent all it will: answer what is complete, then close."""
        self.eof = True
        if self.lingering:
            return False  # the transport closes
        if self.in_message and self.taking:
            self._refuse(400, "the connection ended before the request was complete")
        self._stop_taking()
        self._next()
        if self.closing or self.transport is None:
            return True  # closing already
        if not (self.busy or self.queue):
            self._close()
        return True  # open until the answers are written

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._next()

    # ------------------------------------------------------------------ httptools callbacks

    def _new_message(self) -> None:
        self.in_message = False
        self.head_done = False
        self.head_received = 0
        self.url: list[bytes] = []
        self.url_size = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.body_size = 0
        self.content_length: int | None = None
        self.chunked = False
        self.request: HttpRequest | None = None
        self.dispatched = False  # handed over before its body was read
        self.started = 0.0

    def on_message_begin(self) -> None:
        if not self.taking:
            raise _Halt()
        self._new_message()
        self.in_message = True
        self.started = self.loop.time()
        if not (self.busy or self.queue):
            self.deadline = self.started + self.limits.read_timeout_s

    def on_url(self, url: bytes) -> None:
        self.url_size += len(url)
        if self.url_size > self.limits.max_line:
            raise _Refused(414, f"the request target is longer than {self.limits.max_line:,} bytes")
        self.url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) >= self.limits.max_fields:
            raise _Refused(431, f"the request has more than {self.limits.max_fields} header fields")
        if len(name) + len(value) + 2 > self.limits.max_field:
            raise _Refused(431, f"a request header field is longer than {self.limits.max_field:,} bytes")
        name = name.lower()
        if name == b"content-length":
            self.content_length = int(value)  # llhttp has checked it is a number
        elif name == b"transfer-encoding":
            self.chunked = b"chunked" in value.lower()
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.head_done = True
        parser = self.parser
        request = HttpRequest(
            method=parser.get_method().decode("ascii", "replace"),
            target=b"".join(self.url),
            version=parser.get_http_version(),
            headers=self.headers,
            keep_alive=parser.should_keep_alive(),
            peer=self.peer,
            sockname=self.sockname,
            chunked=self.chunked,
            received=self.started,
        )
        self.request = request
        if self.content_length is not None and self.content_length > self.limits.max_body:
            request.body_complete = False  # not read: the handler answers at once (a 413)
            self._dispatch_early()
        elif (
            request.version == "1.1"
            and (self.content_length or self.chunked)
            and (request.header(b"expect") or b"").lower() == b"100-continue"
            and not (self.busy or self.queue)
            and self.transport is not None
        ):
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self.dispatched:
            return
        self.body_size += len(body)
        self.body.append(body)
        if self.body_size > self.limits.max_body:  # only a chunked body gets here
            self.request.body = b"".join(self.body)[: self.limits.max_body]
            self.request.body_complete = False
            self._dispatch_early()

    def on_message_complete(self) -> None:
        self.in_message = False
        if self.dispatched:
            return
        request = self.request
        request.body = b"".join(self.body) if len(self.body) != 1 else self.body[0]
        self._take(request)

    # ------------------------------------------------------------------ requests and answers

    def _take(self, request: HttpRequest) -> None:
        self.queue.append(request)
        if self.limits.keepalive_s <= 0 or not request.keep_alive or not request.body_complete:
            self._stop_taking()  # the connection closes after this request's answer
        elif len(self.queue) >= MAX_QUEUED and self.transport is not None and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def _dispatch_early(self) -> None:
        self.dispatched = True
        self.in_message = False
        self._take(self.request)

    def _stop_taking(self) -> None:
        self.taking = False

    def _refuse(self, code: int, info: str) -> None:
        """Answer ``code`` after what is queued, take nothing more, close."""
        logger.info("Refused a request from %s: %d %s", _address(self.peer), code, info)
        self.in_message = False
        self._stop_taking()
        self.queue.append(error_response(code, info))

    def _next(self) -> None:
        while self.queue and not (self.busy or self.closing or self.writing_paused):
            item = self.queue.popleft()
            if isinstance(item, HttpResponse):  # a refusal
                self._write(item, "HTTP/1.1", keep=False, linger=True)
                continue
            self.busy = True
            self.deadline = float("inf")
            try:
                result = self.state.handler(item)
            except Exception:
                logger.exception("Error handling %s %r", item.method, item.target[:200])
                result = error_response(500, "the server failed to answer the request")
            if isinstance(result, HttpResponse):
                self._answer(item, result)
            else:
                result.add_done_callback(lambda future, request=item: self._answered(request, future))
                return
        if (
            self.reading_paused
            and len(self.queue) < MAX_QUEUED // 2
            and self.transport is not None
            and not self.closing
        ):
            self.reading_paused = False
            self.transport.resume_reading()

    def _answered(self, request: HttpRequest, future: asyncio.Future) -> None:
        try:
            response = future.result()
        except Exception:
            logger.exception("Error handling %s %r", request.method, request.target[:200])
            response = error_response(500, "the server failed to answer the request")
        self._answer(request, response)
        self._next()

    def _answer(self, request: HttpRequest, response: HttpResponse) -> None:
        self.busy = False
        self.served += 1
        keep = (
            self.taking
            and request.keep_alive
            and request.body_complete
            and not response.close
            and not self.state.stopping
            and self.limits.keepalive_s > 0
        )
        version = "HTTP/1.0" if request.version == "1.0" else "HTTP/1.1"
        self._write(response, version, keep, linger=not request.body_complete)
        if self.state.on_response is not None:
            try:
                self.state.on_response(request, response, self.loop.time() - request.received)
            except Exception:  # an access log must not stop the connection
                logger.exception("Could not record an answer")
        if keep and not self.queue:  # waiting: for the rest of a request begun, or idle
            if self.in_message:
                self.deadline = self.started + self.limits.read_timeout_s
            else:
                self.deadline = self.loop.time() + self.limits.keepalive_s

    def _write(self, response: HttpResponse, version: str, keep: bool, linger: bool) -> None:
        if self.transport is None or self.closing:
            return
        head = [
            f"{version} {response.status}\r\nServer: gunicorn\r\nDate: {self.state.date()}\r\n"
            f"Connection: {'keep-alive' if keep else 'close'}\r\n"
        ]
        head += [f"{name}: {value}\r\n" for name, value in response.headers]
        head.append("\r\n")
        self.transport.write("".join(head).encode("latin-1") + response.body)
        if not keep:
            self._close(linger)

    def _close(self, linger: bool = False) -> None:
        """Close once the answer is sent; with ``linger``, first half-close and drop what still
        arrives, so that unread input does not turn the close into a reset the client sees first."""
        if self.closing or self.transport is None:
            return
        self.closing = True
        self.queue.clear()
        self.deadline = self.loop.time() + (LINGER_S if linger else self.limits.read_timeout_s)
        if linger and not self.eof and self.transport.can_write_eof():
            self.lingering = True
            self.closing = False  # still reading (and dropping) until the client's EOF
            self.transport.write_eof()
            if self.reading_paused:
                self.reading_paused = False
                self.transport.resume_reading()
            return
        self.transport.close()

    def expire(self) -> None:
        """Called once :attr:`deadline` has passed."""
        self.deadline = float("inf")
        if self.transport is None:
            return
        if self.lingering or self.closing:
            self.transport.abort()
        elif self.busy:
            return
        elif self.in_message:
            self._refuse(408, f"the request was not complete within {self.limits.read_timeout_s:g} s")
            self._next()
        elif not self.queue:
            self._close()  # silent or idle for too long

    def drain(self) -> None:
        """The worker stops: see :meth:`HttpServerState.drain`."""
        if self.transport is None or self.closing or self.lingering:
            return
        if self.busy or self.queue or self.in_message:
            return  # answered, then closed (the server is stopping, so no keep-alive)
        if not self.served:  # accepted, silent so far: its request is surely on its way
            self.deadline = min(self.deadline, self.loop.time() + self.limits.drain_idle_s)
        # Idle between keep-alive requests: left open until its idle timeout, a request sent
        # meanwhile answered with Connection: close. Closing it now would lose a request the
        # client is sending at that moment; at the idle timeout that risk is the usual one.

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]


def _address(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer or "-")

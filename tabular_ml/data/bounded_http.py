"""Outbound HTTP with an overall deadline and a cap on the answer's size.

requests applies its ``timeout`` to each socket operation: a server that sends one byte every
few seconds, or never stops sending, holds the caller forever, and a body is read whole. Here a
request runs against a :class:`Deadline` (monotonic clock): when it passes, a timer shuts down
the socket of every connection the request used, whatever it is doing (connecting, the TLS
handshake, waiting for the headers, reading the body), a retry's wait ends at it and no attempt
starts after it. :func:`read_body` reads the body in chunks, never more than a byte cap.

The retries stay the caller's: its own loop (the API source), or urllib3's ``Retry`` on the
session (the webhook alerter) as :class:`DeadlineRetry`, whose waits end at the deadline.
Behind a SOCKS proxy the sockets are not reachable: only the per-read timeout applies there.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.poolmanager import pool_classes_by_scheme as default_pool_classes
from urllib3.util.retry import Retry

#: Bytes asked of the connection at a time while reading a body.
CHUNK_BYTES = 64 * 1024

_running = threading.local()  # .deadline: the Deadline of the request this thread is sending


class HttpLimitError(Exception):
    """A request went past its deadline or its answer past its size cap."""


class DeadlineExceeded(HttpLimitError):
    """No complete answer within the deadline."""


class ResponseTooLarge(HttpLimitError):
    """The answer's body is larger than the cap."""


class Deadline:
    """The moment (monotonic) by which one request, its retries and their waits included, is done."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._passed = False
        self._connections: list[HTTPConnection] = []
        self._sockets: list[socket.socket] = []

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        return self._passed or time.monotonic() >= self._end

    def error(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"no complete answer within {self.seconds:g}s")

    def timeout(self, per_read_s: float) -> float:
        """The timeout of each socket operation: ``per_read_s``, cut to the time left."""
        return max(0.001, min(per_read_s, self.remaining()))

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or until the deadline if it comes first."""
        time.sleep(min(seconds, self.remaining()))

    @contextmanager
    def enforced(self) -> Iterator[None]:
        """Within it, the connections this thread's requests use are shut down at the deadline."""
        if self.expired:
            raise self.error()
        timer = threading.Timer(self.remaining(), self._expire)
        timer.daemon = True
        previous = getattr(_running, "deadline", None)
        _running.deadline = self
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
            _running.deadline = previous

    def _watch(self, connection: HTTPConnection) -> None:
        """Shut this connection down at the deadline: the socket it has now, and any it has then.

        A response that ends its connection (``Connection: close``) takes the socket over from
        it, so the socket is kept as well as the connection.
        """
        with self._lock:
            if self.expired:
                raise TimeoutError(f"the deadline of {self.seconds:g}s has passed")
            self._connections.append(connection)
            if isinstance(connection.sock, socket.socket):
                self._sockets.append(connection.sock)

    def _expire(self) -> None:
        with self._lock:
            self._passed = True
            current = [connection.sock for connection in self._connections]
            sockets = {
                id(sock): sock for sock in [*self._sockets, *current] if isinstance(sock, socket.socket)
            }
            self._connections, self._sockets = [], []
        for sock in sockets.values():
            try:  # the fd itself: SSLSocket.shutdown would also unwrap TLS under a running read
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass  # closed already


def _watch(connection: HTTPConnection) -> None:
    deadline = getattr(_running, "deadline", None)
    if deadline is not None:
        deadline._watch(connection)


class _Watched:
    """A urllib3 connection that the running request's deadline can shut down."""

    def connect(self) -> None:
        _watch(self)  # type: ignore[arg-type]
        super().connect()  # type: ignore[misc]
        _watch(self)  # type: ignore[arg-type]

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections (direct or through an HTTP proxy) obey a Deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if manager.pool_classes_by_scheme is default_pool_classes:  # not SOCKS, which has its own
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


class DeadlineRetry(Retry):
    """urllib3's ``Retry`` whose waits (backoff, ``Retry-After``) end at the running request's deadline."""

    def sleep(self, response: Any = None) -> None:
        deadline = getattr(_running, "deadline", None)
        if deadline is None:
            super().sleep(response)
            return
        wait = self.get_retry_after(response) if self.respect_retry_after_header and response else None
        deadline.sleep(wait or self.get_backoff_time())


def bounded_session(retry: Retry | int = 0) -> requests.Session:
    """A session for :func:`bounded_request`, retrying as ``retry`` says (a DeadlineRetry, or 0)."""
    session = requests.Session()
    adapter = DeadlineAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@contextmanager
def bounded_request(
    session: requests.Session, method: str, url: str, *, deadline: Deadline, timeout_s: float, **kwargs: Any
) -> Iterator[requests.Response]:
    """``session.request(method, url, **kwargs)``, streamed, that cannot outlive ``deadline``.

    The response is open within the block (read its body there with :func:`read_body`) and
    closed after it. ``timeout_s`` still bounds each socket operation, cut to the time left.

    Raises:
        DeadlineExceeded: The deadline passed before the answer, or its body read in the
            block, was complete (whatever error the shut-down socket gave is its cause).
        requests.RequestException: Any other failure, as requests raises it.
    """
    with deadline.enforced():
        try:
            timeout = deadline.timeout(timeout_s)
            with session.request(method, url, timeout=(timeout, timeout), stream=True, **kwargs) as response:
                yield response
        except (requests.RequestException, Urllib3Error, OSError) as exc:
            if deadline.expired:
                raise deadline.error() from exc
            raise


def read_body(
    response: requests.Response, deadline: Deadline, max_bytes: int, *, truncate: bool = False
) -> bytes:
    """The body of a :func:`bounded_request` response, decompressed, read in chunks.

    A body longer than ``max_bytes`` raises :class:`ResponseTooLarge` as soon as it is seen to
    be (a larger ``Content-Length`` before anything is read), or with ``truncate`` its first
    ``max_bytes`` are returned and the rest is never read.
    """
    declared = response.headers.get("Content-Length", "")
    if not truncate and declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(f"the answer announces {int(declared)} bytes, more than {max_bytes}")
    body = bytearray()
    for chunk in response.iter_content(min(CHUNK_BYTES, max_bytes + 1)):
        body += chunk
        if len(body) > max_bytes:
            if truncate:
                return bytes(body[:max_bytes])
            raise ResponseTooLarge(f"the answer is larger than {max_bytes} bytes")
    if deadline.expired:  # a body without a length ends at the shut-down socket: it is incomplete
        raise deadline.error()
    return bytes(body)

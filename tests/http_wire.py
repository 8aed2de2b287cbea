"""Raw HTTP/1.1 over a socket, for tests that send what a client library would not (or could not).

Responses are parsed with ``httptools``' response parser, so several responses on one
connection (keep-alive, pipelining) come apart exactly where the server framed them.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field

import httptools

__all__ = ["Answer", "connect", "post_request", "read_answers", "send_and_read"]


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # names lower-case
    body: bytes = b""
    version: str = ""

    def json(self):
        return json.loads(self.body)


class _Collector:
    def __init__(self):
        self.answers: list[Answer] = []
        self.current = Answer(status=0)
        self.parser = httptools.HttpResponseParser(self)

    def on_message_begin(self):
        self.current = Answer(status=0)

    def on_header(self, name: bytes, value: bytes):
        self.current.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self):
        self.current.status = self.parser.get_status_code()
        self.current.version = self.parser.get_http_version()

    def on_body(self, body: bytes):
        self.current.body += body

    def on_message_complete(self):
        self.answers.append(self.current)


def connect(port: int, timeout: float = 10) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def read_answers(
    sock: socket.socket, count: int | None = None, timeout: float = 10
) -> tuple[list[Answer], bool]:
    """Answers read until ``count`` are complete (None: until the server closes) or ``timeout`` passes.

    Returns:
        The answers, and whether the server closed the connection (EOF or reset) meanwhile.
    """
    collector = _Collector()
    deadline = time.monotonic() + timeout
    closed = False
    while count is None or len(collector.answers) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            closed = True
            break
        if not data:
            closed = True
            break
        collector.parser.feed_data(data)
    return collector.answers, closed


def post_request(
    path: str, body: bytes, *extra_headers: str, content_type: str = "application/json"
) -> bytes:
    """A POST with a Content-Length (headers as ``"Name: value"``)."""
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    head += [f"Content-Length: {len(body)}", *extra_headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def send_and_read(
    port: int, data: bytes, count: int | None = 1, timeout: float = 10
) -> tuple[list[Answer], bool]:
    """Send ``data`` on a new connection and read the answers (see :func:`read_answers`)."""
    with connect(port, timeout) as sock:
        sock.sendall(data)
        return read_answers(sock, count, timeout)

"""HTTP servers that misbehave slowly or endlessly, for deadline and size-cap tests.

A real socket on 127.0.0.1:0 served by threads (one per connection), written byte by byte so
that nothing (http.server included) buffers what the test wants trickled:

- ``trickle_headers``: the status line and headers one byte per ``interval_s``;
- ``trickle_body``: the headers at once (``Content-Length`` 100000), then one byte of the body
  per ``interval_s``;
- ``endless``: the headers (no length: the body ends when the connection does), then 64 KiB
  chunks as fast as the client reads, forever;
- ``drip``: the same, but 100 bytes every 50 ms: never near a size cap, never done;
- ``announce_large``: ``Content-Length`` 10 GiB, then the body as ``endless``.

Every answer has the status ``status`` and, unless ``keep_alive``, ``Connection: close`` (which
makes the client's response own the socket, not its connection). A handler stops when the
client goes away or the server is closed. ``hits`` counts the requests.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

BEHAVIOURS = ("trickle_headers", "trickle_body", "endless", "drip", "announce_large")
#: The path the servers are reached at in tests: the token stands for a secret part of a URL.
SECRET_PATH = "/hooks/T0SLOW/sl0wS3cr3tT0k3n"


@dataclass
class SlowServer:
    url: str  # scheme, host, port and SECRET_PATH
    base: str  # scheme, host and port
    hits: int = 0


def _read_request(connection: socket.socket) -> None:
    """Read one request's headers and its body (by Content-Length), to answer after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            return
        body += chunk


@contextmanager
def slow_server(
    behaviour: str, status: int = 200, interval_s: float = 1.0, keep_alive: bool = False
) -> Iterator[SlowServer]:
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown behaviour {behaviour!r}; expected one of {BEHAVIOURS}")
    stop = threading.Event()
    state = SlowServer(url="", base="")
    reason = {200: "OK", 500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "Status")

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            connection: socket.socket = self.request
            try:
                _read_request(connection)
                state.hits += 1
                self.answer(connection)
            except OSError:  # the client gave up: its deadline shut the connection down
                pass

        def answer(self, connection: socket.socket) -> None:
            length = {
                "trickle_body": "Content-Length: 100000\r\n",
                "announce_large": f"Content-Length: {10 * 2**30}\r\n",
            }
            closing = "" if keep_alive else "Connection: close\r\n"
            head = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                f"{length.get(behaviour, '')}{closing}\r\n"
            ).encode()
            if behaviour == "trickle_headers":
                for byte in head:
                    if stop.wait(interval_s):
                        return
                    connection.sendall(bytes([byte]))
                return
            connection.sendall(head)
            if behaviour == "trickle_body":
                connection.sendall(b"[")
                while not stop.wait(interval_s):
                    connection.sendall(b" ")
            elif behaviour == "drip":
                connection.sendall(b"[")
                while not stop.wait(0.05):
                    connection.sendall(b" " * 100)
            else:  # endless, announce_large
                chunk = b"[" + b" " * (64 * 1024 - 1)
                while not stop.is_set():
                    connection.sendall(chunk)
                    chunk = b" " * 64 * 1024

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    state.url = state.base + SECRET_PATH
    try:
        yield state
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

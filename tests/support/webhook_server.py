"""A real incoming-webhook receiver for tests: http.server in a thread on 127.0.0.1:0.

It records every request (path, headers, JSON body) and answers from a script of
(status, headers, body) tuples, then 200 "ok" once the script is used up.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: The path of the test webhook: the token stands for the secret part of a real webhook URL.
SECRET_PATH = "/services/T0TEST/B0TEST/s3cr3tTok3nXyZ"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: object


@dataclass
class WebhookServer:
    url: str
    answers: list[tuple[int, dict[str, str], bytes]]
    delay_s: float = 0.0
    requests: list[Received] = field(default_factory=list)

    @property
    def bodies(self) -> list[object]:
        return [r.body for r in self.requests]


@contextmanager
def webhook_server(
    *answers: tuple[int, dict[str, str], bytes], delay_s: float = 0.0
) -> Iterator[WebhookServer]:
    state = WebhookServer(url="", answers=list(answers), delay_s=delay_s)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                state.requests.append(Received(self.path, dict(self.headers), json.loads(raw)))
                status, headers, body = state.answers.pop(0) if state.answers else (200, {}, b"ok")
            if state.delay_s:
                time.sleep(state.delay_s)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}{SECRET_PATH}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

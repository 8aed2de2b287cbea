"""The project's gunicorn worker for the model server's REST port: predictions without Flask.

seldon-core's REST server is gunicorn (``sync``/``gthread`` workers) running a Flask app; on one
core it answers about 1,100 single-row requests a second even when the model does nothing, while
the fast path scores a row in 0.08 ms. :class:`FastWorker` replaces only the worker: the
``seldon-core-microservice`` process, its gunicorn master (sockets inherited with ``fd://``,
graceful SIGTERM, worker management) and its metrics server stay as they are.

Each worker runs an asyncio loop (uvloop) with :mod:`serving.fast_http` connections. A JSON
prediction request is answered by :mod:`serving.fast_predictions` on the loop (in a worker
thread when its body is over 64 KiB); every other request (health, metadata, feedback, form or
query payloads, chunked bodies, CORS requests with an ``Origin``, errors of the body's JSON) goes
to seldon-core's Flask app in a pool of ``--threads`` threads (:mod:`serving.wsgi_bridge`), so the
answers are Flask's.

Gunicorn's duties: the worker notifies the master every second (and exits when its parent
changes), honours ``max_requests`` (then stops gracefully), and on SIGTERM stops accepting,
answers the requests in progress, lets idle keep-alive connections reach their idle timeout (see
:meth:`serving.fast_http.HttpConnection.drain`) and exits (``graceful_timeout`` at most);
SIGQUIT or SIGINT stop it at once. ``--keepalive 0`` means one request per connection
(``Connection: close``); a positive value, HTTP/1.1 keep-alive with that idle timeout. Limits:
gunicorn's ``limit_request_line``, ``limit_request_fields``, ``limit_request_field_size``, a 64
KiB request head, the app's body limit (``SERVING_MAX_BODY_BYTES``), ``SERVING_READ_TIMEOUT_S``
(default 30 s) to send a request, ``worker_connections`` connections at once (then it stops
accepting until one ends).

``SERVING_FAST_WORKER=off`` leaves seldon-core's own gunicorn worker in place
(:func:`serving.model_server.configure_gunicorn` decides).
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from gunicorn.workers.base import Worker

from serving.env_settings import positive_float_env
from serving.fast_http import HttpConnection, HttpLimits, HttpRequest, HttpResponse, HttpServerState
from serving.fast_predictions import FastPredictions
from serving.http_guard import configured_max_body_bytes
from serving.wsgi_bridge import call_wsgi, wsgi_environ

__all__ = [
    "FAST_WORKER_ENV",
    "READ_TIMEOUT_ENV",
    "WORKER_CLASS",
    "FastWorker",
    "fast_worker_enabled",
    "freeze_before_fork",
]

FAST_WORKER_ENV = "SERVING_FAST_WORKER"
READ_TIMEOUT_ENV = "SERVING_READ_TIMEOUT_S"
WORKER_CLASS = "serving.fast_worker.FastWorker"
DEFAULT_READ_TIMEOUT_S = 30.0
INLINE_BODY_BYTES = 64 * 1024  # larger prediction bodies are scored in a thread, not on the loop
HEARTBEAT_S = 1.0
MAX_HEAD_BYTES = 64 * 1024
SOFTWARE = "gunicorn (serving.fast_worker)"


def fast_worker_enabled() -> bool:
    """``$SERVING_FAST_WORKER``: on (default) or off.

    Raises:
        ValueError: For any other value.
    """
    raw = os.environ.get(FAST_WORKER_ENV, "").strip().lower()
    if raw in ("", "on", "1", "true", "yes"):
        return True
    if raw in ("off", "0", "false", "no"):
        return False
    raise ValueError(f"{FAST_WORKER_ENV}={raw!r} must be on or off")


def freeze_before_fork(server: Any, worker: Any) -> None:
    """gunicorn's ``pre_fork`` hook (in the master): what the master has made is moved out of the
    collector's reach before the fork, so that no collection in a worker writes to (and so
    copies) the memory pages it shares with the master."""
    gc.freeze()


class FastWorker(Worker):
    """A gunicorn worker: asyncio HTTP/1.1, predictions answered without Flask (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.quick = False
        self.servers: list[asyncio.AbstractServer] = []
        self.accepting = False
        self.predictions: FastPredictions | None = None

    # ------------------------------------------------------------------ gunicorn hooks

    def init_process(self) -> None:
        import uvloop

        # Read before the worker counts as booted: a bad value stops the server (gunicorn's
        # "Worker failed to boot") instead of a worker crashing again after every restart.
        self.read_timeout_s = positive_float_env(READ_TIMEOUT_ENV, DEFAULT_READ_TIMEOUT_S, unit="seconds")
        self.loop = uvloop.new_event_loop()
        asyncio.set_event_loop(self.loop)
        super().init_process()  # gunicorn's signal handlers while the app (the model) loads, then run()

    def run(self) -> None:
        try:
            self.loop.run_until_complete(self._serve())
        finally:
            self.loop.close()

    # ------------------------------------------------------------------ serving

    async def _serve(self) -> None:
        if not self.alive:  # SIGTERM while the model was loading
            return
        self.wake = asyncio.Event()
        self._install_signal_handlers()
        self.executor = ThreadPoolExecutor(max_workers=max(1, self.cfg.threads), thread_name_prefix="wsgi")
        tracing = bool(getattr(self.app, "tracing", False))
        self.predictions, reason = FastPredictions.for_app(self.wsgi, tracing)
        if self.predictions is None:
            self.log.warning("Fast worker: predictions are answered by Flask: %s", reason)
        self.http = HttpServerState(
            self.loop,
            self.handle,
            self._limits(),
            on_count=self._connections_changed,
            on_response=self._access_log if self.log.access_log_enabled else None,
        )
        self.log.info(
            "Fast worker: predictions %s, %s",
            "answered without Flask" if self.predictions else "through Flask",
            f"keep-alive {self.cfg.keepalive} s" if self.cfg.keepalive > 0 else "one request per connection",
        )
        # The loaded model lives as long as the worker: out of the collector's way, so that full
        # collections neither pause requests to scan it nor make the exit slow (seconds here).
        # What the master made is frozen already (freeze_before_fork): not touched here.
        gc.collect()
        gc.freeze()
        self.http.start()
        await self._listen()
        while self.alive:
            self.notify()
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                break
            await self._wait_for_wake()
        await self._stop()

    async def _wait_for_wake(self) -> None:
        """Until something sets ``wake`` or a heartbeat has passed (gunicorn's master must hear from us)."""
        self.wake.clear()
        try:
            await asyncio.wait_for(self.wake.wait(), HEARTBEAT_S)
        except TimeoutError:
            pass

    def _limits(self) -> HttpLimits:
        cfg = self.cfg
        app_limit = getattr(self.wsgi, "config", {}).get("MAX_CONTENT_LENGTH")
        return HttpLimits(
            max_line=cfg.limit_request_line or MAX_HEAD_BYTES,
            max_fields=cfg.limit_request_fields,
            max_field=cfg.limit_request_field_size or MAX_HEAD_BYTES,
            max_head=MAX_HEAD_BYTES,
            max_body=app_limit or configured_max_body_bytes(),
            read_timeout_s=self.read_timeout_s,
            keepalive_s=max(0.0, float(cfg.keepalive)),
        )

    async def _listen(self) -> None:
        """Accept on every gunicorn listener (a duplicate of it: uvloop closes what it served)."""
        self.accepting = True
        for listener in self.sockets:
            server = await self.loop.create_server(
                lambda: HttpConnection(self.http), sock=listener.sock.dup(), backlog=self.cfg.backlog
            )
            if not self.accepting:  # stopped meanwhile (the connection cap again, or the worker)
                server.close()
                return
            self.servers.append(server)

    def _stop_listening(self) -> None:
        self.accepting = False
        for server in self.servers:
            server.close()
        self.servers = []

    def _connections_changed(self, count: int) -> None:
        """Stop accepting at ``worker_connections``; resume below it (the kernel queue waits)."""
        if self.accepting and count >= self.cfg.worker_connections:
            self.log.warning("Fast worker: %d connections, accepting no more until one ends", count)
            self._stop_listening()
        elif not self.accepting and self.alive and count < self.cfg.worker_connections and not self.servers:
            self.accepting = True  # set now: _listen runs later
            self.loop.create_task(self._listen())
        if count == 0 and not self.alive:
            self.wake.set()  # the graceful stop waits for the last connection

    async def _stop(self) -> None:
        self._stop_listening()
        if not self.quick:
            self.http.drain()
            deadline = self.loop.time() + self.cfg.graceful_timeout
            while self.http.connections and not self.quick and self.loop.time() < deadline:
                self.notify()
                await self._wait_for_wake()
        self.http.abort_all()
        self.http.stop()
        self.executor.shutdown(wait=not self.quick, cancel_futures=True)
        if self.predictions is not None and not self.quick:
            self.predictions.route.batcher.flush()  # this worker's last metrics, before it exits
        await asyncio.sleep(0)  # let the aborted transports report their loss

    # ------------------------------------------------------------------ signals

    def _install_signal_handlers(self) -> None:
        loop = self.loop
        loop.add_signal_handler(signal.SIGTERM, self._graceful_stop)
        loop.add_signal_handler(signal.SIGQUIT, self._quick_stop)
        loop.add_signal_handler(signal.SIGINT, self._quick_stop)
        loop.add_signal_handler(signal.SIGUSR1, self.log.reopen_files)
        loop.add_signal_handler(signal.SIGWINCH, lambda: None)
        loop.add_signal_handler(signal.SIGABRT, self._abort)

    def _graceful_stop(self) -> None:
        self.alive = False
        self.wake.set()

    def _quick_stop(self) -> None:
        self.quick = True
        self.alive = False
        self.cfg.worker_int(self)
        self.wake.set()

    def _abort(self) -> None:
        self.alive = False
        self.cfg.worker_abort(self)
        sys.exit(1)

    # ------------------------------------------------------------------ requests

    def handle(self, request: HttpRequest) -> HttpResponse | asyncio.Future:
        """An answer now (a prediction on the loop) or a future of one (Flask, large bodies)."""
        self.nr += 1
        if self.nr >= self.max_requests and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self._graceful_stop()
        predictions = self.predictions
        if predictions is not None and predictions.accepts(request):
            if len(request.body) > INLINE_BODY_BYTES:
                return self.loop.run_in_executor(self.executor, self._predict_or_flask, request)
            answer = predictions.answer(request)
            if answer is not None:
                return answer
        return self.loop.run_in_executor(self.executor, self._flask, request)

    def _predict_or_flask(self, request: HttpRequest) -> HttpResponse:
        return self.predictions.answer(request) or self._flask(request)

    def _flask(self, request: HttpRequest) -> HttpResponse:
        environ = wsgi_environ(request, multiprocess=self.cfg.workers > 1, software=SOFTWARE)
        return call_wsgi(self.wsgi, environ, head_only=request.method == "HEAD")

    def _access_log(self, request: HttpRequest, response: HttpResponse, seconds: float) -> None:
        environ = wsgi_environ(request, multiprocess=self.cfg.workers > 1, software=SOFTWARE)
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers]
        answered = SimpleNamespace(status=response.status, sent=len(response.body), headers=response.headers)
        self.log.access(answered, SimpleNamespace(headers=headers), environ, timedelta(seconds=seconds))

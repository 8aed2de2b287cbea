"""The server process: the app on uvicorn, configured from :class:`~serving.settings.ServingSettings`.

``python -m serving`` is the image's entry point and what the local deployer runs. uvicorn does
the HTTP work (parsing, connections, keep-alive, worker processes, graceful shutdown); this
module only hands it the settings and the listening sockets:

- the HTTP socket(s): bound here on ``SERVING_HOST``:``SERVING_PORT``, or inherited from a
  supervisor (``SERVING_LISTEN_FDS``: the local deployer's shared public port and a private one
  for health checks, see ``flavors/local_seldon/supervisor.py``);
- the metrics socket (``SERVING_METRICS_PORT``, or inherited as ``SERVING_METRICS_FD``), served by
  the same app, which answers only scrapes there.

Why uvicorn with the ``zttp`` parser (bench/results/serving.md has the measurement): with uvloop
it answers a no-op app as fast as ``httptools`` (34,553 against 35,015 requests/s in one run,
34,943 against 32,897 in another) and 3.7x ``h11``; and unlike ``httptools``, whose uvicorn
protocol keeps every header line a client sends (one connection grew a server by 1.2 GB in 4 s),
it refuses a header block or trailer past its bound. ``SERVING_HTTP_PARSER=h11`` is the
pure-Python alternative, bounded by ``h11_max_incomplete_event_size`` (16 KiB).

One worker runs :class:`DrainingServer`, which stops accepting ``SERVING_DRAIN_S`` before uvicorn's
graceful shutdown (the local deployer runs one such process per worker, for its swaps). With
``SERVING_WORKERS`` > 1, uvicorn's process manager (``uvicorn.supervisors.Multiprocess``, what
``uvicorn --workers`` runs) starts the workers on the same sockets, and Prometheus values are
summed across them through ``PROMETHEUS_MULTIPROC_DIR``. Its workers are spawned, not forked, so
each loads the model itself (about 130 MB each for the Telco model); the parent imports no
scikit-learn.
"""

from __future__ import annotations

import asyncio
import logging
import logging.config
import math
import os
import socket
import sys
import tempfile
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from serving.lifetime import die_with_parent
from serving.metrics import MULTIPROCESS_ENV
from serving.settings import ServingSettings, SettingsError, load_settings

__all__ = ["app_factory", "main", "uvicorn_config"]


STARTUP_FAILURE = 3
LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": LOG_FORMAT}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    },
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {"uvicorn": {"level": "INFO"}, "uvicorn.error": {"level": "INFO"}},
}


class DrainingServer(uvicorn.Server):
    """uvicorn's server, stopping in two steps: first it stops accepting, then, ``drain_s`` later,
    uvicorn's graceful shutdown runs.

    uvicorn's own shutdown stops accepting and at once closes every connection without a request
    in progress, including one it accepted a moment ago whose request has not been read yet. On
    a socket shared with the next server (a blue/green swap) that loses the request: a swap under
    load lost 6 of 14,838 requests that way. Waiting before the shutdown lets those requests
    arrive and be answered; new connections meanwhile go to the other server on the socket.
    """

    def __init__(self, config: uvicorn.Config, drain_s: float) -> None:
        super().__init__(config)
        self.drain_s = drain_s

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # stop accepting; connections already accepted go on
        await asyncio.sleep(self.drain_s)
        await super().shutdown(sockets)


def app_factory() -> Any:
    """The app for this process's settings (uvicorn calls it in each worker)."""
    from serving.app import create_app  # in the workers only: the parent stays small (no scikit-learn)

    settings = load_settings()
    return create_app(settings, frozenset({settings.metrics_port}))


def uvicorn_config(settings: ServingSettings) -> uvicorn.Config:
    """uvicorn's settings from the server's (see the module doc and docs/guides/deployment.md)."""
    return uvicorn.Config(
        "serving.server:app_factory",
        factory=True,
        http=settings.http_parser,
        loop="uvloop",
        lifespan="on",
        workers=settings.workers,
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=settings.keep_alive_s,
        timeout_graceful_shutdown=math.ceil(settings.grace_s),
        backlog=2048,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        log_config=LOG_CONFIG,
    )


def _inherited(fd: int) -> socket.socket:
    return socket.socket(fileno=fd)  # family and type are read from the descriptor


def _bound(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=2048)
    sock.set_inheritable(True)
    return sock


def listening_sockets(settings: ServingSettings) -> list[socket.socket]:
    """The HTTP sockets, then the metrics socket."""
    if settings.listen_fds:
        die_with_parent()  # a supervisor handed the sockets down: end with it
        http = [_inherited(fd) for fd in settings.listen_fds]
    else:
        http = [_bound(settings.host, settings.port)]
    metrics = (
        _inherited(settings.metrics_fd)
        if settings.metrics_fd is not None
        else _bound(settings.host, settings.metrics_port)
    )
    return [*http, metrics]


def main() -> int:
    """Serve until SIGTERM or SIGINT; the exit code (2: bad settings, 3: the bundle did not load)."""
    logging.config.dictConfig(LOG_CONFIG)
    try:
        settings = load_settings()
        sockets = listening_sockets(settings)
    except (SettingsError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = uvicorn_config(settings)
    if settings.workers == 1:
        server = DrainingServer(config, settings.drain_s)
        server.run(sockets=sockets)
        return 0 if server.started else STARTUP_FAILURE
    if not os.environ.get(MULTIPROCESS_ENV):
        os.environ[MULTIPROCESS_ENV] = tempfile.mkdtemp(prefix="serving-metrics-")
    workers = Multiprocess(config, sockets=sockets)
    workers.run()  # a worker whose bundle does not load stops them all (uvicorn's STARTUP_FAILURE)
    return STARTUP_FAILURE if any(p.exitcode == STARTUP_FAILURE for p in workers.processes) else 0


if __name__ == "__main__":
    sys.exit(main())

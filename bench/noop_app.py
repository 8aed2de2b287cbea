"""A no-op ASGI app: the HTTP floor bench/serving.py measures the model server against.

It reads a request's body, then answers a fixed small JSON (a Seldon answer's shape) to any
request on any path, so what a request costs it is uvicorn's work alone.

``python -m bench.noop_app [--http PARSER]`` (in the project's folder) serves it as the model
server is served: :func:`serving.server.uvicorn_config` from the same ``SERVING_*`` settings
(sockets, keep-alive, limits, uvloop), with this app in place of the model's and, with
``--http``, another of uvicorn's HTTP parsers (``httptools`` too, which the settings do not
offer). 1 worker.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

ANSWER = b'{"data":{"names":["score"],"ndarray":[0.5]},"meta":{}}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:  # the whole body (an http.disconnect ends it too)
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    from serving.server import listening_sockets, uvicorn_config
    from serving.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", choices=["zttp", "h11", "httptools"], help="default: SERVING_HTTP_PARSER")
    args = parser.parse_args(argv)
    settings = load_settings()
    if settings.workers != 1:
        parser.error("the no-op app runs 1 worker (SERVING_WORKERS=1)")
    config = uvicorn_config(settings)
    config.app, config.factory = app, False
    config.http = args.http or config.http
    uvicorn.Server(config).run(sockets=listening_sockets(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())

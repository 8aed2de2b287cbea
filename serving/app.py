"""The serving ASGI app: routes, limits and error answers (the HTTP work is uvicorn's).

Routes on the HTTP port:

- Seldon Core v1 (:mod:`serving.protocols.seldon`): ``POST /api/v1.0/predictions`` (also
  ``/api/v0.1/predictions`` and ``/predict``), ``POST /api/v1.0/explain`` (also ``/explain``: the
  same request, answered with the predictions and, under ``explanations``, each row's
  contributions; ``?top_k=3`` sets how many columns ``top`` lists), ``GET /health/ping``,
  ``/health/status``, ``/api/v1.0/metadata`` (also ``/metadata``);
- Open Inference Protocol v2 (:mod:`serving.protocols.oip`): ``GET /v2``, ``/v2/health/live``,
  ``/v2/health/ready``, ``/v2/models/{name}[/versions/{v}][/ready]``, ``POST .../infer`` (with
  ``"parameters": {"explain": true}`` or ``{"explain": {"top_k": 3}}``, also ``explanations``).

On the metrics port (a socket of its own, served by the same app) ``GET /metrics`` and
``/prometheus`` (the path Seldon's operator scrapes).

What the app adds to uvicorn's own protections (see :mod:`serving.server`):

- a body larger than ``SERVING_MAX_BODY_BYTES`` is answered 413, before it is read when it says
  its length, as soon as the limit is passed when it is chunked;
- a body that has not arrived within ``SERVING_BODY_TIMEOUT_S`` is answered 408;
- the bodies being received at once may hold ``SERVING_MAX_PENDING_BODY_BYTES`` together; a
  request that would pass that is answered 503, so slow clients cannot grow the server's memory
  past it (uvicorn bounds the connections, ``SERVING_MAX_CONNECTIONS``, not their bodies);
  all three close the connection;
- a request from a browser page (it has an ``Origin`` header) whose origin is not in
  ``SERVING_CORS_ORIGINS`` is refused 403 before its body is read: without that, any web page
  could score the model and write into the request log (a form POST needs no CORS preflight);
  configured origins get Starlette's CORS middleware;
- no client input is answered 5xx: what the client sent wrong is a 4xx naming the field, cut to
  ``SERVING_MAX_ERROR_CHARS``; only a fault of the server's own is a 500.

The app is a plain ASGI callable (:func:`create_app`), so it can also be mounted into another
ASGI service (a ZenML pipeline deployment's FastAPI app, for one): routes are matched below the
mount point (``root_path``), and a host app that does not pass its lifespan on calls
:meth:`ServingApp.load` from its own.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.middleware.cors import CORSMiddleware

from serving.bundle import BundleError
from serving.explaining import ServedExplainer, load_explainer
from serving.metrics import ServingMetrics
from serving.protocols import ProtocolError, oip, seldon, top_k_of
from serving.reference_rows import read_reference_request
from serving.request_schema import RequestError
from serving.served_model import ServedModel
from serving.settings import ServingSettings, load_settings

__all__ = ["ServingApp", "create_app"]

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON_TYPE = b"application/json"
_V2_MODEL = re.compile(
    r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?(?P<action>/ready|/infer)?$"
)
_METADATA_PATHS = frozenset({"/api/v1.0/metadata", "/metadata"})


class HttpError(Exception):
    """An answer other than 200, with its message; ``close`` ends the connection after it."""

    def __init__(self, status: int, message: str, reason: str = seldon.BAD_REQUEST, close: bool = False):
        super().__init__(message)
        self.status, self.message, self.reason, self.close = status, message, reason, close


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


class ServingApp:
    """The ASGI app of one server process (see the module doc).

    Args:
        settings: The server's settings.
        metrics_ports: The local ports whose requests are scrapes (the metrics socket's).
        served: A model already loaded (tests); None: loaded at the ASGI lifespan's startup.
    """

    def __init__(
        self,
        settings: ServingSettings,
        metrics_ports: frozenset[int] = frozenset(),
        served: ServedModel | None = None,
    ) -> None:
        self.settings = settings
        self.metrics_ports = metrics_ports
        self.metrics = served.metrics if served is not None else ServingMetrics()
        self.served = served
        self.explainer: ServedExplainer | None = None
        self.no_explainer = ""  # why explanations are not served, once tried
        self._close_header = [(b"connection", b"close")] if settings.keep_alive_s == 0 else []
        self.pending_body_bytes = 0  # of all requests being received (one event loop: no lock)

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            server = scope.get("server")
            if server is not None and server[1] in self.metrics_ports:
                await self._scrape(scope, send)
            else:
                await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.load()
                except (BundleError, ValueError, OSError) as exc:
                    logger.error("Cannot serve the bundle in %s: %s", self.settings.model_dir, exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.served is not None:
                    self.served.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def load(self) -> None:
        """Load the bundle (once); ``BundleError`` or ``ValueError`` with one line saying what is wrong."""
        if self.served is None:
            self.served = ServedModel.load(self.settings, self.metrics)
            self._load_explainer()  # now, not on the first explain request (shap takes seconds to import)
            # The model and its libraries are a million long-lived objects: out of the collector's
            # way, every collection while serving stays short (a full one took milliseconds).
            gc.collect()
            gc.freeze()

    def _load_explainer(self) -> None:
        served = self._model()
        if self.explainer is None and not self.no_explainer:
            bundle = served.bundle
            self.explainer, self.no_explainer = load_explainer(
                bundle.pipeline,
                served.schema,
                served.meta.target_spec,
                read_reference_request(bundle.directory),
                served.scorer.path == "compiled",
            )

    def _explainer(self) -> ServedExplainer:
        """The explainer (built on first use when the app was given a loaded model), else 501."""
        self._load_explainer()
        if self.explainer is None:
            raise HttpError(501, f"explanations are not available for this model: {self.no_explainer}")
        return self.explainer

    async def _scrape(self, scope: Scope, send: Send) -> None:
        if _path(scope) in ("/metrics", "/prometheus"):
            await self._send(
                send, 200, self.metrics.exposition(), b"text/plain; version=0.0.4; charset=utf-8"
            )
        else:
            await self._send(send, 404, b"not found\n", b"text/plain")

    # ------------------------------------------------------------------ routes

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path, method = _path(scope), scope["method"]
        service, is_seldon = _service(path)
        try:
            self._check_origin(scope)
            status, body, content_type = await self._route(scope, receive, path, method)
            close = False
        except HttpError as exc:
            message = exc.message[: self.settings.max_error_chars]
            if exc.status >= 500:
                logger.error("%s %s: %s", method, path[:100], message)
            elif exc.status != 404:
                logger.info("Rejected %s %s (%d): %s", method, path[:100], exc.status, message)
            error = seldon.error_body(message, exc.reason) if is_seldon else {"error": message}
            status, body, content_type, close = exc.status, _json(error), JSON_TYPE, exc.close
        await self._send(send, status, body, content_type, close)
        self.metrics.observe_request(service, method, status, time.perf_counter() - started)

    def _check_origin(self, scope: Scope) -> None:
        origin = _header(scope, b"origin")
        if origin is not None and origin.decode("latin-1") not in self.settings.cors_origins:
            raise HttpError(
                403, "requests from web pages are refused unless their origin is in SERVING_CORS_ORIGINS"
            )

    async def _route(
        self, scope: Scope, receive: Receive, path: str, method: str
    ) -> tuple[int, bytes, bytes]:
        served = self._model()
        meta = served.meta
        explain = path in seldon.EXPLAIN_PATHS
        if path in seldon.PREDICTION_PATHS or explain:
            _allow(method, "POST")
            body = await self._body(scope, receive)
            content_type = (_header(scope, b"content-type") or b"").decode("latin-1")
            query = scope.get("query_string", b"")
            try:
                payload = seldon.request_payload(body, content_type, query)
                top_k = top_k_of(seldon.query_field(query, "top_k"), "top_k") if explain else 0
                explainer = self._explainer() if explain else None
                prediction = served.predict(payload, seldon.client_request_id(payload))
            except ProtocolError as exc:
                raise HttpError(exc.status, str(exc), seldon.BAD_DATA) from None
            except RequestError as exc:
                raise HttpError(400, str(exc)) from None
            answer = seldon.answer_body(meta, prediction)
            if explainer is not None:
                answer["explanations"] = explainer.explain(prediction.parsed, top_k)
            return 200, _json(answer), JSON_TYPE
        if path == "/health/ping":
            _allow(method, "GET")
            return 200, b"pong", b"text/plain; charset=utf-8"
        if path == "/health/status":
            _allow(method, "GET")
            return 200, _json(seldon.health_status_body(meta)), JSON_TYPE
        if path in _METADATA_PATHS:
            _allow(method, "GET")
            return 200, _json(seldon.metadata_body(meta)), JSON_TYPE
        if path in ("/v2/health/live", "/v2/health/ready"):
            _allow(method, "GET")
            return 200, _json({"live" if path.endswith("live") else "ready": True}), JSON_TYPE
        if path == "/v2":
            _allow(method, "GET")
            return 200, _json(oip.server_metadata_body()), JSON_TYPE
        match = _V2_MODEL.match(path)
        if match is None:
            raise HttpError(404, f"no route {path[:100]!r}")
        if match["name"] != meta.model_name or match["version"] not in (None, meta.model_version):
            version = f" version {match['version'][:40]!r}" if match["version"] else ""
            raise HttpError(
                404,
                f"model {match['name'][:60]!r}{version} is not served here "
                f"({meta.model_name} {meta.model_version} is)",
            )
        action = match["action"]
        if action is None:
            _allow(method, "GET")
            return 200, _json(oip.model_metadata_body(meta)), JSON_TYPE
        if action == "/ready":
            _allow(method, "GET")
            return 200, _json({"name": meta.model_name, "ready": True}), JSON_TYPE
        _allow(method, "POST")
        body = await self._body(scope, receive)
        try:
            request = seldon.decode_json(body)
            rows = oip.rows_request(request, meta.feature_names)
            top_k = oip.explain_top_k(request)
            explainer = self._explainer() if top_k is not None else None
            prediction = served.predict(rows, request.get("id"))
        except (ProtocolError, RequestError) as exc:
            raise HttpError(400, str(exc)) from None
        answer = oip.answer_body(meta, prediction)
        if explainer is not None:
            answer["explanations"] = explainer.explain(prediction.parsed, top_k)
        return 200, _json(answer), JSON_TYPE

    def _model(self) -> ServedModel:
        if self.served is None:  # only when the app runs without its lifespan
            raise HttpError(503, "the model is not loaded yet", "MODEL_NOT_LOADED")
        return self.served

    # ------------------------------------------------------------------ body and answer

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        """The request body, within the size limit and the body deadline (else 413 or 408)."""
        limit = self.settings.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        chunks, size = [], 0
        try:
            async with asyncio.timeout(self.settings.body_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise HttpError(400, "the client went away before sending the whole body", close=True)
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        raise _too_large(limit)
                    self._reserve(len(chunk))
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise HttpError(
                408,
                "the request body did not arrive within "
                f"SERVING_BODY_TIMEOUT_S={self.settings.body_timeout_s:g} s",
                close=True,
            ) from None
        finally:
            self.pending_body_bytes -= sum(map(len, chunks))

    def _reserve(self, size: int) -> None:
        if self.pending_body_bytes + size > self.settings.max_pending_body_bytes:
            raise HttpError(
                503,
                "the server is receiving too many request bodies at once "
                f"(SERVING_MAX_PENDING_BODY_BYTES={self.settings.max_pending_body_bytes}): try again",
                close=True,
            )
        self.pending_body_bytes += size

    async def _send(
        self, send: Send, status: int, body: bytes, content_type: bytes, close: bool = False
    ) -> None:
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        if close:
            headers.append((b"connection", b"close"))
        else:
            headers.extend(self._close_header)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _path(scope: Scope) -> str:
    """The path below the mount point (ASGI servers and Starlette's ``Mount`` include it in ``path``)."""
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root) :] or "/" if root and path.startswith(root) else path


def _too_large(limit: int) -> HttpError:
    return HttpError(413, f"the request body is larger than SERVING_MAX_BODY_BYTES={limit}", close=True)


def _allow(method: str, allowed: str) -> None:
    if method != allowed and not (allowed == "GET" and method == "HEAD"):
        raise HttpError(405, f"{method[:10]} is not allowed here: use {allowed}")


def _json(body: Any) -> bytes:
    # ASCII escapes: text the client sent (a lone surrogate, say) can always be encoded
    return json.dumps(body, separators=(",", ":")).encode()


def _service(path: str) -> tuple[str, bool]:
    """The metrics' ``service`` label for a path, and whether it is a Seldon v1 path."""
    if path in seldon.PREDICTION_PATHS:
        return "predictions", True
    if path in seldon.EXPLAIN_PATHS:
        return "explain", True
    if path.startswith("/v2"):
        return ("infer" if path.endswith("/infer") else "metadata"), False
    if path.startswith("/health"):
        return "health", True
    return "metadata", path in _METADATA_PATHS


def create_app(settings: ServingSettings | None = None, metrics_ports: frozenset[int] = frozenset()) -> Any:
    """The app for ``settings`` (default: from the environment), with CORS when origins are configured."""
    settings = settings or load_settings()
    app: Any = ServingApp(settings, metrics_ports)
    if settings.cors_origins:
        app = CORSMiddleware(
            app,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["content-type"],
        )
    return app

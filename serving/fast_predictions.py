"""JSON predictions answered without Flask, exactly as seldon-core's Flask app answers them.

The project's gunicorn worker (:mod:`serving.fast_worker`) hands ``POST /api/v1.0/predictions``
(and ``/api/v0.1/predictions``) with a plain JSON body to :class:`FastPredictions`; everything
else, and any request it is unsure of, goes to the Flask app. What Flask does for such a request
(checked in its source and by ``tests/integration/test_fast_worker.py``, which compares the two
byte for byte), done here in the same order:

1. the body is decoded by the app's JSON provider (:func:`serving.http_guard.decode_json`); a body
   that does not decode, or decodes to ``null``, goes to Flask, which answers its error;
2. :class:`serving.direct_route.DirectRoute` calls the model's ``predict_raw`` and hands its metrics
   to the worker's batcher (the metrics port shows the same counters);
3. the answer is serialised by the app's JSON provider as ``jsonify`` does, with the headers the
   app adds to every answer (flask-cors' ``Access-Control-Allow-Origin``, learned from a probe
   request at start); a ``SeldonMicroserviceException`` becomes seldon-core's error answer and
   log line, any other exception a 500 in the same format.

It is used only while the app is what this module knows: the project's hooks, flask-cors and
nothing else around requests, no tracing; else :func:`fast_route_refusal` says why not.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask.signals import request_finished, request_started
from seldon_core.flask_utils import SeldonMicroserviceException
from werkzeug.exceptions import HTTPException

from serving.direct_route import PREDICTION_PATHS, DirectRoute, find_direct_route
from serving.fast_http import HttpRequest, HttpResponse, status_line
from serving.http_guard import REQUEST_HOOKS

__all__ = ["FastPredictions", "fast_route_refusal"]

logger = logging.getLogger(__name__)
seldon_logger = logging.getLogger("seldon_core.wrapper")  # where seldon-core logs its error answers

PREDICTION_TARGETS = frozenset(path.encode() for path in PREDICTION_PATHS)
PROBE_PATH = "/health/ping"  # answered by seldon-core without touching the model


def _is_json_type(value: bytes | None) -> bool:
    """A plain ``application/json`` type (with parameters); anything else goes to Flask."""
    if value is None:
        return False
    return value.split(b";", 1)[0].strip().lower() == b"application/json"


def fast_route_refusal(app: Any, tracing: bool) -> str | None:
    """Why the predictions route cannot be answered without Flask for ``app``; None when it can."""
    if not isinstance(app, Flask):
        return f"the WSGI app is a {type(app).__name__}, not seldon-core's Flask app"
    if tracing:
        return "tracing is on (its spans are made by Flask hooks)"
    before = app.before_request_funcs
    if set(before) - {None} or list(before.get(None, [])) != list(REQUEST_HOOKS):
        return "the Flask app has before-request hooks this worker does not know"
    after = app.after_request_funcs
    if set(after) - {None} or any(not f.__module__.startswith("flask_cors") for f in after.get(None, [])):
        return "the Flask app has after-request hooks this worker does not know"
    if any(app.teardown_request_funcs.values()) or any(app.url_value_preprocessors.values()):
        return "the Flask app has teardown or URL hooks this worker does not know"
    if request_started.receivers or request_finished.receivers:
        return "something listens to Flask's request signals"
    return None


class FastPredictions:
    """Answers JSON prediction requests of one worker (see the module's docstring).

    Args:
        app: seldon-core's Flask app (with the project's blueprint registered).
        route: Its direct route (model and metrics batcher).
        common_headers: Headers the app adds to every answer (learned by :meth:`probe_headers`).
    """

    def __init__(self, app: Flask, route: DirectRoute, common_headers: list[tuple[str, str]]):
        self.app, self.route = app, route
        self.provider = app.json
        compact = getattr(self.provider, "compact", None)
        pretty = (compact is None and app.debug) or compact is False  # as DefaultJSONProvider.response
        dump_args: dict[str, Any] = {"indent": 2} if pretty else {"separators": (",", ":")}
        if type(self.provider).dumps is DefaultJSONProvider.dumps:
            # what its dumps() builds on every call (json.dumps with these arguments), built once
            self.encode = json.JSONEncoder(
                default=self.provider.default,
                ensure_ascii=self.provider.ensure_ascii,
                sort_keys=self.provider.sort_keys,
                **dump_args,
            ).encode
        else:
            self.encode = lambda body: self.provider.dumps(body, **dump_args)
        self.mimetype = self.provider.mimetype
        self.common_headers = common_headers

    @classmethod
    def for_app(cls, app: Any, tracing: bool) -> tuple[FastPredictions | None, str | None]:
        """The fast route for ``app``, or None and why not."""
        reason = fast_route_refusal(app, tracing)
        if reason is None:
            route = find_direct_route(app)
            if route is None:
                reason = "seldon-core's own view answers predictions (see serving.direct_route)"
            else:
                return cls(app, route, cls.probe_headers(app)), None
        return None, reason

    @staticmethod
    def probe_headers(app: Flask) -> list[tuple[str, str]]:
        """The headers the app adds to an answer besides its type and length (CORS), from one
        request to ``/health/ping``."""
        with app.test_request_context(PROBE_PATH, method="GET"):
            response = app.full_dispatch_request()
        return [
            (name, value)
            for name, value in response.headers.items()
            if name.lower() not in ("content-type", "content-length")
        ]

    def accepts(self, request: HttpRequest) -> bool:
        """Whether ``request`` is a JSON prediction this route answers (else Flask does)."""
        return (
            request.method == "POST"
            and request.target in PREDICTION_TARGETS
            and request.body_complete
            and not request.chunked
            and _is_json_type(request.header(b"content-type"))
            and not request.has_header(b"origin")  # flask-cors answers with the origin
        )

    def answer(self, request: HttpRequest) -> HttpResponse | None:
        """The answer to an accepted request; None when Flask must answer it (a body that is not
        JSON, or is nested too deeply: Flask's errors for them)."""
        try:
            payload = self.provider.loads(request.body)
        except (ValueError, HTTPException):
            return None
        if payload is None:
            return None
        try:
            answer, status = self.route.answer(payload)
            return self._json(answer, int(status))
        except SeldonMicroserviceException as exc:
            return self._seldon_error(exc)
        except Exception as exc:  # seldon-core's handler for any other exception: a 500
            logger.exception("The model failed on a prediction request")
            return self._seldon_error(
                SeldonMicroserviceException(str(exc), status_code=500, reason="MICROSERVICE_INTERNAL_ERROR")
            )

    def _json(self, body: Any, status: int) -> HttpResponse:
        data = f"{self.encode(body)}\n".encode()
        headers = [("Content-Type", self.mimetype), ("Content-Length", str(len(data))), *self.common_headers]
        return HttpResponse(status_line(status), headers, data)

    def _seldon_error(self, exc: SeldonMicroserviceException) -> HttpResponse:
        body = exc.to_dict()
        seldon_logger.error("%s", body)
        return self._json(body, exc.status_code)

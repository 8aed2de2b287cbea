"""The predictions route answered without seldon-core's per-request metrics round trips.

For every prediction, seldon-core 1.19 (``seldon_methods.predict``) writes the response's
custom metrics into a ``multiprocessing.Manager`` dict: about six round trips to the manager
process per request, metrics or not, which costs more than scoring a row on the fast path.
This module answers ``POST /api/v1.0/predictions`` (and ``/api/v0.1/predictions``) in a Flask
``before_request`` hook of the model's blueprint, exactly as seldon-core's view would (same
body decoding and errors, same ``predict_raw`` call, same response and status), but adds the
metrics to a per-worker :class:`MetricsBatcher` that hands them to seldon-core's
``SeldonMetrics`` once every ``SERVING_METRICS_FLUSH_S`` seconds (default 1) from a
background thread: the metrics port shows the same counters, at most that much later, and
without the increments seldon-core loses when threads of one worker update it at once.

The route is taken over only when seldon-core's own view can be found with its model and its
``SeldonMetrics`` (checked on the first request); otherwise, with ``PAYLOAD_PASSTHROUGH``,
for form or query-string payloads, or with ``SERVING_DIRECT_ROUTE=off``, seldon-core's view
answers as before.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, jsonify, request
from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.metrics import SeldonMetrics
from seldon_core.user_model import INCLUDE_METRICS_IN_CLIENT_RESPONSE
from seldon_core.wrapper import PAYLOAD_PASSTHROUGH
from werkzeug.exceptions import BadRequest

__all__ = [
    "DIRECT_ROUTE_ENV",
    "METRICS_FLUSH_ENV",
    "PREDICTION_PATHS",
    "DirectRoute",
    "MetricsBatcher",
    "answer_directly",
    "find_direct_route",
]

logger = logging.getLogger(__name__)

DIRECT_ROUTE_ENV = "SERVING_DIRECT_ROUTE"
METRICS_FLUSH_ENV = "SERVING_METRICS_FLUSH_S"
PREDICTION_PATHS = frozenset({"/api/v1.0/predictions", "/api/v0.1/predictions"})
_SELDON_VIEW = "Predict"  # seldon_core.wrapper.get_rest_microservice's view function
_EXTENSION = "tabular_model_direct_route"


class MetricsBatcher:
    """Sums custom metrics in this worker and hands them to ``SeldonMetrics`` every ``flush_s``.

    Counters are added up per key and tags, gauges keep their last value, timers are passed on
    one by one (each is an observation).
    """

    def __init__(self, target: SeldonMetrics, flush_s: float = 1.0, method: str = "predict"):
        self.target, self.flush_s, self.method = target, flush_s, method
        self._lock = threading.Lock()
        self._pending: dict[tuple, dict[str, Any]] = {}
        self._timers: list[dict[str, Any]] = []
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def add(self, metrics: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            for metric in metrics:
                kind = metric.get("type", "COUNTER")
                if kind == "TIMER":
                    self._timers.append(metric)
                    continue
                tags = metric.get("tags") or {}
                key = (kind, metric["key"], tuple(sorted(tags.items())))
                held = self._pending.get(key)
                if held is None or kind != "COUNTER":
                    self._pending[key] = {
                        "type": kind,
                        "key": metric["key"],
                        "value": metric["value"],
                        "tags": tags,
                    }
                else:
                    held["value"] += metric["value"]
            self._start()

    def _start(self) -> None:
        if self._thread is None or self._pid != os.getpid():  # one flusher per (forked) worker
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="seldon-metrics-flush", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        stop = threading.Event()
        while not stop.wait(self.flush_s):
            self.flush()

    def flush(self) -> None:
        """Hand what is pending to ``SeldonMetrics`` now."""
        with self._lock:
            pending = list(self._pending.values()) + self._timers
            self._pending, self._timers = {}, []
        if pending:
            try:
                self.target.update(pending, self.method)
            except Exception:  # the manager process may be gone while the server stops
                logger.warning("Could not record %d custom metrics", len(pending), exc_info=True)


def _seldon_view_parts(app: Flask) -> tuple[Any, SeldonMetrics] | None:
    """seldon-core's model and ``SeldonMetrics``, found in its predictions view's closure."""
    view = app.view_functions.get(_SELDON_VIEW)
    closure = getattr(view, "__closure__", None) or ()
    names = getattr(getattr(view, "__code__", None), "co_freevars", ())
    found = dict(zip(names, (cell.cell_contents for cell in closure), strict=False))
    model, metrics = found.get("user_model"), found.get("seldon_metrics")
    if model is None or not hasattr(model, "predict_raw") or not isinstance(metrics, SeldonMetrics):
        return None
    return model, metrics


class DirectRoute:
    """A prediction answered as seldon-core's view answers it, its metrics handed to a batcher.

    Used by the Flask hook below and by the project's gunicorn worker (serving.fast_worker),
    which answers predictions without Flask.
    """

    def __init__(self, model: Any, batcher: MetricsBatcher):
        self.model, self.batcher = model, batcher

    def answer(self, payload: Any) -> tuple[Any, int]:
        """The response body and its status for a decoded JSON request.

        Raises:
            SeldonMicroserviceException: As the model's ``predict_raw`` raises it (a 4xx or 503).
        """
        answer = self.model.predict_raw(payload)
        status = 200
        if isinstance(answer, dict):
            meta = answer.get("meta")
            metrics = meta.get("metrics") if isinstance(meta, dict) else None
            if metrics:
                self.batcher.add(metrics)
                if not INCLUDE_METRICS_IN_CLIENT_RESPONSE:
                    del meta["metrics"]
            if isinstance(answer.get("status"), dict) and "code" in answer["status"]:
                status = answer["status"]["code"]
        return answer, status


def find_direct_route(app: Flask) -> DirectRoute | None:
    """The app's direct route (made on the first call), or None when seldon-core's view must answer."""
    if _EXTENSION not in app.extensions:
        parts = None
        if PAYLOAD_PASSTHROUGH or os.environ.get(DIRECT_ROUTE_ENV, "").strip().lower() == "off":
            logger.info("Predictions go through seldon-core's own view (%s)", DIRECT_ROUTE_ENV)
        elif (parts := _seldon_view_parts(app)) is None:
            logger.warning("seldon-core's predictions view was not recognised: it answers predictions itself")
        flush_s = float(os.environ.get(METRICS_FLUSH_ENV, "").strip() or 1.0)
        app.extensions[_EXTENSION] = (
            None if parts is None else DirectRoute(parts[0], MetricsBatcher(parts[1], flush_s))
        )
    return app.extensions[_EXTENSION]


def answer_directly(app: Flask) -> Response | None:
    """The response to a JSON prediction request, or None to let seldon-core's view answer."""
    if request.method != "POST" or request.path not in PREDICTION_PATHS:
        return None
    route = find_direct_route(app)
    if route is None or not request.is_json or "json" in request.args:
        return None  # seldon-core also reads a "json" form field or query parameter
    try:
        payload = request.get_json()
    except BadRequest:
        payload = None
    if payload is None:  # seldon_core.flask_utils.get_request's message and status
        raise SeldonMicroserviceException("Can't find JSON in data")
    answer, status = route.answer(payload)
    response = jsonify(answer)
    response.status_code = status
    return response

"""The server's Prometheus metrics, under the names and labels Seldon Core's dashboards read.

Seldon's Python wrapper exposes a model's custom metrics by their key, labelled with the
deployment, predictor and image it runs in (taken from the variables Seldon's operator sets in
the pod) plus the metric's own tags; its executor times requests as
``seldon_api_executor_server_requests_seconds``. This module keeps those names and labels, so a
Grafana board built for Seldon Core reads this server unchanged:

- ``seldon_api_executor_server_requests_seconds`` (histogram): every answered request, labelled
  ``service`` (predictions, infer, metadata, health), ``method`` and ``code``;
- ``predicted_class_total`` (per ``class``), ``unknown_category_total`` (per ``column``),
  ``contract_violation_total`` (per ``column`` and ``rule``), ``request_log_rows_total``,
  ``request_log_dropped_rows_total``: counters labelled ``served_model_version`` (Seldon's own
  ``model_version`` label is the image tag);
- ``scoring_path`` (gauge, 1): ``path`` compiled or pipeline, and the ``reason`` for the latter.

With several workers, ``PROMETHEUS_MULTIPROC_DIR`` is set by :mod:`serving.server` and
prometheus_client's multiprocess mode sums the workers' values on every scrape.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["ServingMetrics"]

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# (label, the variable Seldon's operator sets in the pod)
_SELDON_LABELS = (
    ("deployment_name", "SELDON_DEPLOYMENT_ID"),
    ("predictor_name", "PREDICTOR_ID"),
    ("model_name", "PREDICTIVE_UNIT_ID"),
    ("model_image", "PREDICTIVE_UNIT_IMAGE"),
)
_METHODS = frozenset({"GET", "HEAD", "POST", "OPTIONS"})
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _seldon_labels(environ: Mapping[str, str]) -> dict[str, str]:
    labels = {label: environ.get(variable, "") for label, variable in _SELDON_LABELS}
    image = labels["model_image"]
    labels["model_image"], _, labels["model_version"] = (
        image.rpartition(":") if ":" in image else (image, "", "")
    )
    return labels


class ServingMetrics:
    """The metrics of one server process (see the module doc)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.multiprocess = bool(environ.get(MULTIPROCESS_ENV))
        # One registry per app (tests build several in one process); in multiprocess mode the
        # values live in files and the registry is filled from them at scrape time.
        self.registry = CollectorRegistry(auto_describe=True)
        target = None if self.multiprocess else self.registry
        self.constant = _seldon_labels(environ)
        self._children: dict[tuple, Any] = {}
        base = list(self.constant)

        def counter(name: str, text: str, *labels: str) -> Counter:
            return Counter(name, text, [*base, *labels, "served_model_version"], registry=target)

        self.requests = Histogram(
            "seldon_api_executor_server_requests_seconds",
            "Requests answered, by service, method and status code",
            [*base, "service", "method", "code"],
            buckets=_BUCKETS,
            registry=target,
        )
        self.predicted_class = counter("predicted_class", "Rows predicted per class", "class")
        self.unknown_category = counter(
            "unknown_category", "Values outside the contract's categories", "column"
        )
        self.contract_violation = counter(
            "contract_violation", "Flagged values breaking the data contract", "column", "rule"
        )
        self.request_log_rows = counter("request_log_rows", "Rows queued for the request log")
        self.request_log_dropped = counter("request_log_dropped_rows", "Rows the request log lost")
        self.scoring_path = Gauge(
            "scoring_path",
            "1 for how the served model scores (compiled or pipeline)",
            [*base, "path", "reason", "served_model_version"],
            registry=target,
            multiprocess_mode="max",
        )

    def labels(self, metric: Counter | Gauge | Histogram, **labels: str):
        """``metric`` with the Seldon labels and ``labels`` (looked up once per label set: a
        prometheus_client lookup costs microseconds, on every request)."""
        key = (id(metric), *labels.items())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(**self.constant, **labels)
        return child

    def observe_request(self, service: str, method: str, code: int, seconds: float) -> None:
        method = method if method in _METHODS else "other"  # a client's method: no unbounded label values
        self.labels(self.requests, service=service, method=method, code=str(code)).observe(seconds)

    def exposition(self) -> bytes:
        """The text a scrape gets (every worker's values in multiprocess mode)."""
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)

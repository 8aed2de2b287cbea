"""The Seldon Core user model: one class for a laptop process and the Kubernetes image.

Run it locally exactly as the image runs it::

    MODEL_DIR=path/to/bundle SERVING_BIND_HOST=127.0.0.1 \\
        seldon-core-microservice serving.model_server.TabularModel --service-type MODEL \\
        --http-port 9000 --metrics-port 6000 --grpc-workers 0

How seldon-core 1.19 drives it (checked in its source):

- ``load()`` is called in each gunicorn worker before it serves (and in the gRPC
  process, if one runs); ``init_metadata()`` is called earlier, when the Flask
  app is built, so it reads ``bundle.json`` itself.
- ``predict_raw`` takes precedence over ``predict``: the request arrives as the
  decoded JSON dict (REST) or a ``SeldonMessage`` (gRPC) and the returned dict
  is the response body. For raw methods Seldon records only the custom metrics
  found in the response's ``meta.metrics`` (it never calls ``metrics()``), so
  they are put there.
- ``/health/status`` calls ``health_status_raw`` when it exists; here it fails
  with 503 until the bundle is loaded. It is defined so that health probes do
  not go through ``metrics()`` (Seldon's default health path would re-count the
  last request's metrics on every probe). Under gunicorn a worker accepts
  connections only once ``load()`` has returned, so a probe during loading
  waits, and a failed load stops the whole process (exit code 3, the
  ``BundleError`` message in the log).
- A ``SeldonMicroserviceException`` raised by the class becomes a JSON error
  answer with its status code; any other exception becomes a 500.
- seldon-core binds gunicorn (REST and metrics) and gRPC to 0.0.0.0, with no
  flag or variable to change it. Setting ``SERVING_BIND_HOST`` makes this module
  rebind the two gunicorn servers and turn off gunicorn's shared control socket
  (see :func:`configure_gunicorn`); run the gRPC server only where all
  interfaces are intended (``--grpc-workers 0`` otherwise).
- The REST server runs the project's gunicorn worker (:mod:`serving.fast_worker`), which
  answers JSON predictions without Flask and hands every other request to seldon-core's
  Flask app; ``SERVING_FAST_WORKER=off`` keeps gunicorn's own worker.
- With ``SERVING_REQUEST_LOG_DIR`` set, each worker's ``load()`` starts a
  :class:`~serving.request_log.RequestLogWriter`: every answered row goes to a queue
  and a background thread writes Parquet files there; the worker writes what is
  queued when it exits (gunicorn's graceful stop ends a worker with a normal
  interpreter exit, which runs ``atexit``). The response's ``meta.puid`` carries the
  logged ``request_id`` (the request's own ``meta.puid`` when it has one).
- Seldon answers an HTTP error raised by Flask itself (415 for a body without a
  JSON content type, 404, 405) as a 500; ``model_error_handler`` (a Flask
  blueprint Seldon registers when the class has one, :mod:`serving.http_guard`) keeps
  their real status, limits the body size and decodes JSON without a 500 on deep nesting.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from typing import Any

import numpy as np
from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.proto import prediction_pb2
from seldon_core.user_model import SeldonComponent
from seldon_core.utils import json_to_seldon_message, seldon_message_to_json
from seldon_core.wrapper import PAYLOAD_PASSTHROUGH

from serving.answers import answer, output_names
from serving.bundle import Bundle, BundleError, BundleMeta, load_bundle, read_bundle_meta
from serving.contract_flags import (
    VIOLATIONS_TAG,
    unscorable,
    unscorable_check,
    violation_metrics,
    violation_tags,
)
from serving.fast_path import FAST_PATH_ENV, TOLERANCE, Scorer, choose_scorer
from serving.http_guard import HTTP_GUARD, decode_json
from serving.reference_rows import read_reference_request
from serving.request_log import RequestLogSettings, RequestLogWriter
from serving.request_schema import ParsedRequest, RequestError, RequestSchema

__all__ = [
    "BIND_HOST_ENV",
    "DEFAULT_MODEL_DIR",
    "MODEL_DIR_ENV",
    "PREDICTED_CLASS_METRIC",
    "REQUEST_LOG_DROPPED_METRIC",
    "REQUEST_LOG_ROWS_METRIC",
    "UNKNOWN_CATEGORY_METRIC",
    "TabularModel",
    "configure_gunicorn",
]

logger = logging.getLogger(__name__)

MODEL_DIR_ENV = "MODEL_DIR"
DEFAULT_MODEL_DIR = "/mnt/models"
BIND_HOST_ENV = "SERVING_BIND_HOST"
LISTEN_FDS_ENV = "SERVING_LISTEN_FDS"
METRICS_FD_ENV = "SERVING_METRICS_FD"
PREDICTED_CLASS_METRIC = "predicted_class_total"
UNKNOWN_CATEGORY_METRIC = "unknown_category_total"
REQUEST_LOG_ROWS_METRIC = "request_log_rows_total"
REQUEST_LOG_DROPPED_METRIC = "request_log_dropped_rows_total"


class TabularModel(SeldonComponent):
    """Serves a model bundle's Pipeline: raw feature rows in, its answers out (serving.answers).

    Args:
        model_dir: The bundle directory; else ``$MODEL_DIR``; else ``/mnt/models``
            (where Seldon's storage initializer puts a ``modelUri``). Seldon passes
            it from ``--parameters '[{"name": "model_dir", "value": "...", "type": "STRING"}]'``.
        max_rows: Most rows per request; else ``$SERVING_MAX_ROWS`` or 10,000.
        request_log_dir: Where to log answered rows; else ``$SERVING_REQUEST_LOG_DIR``;
            neither: no request log (see :mod:`serving.request_log`).
        contract_violations: ``reject`` (400) or ``flag`` (200, see :mod:`serving.contract_flags`)
            a value that breaks the data contract; else ``$SERVING_CONTRACT_VIOLATIONS`` or reject.
    """

    #: Registered by seldon-core on its Flask app (see ``seldon_core.wrapper``).
    model_error_handler = HTTP_GUARD

    def __init__(
        self,
        model_dir: str | None = None,
        max_rows: int | None = None,
        request_log_dir: str | None = None,
        contract_violations: str | None = None,
    ):
        super().__init__()
        self.contract_violations = contract_violations
        self.model_dir = model_dir or os.environ.get(MODEL_DIR_ENV) or DEFAULT_MODEL_DIR
        self.max_rows = max_rows
        self.request_log_dir = request_log_dir
        self.request_log: RequestLogWriter | None = None
        self._bundle: Bundle | None = None
        self._schema: RequestSchema | None = None
        self._scorer: Scorer | None = None
        self._last_metrics: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ lifecycle

    @property
    def loaded(self) -> bool:
        """Whether :meth:`load` has succeeded."""
        return self._bundle is not None

    @property
    def bundle(self) -> Bundle:
        """The loaded bundle; 503 while nothing is loaded."""
        if self._bundle is None:
            raise SeldonMicroserviceException(
                f"model not loaded yet (bundle directory {self.model_dir})",
                status_code=503,
                reason="MODEL_NOT_LOADED",
            )
        return self._bundle

    def load(self) -> None:
        """Load the bundle (Seldon calls this before serving).

        Raises:
            BundleError: When the bundle is missing or corrupt; the server then
                fails to start, with the message in its log.
            ValueError: For a ``SERVING_REQUEST_LOG_*`` variable that is not a positive number.
            OSError: When the request log directory cannot be created.
        """
        try:
            bundle = load_bundle(self.model_dir)
        except BundleError:
            logger.exception("Cannot load the model bundle from %s", self.model_dir)
            raise
        self._schema = RequestSchema(
            bundle.meta.features, max_rows=self.max_rows, violations=self.contract_violations
        )
        settings = RequestLogSettings.from_env(self.request_log_dir)
        if self.request_log is not None:
            self.request_log.close()
            self.request_log = None
        if settings is not None:
            self.request_log = RequestLogWriter(
                settings.directory,
                bundle.meta.features,
                flush_s=settings.flush_s,
                max_rows=settings.max_rows,
                max_buffer_rows=settings.max_buffer_rows,
            )
            logger.info(
                "Request log: %s (a file every %g s or %d rows, at most %d rows queued)",
                settings.directory,
                settings.flush_s,
                settings.max_rows,
                settings.max_buffer_rows,
            )
        self._scorer = choose_scorer(
            bundle.pipeline,
            self._schema,
            1,  # a binary model's positive class (the bundle checked its classes are 0 and 1)
            bundle.meta.threshold or 0.5,
            read_reference_request(bundle.directory),
            enabled=os.environ.get(FAST_PATH_ENV, "").strip().lower() != "off",
            target=bundle.meta.target_spec,
        )
        if self._scorer.fast is not None:
            logger.info("Scoring with the fast path (it agrees with the Pipeline within %g)", TOLERANCE)
        else:
            logger.warning("Scoring with the scikit-learn Pipeline: the fast path is %s", self._scorer.reason)
        self._bundle = bundle
        logger.info(
            "Loaded %s model %s version %s from %s (%d features%s, at most %d rows per request)",
            bundle.meta.task,
            bundle.meta.model_name,
            bundle.meta.model_version,
            self.model_dir,
            len(bundle.meta.features),
            f", threshold {bundle.meta.threshold:.3f}" if bundle.meta.threshold is not None else "",
            self._schema.max_rows,
        )

    # ------------------------------------------------------------------ prediction

    def predict_raw(self, request: dict[str, Any] | prediction_pb2.SeldonMessage | bytes | str) -> Any:
        """Answer one Seldon request.

        Args:
            request: ``{"data": {"names": [...], "ndarray": [[...]]}}`` or
                ``{"jsonData": [{...}]}`` (or a single record), decoded; a
                ``SeldonMessage`` over gRPC; raw JSON text when Seldon runs with
                ``PAYLOAD_PASSTHROUGH``.

        Returns:
            ``{"data": {"names": ["prediction", "probability"], "ndarray": [[label, p], ...]},
            "meta": {"tags": {"model_name": ..., "model_version": ...}, "metrics": [...]}}``
            for a binary model, where ``p`` is the positive-class probability and ``label``
            the positive class when ``p >= threshold``; a probability per class for a
            multiclass model, the value for regression (:mod:`serving.answers`). A
            ``SeldonMessage`` for a gRPC request.

            An invalid gRPC request gets a ``SeldonMessage`` whose ``status`` is
            FAILURE, code 400, with the message.

        Raises:
            SeldonMicroserviceException: 400 ``BAD_REQUEST`` naming the field at fault
                for an invalid REST request; 503 while the model is not loaded.
        """
        bundle = self.bundle
        is_proto = isinstance(request, prediction_pb2.SeldonMessage)
        try:
            payload = _decode(request)
            parsed = self._schema.parse(payload)
        except RequestError as exc:
            logger.info("Rejected request: %s", exc)
            if is_proto:  # Seldon's gRPC server turns any exception into an UNKNOWN status without text
                return json_to_seldon_message(
                    {"status": {"code": 400, "info": str(exc), "reason": "BAD_REQUEST", "status": "FAILURE"}}
                )
            raise SeldonMicroserviceException(str(exc), status_code=400, reason="BAD_REQUEST") from exc

        try:
            scores = self._scores(parsed)
        except RequestError as exc:
            logger.info("Rejected request: %s", exc)
            if is_proto:
                return json_to_seldon_message(
                    {"status": {"code": 400, "info": str(exc), "reason": "BAD_REQUEST", "status": "FAILURE"}}
                )
            raise SeldonMicroserviceException(str(exc), status_code=400, reason="BAD_REQUEST") from exc
        meta = bundle.meta
        result = answer(meta, scores)
        metrics = _request_metrics(result.class_counts, parsed.unknown_categories, meta.model_version)
        metrics += violation_metrics(parsed.violations, meta.model_version)
        metrics.append(self._scorer.metric(meta.model_version))
        request_id = None
        if self.request_log is not None:
            request_id = _request_id(payload)
            labels = [str(label) for label in result.labels]
            dropped = self.request_log.append(parsed, labels, result.score, meta.model_version, request_id)
            metrics += _request_log_metrics(len(labels), dropped, meta.model_version)
        self._last_metrics = metrics
        response = {
            "data": {"names": output_names(meta), "ndarray": result.rows},
            # this request's own metrics, even when gunicorn threads overlap requests
            "meta": {"tags": self.tags(), "metrics": _copy_metrics(metrics)},
        }
        if parsed.violations:
            response["meta"]["tags"][VIOLATIONS_TAG] = violation_tags(parsed.violations)
        if request_id is not None:
            response["meta"]["puid"] = request_id
        return json_to_seldon_message(response) if is_proto else response

    def _scores(self, parsed: ParsedRequest) -> np.ndarray:
        """The model's scores per row (see serving.answers); a :class:`RequestError` when the
        values cannot be scored.

        Values the contract allows always score; a flagged value outside the contract (or in a
        column without a range) may overflow, which is the request's fault, not the server's.
        """
        try:
            with np.errstate(all="ignore"):
                scores = self._scorer.scores(parsed)
        except (ValueError, OverflowError, FloatingPointError) as exc:
            raise unscorable(parsed, str(exc)) from exc
        return unscorable_check(scores, parsed)

    # ------------------------------------------------------------------ seldon hooks

    def tags(self) -> dict[str, str]:
        """Model name and version, sent in every response's ``meta.tags``."""
        if self._bundle is None:
            return {}
        return {"model_name": self._bundle.meta.model_name, "model_version": self._bundle.meta.model_version}

    def metrics(self) -> list[dict[str, Any]]:
        """Custom Prometheus metrics of the last prediction (copies; Seldon adds tags to them).

        ``predicted_class_total`` (COUNTER) per label predicted at least once, tagged ``class``, and
        ``unknown_category_total`` (COUNTER) per column that had values outside the
        contract's categories, tagged ``column``; with the request log on,
        ``request_log_rows_total`` (rows queued for the log) and
        ``request_log_dropped_rows_total`` (rows lost: dropped when the writer fell behind,
        or in a file that could not be written); all tagged ``served_model_version``
        (Seldon's own ``model_version`` label is the image tag).
        """
        return _copy_metrics(self._last_metrics)

    def health_status(self) -> dict[str, str]:
        """``{"status": "ok", ...}`` once loaded; raises 503 ``MODEL_NOT_LOADED`` before."""
        meta = self.bundle.meta
        return {"status": "ok", "model_name": meta.model_name, "model_version": meta.model_version}

    def health_status_raw(self) -> dict[str, Any]:
        """The ``/health/status`` body (no metrics are recorded for a probe)."""
        return {"jsonData": self.health_status(), "meta": {"tags": self.tags()}}

    def init_metadata(self) -> dict[str, Any]:
        """Model metadata for ``/metadata``: name, version, the inputs' names and types.

        Seldon calls this before :meth:`load`, so it reads ``bundle.json`` only. When
        that fails it returns ``{}`` (Seldon's defaults) and the failure shows in load().
        """
        try:
            meta = self._bundle.meta if self._bundle is not None else read_bundle_meta(self.model_dir)
        except BundleError as exc:
            logger.warning("No model metadata: %s", exc)
            return {}
        return _metadata(meta)


# ---------------------------------------------------------------------- helpers


def _decode(request: Any) -> Any:
    if isinstance(request, prediction_pb2.SeldonMessage):
        return seldon_message_to_json(request)
    # Raw JSON text only reaches the model with PAYLOAD_PASSTHROUGH (bytes from the body, text
    # from a ``json`` form field); otherwise a str is a decoded JSON string, not JSON text.
    if isinstance(request, (bytes, bytearray)) or (isinstance(request, str) and PAYLOAD_PASSTHROUGH):
        try:
            return decode_json(request)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RequestError("request", f"the request body is not valid JSON: {exc}") from exc
    return request


def _request_id(payload: Any) -> str:
    """The request's own ``meta.puid`` (Seldon's executor sets one), else a new random id."""
    meta = payload.get("meta") if isinstance(payload, dict) else None
    puid = meta.get("puid") if isinstance(meta, dict) else None
    if isinstance(puid, str) and 0 < len(puid) <= 128:
        return puid
    return uuid.uuid4().hex


def _request_log_metrics(rows: int, dropped: int, version: str) -> list[dict[str, Any]]:
    tags = {"served_model_version": version}
    metrics = [{"type": "COUNTER", "key": REQUEST_LOG_ROWS_METRIC, "value": rows, "tags": dict(tags)}]
    if dropped:  # no zeros: see _request_metrics
        metrics.append({"type": "COUNTER", "key": REQUEST_LOG_DROPPED_METRIC, "value": dropped, "tags": tags})
    return metrics


def _copy_metrics(metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**metric, "tags": dict(metric["tags"])} for metric in metrics]


def _request_metrics(
    per_class: dict[str, int], unknown: dict[str, int], version: str
) -> list[dict[str, Any]]:
    # "model_version" would be overwritten by Seldon's own label of that name (the image tag).
    metrics: list[dict[str, Any]] = [
        {
            "type": "COUNTER",
            "key": PREDICTED_CLASS_METRIC,
            "value": count,
            "tags": {"class": label, "served_model_version": version},
        }
        for label, count in per_class.items()
        if count  # a 0 would vanish in a gRPC answer (proto3 drops zeros) and break Seldon's update
    ]
    metrics += [
        {
            "type": "COUNTER",
            "key": UNKNOWN_CATEGORY_METRIC,
            "value": count,
            "tags": {"column": column, "served_model_version": version},
        }
        for column, count in unknown.items()
    ]
    return metrics


_JSON_TYPES = {"numeric": ["number", "null"], "binary": ["number", "null"], "categorical": ["string", "null"]}


def _metadata(meta: BundleMeta) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for feature in meta.features:
        prop: dict[str, Any] = {"type": _JSON_TYPES[feature.kind], "description": feature.kind}
        if feature.categories is not None:
            prop["examples"] = list(feature.categories)
        properties[feature.name] = prop
    record = {
        "type": "object",
        "properties": properties,
        "required": meta.feature_names,
        "additionalProperties": False,
    }
    return {
        "name": meta.model_name,
        "versions": [meta.model_version],
        "platform": "sklearn",
        "inputs": [
            {"messagetype": "ndarray", "schema": {"names": meta.feature_names}},
            {"messagetype": "jsonData", "schema": {"oneOf": [record, {"type": "array", "items": record}]}},
        ],
        "outputs": [{"messagetype": "ndarray", "schema": {"names": output_names(meta)}}],
        "custom": {
            "task": meta.task,
            "target": meta.target,
            "classes": json.dumps(meta.classes),
            **(
                {
                    "positive_class": meta.positive_class,
                    "negative_label": meta.negative_label,
                    "threshold": str(meta.threshold),
                }
                if meta.task == "binary"
                else {}
            ),
            "created_at": meta.created_at,
            "feature_kinds": json.dumps({feature.name: feature.kind for feature in meta.features}),
        },
    }


# ---------------------------------------------------------------------- gunicorn settings


def configure_gunicorn(host: str | None, fast_worker: bool = True) -> None:
    """Set up seldon-core's gunicorn servers: the project's worker, and the host they listen on.

    seldon-core 1.19 builds its REST and metrics servers with
    ``seldon_core.gunicorn_utils.StandaloneApplication`` and offers no flag for either
    setting; its ``load_config`` is wrapped here:

    - ``fast_worker``: the REST server (not the metrics server) runs
      :class:`serving.fast_worker.FastWorker` instead of gunicorn's sync/gthread worker
      (``SERVING_FAST_WORKER=off``: not);
    - ``host``: seldon-core hard-codes ``0.0.0.0`` in the ``bind`` option; the host is replaced
      (keeping the port), and the control socket gunicorn >= 25 opens by default at one fixed
      path (``~/.gunicorn/gunicorn.ctl``), which the REST and the metrics server of a
      microservice, and every other microservice of the user, would otherwise share, is turned
      off. The gRPC server (a raw ``grpc`` server) and ``--debug`` mode (Flask's own server)
      are not affected. None: the bind is left as it is.
    """
    from seldon_core.gunicorn_utils import StandaloneApplication, UserModelApplication

    from serving.fast_worker import WORKER_CLASS, freeze_before_fork
    from serving.lifetime import die_with_parent

    original = getattr(StandaloneApplication.load_config, "__wrapped_load_config__", None)
    original = original or StandaloneApplication.load_config
    name = f"[{host}]" if host and ":" in host and not host.startswith("[") else host  # IPv6

    def load_config(self: Any) -> None:
        original(self)
        if fast_worker and isinstance(self, UserModelApplication):
            self.cfg.set("worker_class", WORKER_CLASS)
            previous = self.cfg.pre_fork

            def pre_fork(server: Any, worker: Any) -> None:
                freeze_before_fork(server, worker)
                previous(server, worker)

            self.cfg.set("pre_fork", pre_fork)
            logger.info("Gunicorn runs the REST server with %s", WORKER_CLASS)
        if host is None:
            return
        addresses = [f"{name}:{address.rsplit(':', 1)[-1]}" for address in self.cfg.bind]
        inherited = os.environ.get(LISTEN_FDS_ENV, "").strip()
        metrics_fd = os.environ.get(METRICS_FD_ENV, "").strip()
        if inherited and isinstance(self, UserModelApplication):
            # The REST server accepts on sockets a supervisor bound and passed down (the shared
            # public port and a private health-check port), see flavors/local_seldon/supervisor.py.
            addresses = [f"fd://{fd.strip()}" for fd in inherited.split(",")]
        elif metrics_fd and not isinstance(self, UserModelApplication):
            # The metrics server too, when the supervisor owns a fixed metrics port: the old
            # and the new server of a swap share it, as they share the public port.
            addresses = [f"fd://{metrics_fd}"]
        if inherited:
            die_with_parent()  # this gunicorn master (REST or metrics) ends with its parent
        self.cfg.set("bind", addresses)
        if "control_socket_disable" in self.cfg.settings:
            self.cfg.set("control_socket_disable", True)
        logger.info("Gunicorn binds %s (%s=%s)", addresses, BIND_HOST_ENV, host)

    load_config.__wrapped_load_config__ = original  # type: ignore[attr-defined]
    StandaloneApplication.load_config = load_config  # type: ignore[method-assign]


def _configure_from_env() -> None:
    from serving.fast_worker import fast_worker_enabled

    host = os.environ.get(BIND_HOST_ENV, "").strip() or None
    fast = fast_worker_enabled()
    if host is not None or fast:
        configure_gunicorn(host, fast_worker=fast)


_configure_from_env()

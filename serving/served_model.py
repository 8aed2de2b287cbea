"""The loaded model behind every protocol: bundle, request schema, scorer, request log, metrics.

A protocol (:mod:`serving.protocols`) turns its request into the Seldon row forms the
:class:`~serving.request_schema.RequestSchema` parses, calls :meth:`ServedModel.predict`, and
writes the :class:`Prediction` back in its own shape. Everything a prediction does besides
scoring (counting classes and unknown categories, flagging contract violations, logging the
rows) happens here once, whatever the protocol.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from serving.answers import Answer, answer, output_names
from serving.bundle import Bundle, load_bundle
from serving.contract_flags import unscorable, unscorable_check
from serving.metrics import ServingMetrics
from serving.reference_rows import read_reference_request
from serving.request_log import RequestLogWriter
from serving.request_schema import ParsedRequest, RequestSchema
from serving.scoring import Scorer, choose_scorer
from serving.settings import ServingSettings
from serving.shadow import ShadowModel, load_shadow, shadow_directory

__all__ = ["Prediction", "ServedModel", "request_id_of"]

logger = logging.getLogger(__name__)

MAX_REQUEST_ID_CHARS = 128


@dataclass(frozen=True)
class Prediction:
    """One answered request: its rows' answers, what was parsed, and the id it was logged under."""

    answer: Answer
    parsed: ParsedRequest
    request_id: str


def request_id_of(candidate: Any) -> str:
    """``candidate`` when it is a usable id (text of 1-128 printable characters that encode as
    UTF-8, as a client's ``meta.puid`` or OIP ``id``), else a new random one."""
    if isinstance(candidate, str) and 0 < len(candidate) <= MAX_REQUEST_ID_CHARS and candidate.isprintable():
        try:
            candidate.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate ("\ud800") decodes from JSON but never encodes
            return secrets.token_hex(16)
        return candidate
    return secrets.token_hex(16)  # 128 random bits, as a uuid4


class ServedModel:
    """A bundle loaded for serving (see the module doc).

    Args:
        bundle: The loaded bundle.
        settings: The server's settings (row limit, contract policy, fast path, request log).
        metrics: Where counts go.
    """

    def __init__(self, bundle: Bundle, settings: ServingSettings, metrics: ServingMetrics) -> None:
        meta = bundle.meta
        self.bundle = bundle
        self.meta = meta
        self.names = output_names(meta)
        self.metrics = metrics
        self.schema = RequestSchema(
            meta.features, max_rows=settings.max_rows, violations=settings.contract_violations
        )
        self.scorer: Scorer = choose_scorer(
            bundle.pipeline,
            self.schema,
            meta.target_spec,
            meta.threshold or 0.5,
            read_reference_request(bundle.directory),
            enabled=settings.fast_path,
        )
        if self.scorer.path == "compiled":
            logger.info(
                "Scoring with the compiled path (it agrees with the Pipeline on reference and edge rows)"
            )
        else:
            logger.warning(
                "Scoring with the scikit-learn Pipeline: the compiled path is %s", self.scorer.reason
            )
        metrics.labels(
            metrics.scoring_path,
            path=self.scorer.path,
            reason=self.scorer.reason.split(":")[0][:60],
            served_model_version=meta.model_version,
        ).set(1)
        shadow_dir = shadow_directory(bundle.directory, settings.shadow_dir)
        if shadow_dir is not None and settings.request_log_dir is None:
            logger.warning(
                "Not scoring the shadow in %s: the request log, which keeps its predictions, is off",
                shadow_dir,
            )
            shadow_dir = None
        self.shadow: ShadowModel | None = load_shadow(shadow_dir, meta, self.schema, settings.fast_path)
        self.request_log = _request_log(settings, meta.features, self.shadow)

    @classmethod
    def load(cls, settings: ServingSettings, metrics: ServingMetrics) -> ServedModel:
        """The bundle in ``settings.model_dir``, loaded (``BundleError``: one line saying what is wrong)."""
        served = cls(load_bundle(settings.model_dir), settings, metrics)
        meta = served.meta
        logger.info(
            "Loaded %s model %s version %s from %s (%d features, at most %d rows per request)",
            meta.task,
            meta.model_name,
            meta.model_version,
            settings.model_dir,
            len(meta.features),
            served.schema.max_rows,
        )
        return served

    def predict(self, request: Any, request_id: Any = None) -> Prediction:
        """Answer a Seldon-form request (``data.names``+``ndarray`` or ``jsonData``).

        Args:
            request: The decoded request.
            request_id: The client's id for it (kept when usable, see :func:`request_id_of`).

        Raises:
            RequestError: Naming the field at fault, or the row that cannot be scored.
        """
        parsed = self.schema.parse(request)
        try:
            scores = self.scorer.scores(parsed)
        except (ValueError, OverflowError, FloatingPointError) as exc:
            raise unscorable(parsed, str(exc)) from exc
        result = answer(self.meta, unscorable_check(scores, parsed))
        identifier = request_id_of(request_id)
        self._count(result, parsed)
        if self.request_log is not None:
            labels = [str(label) for label in result.labels]
            dropped = self.request_log.append(
                parsed, labels, result.score, self.meta.model_version, identifier
            )
            version = self.meta.model_version
            self.metrics.labels(self.metrics.request_log_rows, served_model_version=version).inc(len(labels))
            if dropped:
                self.metrics.labels(self.metrics.request_log_dropped, served_model_version=version).inc(
                    dropped
                )
        return Prediction(result, parsed, identifier)

    def _count(self, result: Answer, parsed: ParsedRequest) -> None:
        metrics, version = self.metrics, self.meta.model_version
        for label, count in result.class_counts.items():
            metrics.labels(
                metrics.predicted_class, **{"class": str(label)}, served_model_version=version
            ).inc(count)
        for column, count in parsed.unknown_categories.items():
            metrics.labels(metrics.unknown_category, column=column, served_model_version=version).inc(count)
        for violation in parsed.violations:
            metrics.labels(
                metrics.contract_violation,
                column=violation.column,
                rule=violation.rule,
                served_model_version=version,
            ).inc()

    def close(self) -> None:
        """Write what the request log still holds."""
        if self.request_log is not None:
            self.request_log.close()


def _request_log(
    settings: ServingSettings, features: list[Any], shadow: ShadowModel | None
) -> RequestLogWriter | None:
    if settings.request_log_dir is None:
        return None
    key = settings.request_log_hash_key
    writer = RequestLogWriter(
        settings.request_log_dir,
        features,
        flush_s=settings.request_log_flush_s,
        max_rows=settings.request_log_max_rows,
        max_buffer_rows=settings.request_log_max_buffer_rows,
        max_age_s=settings.request_log_max_age_s,
        max_total_bytes=settings.request_log_max_total_bytes,
        hashed_columns=settings.request_log_hashed_columns,
        omitted_columns=settings.request_log_omitted_columns,
        hash_key=key.get_secret_value().encode() if key is not None else None,
        shadow=shadow.score_rows if shadow is not None else None,
    )
    logger.info(
        "Request log: %s (a file every %g s or %d rows, at most %d rows queued)",
        settings.request_log_dir,
        settings.request_log_flush_s,
        settings.request_log_max_rows,
        settings.request_log_max_buffer_rows,
    )
    return writer

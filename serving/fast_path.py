"""The fast single-row path: the fitted Pipeline compiled to numpy, checked before it serves.

Scoring one row through the scikit-learn Pipeline costs milliseconds of per-call pandas and
scikit-learn overhead; the same arithmetic on the parsed request's arrays takes tens of
microseconds. :func:`compile_pipeline` rebuilds the project's Pipeline (derived features ->
``ColumnTransformer`` -> estimator, see :mod:`serving.fast_features` and
:mod:`serving.fast_estimators`) and refuses anything it does not know.

:func:`choose_scorer` is what the server calls at load time. It compiles the Pipeline and
compares the result with ``pipeline.predict_proba`` on the bundle's reference rows plus
edge rows made from the schema (every value missing, unknown categories, each range's ends,
zeros); only when every probability agrees within ``1e-6`` and every label is the same does
it serve the fast path. Otherwise, or when compiling fails (an unknown estimator or
transformer, a multiclass or regression model), it serves the Pipeline and says why in the
log and in the ``scoring_path`` metric.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from serving.fast_estimators import compile_estimator
from serving.fast_features import (
    Columns,
    Unsupported,
    compile_column_transformer,
    compile_derived_feature,
)
from serving.request_schema import ParsedRequest, RequestError, RequestSchema
from tabular_ml.modelling.trained_model import scores_of
from tabular_ml.tasks.target import TargetSpec

__all__ = [
    "FAST_PATH_ENV",
    "SCORING_PATH_METRIC",
    "TOLERANCE",
    "FastPipeline",
    "Scorer",
    "choose_scorer",
    "compile_pipeline",
    "edge_rows",
]

logger = logging.getLogger(__name__)

FAST_PATH_ENV = "SERVING_FAST_PATH"  # "off" serves the Pipeline, whatever the check says
SCORING_PATH_METRIC = "scoring_path"
TOLERANCE = 1e-6


class FastPipeline:
    """A compiled Pipeline: :meth:`positive_probability` of parsed requests, no pandas."""

    def __init__(self, schema: RequestSchema, steps: list[Callable[[Columns], None]], transform, score):
        self._numeric = list(schema.numeric_names)
        self._text = list(schema.text_names)
        self._steps = steps
        self._transform = transform
        self._score = score

    def positive_probability(self, parsed: ParsedRequest) -> np.ndarray:
        """P(class 1) per request row (raises ValueError where scikit-learn would)."""
        columns: Columns = dict(zip(self._numeric, parsed.numeric.copy(), strict=True))
        columns.update(zip(self._text, parsed.text, strict=True))
        with np.errstate(all="ignore"):  # NaN and overflow are values here, as in pandas
            for step in self._steps:
                step(columns)
            return self._score(self._transform(columns))


def _steps_of(step: Any) -> list[Any]:
    if step is None or step == "passthrough":
        return []
    if type(step) is Pipeline:
        return [part for _, part in step.steps if part is not None and part != "passthrough"]
    return [step]


def compile_pipeline(pipeline: Any, schema: RequestSchema) -> FastPipeline:
    """Compile ``features -> preprocess -> model``; :class:`Unsupported` naming what is not known."""
    if type(pipeline) is not Pipeline or len(pipeline.steps) < 2:
        raise Unsupported(
            f"a {type(pipeline).__name__}, not a Pipeline ending in a ColumnTransformer and a model"
        )
    *transformers, preprocess = [part for _, part in pipeline.steps[:-1]]
    numeric = set(schema.numeric_names)
    known = set(schema.names)
    steps = []
    for transformer in transformers:
        for part in _steps_of(transformer):
            steps.append(compile_derived_feature(part, numeric))
            known.add(part.name)
    transform = compile_column_transformer(preprocess, numeric, known)
    return FastPipeline(schema, steps, transform, compile_estimator(pipeline.steps[-1][1]))


# ---------------------------------------------------------------------- the load-time check


def edge_rows(schema: RequestSchema, base: list[list[Any]]) -> dict:
    """Rows at the edges, as an ndarray request: every value missing; each categorical column
    unknown or missing; each numeric column at its range's ends, 0, 1, missing and large."""
    row = list(base[0]) if base else [_typical(column) for column in schema.columns]
    rows = [[None] * len(schema.names)]
    for i, column in enumerate(schema.columns):
        if column.kind == "categorical":
            candidates = ["no such category", None, *sorted(column.categories or [])]
        elif column.kind == "binary":
            candidates = [0, 1, None]
        else:
            low = column.min if column.min is not None else -1e6
            high = column.max if column.max is not None else 1e6
            candidates = [low, high, 0, 1, None, (low + high) / 2]
            candidates = [v for v in candidates if v is None or low <= v <= high]
        for value in candidates:
            changed = list(row)
            changed[i] = value
            rows.append(changed)
    return {"data": {"names": list(schema.names), "ndarray": rows}}


def _typical(column: Any) -> Any:
    if column.kind == "categorical":
        return sorted(column.categories)[0] if column.categories else "a"
    return 0 if column.min is None else column.min


def _mismatch(
    fast: FastPipeline, pipeline: Any, positive: int, threshold: float, parsed: ParsedRequest
) -> str | None:
    """Why the fast path disagrees with the Pipeline on these rows; None when it agrees."""
    expected = pipeline.predict_proba(parsed.frame)[:, positive]
    got = fast.positive_probability(parsed)
    difference = np.abs(got - expected)
    worst = int(np.nanargmax(difference)) if difference.size and not np.isnan(difference).all() else 0
    if np.isnan(difference).any() or difference[worst] > TOLERANCE:
        return f"row {worst}: {got[worst]!r} vs the Pipeline's {expected[worst]!r}"
    if not np.array_equal(got >= threshold, expected >= threshold):
        row = int(np.flatnonzero((got >= threshold) != (expected >= threshold))[0])
        return f"row {row} gets another label ({got[row]!r} vs {expected[row]!r}, threshold {threshold})"
    return None


@dataclass
class Scorer:
    """What the server scores parsed requests with: the fast path, or the Pipeline.

    Attributes:
        path: ``"fast"`` or ``"pipeline"``.
        reason: Why the Pipeline serves (empty for the fast path).
    """

    pipeline: Any
    positive_column: int
    fast: FastPipeline | None = None
    reason: str = ""
    target: TargetSpec | None = None  # None: a binary model

    def scores(self, parsed: ParsedRequest) -> np.ndarray:
        """The model's scores per row: P(positive class) for a binary model, the class
        probabilities (multiclass) or the value (regression); see serving.answers."""
        if self.target is None or self.target.task == "binary":
            return self.positive_probability(parsed)
        return scores_of(self.pipeline, parsed.frame, self.target)

    @property
    def path(self) -> str:
        return "fast" if self.fast is not None else "pipeline"

    def positive_probability(self, parsed: ParsedRequest) -> np.ndarray:
        """P(positive class) per row; ValueError where scikit-learn raises one."""
        if self.fast is not None:
            return self.fast.positive_probability(parsed)
        return self.pipeline.predict_proba(parsed.frame)[:, self.positive_column]

    def metric(self, version: str) -> dict[str, Any]:
        """The ``scoring_path`` gauge (1), tagged with the path and, for the Pipeline, a short reason."""
        tags = {"path": self.path, "served_model_version": version}
        if self.reason:
            tags["reason"] = self.reason.split(":")[0][:60]
        return {"type": "GAUGE", "key": SCORING_PATH_METRIC, "value": 1, "tags": tags}


def choose_scorer(
    pipeline: Any,
    schema: RequestSchema,
    positive_column: int,
    threshold: float,
    reference: dict | None,
    enabled: bool = True,
    target: TargetSpec | None = None,
) -> Scorer:
    """The fast path when it compiles and agrees with the Pipeline on reference and edge rows.

    Args:
        pipeline: The bundle's fitted Pipeline.
        schema: The request schema (the fast path reads its parsed arrays).
        positive_column: The positive class's column in ``predict_proba``.
        threshold: The decision threshold (labels must agree too).
        reference: The bundle's reference rows as a request body, or None.
        enabled: False serves the Pipeline (``SERVING_FAST_PATH=off``).
        target: The model's target; the fast path is for binary models (None: binary).
    """
    scorer = Scorer(pipeline, positive_column, target=target)
    if target is not None and target.task != "binary":
        scorer.reason = f"not compiled: a {target.task} model is scored by the Pipeline"
        return scorer
    if not enabled:
        scorer.reason = f"turned off ({FAST_PATH_ENV}=off)"
        return scorer
    try:
        fast = compile_pipeline(pipeline, schema)
    except Unsupported as exc:
        scorer.reason = f"not compiled: {exc}"
        return scorer
    checks = []
    if reference is not None:
        checks.append(("the bundle's reference rows", reference))
    else:
        logger.warning("The bundle has no reference rows: the fast path is checked on edge rows only")
    base = reference["data"]["ndarray"][:1] if reference else []
    checks.append(("edge rows", edge_rows(schema, base)))
    for name, request in checks:
        try:
            parsed = RequestSchema(
                schema.columns, max_rows=len(request["data"]["ndarray"]) + 1, violations="flag"
            ).parse(request)
            problem = _mismatch(fast, pipeline, positive_column, threshold, parsed)
        except (RequestError, ValueError, TypeError, KeyError, IndexError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            scorer.reason = f"differs from the Pipeline on {name}: {problem}"
            return scorer
    scorer.fast = fast
    return scorer

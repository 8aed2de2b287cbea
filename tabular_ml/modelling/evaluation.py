"""Holdout evaluation of a model for each task: binary, multiclass, regression.

ZenML-free: everything here works on plain arrays and dicts, so it can be unit
tested (and reused in a notebook) without a ZenML store.

Conventions
-----------
* **binary** (:func:`evaluate_classifier`): ``y_true`` holds 0/1 (1 = the positive
  class), ``proba_positive`` the predicted probability of the positive class; a sample is
  predicted positive when ``proba_positive >= threshold``. ``class_names`` are
  ``[negative, positive]``.
* **multiclass** (:func:`evaluate_multiclass`): ``y_true`` holds class codes
  ``0..k-1`` (``class_names[code]`` is the label), ``proba`` is n x k; the predicted
  class is the most probable one (ties: the lower code).
* **regression** (:func:`evaluate_regression`): true and predicted values.
* precision / recall / f1 are 0.0 when undefined (no predicted / no actual members of a
  class), as with ``zero_division=0`` in scikit-learn.
* A metric the holdout leaves undefined (ROC AUC with a class missing, R² of a constant
  target) is *omitted* from ``metrics`` (never NaN: NaN is not valid JSON) and a note says
  why in ``EvaluationReport.notes``. A quality gate naming an omitted metric then fails with
  a message saying it was not computed.
* :func:`baseline_metrics` scores a trivial model (training class prior and majority class,
  or the training mean) on the same holdout with the same metric functions; quality gates
  can require the model to beat it (:mod:`tabular_ml.modelling.quality_gates`).
* Every float stored in an ``EvaluationReport`` is finite, so the report round
  trips through ``model_dump_json`` / ``model_validate_json`` unchanged. Every report names
  its ``task``: one saved before task types (none) does not load; its model is retrained.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sklearn import metrics as skm

from tabular_ml.modelling.evaluation_curves import (
    CURVE_MAX_POINTS,
    ranking_curves,
    reliability_curve,
    residual_summary,
)
from tabular_ml.modelling.explanation_summary import ExplanationSummary
from tabular_ml.modelling.quality_gates import (
    QualityGateError,
    check_gates,
    enforce_gates,
    unknown_gate_metrics,
)
from tabular_ml.modelling.task_metrics import binary_scores, multiclass_scores, regression_scores
from tabular_ml.tasks.metric_names import HIGHER_IS_BETTER, metric_names
from tabular_ml.tasks.target import Task

__all__ = [
    "CURVE_MAX_POINTS",
    "HIGHER_IS_BETTER",
    "METRIC_NAMES",
    "EvaluationReport",
    "QualityGateError",
    "baseline_metrics",
    "check_gates",
    "enforce_gates",
    "evaluate_classifier",
    "evaluate_multiclass",
    "evaluate_regression",
    "metric_names",
    "unknown_gate_metrics",
]

#: The binary task's metrics in display order (``metric_names(task)`` for any task).
METRIC_NAMES: tuple[str, ...] = metric_names("binary")

_TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")


# --------------------------------------------------------------------------- the report


def _json_safe(value: Any) -> Any:
    """A JSON-native equivalent of ``value`` (numpy scalars, tuples, non-finite floats...)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_safe(v) for v in value]
    return repr(value)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _drop_non_finite_metrics(data: dict[str, Any], field: str, label: str, notes: list[str]) -> None:
    metrics = data.get(field)
    if isinstance(metrics, Mapping):
        bad = [k for k, v in metrics.items() if not _finite(v)]
        if bad:
            data[field] = {k: v for k, v in metrics.items() if k not in bad}
            notes.append(f"{label}(s) {', '.join(map(str, bad))} omitted: not a finite number")


class EvaluationReport(BaseModel):
    """Everything known about one model's holdout evaluation; JSON round-trippable.

    Non-finite values are dropped on construction (with a note) from ``metrics``,
    ``baseline_metrics``, ``cv_metrics`` and ``feature_importances``; ``best_params`` is
    converted to JSON-native values (tuples become lists, numpy scalars Python numbers,
    anything else its ``repr``). Curves must hold finite numbers.
    """

    model_config = ConfigDict(extra="forbid")

    task: Task
    model_name: str = "model"
    algorithm: str = ""
    threshold: float = Field(0.5, ge=0, le=1, description="binary: predicted positive at p >= threshold")
    n_samples: int = Field(ge=0)
    positive_class: str = Field("1", description="binary: the label of the positive class")
    class_names: list[str] = Field(
        default_factory=list, description="classification: labels in the model's order; binary [neg, pos]"
    )
    metrics: dict[str, float] = Field(default_factory=dict, description="holdout metric -> value")
    baseline_metrics: dict[str, float] = Field(
        default_factory=dict,
        description="the trivial baseline's metrics on the same holdout (class prior / training mean)",
    )
    confusion_matrix: list[list[int]] = Field(
        default_factory=lambda: [[0, 0], [0, 0]],
        description="rows actual, columns predicted, in class_names order: binary [[tn, fp], [fn, tp]]; "
        "empty for regression",
    )
    per_class: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="class -> precision, recall, f1, support (holdout rows)"
    )
    roc_curve: dict[str, list[float]] = Field(default_factory=lambda: {"fpr": [], "tpr": []})
    pr_curve: dict[str, list[float]] = Field(default_factory=lambda: {"precision": [], "recall": []})
    reliability: dict[str, list[float]] = Field(
        default_factory=dict, description="binary: mean_predicted, observed_rate, count per probability bin"
    )
    residuals: dict[str, list[float]] = Field(
        default_factory=dict,
        description="regression: actual and predicted (sampled points), histogram_edges / _counts",
    )
    cv_metrics: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="metric -> {'mean': ..., 'std': ...} over the CV folds"
    )
    feature_importances: list[tuple[str, float]] = Field(
        default_factory=list, description="(feature, importance), most important first"
    )
    explanations: ExplanationSummary | None = Field(
        None,
        description="mean |contribution| per input column and the extreme rows' explanations",
        exclude_if=lambda value: value is None,  # no null in the JSON (reports before explanations)
    )
    best_params: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list, description="caveats, e.g. metrics left out and why")

    @model_validator(mode="before")
    @classmethod
    def _drop_non_finite(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if data.get("task") == "regression" and "confusion_matrix" not in data:
            data["confusion_matrix"] = []
        notes = list(data.get("notes") or [])
        _drop_non_finite_metrics(data, "metrics", "metric", notes)
        _drop_non_finite_metrics(data, "baseline_metrics", "baseline metric", notes)
        cv = data.get("cv_metrics")
        if isinstance(cv, Mapping):
            bad = [
                k
                for k, stats in cv.items()
                if not isinstance(stats, Mapping) or not all(_finite(v) for v in stats.values())
            ]
            if bad:
                data["cv_metrics"] = {k: v for k, v in cv.items() if k not in bad}
                notes.append(f"CV metric(s) {', '.join(map(str, bad))} omitted: not a finite number")
        importances = data.get("feature_importances")
        if isinstance(importances, (list, tuple)):
            kept = [
                p for p in importances if not (isinstance(p, (list, tuple)) and len(p) == 2) or _finite(p[1])
            ]
            if len(kept) != len(importances):
                data["feature_importances"] = kept
                notes.append("feature importance(s) omitted: not a finite number")
        if notes != list(data.get("notes") or []):
            data["notes"] = notes
        return data

    @field_validator("best_params", mode="before")
    @classmethod
    def _json_native_params(cls, value: Any) -> Any:
        return _json_safe(value) if isinstance(value, Mapping) else value

    @field_validator("roc_curve", "pr_curve", "reliability", "residuals", "per_class")
    @classmethod
    def _finite_numbers(cls, value: dict[str, Any], info) -> dict[str, Any]:
        for key, numbers in value.items():
            items = numbers.values() if isinstance(numbers, Mapping) else numbers
            if not all(math.isfinite(v) for v in items):
                raise ValueError(f"{info.field_name}[{key!r}] must hold finite numbers only")
        return value

    @model_validator(mode="after")
    def _fits_the_task(self) -> EvaluationReport:
        matrix, k = self.confusion_matrix, len(self.class_names)
        if any(count < 0 for row in matrix for count in row):
            raise ValueError("confusion_matrix counts cannot be negative")
        if self.task == "regression":
            if matrix or self.class_names or self.per_class:
                raise ValueError("a regression report has no confusion_matrix, class_names or per_class")
            return self
        expected = 2 if self.task == "binary" else k
        if self.task == "binary" and k not in (0, 2):
            raise ValueError(f"a binary report has 2 class_names [negative, positive], got {k}")
        if self.task == "multiclass" and k < 3:
            raise ValueError(f"a multiclass report needs 3 or more class_names, got {k}")
        if len(matrix) != expected or any(len(row) != expected for row in matrix):
            shape = "[[tn, fp], [fn, tp]]" if self.task == "binary" else f"{k} x {k} (one row per class)"
            raise ValueError(f"confusion_matrix must be {shape}")
        unknown = set(self.per_class) - set(self.class_names)
        if unknown:
            raise ValueError(f"per_class names {sorted(unknown)} are not among class_names")
        return self

    @property
    def tn_fp_fn_tp(self) -> tuple[int, int, int, int]:
        if self.task != "binary":
            raise ValueError(f"tn/fp/fn/tp are counts of a binary report, not of a {self.task} one")
        (tn, fp), (fn, tp) = self.confusion_matrix
        return tn, fp, fn, tp

    @property
    def prevalence(self) -> float | None:
        """Binary: share of positives in the evaluated samples (the PR curve's chance level)."""
        if self.task != "binary":
            return None
        tn, fp, fn, tp = self.tn_fp_fn_tp
        total = tn + fp + fn + tp
        return (tp + fn) / total if total else None


# --------------------------------------------------------------------------- inputs


def _as_binary_labels(y_true: Any, what: str = "y_true") -> np.ndarray:
    y = np.asarray(y_true).ravel()
    if y.dtype == bool:
        return y.astype(int)
    if y.dtype.kind not in "iuf" or not np.isin(y, (0, 1)).all():
        found = sorted({str(v) for v in np.unique(y)})[:5]
        raise ValueError(f"{what} must hold only 0 and 1 (1 = positive class), found values {found}")
    return y.astype(int)


def _as_class_codes(y_true: Any, class_count: int, what: str = "y_true") -> np.ndarray:
    y = np.asarray(y_true).ravel()
    if y.dtype.kind not in "iuf" or not np.isin(y, np.arange(class_count)).all():
        found = sorted({str(v) for v in np.unique(y)})[:5]
        raise ValueError(
            f"{what} must hold class codes 0..{class_count - 1} (an index into class_names), "
            f"found values {found}"
        )
    return y.astype(int)


def _as_values(values: Any, what: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{what} must hold numbers") from None
    if not np.isfinite(array).all():
        raise ValueError(f"{what} must hold finite numbers (no NaN or infinity)")
    return array


def _check_sizes(y: np.ndarray, n_predicted: int, what: str) -> None:
    if len(y) == 0:
        raise ValueError("cannot evaluate on zero samples")
    if n_predicted != len(y):
        raise ValueError(f"y_true has {len(y)} values but {what} has {n_predicted}")


def _as_class_names(class_names: Sequence[Any], minimum: int) -> list[str]:
    if isinstance(class_names, str):
        raise ValueError("class_names must be a list of labels, not one string")
    names = [str(name) for name in class_names]
    if len(names) < minimum:
        raise ValueError(f"class_names needs {minimum} or more labels, got {names}")
    if len(set(names)) != len(names):
        raise ValueError(f"class_names must be distinct, got {names}")
    return names


def _normalise_importances(importances: Any, top: int) -> list[tuple[str, float]]:
    if importances is None:
        return []
    pairs = importances.items() if isinstance(importances, Mapping) else importances
    cleaned = [(str(name), float(value)) for name, value in pairs]
    cleaned = [p for p in cleaned if math.isfinite(p[1])]
    cleaned.sort(key=lambda p: abs(p[1]), reverse=True)
    return cleaned[:top]


# --------------------------------------------------------------------------- evaluating


def _per_class(y: np.ndarray, pred: np.ndarray, class_names: list[str]) -> dict[str, dict[str, float]]:
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y, pred, labels=list(range(len(class_names))), zero_division=0
    )
    return {
        name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": float(s)}
        for name, p, r, f, s in zip(class_names, precision, recall, f1, support, strict=True)
    }


def _report(
    task: str, context: dict[str, Any], top_features: int, notes: list[str], **computed: Any
) -> EvaluationReport:
    """The report from what the evaluation computed and the caller's descriptive ``context``."""
    clash = sorted(set(context) & {*computed, "task"})
    if clash:
        raise ValueError(f"{', '.join(clash)} are computed by the evaluation, not passed in")
    binary_only = sorted(set(context) & {"threshold", "positive_class"}) if task != "binary" else []
    if binary_only:
        raise ValueError(f"{', '.join(binary_only)} apply to a binary task, not to a {task} one")
    return EvaluationReport(
        task=task,
        feature_importances=_normalise_importances(context.pop("feature_importances", None), top_features),
        notes=[*(context.pop("notes", None) or []), *notes],
        **computed,
        **context,
    )


def _binary_class_names(context: dict[str, Any]) -> tuple[list[str], str]:
    """``[negative, positive]`` and the positive class, from ``class_names`` and/or ``positive_class``."""
    names, positive = context.pop("class_names", None), context.pop("positive_class", None)
    if names is None:
        positive = "1" if positive is None else str(positive)
        return (["0", "1"] if positive == "1" else [f"not {positive}", positive]), positive
    names = _as_class_names(names, 2)
    if len(names) != 2:
        raise ValueError(f"a binary evaluation has 2 class_names [negative, positive], got {names}")
    if positive is not None and str(positive) != names[1]:
        raise ValueError(
            f"positive_class {str(positive)!r} must be the second of class_names {names} "
            "(binary classes are [negative, positive])"
        )
    return names, names[1]


def evaluate_classifier(
    y_true: Any,
    proba_positive: Any,
    threshold: float = 0.5,
    *,
    top_features: int = 20,
    **context: Any,
) -> EvaluationReport:
    """Evaluate predicted probabilities of the positive class against 0/1 labels (binary task).

    ``context`` fills the descriptive fields of the report: ``model_name``,
    ``algorithm``, ``class_names`` (``[negative, positive]``) and/or ``positive_class``,
    ``baseline_metrics``, ``cv_metrics``, ``feature_importances`` (a mapping or
    ``(name, value)`` pairs; kept: the ``top_features`` largest by absolute value),
    ``best_params`` and ``notes``. Unknown keys are errors.
    """
    y = _as_binary_labels(y_true)
    proba = _as_values(proba_positive, "proba_positive")
    _check_sizes(y, proba.size, "proba_positive")
    if proba.min() < 0 or proba.max() > 1:
        raise ValueError("proba_positive must hold finite probabilities in [0, 1]")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be within [0, 1], got {threshold}")
    class_names, positive = _binary_class_names(context)

    pred = (proba >= threshold).astype(int)
    metrics, notes = binary_scores(y, pred, proba)
    roc, pr = {"fpr": [], "tpr": []}, {"precision": [], "recall": []}
    if 0 < y.sum() < len(y):  # the curves need both classes
        roc, pr = ranking_curves(y, proba)
    return _report(
        "binary",
        context,
        top_features,
        notes,
        threshold=threshold,
        n_samples=len(y),
        positive_class=positive,
        class_names=class_names,
        metrics=metrics,
        confusion_matrix=skm.confusion_matrix(y, pred, labels=[0, 1]).tolist(),
        per_class=_per_class(y, pred, class_names),
        roc_curve=roc,
        pr_curve=pr,
        reliability=reliability_curve(y, proba),
    )


def evaluate_multiclass(
    y_true: Any,
    proba: Any,
    class_names: Sequence[Any],
    *,
    top_features: int = 20,
    **context: Any,
) -> EvaluationReport:
    """Evaluate an n x k probability matrix against class codes 0..k-1 (multiclass task).

    ``class_names[i]`` is the label of code ``i`` and of column ``i`` of ``proba`` (the
    model's class order); at least 3. The predicted class is the most probable one.
    ``context`` as for :func:`evaluate_classifier`, without ``class_names`` / ``positive_class``.
    """
    names = _as_class_names(class_names, 3)
    y = _as_class_codes(y_true, len(names))
    matrix = np.asarray(proba, dtype=float)
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        raise ValueError(
            f"proba must be an n x {len(names)} matrix (one column per class), got shape {matrix.shape}"
        )
    _check_sizes(y, matrix.shape[0], "proba")
    if not np.isfinite(matrix).all() or matrix.min() < 0 or matrix.max() > 1:
        raise ValueError("proba must hold finite probabilities in [0, 1]")
    if not np.allclose(matrix.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("each row of proba must sum to 1 (one probability per class)")

    pred = matrix.argmax(axis=1)
    metrics, notes = multiclass_scores(y, pred, matrix, names)
    return _report(
        "multiclass",
        context,
        top_features,
        notes,
        n_samples=len(y),
        class_names=names,
        metrics=metrics,
        confusion_matrix=skm.confusion_matrix(y, pred, labels=list(range(len(names)))).tolist(),
        per_class=_per_class(y, pred, names),
    )


def evaluate_regression(
    y_true: Any,
    y_pred: Any,
    *,
    top_features: int = 20,
    **context: Any,
) -> EvaluationReport:
    """Evaluate predicted values against true values (regression task).

    ``context`` as for :func:`evaluate_classifier`, without ``class_names`` / ``positive_class``.
    """
    y = _as_values(y_true, "y_true")
    pred = _as_values(y_pred, "y_pred")
    _check_sizes(y, pred.size, "y_pred")
    metrics, notes = regression_scores(y, pred)
    return _report(
        "regression",
        context,
        top_features,
        notes,
        n_samples=len(y),
        metrics=metrics,
        confusion_matrix=[],
        residuals=residual_summary(y, pred),
    )


# --------------------------------------------------------------------------- the baseline


def baseline_metrics(
    task: str, y_train: Any, y_test: Any, *, class_count: int | None = None
) -> dict[str, float]:
    """The holdout metrics of a trivial model fitted on ``y_train`` alone, scored on ``y_test``.

    * binary (0/1 labels) and multiclass (codes ``0..class_count-1``; ``class_count`` is
      required, as the training split may miss a class): the probabilities are the training
      class shares for every row, the labels the training majority class (ties: the lower
      code). Its ROC AUC is 0.5, its F1 0 unless the positive class is the majority.
    * regression: the training mean for every row (its R² is 0 or just below).

    Scored with the same functions as the model; metrics the holdout leaves undefined are
    left out, as for the model.
    """
    if task == "binary":
        train, test = _as_binary_labels(y_train, "y_train"), _as_binary_labels(y_test, "y_test")
        class_count = 2
    elif task == "multiclass":
        if class_count is None or class_count < 3:
            raise ValueError(f"a multiclass baseline needs class_count >= 3, got {class_count}")
        train = _as_class_codes(y_train, class_count, "y_train")
        test = _as_class_codes(y_test, class_count, "y_test")
    elif task == "regression":
        train, test = _as_values(y_train, "y_train"), _as_values(y_test, "y_test")
    else:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(_TASKS)}")
    if len(train) == 0 or len(test) == 0:
        raise ValueError("a baseline needs at least one training and one holdout value")

    if task == "regression":
        return regression_scores(test, np.full(len(test), train.mean()))[0]
    counts = np.bincount(train, minlength=class_count)
    prior = counts / counts.sum()
    majority = np.full(len(test), int(np.argmax(counts)))
    if task == "binary":
        return binary_scores(test, majority, np.full(len(test), prior[1]))[0]
    names = [str(code) for code in range(class_count)]
    return multiclass_scores(test, majority, np.tile(prior, (len(test), 1)), names)[0]

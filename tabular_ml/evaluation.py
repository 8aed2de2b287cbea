"""Holdout evaluation of a binary classifier, and the quality gates a model must pass.

ZenML-free: everything here works on plain arrays and dicts, so it can be unit
tested (and reused in a notebook) without a ZenML store.

Conventions
-----------
* ``y_true`` holds 0/1 (1 = the positive class), ``proba_positive`` the
  predicted probability of the positive class; a sample is predicted positive
  when ``proba_positive >= threshold``.
* precision / recall / f1 are 0.0 when undefined (no predicted positives / no
  actual positives), as with ``zero_division=0`` in scikit-learn.
* **One class in y_true** (a degenerate holdout): ``roc_auc`` and ``pr_auc``
  are undefined. They are *omitted* from ``metrics`` (never NaN: NaN is not
  valid JSON), the ROC and PR curves are left empty, and a note explains why in
  ``EvaluationReport.notes``. A quality gate naming an omitted metric then
  fails with a message saying it was not computed.
* Every float stored in an ``EvaluationReport`` is finite, so the report round
  trips through ``model_dump_json`` / ``model_validate_json`` unchanged.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sklearn import metrics as skm

from tabular_ml.config import QualityGates

__all__ = [
    "CURVE_MAX_POINTS",
    "HIGHER_IS_BETTER",
    "METRIC_NAMES",
    "EvaluationReport",
    "QualityGateError",
    "check_gates",
    "cv_summary",
    "enforce_gates",
    "evaluate_classifier",
    "unknown_gate_metrics",
]

#: Every holdout metric ``evaluate_classifier`` can produce, in display order.
METRIC_NAMES: tuple[str, ...] = (
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
)

#: Whether a larger value of the metric is better (log_loss and brier are losses).
HIGHER_IS_BETTER: dict[str, bool] = {name: name not in {"log_loss", "brier"} for name in METRIC_NAMES}

#: Curves are downsampled to at most this many points so that the JSON stays small.
CURVE_MAX_POINTS = 200

_CURVE_DECIMALS = 6


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


class EvaluationReport(BaseModel):
    """Everything known about one model's holdout evaluation; JSON round-trippable.

    Non-finite values are dropped on construction (with a note) from
    ``metrics``, ``cv_metrics`` and ``feature_importances``; ``best_params`` is
    converted to JSON-native values (tuples become lists, numpy scalars Python
    numbers, anything else its ``repr``).
    """

    model_config = ConfigDict(extra="forbid")

    model_name: str = "model"
    algorithm: str = ""
    threshold: float = Field(0.5, ge=0, le=1)
    n_samples: int = Field(ge=0)
    positive_class: str = "1"
    metrics: dict[str, float] = Field(default_factory=dict, description="holdout metric -> value")
    confusion_matrix: list[list[int]] = Field(
        default_factory=lambda: [[0, 0], [0, 0]], description="[[tn, fp], [fn, tp]]"
    )
    roc_curve: dict[str, list[float]] = Field(default_factory=lambda: {"fpr": [], "tpr": []})
    pr_curve: dict[str, list[float]] = Field(default_factory=lambda: {"precision": [], "recall": []})
    cv_metrics: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="metric -> {'mean': ..., 'std': ...} over the CV folds"
    )
    feature_importances: list[tuple[str, float]] = Field(
        default_factory=list, description="(feature, importance), most important first"
    )
    best_params: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list, description="caveats, e.g. metrics left out and why")

    @model_validator(mode="before")
    @classmethod
    def _drop_non_finite(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        notes = list(data.get("notes") or [])
        metrics = data.get("metrics")
        if isinstance(metrics, Mapping):
            bad = [k for k, v in metrics.items() if not _finite(v)]
            if bad:
                data["metrics"] = {k: v for k, v in metrics.items() if k not in bad}
                notes.append(f"metric(s) {', '.join(map(str, bad))} omitted: not a finite number")
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

    @field_validator("confusion_matrix")
    @classmethod
    def _two_by_two(cls, value: list[list[int]]) -> list[list[int]]:
        if len(value) != 2 or any(len(row) != 2 for row in value):
            raise ValueError("confusion_matrix must be [[tn, fp], [fn, tp]]")
        return value

    @property
    def tn_fp_fn_tp(self) -> tuple[int, int, int, int]:
        (tn, fp), (fn, tp) = self.confusion_matrix
        return tn, fp, fn, tp

    @property
    def prevalence(self) -> float | None:
        """Share of positives in the evaluated samples (the PR curve's chance level)."""
        tn, fp, fn, tp = self.tn_fp_fn_tp
        total = tn + fp + fn + tp
        return (tp + fn) / total if total else None


# --------------------------------------------------------------------------- computing it


def _downsample(*arrays: np.ndarray, max_points: int = CURVE_MAX_POINTS) -> list[list[float]]:
    """Keep at most ``max_points`` evenly spaced points, always including both ends."""
    n = len(arrays[0])
    if n > max_points:
        idx = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
        arrays = tuple(a[idx] for a in arrays)
    return [[round(float(v), _CURVE_DECIMALS) for v in a] for a in arrays]


def _as_binary_labels(y_true: Any) -> np.ndarray:
    y = np.asarray(y_true).ravel()
    if y.dtype == bool:
        return y.astype(int)
    if y.dtype.kind not in "iuf" or not np.isin(y, (0, 1)).all():
        found = sorted({str(v) for v in np.unique(y)})[:5]
        raise ValueError(f"y_true must hold only 0 and 1 (1 = positive class), found values {found}")
    return y.astype(int)


def _normalise_importances(importances: Any, top: int) -> list[tuple[str, float]]:
    if importances is None:
        return []
    pairs = importances.items() if isinstance(importances, Mapping) else importances
    cleaned = [(str(name), float(value)) for name, value in pairs]
    cleaned = [p for p in cleaned if math.isfinite(p[1])]
    cleaned.sort(key=lambda p: abs(p[1]), reverse=True)
    return cleaned[:top]


def evaluate_classifier(
    y_true: Any,
    proba_positive: Any,
    threshold: float = 0.5,
    *,
    top_features: int = 20,
    **context: Any,
) -> EvaluationReport:
    """Evaluate predicted probabilities of the positive class against 0/1 labels.

    ``context`` fills the descriptive fields of the report: ``model_name``,
    ``algorithm``, ``positive_class``, ``cv_metrics``, ``feature_importances``
    (a mapping or ``(name, value)`` pairs; kept: the ``top_features`` largest
    by absolute value), ``best_params`` and ``notes``. Unknown keys are errors.
    """
    y = _as_binary_labels(y_true)
    proba = np.asarray(proba_positive, dtype=float).ravel()
    if len(y) == 0:
        raise ValueError("cannot evaluate on zero samples")
    if proba.shape != y.shape:
        raise ValueError(f"y_true has {len(y)} values but proba_positive has {proba.size}")
    if not np.isfinite(proba).all() or proba.min() < 0 or proba.max() > 1:
        raise ValueError("proba_positive must hold finite probabilities in [0, 1]")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be within [0, 1], got {threshold}")

    pred = (proba >= threshold).astype(int)
    tn, fp, fn, tp = (int(v) for v in skm.confusion_matrix(y, pred, labels=[0, 1]).ravel())
    notes = list(context.pop("notes", []) or [])

    with warnings.catch_warnings():
        # With one class in y_true, balanced_accuracy warns that y_pred holds a class y_true does not.
        warnings.simplefilter("ignore", UserWarning)
        balanced = skm.balanced_accuracy_score(y, pred)
    values: dict[str, float] = {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": balanced,
        "precision": skm.precision_score(y, pred, zero_division=0),
        "recall": skm.recall_score(y, pred, zero_division=0),
        "f1": skm.f1_score(y, pred, zero_division=0),
        "log_loss": skm.log_loss(y, proba, labels=[0, 1]),
        "brier": skm.brier_score_loss(y, proba, pos_label=1),
    }
    roc: dict[str, list[float]] = {"fpr": [], "tpr": []}
    pr: dict[str, list[float]] = {"precision": [], "recall": []}
    if 0 < y.sum() < len(y):
        values["roc_auc"] = skm.roc_auc_score(y, proba)
        values["pr_auc"] = skm.average_precision_score(y, proba)
        fpr, tpr, _ = skm.roc_curve(y, proba)
        roc["fpr"], roc["tpr"] = _downsample(fpr, tpr)
        precision, recall, _ = skm.precision_recall_curve(y, proba)
        pr["precision"], pr["recall"] = _downsample(precision, recall)
    else:
        only = "positive" if y.sum() else "negative"
        notes.append(
            f"y_true holds only the {only} class: roc_auc and pr_auc are undefined and were "
            "omitted, and the ROC and PR curves are empty"
        )
    ordered = {name: float(values[name]) for name in METRIC_NAMES if name in values}

    importances = _normalise_importances(context.pop("feature_importances", None), top_features)
    return EvaluationReport(
        threshold=threshold,
        n_samples=len(y),
        metrics=ordered,
        confusion_matrix=[[tn, fp], [fn, tp]],
        roc_curve=roc,
        pr_curve=pr,
        feature_importances=importances,
        notes=notes,
        **context,
    )


def cv_summary(scores: Mapping[str, Iterable[float]]) -> dict[str, dict[str, float]]:
    """``{metric: per-fold scores}`` -> ``{metric: {"mean", "std"}}`` for ``EvaluationReport.cv_metrics``.

    Accepts the output of ``sklearn.model_selection.cross_validate``: ``test_``
    prefixes are stripped, ``fit_time``/``score_time``/``train_*`` are skipped,
    and ``neg_`` scores (e.g. ``neg_log_loss``) are negated back into losses.
    Folds with a non-finite score are ignored; a metric with none left is omitted.
    """
    summary: dict[str, dict[str, float]] = {}
    for key, folds in scores.items():
        if key in {"fit_time", "score_time"} or key.startswith("train_"):
            continue
        name = key.removeprefix("test_")
        values = np.asarray(list(folds), dtype=float)
        if name.startswith("neg_"):
            name, values = name.removeprefix("neg_"), -values
        values = values[np.isfinite(values)]
        if values.size:
            summary[name] = {"mean": float(values.mean()), "std": float(values.std())}
    return summary


# --------------------------------------------------------------------------- quality gates


class QualityGateError(RuntimeError):
    """A model failed one or more quality gates; ``failures`` lists them."""

    def __init__(self, failures: Sequence[str]):
        self.failures = list(failures)
        super().__init__("; ".join(self.failures))


def _format_pair(value: float, bound: float) -> tuple[str, str]:
    """Both numbers with 3 decimals, or more if needed to tell them apart."""
    for decimals in range(3, 13):
        left, right = f"{value:.{decimals}f}", f"{bound:.{decimals}f}"
        if left != right:
            break
    return left, right


def unknown_gate_metrics(gates: QualityGates, known: Iterable[str] = METRIC_NAMES) -> list[str]:
    """Names used in ``gates`` that are not metrics at all: check a config before training."""
    known = set(known)
    return sorted({name for name in (*gates.min, *gates.max) if name not in known})


def check_gates(metrics: Mapping[str, float], gates: QualityGates) -> list[str]:
    """One message per failed gate; an empty list when the model passes them all.

    A ``min`` gate fails when the metric is strictly below it, a ``max`` gate
    when strictly above. A gate naming a metric that is not in ``metrics``
    fails too: with "not computed" for a known metric left out (e.g. roc_auc on
    a one-class holdout), otherwise with "unknown metric" and the known names.
    """
    known = sorted(set(METRIC_NAMES) | set(metrics))
    failures: list[str] = []
    for kind, bounds in (("minimum", gates.min), ("maximum", gates.max)):
        for name, bound in bounds.items():
            if name not in metrics:
                if name in METRIC_NAMES:
                    failures.append(
                        f"{name} was not computed for this evaluation, so its {kind} "
                        f"{bound:.3f} cannot be checked"
                    )
                else:
                    failures.append(
                        f"unknown metric {name!r} in the {kind} gates; known metrics: {', '.join(known)}"
                    )
                continue
            value = float(metrics[name])
            if math.isnan(value):
                failures.append(f"{name} is not a number, so its {kind} {bound:.3f} cannot be met")
                continue
            shown, limit = _format_pair(value, bound)
            if kind == "minimum" and value < bound:
                failures.append(f"{name} {shown} is below the minimum {limit}")
            elif kind == "maximum" and value > bound:
                failures.append(f"{name} {shown} is above the maximum {limit}")
    return failures


def enforce_gates(metrics: Mapping[str, float], gates: QualityGates) -> None:
    """Raise ``QualityGateError`` listing every failed gate (joined by "; ")."""
    failures = check_gates(metrics, gates)
    if failures:
        raise QualityGateError(failures)

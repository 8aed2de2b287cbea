"""The holdout metrics of each task, from labels and probabilities or predicted values.

One function per task, shared by the model's evaluation and the trivial baseline's, so both
are scored alike. Each returns ``(metrics, notes)``: the metrics in display order, every one
finite, and a note for each metric left out because the holdout leaves it undefined (never
NaN: NaN is not valid JSON and cannot pass or fail a gate meaningfully).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn import metrics as skm

from tabular_ml.tasks.metric_names import metric_names

__all__ = ["binary_scores", "multiclass_scores", "regression_scores"]


def _ordered(task: str, values: dict[str, float]) -> dict[str, float]:
    return {name: float(values[name]) for name in metric_names(task) if name in values}


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    with warnings.catch_warnings():
        # A class predicted but absent from y_true makes scikit-learn warn; the score is still defined.
        warnings.simplefilter("ignore", UserWarning)
        return skm.balanced_accuracy_score(y, pred)


def binary_scores(
    y: np.ndarray, pred: np.ndarray, proba_positive: np.ndarray
) -> tuple[dict[str, float], list[str]]:
    """Metrics of 0/1 labels ``y`` given predicted labels and the positive class's probability."""
    values = {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": _balanced_accuracy(y, pred),
        "precision": skm.precision_score(y, pred, zero_division=0),
        "recall": skm.recall_score(y, pred, zero_division=0),
        "f1": skm.f1_score(y, pred, zero_division=0),
        "log_loss": skm.log_loss(y, proba_positive, labels=[0, 1]),
        "brier": skm.brier_score_loss(y, proba_positive, pos_label=1),
    }
    notes = []
    if 0 < y.sum() < len(y):
        values["roc_auc"] = skm.roc_auc_score(y, proba_positive)
        values["pr_auc"] = skm.average_precision_score(y, proba_positive)
    else:
        only = "positive" if y.sum() else "negative"
        notes.append(f"y_true holds only the {only} class: roc_auc and pr_auc are undefined and were omitted")
    return _ordered("binary", values), notes


def multiclass_scores(
    y: np.ndarray, pred: np.ndarray, proba: np.ndarray, class_names: Sequence[str]
) -> tuple[dict[str, float], list[str]]:
    """Metrics of class codes ``y`` (0..k-1) given predicted codes and an n x k probability matrix."""
    labels = list(range(len(class_names)))

    def averaged(function, average: str) -> float:
        # Over the classes that occur in y or pred: one absent from both is no error of the model.
        return function(y, pred, average=average, zero_division=0)

    values = {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": _balanced_accuracy(y, pred),
        "precision_macro": averaged(skm.precision_score, "macro"),
        "recall_macro": averaged(skm.recall_score, "macro"),
        "f1_macro": averaged(skm.f1_score, "macro"),
        "f1_weighted": averaged(skm.f1_score, "weighted"),
        "log_loss": skm.log_loss(y, proba, labels=labels),
    }
    notes = []
    absent = [class_names[code] for code in labels if not np.any(y == code)]
    if absent:
        notes.append(
            f"class(es) {', '.join(map(repr, absent))} absent from y_true: roc_auc_ovr is undefined "
            "and was omitted"
        )
    else:
        values["roc_auc_ovr"] = skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=labels)
    return _ordered("multiclass", values), notes


def regression_scores(y: np.ndarray, pred: np.ndarray) -> tuple[dict[str, float], list[str]]:
    """Metrics of true values ``y`` given predicted values."""
    values = {
        "rmse": skm.root_mean_squared_error(y, pred),
        "mae": skm.mean_absolute_error(y, pred),
        "median_ae": skm.median_absolute_error(y, pred),
        "max_error": skm.max_error(y, pred),
    }
    notes = []
    if len(np.unique(y)) > 1:
        values["r2"] = skm.r2_score(y, pred)
    else:
        notes.append("y_true holds a single value: r2 (relative to its variance) is undefined, omitted")
    return _ordered("regression", values), notes

"""What a served model answers per row, by task (no Seldon here).

- binary: ``[label, probability of the positive class]``; the label follows the threshold;
- multiclass: ``[label, probability of each class...]``; the label is the most probable class;
- regression: ``[predicted value]``.

``score`` is the one number per row that the request log keeps and monitoring watches: the
positive class's probability (binary), the predicted class's probability (multiclass) or
the predicted value (regression).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from serving.bundle import BundleMeta
from tabular_ml.modelling.trained_model import predicted_labels

__all__ = ["Answer", "answer", "output_names"]


def output_names(meta: BundleMeta) -> list[str]:
    """The response's column names for this bundle's task."""
    if meta.task == "regression":
        return ["prediction"]
    if meta.task == "multiclass":
        return ["prediction", *(f"probability_{label}" for label in meta.classes)]
    return ["prediction", "probability"]


@dataclass(frozen=True)
class Answer:
    """One request's predictions: the response rows and what is logged and counted of them."""

    rows: list[list[Any]]
    labels: list[Any]  # per row: the class label, or the value for regression
    score: np.ndarray  # per row: see the module doc
    class_counts: dict[str, int] = field(default_factory=dict)  # classification: rows per label


def answer(meta: BundleMeta, scores: np.ndarray) -> Answer:
    """The answer for the model's ``scores`` of a request's rows
    (:func:`tabular_ml.modelling.trained_model.scores_of`)."""
    target = meta.target_spec
    if target.task == "regression":
        values = scores.tolist()
        return Answer(rows=[[value] for value in values], labels=values, score=scores)
    labels = predicted_labels(scores, target, meta.threshold or 0.5).tolist()
    counts = dict(Counter(labels))
    if target.task == "binary":
        rows = [list(pair) for pair in zip(labels, scores.tolist(), strict=True)]
        return Answer(rows=rows, labels=labels, score=scores, class_counts=counts)
    rows = [[label, *probabilities] for label, probabilities in zip(labels, scores.tolist(), strict=True)]
    return Answer(rows=rows, labels=labels, score=scores.max(axis=1), class_counts=counts)

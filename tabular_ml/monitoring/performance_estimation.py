"""A model's performance on unlabelled rows, estimated from what it was like on its holdout.

ZenML-free (numpy, pandas, scikit-learn), so a notebook, the monitoring pipeline and a shadow
challenger's report use one implementation.

* **binary / multiclass** (confidence-based estimation): the model's probabilities are
  recalibrated on the holdout (Platt scaling of the log-odds, per class for multiclass; unlike
  isotonic steps it does not pin the tails to exactly 0 or 1, which a shifted batch reaches)
  and each current row's label is treated as drawn from its calibrated probabilities. The
  metrics are their expected values: expected confusion counts give F1 (at the served
  threshold for binary, macro for multiclass) and accuracy; the expected ROC AUC is the
  expected share of (positive, negative) pairs the model's scores order correctly, computed
  in O(n log n) from one sort.
* **regression** (direct loss estimation): two gradient-boosting models fitted on the holdout
  predict each row's absolute and squared error from its features and the prediction; their
  means give MAE and RMSE.

It stays right while only the inputs shift (P(y | x) unchanged) and the shifted rows are within
what the holdout covered; a changed relation between inputs and label (concept drift) is
invisible to it: only realized metrics on late labels show that.

Each :class:`Estimate` has an interval ``[low, high]``: the estimate plus or minus
``INTERVAL_WIDTH`` standard deviations of the *realized* metric over random holdout chunks,
scaled from the chunk size to the current batch's size (a standard error shrinks with the
square root of the rows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

__all__ = [
    "ESTIMATED_METRICS",
    "INTERVAL_WIDTH",
    "ClassificationEstimator",
    "Estimate",
    "LossEstimator",
    "expected_roc_auc",
    "fit_performance_estimator",
]

Task = Literal["binary", "multiclass", "regression"]

#: The metrics estimated for each task (names as in the holdout evaluation).
ESTIMATED_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "f1", "accuracy"),
    "multiclass": ("f1_macro", "accuracy"),
    "regression": ("rmse", "mae"),
}

#: Half the interval's width, in standard deviations of the metric at the batch's size: three, so
#: a batch drawn like the holdout falls outside it rarely (~0.3 %) and an alert means something.
INTERVAL_WIDTH = 3.0
#: The holdout is cut into at least this many chunks to measure chunk-to-chunk variation...
MIN_CHUNKS = 4
#: ...in this many random cuts, so the spread does not hang on one shuffle.
CUTS = 10
#: A holdout smaller than this cannot calibrate an estimator.
MIN_HOLDOUT_ROWS = 40
_PREDICTION = "__prediction__"


@dataclass(frozen=True)
class Estimate:
    """An estimated metric and its interval."""

    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


# ----------------------------------------------------------------------- expected metrics


def expected_roc_auc(scores: np.ndarray, p_positive: np.ndarray) -> float:
    """E[correctly ordered (positive, negative) pairs] / E[such pairs] when row i is positive
    with probability ``p_positive[i]``, independently; rows are ranked by ``scores`` (ties: half).

    One sort, then for each row the (1 - p) mass below its score: O(n log n).
    """
    order = np.argsort(scores, kind="mergesort")
    s, p = scores[order], p_positive[order]
    q = 1.0 - p
    _, starts, counts = np.unique(s, return_index=True, return_counts=True)
    group_q = np.add.reduceat(q, starts)
    below_q = np.repeat(np.cumsum(group_q) - group_q, counts)  # negatives' mass strictly below
    tied_q = np.repeat(group_q, counts) - q  # ...and at the same score, the row itself left out
    correct = float(np.sum(p * (below_q + 0.5 * tied_q)))
    pairs = float(p.sum() * q.sum() - np.sum(p * q))
    return correct / pairs if pairs > 0 else float("nan")


def _logit(probabilities: np.ndarray) -> np.ndarray:
    """Log-odds as a one-column matrix, the input of a Platt calibration."""
    clipped = np.clip(probabilities, 1e-6, 1 - 1e-6)
    return np.log(clipped / (1 - clipped))[:, None]


def _expected_f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


# ---------------------------------------------------------------------------- estimators


@dataclass
class _Spread:
    """Chunk-to-chunk standard deviation of realized metrics on the holdout, per batch size."""

    rows: int
    realized: Callable[[np.ndarray], dict[str, float]]  # holdout row positions -> realized metrics
    chunk_size: int | None
    seed: int
    _cache: dict[int, dict[str, float]] = field(default_factory=dict)

    def at(self, batch_rows: int) -> dict[str, float]:
        """Each metric's standard deviation on a batch of ``batch_rows`` rows."""
        if batch_rows not in self._cache:
            wanted = self.chunk_size or batch_rows
            size = max(1, min(wanted, self.rows // MIN_CHUNKS))
            rng = np.random.default_rng(self.seed)
            values: dict[str, list[float]] = {}
            for _ in range(CUTS):
                positions = rng.permutation(self.rows)
                for start in range(0, self.rows - size + 1, size):
                    for name, value in self.realized(positions[start : start + size]).items():
                        values.setdefault(name, []).append(value)
            scale = np.sqrt(size / batch_rows)  # a standard error shrinks as 1/sqrt(rows)
            self._cache[batch_rows] = {
                name: float(np.std(found, ddof=1) * scale) for name, found in values.items() if len(found) > 1
            }
        return self._cache[batch_rows]


def _with_intervals(values: dict[str, float], spread: dict[str, float]) -> dict[str, Estimate]:
    estimates = {}
    for name, value in values.items():
        half = INTERVAL_WIDTH * spread.get(name, 0.0)
        estimates[name] = Estimate(value=float(value), low=float(value - half), high=float(value + half))
    return estimates


class ClassificationEstimator:
    """Confidence-based estimation for a binary or multiclass model (see the module docstring)."""

    def __init__(
        self,
        task: Literal["binary", "multiclass"],
        holdout_scores: np.ndarray,
        holdout_labels: np.ndarray,
        threshold: float,
        chunk_size: int | None,
        seed: int,
    ) -> None:
        self.task = task
        self.threshold = threshold
        scores = np.asarray(holdout_scores, dtype=float)
        labels = np.asarray(holdout_labels).astype(int)
        columns = scores[:, None] if task == "binary" else scores
        targets = labels[:, None] if task == "binary" else np.eye(scores.shape[1], dtype=int)[labels]
        # A class the holdout never shows cannot be recalibrated: its probabilities are kept (None).
        self._calibrators = [
            LogisticRegression(C=1e6).fit(_logit(column), target) if 0 < target.sum() < len(target) else None
            for column, target in zip(columns.T, targets.T, strict=True)
        ]
        self.holdout_metrics = self._realized(scores, labels)
        self._spread = _Spread(
            len(labels), lambda rows: self._realized(scores[rows], labels[rows]), chunk_size, seed
        )

    def calibrated(self, scores: np.ndarray) -> np.ndarray:
        """Recalibrated probabilities (binary: of the positive class; multiclass: rows sum to 1)."""
        columns = scores[:, None] if self.task == "binary" else scores
        calibrated = np.column_stack(
            [
                column if calibrator is None else calibrator.predict_proba(_logit(column))[:, 1]
                for column, calibrator in zip(columns.T, self._calibrators, strict=True)
            ]
        )
        if self.task == "binary":
            return calibrated[:, 0]
        return calibrated / calibrated.sum(axis=1, keepdims=True)

    def _predicted(self, scores: np.ndarray) -> np.ndarray:
        # The served decision: the threshold on the raw probability, or the most probable class.
        return (scores >= self.threshold).astype(int) if self.task == "binary" else np.argmax(scores, axis=1)

    def _realized(self, scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        predicted = self._predicted(scores)
        values = {"accuracy": skm.accuracy_score(labels, predicted)}
        if self.task == "binary":
            values["f1"] = skm.f1_score(labels, predicted, zero_division=0)
            if 0 < labels.sum() < len(labels):
                values["roc_auc"] = skm.roc_auc_score(labels, scores)
        else:
            values["f1_macro"] = skm.f1_score(labels, predicted, average="macro", zero_division=0)
        return {name: float(values[name]) for name in ESTIMATED_METRICS[self.task] if name in values}

    def estimate(
        self, current_scores: np.ndarray, current_features: pd.DataFrame | None = None
    ) -> dict[str, Estimate]:
        """Each metric of ``ESTIMATED_METRICS[task]`` expected on ``current_scores``, with its interval."""
        scores = np.asarray(current_scores, dtype=float)
        if len(scores) == 0:
            return {}
        p = self.calibrated(scores)
        predicted = self._predicted(scores)
        if self.task == "binary":
            positive = predicted == 1
            tp, fp, fn = p[positive].sum(), (1 - p[positive]).sum(), p[~positive].sum()
            values = {
                "roc_auc": expected_roc_auc(scores, p),
                "f1": float(_expected_f1(np.array([tp]), np.array([fp]), np.array([fn]))[0]),
                "accuracy": float((tp + (1 - p[~positive]).sum()) / len(p)),
            }
        else:
            chosen = np.eye(p.shape[1], dtype=bool)[predicted]
            tp = np.where(chosen, p, 0).sum(axis=0)
            fp = np.where(chosen, 1 - p, 0).sum(axis=0)
            fn = np.where(chosen, 0, p).sum(axis=0)
            # As scikit-learn's macro average: over classes expected in the labels or predictions.
            present = (tp + fp + fn) > 1e-9
            values = {
                "f1_macro": float(_expected_f1(tp, fp, fn)[present].mean()),
                "accuracy": float(tp.sum() / len(p)),
            }
        values = {name: value for name, value in values.items() if np.isfinite(value)}
        return _with_intervals(values, self._spread.at(len(scores)))


def _loss_model_input(features: pd.DataFrame, predictions: np.ndarray, categories: dict) -> pd.DataFrame:
    """The loss models' input: the features (text as categories the holdout knew) and the prediction."""
    frame = features.reset_index(drop=True).copy()
    for name, known in categories.items():
        frame[name] = pd.Categorical(frame[name].astype("string"), categories=known)
    frame[_PREDICTION] = np.asarray(predictions, dtype=float)
    return frame


def _loss_model() -> HistGradientBoostingRegressor:
    # Shallow and slow-learning: the holdout is small, and the loss is noisier than the target.
    return HistGradientBoostingRegressor(
        learning_rate=0.05, max_iter=150, max_leaf_nodes=15, min_samples_leaf=40, random_state=0
    )


class LossEstimator:
    """Direct loss estimation for a regression model (see the module docstring)."""

    def __init__(
        self,
        holdout_predictions: np.ndarray,
        holdout_values: np.ndarray,
        holdout_features: pd.DataFrame,
        chunk_size: int | None,
        seed: int,
    ) -> None:
        predictions = np.asarray(holdout_predictions, dtype=float)
        errors = np.asarray(holdout_values, dtype=float) - predictions
        text = holdout_features.select_dtypes(exclude="number").columns
        self._categories = {
            name: sorted(holdout_features[name].dropna().astype("string").unique()) for name in text
        }
        frame = _loss_model_input(holdout_features, predictions, self._categories)
        self._absolute = _loss_model().fit(frame, np.abs(errors))
        self._squared = _loss_model().fit(frame, errors**2)
        self.holdout_metrics = self._realized(errors)
        self._spread = _Spread(len(errors), lambda rows: self._realized(errors[rows]), chunk_size, seed)

    @staticmethod
    def _realized(errors: np.ndarray) -> dict[str, float]:
        return {"rmse": float(np.sqrt(np.mean(errors**2))), "mae": float(np.mean(np.abs(errors)))}

    def estimate(
        self, current_scores: np.ndarray, current_features: pd.DataFrame | None = None
    ) -> dict[str, Estimate]:
        """RMSE and MAE expected on the current predictions, from their features; with intervals."""
        if current_features is None:
            raise ValueError("a regression estimate needs the current rows' features")
        if len(current_scores) == 0:
            return {}
        frame = _loss_model_input(current_features, current_scores, self._categories)
        values = {
            "rmse": float(np.sqrt(np.mean(np.clip(self._squared.predict(frame), 0, None)))),
            "mae": float(np.mean(np.clip(self._absolute.predict(frame), 0, None))),
        }
        return _with_intervals(values, self._spread.at(len(current_scores)))


def fit_performance_estimator(
    task: Task,
    holdout_scores: np.ndarray,
    holdout_labels: np.ndarray,
    *,
    threshold: float = 0.5,
    holdout_features: pd.DataFrame | None = None,
    chunk_size: int | None = None,
    seed: int = 0,
) -> ClassificationEstimator | LossEstimator:
    """An estimator calibrated on a model's holdout rows.

    Args:
        task: ``binary``, ``multiclass`` or ``regression``.
        holdout_scores: the model's output on the holdout (``scores_of``): the positive class's
            probability, the n x k class probabilities, or the predicted values.
        holdout_labels: the encoded truth (0/1, class codes 0..k-1, or values).
        threshold: a binary model's served decision threshold.
        holdout_features: the holdout's feature columns (regression only: the loss models' input).
        chunk_size: rows per chunk for the interval; None: the size of each estimated batch.
        seed: of the random holdout chunks.

    ``.estimate(current_scores, current_features=None)`` returns ``{metric: Estimate}``.
    """
    if len(holdout_labels) < MIN_HOLDOUT_ROWS:
        raise ValueError(
            f"performance estimation needs at least {MIN_HOLDOUT_ROWS} holdout rows, "
            f"got {len(holdout_labels)}"
        )
    if task in ("binary", "multiclass"):
        return ClassificationEstimator(task, holdout_scores, holdout_labels, threshold, chunk_size, seed)
    if task == "regression":
        if holdout_features is None:
            raise ValueError("a regression estimator needs the holdout's features (holdout_features)")
        return LossEstimator(holdout_scores, holdout_labels, holdout_features, chunk_size, seed)
    raise ValueError(f"unknown task {task!r}; expected binary, multiclass or regression")

"""The plotted data of an evaluation report, kept small: ROC/PR points, reliability, residuals.

Every curve holds at most :data:`CURVE_MAX_POINTS` points so the report's JSON stays small,
and only finite numbers.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

__all__ = [
    "CURVE_MAX_POINTS",
    "RELIABILITY_BINS",
    "RESIDUAL_BINS",
    "ranking_curves",
    "reliability_curve",
    "residual_summary",
]

#: Curves are downsampled to at most this many points so that the JSON stays small.
CURVE_MAX_POINTS = 200

#: Probability bins of the reliability curve (quantile bins: each holds about n / 10 rows).
RELIABILITY_BINS = 10

#: Bins of the residual histogram, at most (fewer when numpy's "auto" rule asks for fewer).
RESIDUAL_BINS = 30

_PROBABILITY_DECIMALS = 6
_SIGNIFICANT_DIGITS = 7


def _evenly_spaced(n: int, max_points: int = CURVE_MAX_POINTS) -> np.ndarray:
    """Indices of at most ``max_points`` evenly spaced items of ``n``, always both ends."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def _probabilities(values: np.ndarray) -> list[float]:
    return [round(float(v), _PROBABILITY_DECIMALS) for v in values]


def _significant(values: np.ndarray) -> list[float]:
    """Values of any scale rounded to 7 significant digits (a price and a rate alike)."""
    return [float(f"{float(v):.{_SIGNIFICANT_DIGITS}g}") for v in values]


def ranking_curves(y: np.ndarray, proba_positive: np.ndarray) -> tuple[dict[str, list[float]], ...]:
    """The ROC curve ``{"fpr", "tpr"}`` and PR curve ``{"precision", "recall"}``; both classes needed."""
    fpr, tpr, _ = skm.roc_curve(y, proba_positive)
    precision, recall, _ = skm.precision_recall_curve(y, proba_positive)
    roc_idx, pr_idx = _evenly_spaced(len(fpr)), _evenly_spaced(len(precision))
    roc = {"fpr": _probabilities(fpr[roc_idx]), "tpr": _probabilities(tpr[roc_idx])}
    pr = {"precision": _probabilities(precision[pr_idx]), "recall": _probabilities(recall[pr_idx])}
    return roc, pr


def reliability_curve(
    y: np.ndarray, proba_positive: np.ndarray, bins: int = RELIABILITY_BINS
) -> dict[str, list[float]]:
    """Calibration: per probability bin, the mean predicted probability and the observed positive rate.

    Bins are quantiles of the predictions, so each holds about ``len(y) / bins`` rows (fewer
    bins when many predictions tie); ``count`` gives each bin's rows. A well calibrated model's
    points lie on the diagonal.
    """
    edges = np.unique(np.quantile(proba_positive, np.linspace(0, 1, bins + 1)))
    # Bin i holds edges[i] <= p < edges[i + 1]; the last bin also holds its upper edge.
    index = np.clip(np.searchsorted(edges, proba_positive, side="right") - 1, 0, max(len(edges) - 2, 0))
    counts = np.bincount(index)
    kept = counts > 0
    mean_predicted = np.bincount(index, weights=proba_positive)[kept] / counts[kept]
    observed = np.bincount(index, weights=y)[kept] / counts[kept]
    return {
        "mean_predicted": _probabilities(mean_predicted),
        "observed_rate": _probabilities(observed),
        "count": [float(c) for c in counts[kept]],
    }


def residual_summary(y: np.ndarray, predicted: np.ndarray) -> dict[str, list[float]]:
    """Predicted against actual values (at most CURVE_MAX_POINTS of them) and a histogram of residuals.

    The points are spread evenly over the rows sorted by actual value, so the extremes are
    always shown. The histogram counts every row's residual ``actual - predicted``:
    ``histogram_edges`` has one more entry than ``histogram_counts``.
    """
    order = np.argsort(y, kind="stable")
    shown = order[_evenly_spaced(len(order))]
    residuals = y - predicted
    bins = min(RESIDUAL_BINS, len(np.histogram_bin_edges(residuals, bins="auto")) - 1)
    counts, edges = np.histogram(residuals, bins=max(bins, 1))
    return {
        "actual": _significant(y[shown]),
        "predicted": _significant(predicted[shown]),
        "histogram_edges": _significant(edges),
        "histogram_counts": [float(c) for c in counts],
    }

"""A binary model's decision threshold, chosen on cross-validation folds, never on the holdout.

Class imbalance is handled here rather than by class weights: weighting shifts every predicted
probability towards the minority class (a served "0.6" would not mean 60 %), while a threshold
chosen for the objective leaves the probabilities calibrated and still trades precision for
recall where the objective asks for it.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from sklearn.model_selection import cross_val_predict
from sklearn.utils import resample

__all__ = ["OBJECTIVES", "Objective", "choose_threshold", "out_of_fold_proba", "threshold_sample"]

Objective = Literal["f1", "balanced_accuracy", "accuracy"]

OBJECTIVES: dict[str, Any] = {
    "f1": lambda y, predicted: f1_score(y, predicted, zero_division=0.0),
    "balanced_accuracy": balanced_accuracy_score,
    "accuracy": accuracy_score,
}

#: Thresholds tried: at most this many, at quantiles of the out-of-fold probabilities.
MAX_CANDIDATES = 200


def threshold_sample(
    X: Any, y: np.ndarray, max_rows: int, random_state: int, groups: Any = None
) -> tuple[Any, np.ndarray, Any]:
    """At most ``max_rows`` rows of ``X``, ``y`` (and their ``groups``, if any) to choose the
    threshold on: all of them if they fit.

    A large table's threshold needs no more rows than a few hundred thousand (its quantiles are
    already precise), while cross-validating the chosen model on every row costs as much as a
    search. The sample is drawn without replacement, stratified by class (each class keeps its
    share) and seeded, so a rerun picks the same rows.
    """
    y = np.asarray(y)
    if len(y) <= max_rows:
        return X, y, groups
    arrays = (X, y) if groups is None else (X, y, np.asarray(groups))  # the same rows either way
    sampled = resample(*arrays, replace=False, n_samples=max_rows, stratify=y, random_state=random_state)
    return (*sampled, None) if groups is None else tuple(sampled)


def out_of_fold_proba(
    pipeline: Any, X: Any, y: np.ndarray, folds: Any, groups: Any = None, n_jobs: int | None = None
) -> np.ndarray:
    """The positive class's probability for every row, from a model that did not train on it.

    ``groups`` (each row's id) goes to grouped ``folds``: no row is scored by a model that
    trained on another row of its id. ``n_jobs`` (the search's) fits the folds in parallel, as
    the search does: a forest with ``n_jobs: 1`` would otherwise use one core of several.
    """
    proba = cross_val_predict(
        clone(pipeline), X, y, groups=groups, cv=folds, method="predict_proba", n_jobs=n_jobs
    )
    return proba[:, 1]


def choose_threshold(y: np.ndarray, proba_positive: np.ndarray, objective: Objective = "f1") -> float:
    """The threshold in (0, 1) that maximises ``objective`` when ``proba >= threshold`` is positive.

    Candidates are quantiles of the probabilities (midpoints between neighbours, so that a
    candidate never sits exactly on a row's probability); ties go to the one closest to 0.5.
    """
    y = np.asarray(y)
    proba = np.asarray(proba_positive, dtype=float)
    if len(np.unique(y)) < 2:
        return 0.5
    score = OBJECTIVES[objective]
    levels = np.unique(np.quantile(proba, np.linspace(0, 1, MAX_CANDIDATES + 1)))
    candidates = np.unique(np.clip(np.r_[(levels[:-1] + levels[1:]) / 2, 0.5], 1e-6, 1 - 1e-6))
    scores = np.array([score(y, (proba >= t).astype(int)) for t in candidates])
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    return float(candidates[best[np.argmin(np.abs(candidates[best] - 0.5))]])

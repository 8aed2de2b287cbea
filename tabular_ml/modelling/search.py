"""Hyperparameter search across several algorithms with k-fold CV (no ZenML here).

Every algorithm is searched on the same folds (stratified for classification), every
candidate is kept (with the configured score and the extra CV metrics of its task), and
the best one across algorithms is refit on all rows as the Pipeline to serve.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from scipy import stats
from sklearn.base import clone
from sklearn.metrics import get_scorer, make_scorer, precision_score
from sklearn.model_selection import GridSearchCV, KFold, ParameterGrid, RandomizedSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

from tabular_ml.configuration.schema import (
    AlgorithmSpec,
    DataContract,
    Distribution,
    FeatureSpec,
    PreprocessingConfig,
    SearchConfig,
)
from tabular_ml.modelling.model import build_model, make_estimator
from tabular_ml.tasks.target import Task

__all__ = [
    "DEFAULT_SCORING",
    "EXTRA_METRICS",
    "Candidate",
    "SearchResult",
    "param_space",
    "run_search",
    "select_best",
]

logger = logging.getLogger(__name__)

#: CV metrics recorded for every candidate besides the configured scoring, per task.
EXTRA_METRICS: dict[Task, tuple[str, ...]] = {
    "binary": ("accuracy", "precision", "recall", "f1", "roc_auc"),
    "multiclass": ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr"),
    "regression": ("neg_root_mean_squared_error", "neg_mean_absolute_error", "r2"),
}

#: The search's scoring when ``search.scoring`` is left out.
DEFAULT_SCORING: dict[Task, str] = {
    "binary": "roc_auc",
    "multiclass": "f1_macro",
    "regression": "neg_root_mean_squared_error",
}

MODEL_PREFIX = "model__"


class Candidate(BaseModel):
    """One evaluated hyperparameter setting (searched params, without ``model__``)."""

    model_config = ConfigDict(frozen=True)

    algorithm: str
    params: dict[str, Any]
    mean_score: float
    std_score: float
    cv_metrics: dict[str, tuple[float, float]]
    mean_fit_time: float | None = None


@dataclass
class SearchResult:
    candidates: list[Candidate]
    best: Candidate
    best_pipeline: Pipeline


# --------------------------------------------------------------------------- helpers


def _plain(value: Any) -> Any:
    """A JSON-friendly copy: numpy scalars/arrays to Python, tuples to lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _distribution(algorithm: str, param: str, dist: Distribution) -> Any:
    if dist.high <= dist.low:
        raise ValueError(f"algorithm {algorithm!r}, param {param!r}: high must be greater than low")
    if dist.distribution == "uniform":
        return stats.uniform(loc=dist.low, scale=dist.high - dist.low)
    if dist.distribution == "loguniform":
        if dist.low <= 0:
            raise ValueError(f"algorithm {algorithm!r}, param {param!r}: loguniform needs low > 0")
        return stats.loguniform(dist.low, dist.high)
    # randint: integers low .. high-1, as scipy.stats.randint
    return stats.randint(int(dist.low), int(dist.high))


def param_space(spec: AlgorithmSpec, strategy: str) -> dict[str, Any]:
    """``spec.search_space`` as ``model__<param>`` keys for Grid/RandomizedSearchCV."""
    space: dict[str, Any] = {}
    for param, values in spec.search_space.items():
        key = f"{MODEL_PREFIX}{param}"
        if isinstance(values, Distribution):
            if strategy == "grid":
                raise ValueError(
                    f"algorithm {spec.name!r}, param {param!r}: a distribution needs strategy 'random'; "
                    "grid search takes lists"
                )
            space[key] = _distribution(spec.name, param, values)
        else:
            if not values:
                raise ValueError(f"algorithm {spec.name!r}, param {param!r}: empty list of values")
            space[key] = list(values)
    return space


def scoring_of(search: SearchConfig, task: Task) -> str:
    """The scorer the search ranks candidates by: the configured one or the task's default."""
    return search.scoring or DEFAULT_SCORING[task]


def _scorers(scoring: str, task: Task) -> dict[str, Any]:
    try:
        get_scorer(scoring)
    except ValueError as exc:
        raise ValueError(f"search.scoring {scoring!r} is not a scikit-learn scorer name") from exc
    scorers: dict[str, Any] = {scoring: scoring}
    for metric in EXTRA_METRICS[task]:
        scorers.setdefault(metric, metric)
    if task == "binary":  # no warning (and 0) for folds where a candidate predicts no positives
        scorers["precision"] = make_scorer(precision_score, zero_division=0.0)
    return scorers


def cv_folds(search: SearchConfig, task: Task) -> KFold | StratifiedKFold:
    """The search's folds: stratified by class for classification, plain k-fold for regression."""
    splitter = KFold if task == "regression" else StratifiedKFold
    return splitter(n_splits=search.cv, shuffle=True, random_state=search.random_state)


def _make_search(spec: AlgorithmSpec, pipeline: Pipeline, search: SearchConfig, task: Task, cv: Any):
    space = param_space(spec, search.strategy)
    scoring = scoring_of(search, task)
    common: dict[str, Any] = {
        "scoring": _scorers(scoring, task),
        "refit": scoring,
        "cv": cv,
        "n_jobs": search.n_jobs,
        "error_score": np.nan,
    }
    if search.strategy == "grid":
        return GridSearchCV(pipeline, param_grid=space, **common)
    n_iter = search.n_iter
    if all(isinstance(values, list) for values in space.values()):
        n_iter = min(n_iter, len(ParameterGrid(space)))
    return RandomizedSearchCV(
        pipeline, param_distributions=space, n_iter=n_iter, random_state=search.random_state, **common
    )


def _candidates(algorithm: str, cv_results: dict[str, Any], scoring: str, task: Task) -> list[Candidate]:
    metrics = [scoring, *(m for m in EXTRA_METRICS[task] if m != scoring)]
    out = []
    for i, params in enumerate(cv_results["params"]):
        out.append(
            Candidate(
                algorithm=algorithm,
                params=_plain({k.removeprefix(MODEL_PREFIX): v for k, v in params.items()}),
                mean_score=float(cv_results[f"mean_test_{scoring}"][i]),
                std_score=float(cv_results[f"std_test_{scoring}"][i]),
                cv_metrics={
                    m: (float(cv_results[f"mean_test_{m}"][i]), float(cv_results[f"std_test_{m}"][i]))
                    for m in metrics
                },
                mean_fit_time=float(cv_results["mean_fit_time"][i]),
            )
        )
    return out


# --------------------------------------------------------------------------- public


def select_best(candidates: Sequence[Candidate], metric: str | None = None) -> Candidate:
    """The candidate with the highest mean score (scikit-learn scores: higher is better).

    Ties go to the lower std, then to the earlier candidate. Candidates whose
    score is NaN (failed fits) are never chosen. ``metric`` selects on one of
    ``cv_metrics`` instead of ``mean_score``.
    """

    def score(candidate: Candidate) -> tuple[float, float]:
        if metric is None:
            return candidate.mean_score, candidate.std_score
        if metric not in candidate.cv_metrics:
            raise ValueError(f"candidate of {candidate.algorithm!r} has no CV metric {metric!r}")
        return candidate.cv_metrics[metric]

    best: Candidate | None = None
    best_key: tuple[float, float] | None = None
    for candidate in candidates:
        mean, std = score(candidate)
        if math.isnan(mean):
            continue
        std = math.inf if math.isnan(std) else std
        key = (mean, -std)
        if best_key is None or key > best_key:
            best, best_key = candidate, key
    if best is None:
        raise ValueError("no candidate has a score: the list is empty or every fit failed")
    return best


def run_search(
    X: pd.DataFrame,
    y: Any,
    contract: DataContract,
    preprocessing: PreprocessingConfig,
    features: Sequence[FeatureSpec],
    search: SearchConfig,
    task: Task = "binary",
) -> SearchResult:
    """Search every algorithm of ``search`` on the same folds; refit the best on all of X, y.

    ``y`` is the encoded target (:meth:`tabular_ml.tasks.target.TargetSpec.encode`). Every
    estimator must suit the task (a classifier, or a regressor for regression).
    """
    names = [spec.name for spec in search.algorithms]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"algorithm name(s) {duplicates} are used more than once")
    y = np.asarray(y)
    cv = cv_folds(search, task)
    scoring = scoring_of(search, task)

    candidates: list[Candidate] = []
    searches: dict[str, Any] = {}
    offsets: dict[str, int] = {}
    for spec in search.algorithms:
        started = time.perf_counter()
        estimator = make_estimator(spec, search.random_state, task)
        pipeline = build_model(contract, preprocessing, features, estimator)
        searcher = _make_search(spec, pipeline, search, task, cv)
        searcher.fit(X, y)
        found = _candidates(spec.name, searcher.cv_results_, scoring, task)
        offsets[spec.name] = len(candidates)
        candidates.extend(found)
        searches[spec.name] = searcher
        logger.info(
            "%s: %d candidates, best %s %.4f, %.1fs",
            spec.name,
            len(found),
            scoring,
            max((c.mean_score for c in found if not math.isnan(c.mean_score)), default=math.nan),
            time.perf_counter() - started,
        )

    best = select_best(candidates)
    winner = searches[best.algorithm]
    index = next(i for i, c in enumerate(candidates) if c is best) - offsets[best.algorithm]
    if index == winner.best_index_:
        best_pipeline = winner.best_estimator_
    else:  # a tie that scikit-learn broke differently (it ignores the std): refit our choice
        best_pipeline = clone(winner.estimator).set_params(**winner.cv_results_["params"][index])
        best_pipeline.fit(X, y)
    logger.info("best: %s %s, %s %.4f", best.algorithm, best.params, scoring, best.mean_score)
    return SearchResult(candidates=candidates, best=best, best_pipeline=best_pipeline)

"""Hyperparameter search across several algorithms with k-fold CV (no ZenML here).

Every algorithm is searched on the same folds (stratified for classification), every
candidate is kept (with the configured score and the extra CV metrics of its task), and
the best one across algorithms is refit on all rows as the Pipeline to serve.

``strategy: halving`` races each algorithm's candidates on growing row budgets (scikit-learn's
successive halving): every budget keeps the best 1/factor of the candidates and gives them
factor times the rows, so many candidates cost about as much as a few on every row. Only the
candidates of an algorithm's last budget (about every training row) may win, so the winner is
compared on the same footing as in a grid search; it is then refit on all rows. Halving
scores one metric (the configured scoring), so its candidates carry no extra CV metrics.

Each algorithm is searched on its own (:func:`search_algorithm`, one step per algorithm in the
training pipeline, so an orchestrator can run them in parallel) and :func:`pick_winner` picks
the best across them and refits it; :func:`run_search` does both in one process.

Progress goes to the log at INFO, one line per finished algorithm (candidates done of the
total, with an estimate of the time left) and, for halving, one per finished row budget.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from scipy import stats
from sklearn.experimental import enable_halving_search_cv  # noqa: F401  (makes the Halving*SearchCV importable)
from sklearn.metrics import get_scorer, make_scorer, precision_score
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    HalvingGridSearchCV,
    HalvingRandomSearchCV,
    KFold,
    ParameterGrid,
    RandomizedSearchCV,
    StratifiedGroupKFold,
    StratifiedKFold,
)
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
    "AlgorithmSearch",
    "Budget",
    "Candidate",
    "SearchResult",
    "algorithm_search",
    "check_algorithm_names",
    "param_space",
    "pick_winner",
    "run_search",
    "search_algorithm",
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

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")  # a failed fit's NaN survives JSON

    algorithm: str
    params: dict[str, Any]
    mean_score: float
    std_score: float
    cv_metrics: dict[str, tuple[float, float]]
    mean_fit_time: float | None = None
    #: halving: the training rows (all folds together) of the last budget the candidate reached
    rows: int | None = None


class Budget(BaseModel):
    """One row budget of a halving search: how many candidates were scored on how many rows."""

    model_config = ConfigDict(frozen=True)

    iteration: int
    candidates: int
    rows: int


@dataclass
class SearchResult:
    """Every candidate, the chosen one and its Pipeline refit on all rows.

    ``budgets`` maps each algorithm to its halving budgets (empty for grid and random search).
    """

    candidates: list[Candidate]
    best: Candidate
    best_pipeline: Pipeline
    budgets: dict[str, list[Budget]] = field(default_factory=dict)


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


def cv_folds(
    search: SearchConfig, task: Task, grouped: bool = False
) -> KFold | StratifiedKFold | GroupKFold | StratifiedGroupKFold:
    """The search's folds: stratified by class for classification, plain k-fold for regression.

    ``grouped`` (the training config's ``split.id_column`` is set): the folds keep all the rows
    of an id in one fold, as the split keeps them on one side, so no candidate is scored on
    rows whose id it trained on (their ``split(X, y, groups)`` then needs the ids).
    """
    if grouped:
        splitter = GroupKFold if task == "regression" else StratifiedGroupKFold
    else:
        splitter = KFold if task == "regression" else StratifiedKFold
    return splitter(n_splits=search.cv, shuffle=True, random_state=search.random_state)


def _candidate_kind(search: SearchConfig) -> str:
    """How the candidates are drawn: ``grid`` (every combination) or ``random`` (n_iter sampled)."""
    return search.halving_candidates if search.strategy == "halving" else search.strategy


def _n_candidates(space: dict[str, Any], kind: str, n_iter: int) -> int:
    """Candidates a search draws from ``space``: the grid's size, or n_iter (at most the grid's size)."""
    if all(isinstance(values, list) for values in space.values()):
        size = len(ParameterGrid(space))
        return size if kind == "grid" else min(n_iter, size)
    return n_iter


class _BudgetProgress:
    """The search's folds, logging each finished halving budget when the next one asks for folds.

    Successive halving asks its splitter for the folds once per budget, in the calling
    process, so a call after the first means the previous budget is done. The folds are
    computed once and replayed, so every budget sees the same ones.
    """

    def __init__(self, cv: Any, algorithm: str, candidates: int, factor: int) -> None:
        self.cv = cv
        self.algorithm = algorithm
        self.candidates = candidates
        self.factor = factor
        #: budgets expected when the last one uses every row (the default first budget)
        self.expected = 1 + math.floor(math.log(max(candidates, 1), factor) + 1e-9)
        self.calls = 0
        self.started = time.perf_counter()
        self._splits: list[tuple[np.ndarray, np.ndarray]] | None = None

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.cv.get_n_splits(X, y, groups)

    def split(self, X: Any, y: Any = None, groups: Any = None):
        if self._splits is None:
            self._splits = list(self.cv.split(X, y, groups))
        if self.calls:
            self.budget_done(self.calls - 1)
        self.calls += 1
        yield from self._splits

    def budget_done(self, iteration: int) -> None:
        """Log that budget ``iteration`` (0-based) is done, with an estimate of the time left."""
        elapsed = time.perf_counter() - self.started
        done = iteration + 1
        left = max(self.expected - done, 0) * elapsed / done
        logger.info(
            "%s: halving budget %d of ~%d done (%d candidates), %.1fs so far, about %.0fs left",
            self.algorithm,
            done,
            max(self.expected, done),
            math.ceil(self.candidates / self.factor**iteration),
            elapsed,
            left,
        )


def _make_halving(
    spec: AlgorithmSpec, pipeline: Pipeline, search: SearchConfig, task: Task, cv: Any, rows: int
) -> HalvingGridSearchCV | HalvingRandomSearchCV:
    kind = search.halving_candidates
    space = param_space(spec, kind)
    most = rows if search.halving_max_rows is None else min(search.halving_max_rows, rows)
    common: dict[str, Any] = {
        "factor": search.halving_factor,
        "min_resources": min(search.halving_min_rows, most) if search.halving_min_rows else "exhaust",
        "max_resources": most,
        "scoring": scoring_of(search, task),
        "refit": False,  # only the winner across algorithms is refit, once
        "cv": _BudgetProgress(
            cv, spec.name, _n_candidates(space, kind, search.n_iter), search.halving_factor
        ),
        "n_jobs": search.n_jobs,
        "error_score": np.nan,
        "random_state": search.random_state,
    }
    _scorers(common["scoring"], task)  # the same clear error for an unknown scorer name
    if kind == "grid":
        return HalvingGridSearchCV(pipeline, param_grid=space, **common)
    return HalvingRandomSearchCV(
        pipeline, param_distributions=space, n_candidates=_n_candidates(space, kind, search.n_iter), **common
    )


def _make_search(
    spec: AlgorithmSpec, pipeline: Pipeline, search: SearchConfig, task: Task, cv: Any, rows: int
):
    if search.strategy == "halving":
        return _make_halving(spec, pipeline, search, task, cv, rows)
    space = param_space(spec, search.strategy)
    scoring = scoring_of(search, task)
    common: dict[str, Any] = {
        "scoring": _scorers(scoring, task),
        "refit": False,  # only the winner across algorithms is refit, once
        "cv": cv,
        "n_jobs": search.n_jobs,
        "error_score": np.nan,
    }
    if search.strategy == "grid":
        return GridSearchCV(pipeline, param_grid=space, **common)
    n_iter = _n_candidates(space, "random", search.n_iter)
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


def _halving_candidates(
    algorithm: str, cv_results: dict[str, Any], scoring: str
) -> tuple[list[Candidate], list[bool]]:
    """Each candidate once, scored at the last budget it reached, and whether it is a finalist.

    A finalist reached the search's last budget (about every row): only finalists may win.
    """
    iterations = np.asarray(cv_results["iter"])
    last_iteration = int(iterations.max())
    latest: dict[str, int] = {}  # a candidate's params (as text) -> its row at its last budget
    for i, params in enumerate(cv_results["params"]):
        latest[repr(sorted(params.items()))] = i  # rows are in budget order: the last one wins
    candidates, finalists = [], []
    for i in sorted(latest.values()):
        params = cv_results["params"][i]
        mean, std = float(cv_results["mean_test_score"][i]), float(cv_results["std_test_score"][i])
        candidates.append(
            Candidate(
                algorithm=algorithm,
                params=_plain({k.removeprefix(MODEL_PREFIX): v for k, v in params.items()}),
                mean_score=mean,
                std_score=std,
                cv_metrics={scoring: (mean, std)},
                mean_fit_time=float(cv_results["mean_fit_time"][i]),
                rows=int(cv_results["n_resources"][i]),
            )
        )
        finalists.append(int(iterations[i]) == last_iteration)
    return candidates, finalists


def _budgets(searcher: HalvingGridSearchCV | HalvingRandomSearchCV) -> list[Budget]:
    return [
        Budget(iteration=i, candidates=int(n), rows=int(rows))
        for i, (n, rows) in enumerate(zip(searcher.n_candidates_, searcher.n_resources_, strict=True))
    ]


def _log_progress(done: int, total: int, started: float) -> None:
    elapsed = time.perf_counter() - started
    left = elapsed / done * (total - done) if done else math.nan
    logger.info(
        "search progress: %d of %d candidates done, %.1fs so far, about %.0fs left",
        done,
        total,
        elapsed,
        left,
    )


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


class AlgorithmSearch(BaseModel):
    """One algorithm's searched candidates: what a search branch hands to the step that picks the winner.

    Only ``finalists`` may win: every candidate for grid and random search, the candidates of
    the last row budget for halving. Serialisable (NaN scores of failed fits included), so a
    branch can run in a process, or a pod, of its own.
    """

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    algorithm: str
    candidates: list[Candidate]
    finalists: list[bool]
    budgets: list[Budget] = []
    seconds: float = 0.0


def check_algorithm_names(search: SearchConfig) -> list[str]:
    """The algorithms' names in config order; a one-line error when one is used twice."""
    names = [spec.name for spec in search.algorithms]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"algorithm name(s) {duplicates} are used more than once")
    return names


def algorithm_search(search: SearchConfig, name: str) -> SearchConfig:
    """``search`` narrowed to the algorithm ``name``: what one search branch is given (and cached by)."""
    (spec,) = [spec for spec in search.algorithms if spec.name == name]
    return search.model_copy(update={"algorithms": [spec]})


def search_algorithm(
    X: pd.DataFrame,
    y: Any,
    contract: DataContract,
    preprocessing: PreprocessingConfig,
    features: Sequence[FeatureSpec],
    search: SearchConfig,
    spec: AlgorithmSpec,
    task: Task = "binary",
    groups: Any = None,
) -> AlgorithmSearch:
    """Search one algorithm on the search's folds (the same for every algorithm: they are seeded).

    ``groups`` (a row's id, when the split has an ``id_column``): the folds keep an id's rows together.
    """
    y = np.asarray(y)
    started = time.perf_counter()
    cv = cv_folds(search, task, grouped=groups is not None)
    scoring = scoring_of(search, task)
    estimator = make_estimator(spec, search.random_state, task)
    pipeline = build_model(contract, preprocessing, features, estimator)
    searcher = _make_search(spec, pipeline, search, task, cv, len(y))
    searcher.fit(X, y, **({} if groups is None else {"groups": np.asarray(groups)}))
    if search.strategy != "halving":
        found = _candidates(spec.name, searcher.cv_results_, scoring, task)
        logger.info(
            "%s: %d candidates, best %s %.4f, %.1fs",
            spec.name,
            len(found),
            scoring,
            max((c.mean_score for c in found if not math.isnan(c.mean_score)), default=math.nan),
            time.perf_counter() - started,
        )
        return AlgorithmSearch(
            algorithm=spec.name,
            candidates=found,
            finalists=[True] * len(found),
            seconds=time.perf_counter() - started,
        )
    searcher.cv.budget_done(searcher.n_iterations_ - 1)
    found, finalists = _halving_candidates(spec.name, searcher.cv_results_, scoring)
    budgets = _budgets(searcher)
    last_scores = [c.mean_score for c, final in zip(found, finalists, strict=True) if final]
    logger.info(
        "%s: %d candidates on row budgets %s, best %s %.4f on %d rows, %.1fs",
        spec.name,
        len(found),
        ", ".join(f"{b.candidates} x {b.rows}" for b in budgets),
        scoring,
        max((s for s in last_scores if not math.isnan(s)), default=math.nan),
        budgets[-1].rows,
        time.perf_counter() - started,
    )
    return AlgorithmSearch(
        algorithm=spec.name,
        candidates=found,
        finalists=finalists,
        budgets=budgets,
        seconds=time.perf_counter() - started,
    )


def pick_winner(
    searches: Sequence[AlgorithmSearch],
    X: pd.DataFrame,
    y: Any,
    contract: DataContract,
    preprocessing: PreprocessingConfig,
    features: Sequence[FeatureSpec],
    search: SearchConfig,
    task: Task = "binary",
) -> SearchResult:
    """The best finalist across ``searches`` (in config order, for ties), refit on all of X, y.

    The refit is the winner's Pipeline built afresh with its params: what scikit-learn's
    ``refit`` would have fitted, so a search run branch by branch picks and fits the same model
    as one run in a single process.
    """
    names = check_algorithm_names(search)
    order = {name: i for i, name in enumerate(names)}
    missing = sorted(set(names) - {s.algorithm for s in searches})
    if missing:
        raise ValueError(f"no search result for algorithm(s) {missing}")
    searches = sorted(searches, key=lambda s: order[s.algorithm])
    candidates = [c for s in searches for c in s.candidates]
    best = select_best(
        [c for s in searches for c, final in zip(s.candidates, s.finalists, strict=True) if final]
    )
    spec = search.algorithms[order[best.algorithm]]
    best_pipeline = build_model(
        contract, preprocessing, features, make_estimator(spec, search.random_state, task)
    )
    best_pipeline.set_params(**{f"{MODEL_PREFIX}{k}": v for k, v in best.params.items()})
    best_pipeline.fit(X, np.asarray(y))
    logger.info(
        "best: %s %s, %s %.4f, refit on %d rows",
        best.algorithm,
        best.params,
        scoring_of(search, task),
        best.mean_score,
        len(X),
    )
    budgets = {s.algorithm: s.budgets for s in searches if s.budgets}
    return SearchResult(candidates=candidates, best=best, best_pipeline=best_pipeline, budgets=budgets)


def run_search(
    X: pd.DataFrame,
    y: Any,
    contract: DataContract,
    preprocessing: PreprocessingConfig,
    features: Sequence[FeatureSpec],
    search: SearchConfig,
    task: Task = "binary",
    groups: Any = None,
) -> SearchResult:
    """Search every algorithm of ``search`` in turn, in this process; refit the best on all of X, y.

    ``y`` is the encoded target (:meth:`tabular_ml.tasks.target.TargetSpec.encode`); ``groups``,
    each row's id (or None), keeps an id's rows in one CV fold. Every
    estimator must suit the task (a classifier, or a regressor for regression). The training
    pipeline runs the same :func:`search_algorithm` as one step per algorithm and
    :func:`pick_winner` after them.
    """
    check_algorithm_names(search)
    kind = _candidate_kind(search)
    total = sum(_n_candidates(param_space(spec, kind), kind, search.n_iter) for spec in search.algorithms)
    started = time.perf_counter()
    searches: list[AlgorithmSearch] = []
    for spec in search.algorithms:
        searches.append(search_algorithm(X, y, contract, preprocessing, features, search, spec, task, groups))
        _log_progress(sum(len(s.candidates) for s in searches), total, started)
    return pick_winner(searches, X, y, contract, preprocessing, features, search, task)

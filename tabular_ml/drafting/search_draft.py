"""A search and quality gates suited to a task and a data size, for drafted configs.

Classifiers carry no class weights: weighting distorts the predicted probabilities (the
served number should be a probability), so a binary task's decision threshold is chosen on
the cross-validation folds instead (``evaluation.threshold: auto``).

A large table gets successive halving (``strategy: halving``) rather than a smaller grid:
candidates race on growing row budgets, up to 100,000 rows, so the search keeps 30 candidates
where a grid over every row could afford five, and its cost stops growing with the table. Its
forests draw a fraction of the rows per tree
(``max_samples``) and its gradient boosting stops early on a validation fraction; a binary
task's decision threshold is cross-validated on a sample of 100,000 rows.
"""

from __future__ import annotations

from typing import Any

from tabular_ml.tasks.target import Task

#: The search's scoring, and the metric a model must beat the trivial baseline on, per task.
SCORING: dict[Task, str] = {
    "binary": "roc_auc",
    "multiclass": "f1_macro",
    "regression": "neg_root_mean_squared_error",
}
BASELINE_METRIC: dict[Task, str] = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "r2"}
#: How much better than the baseline (majority class or mean prediction) a model must be.
BASELINE_MARGIN = 0.05

#: Row counts from which the grids shrink: (upper bound, size name).
SIZES = ((5_000, "small"), (100_000, "medium"), (float("inf"), "large"))

_GRIDS: dict[str, dict[str, Any]] = {
    # size -> the searched values and the size-dependent fixed parameters
    "small": {
        "cv": 5,
        "C": [0.01, 0.1, 1.0, 10.0],
        "alpha": [0.1, 1.0, 10.0, 100.0],
        "trees": 300,
        "forest_space": {"max_depth": [None, 10], "min_samples_leaf": [1, 5]},
        "boosting_leaf": 10,
        "boosting_space": {"learning_rate": [0.05, 0.1], "max_depth": [3, None]},
    },
    "medium": {
        "cv": 5,
        "C": [0.03, 0.1, 0.3, 1.0],
        "alpha": [0.1, 1.0, 10.0, 100.0],
        "trees": 300,
        "forest_space": {"max_depth": [10, None], "min_samples_leaf": [10, 20]},
        "boosting_leaf": 50,
        "boosting_space": {"learning_rate": [0.03, 0.05, 0.1], "max_depth": [3, 4]},
    },
    "large": {
        "strategy": "halving",
        "cv": 3,
        "C": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0],
        "alpha": [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0],
        "trees": 100,
        # each tree on a fifth of the rows (a bootstrap sample): five times cheaper, barely weaker
        "forest_params": {"max_samples": 0.2},
        "forest_space": {"min_samples_leaf": [10, 30, 100], "max_depth": [20, None]},
        "boosting_leaf": 100,
        # more rounds allowed, but each fit stops once 10 rounds bring nothing on a 10 % validation split
        "boosting_params": {
            "max_iter": 500,
            "early_stopping": True,
            "validation_fraction": 0.1,
            "n_iter_no_change": 10,
        },
        "boosting_space": {
            "learning_rate": [0.05, 0.1, 0.2],
            "max_leaf_nodes": [15, 31, 63],
            "l2_regularization": [0.0, 1.0],
        },
    },
}


def size_of(rows: int) -> str:
    """``small``, ``medium`` or ``large``: how hard the search may look."""
    return next(name for bound, name in SIZES if rows < bound)


def _algorithms(task: Task, grid: dict[str, Any]) -> list[dict[str, Any]]:
    forest = {"n_estimators": grid["trees"], **grid.get("forest_params", {})}
    boosting = {"max_iter": 200, "min_samples_leaf": grid["boosting_leaf"], **grid.get("boosting_params", {})}
    if task == "regression":
        return [
            {
                "name": "ridge",
                "estimator": "sklearn.linear_model.Ridge",
                "search_space": {"alpha": grid["alpha"]},
            },
            {
                "name": "random_forest",
                "estimator": "sklearn.ensemble.RandomForestRegressor",
                "params": {**forest, "max_features": 0.5, "n_jobs": 1},
                "search_space": grid["forest_space"],
            },
            {
                "name": "hist_gradient_boosting",
                "estimator": "sklearn.ensemble.HistGradientBoostingRegressor",
                "params": boosting,
                "search_space": grid["boosting_space"],
            },
        ]
    return [
        {
            "name": "logistic_regression",
            "estimator": "sklearn.linear_model.LogisticRegression",
            "params": {"max_iter": 2000},
            "search_space": {"C": grid["C"]},
        },
        {
            "name": "random_forest",
            "estimator": "sklearn.ensemble.RandomForestClassifier",
            "params": {**forest, "max_features": "sqrt", "n_jobs": 1},
            "search_space": grid["forest_space"],
        },
        {
            "name": "hist_gradient_boosting",
            "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
            "params": boosting,
            "search_space": grid["boosting_space"],
        },
    ]


#: A large table's halving race is decided on at most this many rows (``halving_max_rows``):
#: beyond it the candidates' ranking barely moves, and the search then costs the same on a
#: million rows as on a hundred thousand; the winner is still refit on every training row.
LARGE_RACE_ROWS = 100_000


def draft_search(task: Task, rows: int) -> dict[str, Any]:
    """The ``search:`` section: a linear model, a random forest and gradient boosting.

    Small and medium tables get a grid search; large ones successive halving over the grid.
    """
    grid = _GRIDS[size_of(rows)]
    budget = {"halving_max_rows": LARGE_RACE_ROWS} if grid.get("strategy") == "halving" else {}
    return {
        "strategy": grid.get("strategy", "grid"),
        **budget,
        "cv": grid["cv"],
        "scoring": SCORING[task],
        "n_jobs": -1,
        "random_state": 42,
        "algorithms": _algorithms(task, grid),
    }


#: A large table's decision threshold is chosen on this many training rows' out-of-fold
#: probabilities: its quantiles are already precise to about 0.1 %, and their cross-validation
#: then costs a fraction of the winner's refit on every row.
LARGE_THRESHOLD_ROWS = 100_000


def draft_evaluation(task: Task, rows: int = 0) -> dict[str, Any]:
    """The ``evaluation:`` section: beat the trivial baseline, no absolute floor.

    A binary task's threshold is ``auto``; on a large table it is chosen on a sample of
    ``LARGE_THRESHOLD_ROWS`` rows.
    """
    evaluation: dict[str, Any] = {"threshold": "auto"} if task == "binary" else {}
    if task == "binary" and size_of(rows) == "large":
        evaluation["threshold_max_rows"] = LARGE_THRESHOLD_ROWS
    evaluation["gates"] = {"beat_baseline": {BASELINE_METRIC[task]: BASELINE_MARGIN}}
    return evaluation

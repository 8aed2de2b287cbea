"""The holdout metrics of each task and which way is better: names only, no dependencies.

Kept apart from :mod:`tabular_ml.modelling.evaluation` so the configuration can check gate metric names
without importing scikit-learn.
"""

from __future__ import annotations

import difflib

__all__ = [
    "HIGHER_IS_BETTER",
    "METRICS_BY_TASK",
    "describe_unknown_metric",
    "metric_names",
]

#: Every metric each task's evaluation can produce, in display order.
METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    "binary": (
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
    ),
    "multiclass": (
        "accuracy",
        "balanced_accuracy",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "f1_weighted",
        "roc_auc_ovr",
        "log_loss",
    ),
    "regression": ("rmse", "mae", "median_ae", "max_error", "r2"),
}

_LOWER_IS_BETTER = frozenset({"log_loss", "brier", "rmse", "mae", "median_ae", "max_error"})


def metric_names(task: str | None = None) -> tuple[str, ...]:
    """The metrics of ``task`` in display order; ``None``: of any task (each name once)."""
    if task is None:
        return tuple(dict.fromkeys(name for names in METRICS_BY_TASK.values() for name in names))
    if task not in METRICS_BY_TASK:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(METRICS_BY_TASK)}")
    return METRICS_BY_TASK[task]


#: Whether a larger value is better, for every metric of every task (losses and errors are not).
HIGHER_IS_BETTER: dict[str, bool] = {name: name not in _LOWER_IS_BETTER for name in metric_names()}


def describe_unknown_metric(name: str, task: str | None = None, where: str = "") -> str:
    """Why ``name`` is not a metric of ``task`` (any task when None), with the nearest name.

    ``where`` follows the name, e.g. ``" in the minimum gates"``.
    """
    known = metric_names(task)
    # 'f1' or 'roc_auc' in a multiclass config most likely means 'f1_macro' or 'roc_auc_ovr'.
    close = [k for k in known if k.startswith(f"{name}_")] or difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    if task is not None and name in HIGHER_IS_BETTER:
        return f"{name!r}{where} is not a {task} metric{hint}; {task} metrics: {', '.join(known)}"
    scope = f"{task} metrics" if task else "known metrics"
    return f"unknown metric {name!r}{where}{hint}; {scope}: {', '.join(sorted(known))}"

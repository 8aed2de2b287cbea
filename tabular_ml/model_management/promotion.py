"""The champion/challenger rule: promote only a challenger that passes the gates and is better.

"Better" is decided on rows neither model trained on, with a paired bootstrap of the
metric difference: the challenger must beat the champion by more than ``min_improvement``
at the lower end of the interval, not only on average. On a holdout of a few thousand
rows, two models of equal quality differ by about +-0.01 ROC AUC by chance alone; a
point-estimate rule would promote (and flip back) on that noise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel
from sklearn import metrics as skm

from tabular_ml.configuration.schema import PromotionConfig, ShadowEvidence
from tabular_ml.modelling.evaluation import HIGHER_IS_BETTER, check_gates
from tabular_ml.modelling.trained_model import TrainedModel
from tabular_ml.tasks.target import Task


class PromotionDecision(BaseModel):
    """What was compared, on which rows, and what was decided (kept as an artifact and metadata)."""

    promote: bool
    reason: str
    metric: str
    challenger_version: str | None
    challenger_score: float | None = None
    champion_version: str | None = None
    champion_score: float | None = None
    improvement: float | None = None  # signed: > 0 means the challenger is better
    improvement_interval: list[float] | None = None  # paired bootstrap [low, high] at `confidence`
    confidence: float | None = None
    compared_rows: int = 0
    excluded_rows: int = 0  # holdout rows the champion trained on, left out of the comparison
    champion_trained_on_holdout_rows: int = 0  # among the compared rows: 0 by construction, checked
    gate_failures: list[str] = []


def _threshold_metric(function: Callable) -> Callable:
    return lambda y, proba, threshold: function(y, (proba >= threshold).astype(int))


def _argmax_metric(function: Callable) -> Callable:
    return lambda y, proba, threshold: function(y, np.argmax(proba, axis=1))


def _multiclass_log_loss(y: np.ndarray, proba: np.ndarray, threshold: float) -> float:
    return skm.log_loss(y, proba, labels=list(range(proba.shape[1])))


def _roc_auc_ovr(y: np.ndarray, proba: np.ndarray, threshold: float) -> float:
    return skm.roc_auc_score(y, proba, multi_class="ovr", labels=list(range(proba.shape[1])))


#: Every promotion metric of every task as a function of (labels, model scores, threshold):
#: scores are the positive class's probability (binary), the class probabilities
#: (multiclass) or the predicted values (regression); see tabular_ml.modelling.trained_model.scores_of.
METRIC_FUNCTIONS: dict[str, dict[str, Callable[[np.ndarray, np.ndarray, float], float]]] = {
    "binary": {
        "roc_auc": lambda y, p, t: skm.roc_auc_score(y, p),
        "pr_auc": lambda y, p, t: skm.average_precision_score(y, p),
        "log_loss": lambda y, p, t: skm.log_loss(y, p, labels=[0, 1]),
        "brier": lambda y, p, t: skm.brier_score_loss(y, p, pos_label=1),
        "accuracy": _threshold_metric(skm.accuracy_score),
        "balanced_accuracy": _threshold_metric(skm.balanced_accuracy_score),
        "precision": _threshold_metric(lambda y, pred: skm.precision_score(y, pred, zero_division=0)),
        "recall": _threshold_metric(lambda y, pred: skm.recall_score(y, pred, zero_division=0)),
        "f1": _threshold_metric(lambda y, pred: skm.f1_score(y, pred, zero_division=0)),
    },
    "multiclass": {
        "accuracy": _argmax_metric(skm.accuracy_score),
        "balanced_accuracy": _argmax_metric(skm.balanced_accuracy_score),
        "f1_macro": _argmax_metric(lambda y, pred: skm.f1_score(y, pred, average="macro", zero_division=0)),
        "f1_weighted": _argmax_metric(
            lambda y, pred: skm.f1_score(y, pred, average="weighted", zero_division=0)
        ),
        "roc_auc_ovr": _roc_auc_ovr,
        "log_loss": _multiclass_log_loss,
    },
    "regression": {
        "rmse": lambda y, v, t: float(np.sqrt(skm.mean_squared_error(y, v))),
        "mae": lambda y, v, t: skm.mean_absolute_error(y, v),
        "r2": lambda y, v, t: skm.r2_score(y, v),
    },
}

#: The promotion metric when ``promotion.metric`` is left out.
DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "rmse"}

#: Metrics that need every class in a resample (ranking metrics).
_NEEDS_EVERY_CLASS = {"roc_auc", "pr_auc", "roc_auc_ovr"}


def promotion_metric(config: PromotionConfig, task: Task) -> str:
    """The configured promotion metric, checked against the task, or the task's default."""
    metric = config.metric or DEFAULT_METRIC[task]
    if metric not in METRIC_FUNCTIONS[task]:
        raise ValueError(
            f"promotion.metric {metric!r} does not apply to a {task} model; "
            f"use one of: {', '.join(METRIC_FUNCTIONS[task])}"
        )
    return metric


def improvement_interval(
    y: np.ndarray,
    challenger_proba: np.ndarray,
    champion_proba: np.ndarray,
    metric: str,
    threshold: float,
    *,
    confidence: float,
    samples: int,
    seed: int = 0,
    task: Task = "binary",
    champion_threshold: float | None = None,
) -> tuple[float, float, float]:
    """The challenger's improvement over the champion and its paired bootstrap interval.

    Both models are scored on the same resampled rows each time, so the interval is of
    the *difference* (much narrower than two separate intervals). Signed by the metric's
    direction: positive means the challenger is better. Each binary model decides with its own
    threshold (``champion_threshold``, default: the same). Returns ``(improvement, low, high)``.
    """
    champion_threshold = threshold if champion_threshold is None else champion_threshold
    function = METRIC_FUNCTIONS[task][metric]
    sign = 1.0 if HIGHER_IS_BETTER.get(metric, True) else -1.0
    classes = len(np.unique(y))
    point = sign * (
        function(y, challenger_proba, threshold) - function(y, champion_proba, champion_threshold)
    )
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(samples):
        rows = rng.integers(0, len(y), len(y))
        if metric in _NEEDS_EVERY_CLASS and len(np.unique(y[rows])) < classes:
            continue  # a resample without every class has no ranking metric
        sample_y = y[rows]
        differences.append(
            function(sample_y, challenger_proba[rows], threshold)
            - function(sample_y, champion_proba[rows], champion_threshold)
        )
    if not differences:
        raise ValueError("no bootstrap resample held every class; too few compared rows")
    tail = (1 - confidence) / 2
    low, high = np.quantile(sign * np.asarray(differences), [tail, 1 - tail])
    return float(point), float(low), float(high)


def _no_comparison_reason(comparison: dict[str, Any], config: PromotionConfig) -> str:
    """Why the rows neither model trained on could not be compared: too few, or a class missing."""
    rows = comparison["compared_rows"]
    if rows < config.min_compared_rows:
        return (
            f"only {rows} holdout rows that the champion did not train on; at least "
            f"{config.min_compared_rows} are needed to compare fairly (promotion.min_compared_rows)"
        )
    missing = ", ".join(map(repr, comparison.get("missing_classes", [])))
    return (
        f"the {rows} holdout rows that the champion did not train on hold no row of class(es) {missing}; "
        "every class is needed to compare fairly"
    )


def decide_promotion(
    challenger_version: str,
    challenger_metrics: dict[str, float],
    champion_version: str | None,
    comparison: dict[str, float] | None,
    config: PromotionConfig,
    metric: str | None = None,
    baseline: dict[str, float] | None = None,
    task: Task | None = None,
) -> PromotionDecision:
    """Apply the quality gates, then require a significant improvement over the champion.

    ``challenger_metrics`` are the challenger's holdout metrics (for the gates);
    ``comparison`` holds ``challenger_score``, ``champion_score``, ``improvement``,
    ``low``, ``high`` and ``compared_rows`` from both models scored on the same rows
    neither trained on (None when there is no champion). The challenger is promoted
    when the lower end of the interval exceeds ``min_improvement`` (an equal model
    never churns the production version). ``metric`` is the resolved promotion metric
    (:func:`promotion_metric`); default: the configured one. ``baseline`` holds the trivial
    model's metrics on the challenger's holdout (for ``beat_baseline`` gates).
    """
    metric = metric or config.metric or "roc_auc"
    if metric not in challenger_metrics:
        raise ValueError(f"promotion metric {metric!r} is not among {sorted(challenger_metrics)}")
    decision = dict(
        metric=metric,
        challenger_version=challenger_version,
        challenger_score=challenger_metrics[metric],
        champion_version=champion_version,
        confidence=config.confidence,
    )
    failures = check_gates(challenger_metrics, config.gates, baseline, task=task)
    if failures:
        return PromotionDecision(
            promote=False,
            reason="quality gate failed: " + "; ".join(failures),
            gate_failures=failures,
            **decision,
        )
    if champion_version is None or comparison is None:
        return PromotionDecision(
            promote=True, reason="no production model yet; the challenger passes the gates", **decision
        )
    if "low" not in comparison:
        return PromotionDecision(
            promote=False,
            reason=_no_comparison_reason(comparison, config),
            compared_rows=int(comparison["compared_rows"]),
            **decision,
        )
    low, high = comparison["low"], comparison["high"]
    better = low > config.min_improvement
    verdict = "improves on" if better else "does not improve significantly on"
    reason = (
        f"challenger {metric} {comparison['challenger_score']:.4f} {verdict} champion "
        f"{comparison['champion_score']:.4f} on {comparison['compared_rows']} rows neither trained on "
        f"(improvement {comparison['improvement']:+.4f}, {config.confidence:.0%} interval "
        f"[{low:+.4f}, {high:+.4f}], required low end > {config.min_improvement:g})"
    )
    decision.update(
        challenger_score=comparison["challenger_score"],
        champion_score=comparison["champion_score"],
        improvement=comparison["improvement"],
        improvement_interval=[low, high],
        compared_rows=int(comparison["compared_rows"]),
    )
    return PromotionDecision(promote=better, reason=reason, **decision)


def shadow_refusal(
    evidence: dict[str, Any] | None,
    required: ShadowEvidence,
    challenger_version: str,
    champion_version: str | None,
    metric: str,
) -> str | None:
    """Why the challenger's shadow evidence does not allow its promotion (one line), or None.

    ``evidence`` is what the monitoring run recorded on the challenger's version
    (``shadow_evidence``: :meth:`ShadowComparison.as_metadata
    <tabular_ml.monitoring.shadow_comparison.ShadowComparison.as_metadata>`): it must be
    against the current production version, hold at least ``min_requests`` requests, and its
    estimated ``metric`` may fall short of production's estimate on the same rows by at most
    ``max_estimated_drop``. Without a production version there is nothing to require.
    """
    if champion_version is None:
        return None  # nothing in production to try it beside
    if not evidence:
        return (
            f"version {challenger_version} has no shadow evidence (promotion.require_shadow): serve it with "
            f"serving.shadow={challenger_version}, then run monitoring on the request log"
        )
    if champion_version is not None and str(evidence.get("production_version")) != str(champion_version):
        return (
            f"version {challenger_version}'s shadow evidence is against version "
            f"{evidence.get('production_version')}, not production version {champion_version}"
        )
    requests = int(evidence.get("requests") or 0)
    if requests < required.min_requests:
        return (
            f"version {challenger_version} scored {requests} requests in shadow; "
            f"promotion.require_shadow.min_requests is {required.min_requests}"
        )
    estimated = evidence.get("estimated") or {}
    try:
        shadow = float(estimated["shadow"][metric]["value"])
        production = float(estimated["production"][metric]["value"])
    except (KeyError, TypeError, ValueError):
        return f"version {challenger_version}'s shadow evidence has no estimated {metric} for both models"
    drop = production - shadow if HIGHER_IS_BETTER.get(metric, True) else shadow - production
    if drop > required.max_estimated_drop:
        return (
            f"version {challenger_version}'s estimated {metric} on live traffic is {shadow:.4f} against "
            f"production's {production:.4f} (a drop of {drop:.4f} > max_estimated_drop "
            f"{required.max_estimated_drop:g})"
        )
    return None


def holdout_metrics(model: TrainedModel, holdout: pd.DataFrame) -> dict[str, float]:
    """Every promotion metric of the model's task on a holdout frame (features and target)."""
    y = model.target.encode(holdout[model.contract.target])
    scores = model.scores(holdout)
    metrics = {}
    for name, function in METRIC_FUNCTIONS[model.target.task].items():
        try:
            metrics[name] = float(function(y, scores, model.threshold))
        except ValueError:  # e.g. a ranking metric on a holdout missing a class: left out
            continue
    return metrics


def compare_on_unseen_rows(
    challenger: TrainedModel,
    champion: TrainedModel,
    holdout: pd.DataFrame,
    champion_train: pd.DataFrame,
    config: PromotionConfig,
) -> dict[str, Any]:
    """Score both models on the challenger's holdout rows that the champion did not train on.

    Rows are matched by their feature values (the same key the split uses), so a champion
    trained on another split, or on fewer rows, is never scored on rows it has seen. Both
    are scored with the challenger's target encoding and threshold rule: the champion's own
    threshold for its own labels.
    """
    from tabular_ml.data.splitting import row_keys

    contract, task = challenger.contract, challenger.target.task
    if champion.target.task != task or champion.target.classes != challenger.target.classes:
        raise ValueError(
            f"the champion predicts {champion.target.describe()!r}, the challenger "
            f"{challenger.target.describe()!r}: they cannot be compared"
        )
    metric = promotion_metric(config, task)
    columns = [name for name in contract.feature_names if name in champion_train.columns]
    seen = np.isin(row_keys(holdout, columns), row_keys(champion_train, columns))
    unseen = holdout.loc[~seen]
    overlap = int(np.isin(row_keys(unseen, columns), row_keys(champion_train, columns)).sum())
    result: dict[str, Any] = {
        "compared_rows": len(unseen),
        "excluded_rows": int(seen.sum()),
        "overlap": overlap,
    }
    y = challenger.target.encode(unseen[contract.target])
    if task != "regression":
        present = set(np.unique(y).tolist())
        missing = [label for code, label in enumerate(challenger.target.classes) if code not in present]
        if missing:
            result["missing_classes"] = missing
    if len(unseen) < config.min_compared_rows or "missing_classes" in result:
        return result
    challenger_scores = challenger.scores(unseen)
    champion_scores = champion.scores(unseen)
    function = METRIC_FUNCTIONS[task][metric]
    improvement, low, high = improvement_interval(
        y,
        challenger_scores,
        champion_scores,
        metric,
        challenger.threshold,
        confidence=config.confidence,
        samples=config.bootstrap_samples,
        task=task,
        champion_threshold=champion.threshold,
    )
    return {
        **result,
        "challenger_score": float(function(y, challenger_scores, challenger.threshold)),
        "champion_score": float(function(y, champion_scores, champion.threshold)),
        "improvement": improvement,
        "low": low,
        "high": high,
    }

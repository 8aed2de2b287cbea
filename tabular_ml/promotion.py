"""The champion/challenger rule: promote only a challenger that passes the gates and is better.

"Better" is decided on rows neither model trained on, with a paired bootstrap of the
metric difference: the challenger must beat the champion by more than ``min_improvement``
at the lower end of the interval, not only on average. On a holdout of a few thousand
rows, two models of equal quality differ by about +-0.01 ROC AUC by chance alone; a
point-estimate rule would promote (and flip back) on that noise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from pydantic import BaseModel
from sklearn import metrics as skm

from tabular_ml.config import DataContract, PromotionConfig
from tabular_ml.evaluation import HIGHER_IS_BETTER, check_gates, evaluate_classifier
from tabular_ml.model import encode_target


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


#: Every promotion metric as a function of (labels, probabilities, threshold), for resampling.
METRIC_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray, float], float]] = {
    "roc_auc": lambda y, p, t: skm.roc_auc_score(y, p),
    "pr_auc": lambda y, p, t: skm.average_precision_score(y, p),
    "log_loss": lambda y, p, t: skm.log_loss(y, p, labels=[0, 1]),
    "brier": lambda y, p, t: skm.brier_score_loss(y, p, pos_label=1),
    "accuracy": _threshold_metric(skm.accuracy_score),
    "balanced_accuracy": _threshold_metric(skm.balanced_accuracy_score),
    "precision": _threshold_metric(lambda y, pred: skm.precision_score(y, pred, zero_division=0)),
    "recall": _threshold_metric(lambda y, pred: skm.recall_score(y, pred, zero_division=0)),
    "f1": _threshold_metric(lambda y, pred: skm.f1_score(y, pred, zero_division=0)),
}


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
) -> tuple[float, float, float]:
    """The challenger's improvement over the champion and its paired bootstrap interval.

    Both models are scored on the same resampled rows each time, so the interval is of
    the *difference* (much narrower than two separate intervals). Signed by the metric's
    direction: positive means the challenger is better. Returns ``(improvement, low, high)``.
    """
    function = METRIC_FUNCTIONS[metric]
    sign = 1.0 if HIGHER_IS_BETTER.get(metric, True) else -1.0
    point = sign * (function(y, challenger_proba, threshold) - function(y, champion_proba, threshold))
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(samples):
        rows = rng.integers(0, len(y), len(y))
        if metric in ("roc_auc", "pr_auc") and not 0 < y[rows].sum() < len(rows):
            continue  # a resample with one class has no ranking metric
        sample_y = y[rows]
        differences.append(
            function(sample_y, challenger_proba[rows], threshold)
            - function(sample_y, champion_proba[rows], threshold)
        )
    if not differences:
        raise ValueError("no bootstrap resample held both classes; too few compared rows")
    tail = (1 - confidence) / 2
    low, high = np.quantile(sign * np.asarray(differences), [tail, 1 - tail])
    return float(point), float(low), float(high)


def decide_promotion(
    challenger_version: str,
    challenger_metrics: dict[str, float],
    champion_version: str | None,
    comparison: dict[str, float] | None,
    config: PromotionConfig,
) -> PromotionDecision:
    """Apply the quality gates, then require a significant improvement over the champion.

    ``challenger_metrics`` are the challenger's holdout metrics (for the gates);
    ``comparison`` holds ``challenger_score``, ``champion_score``, ``improvement``,
    ``low``, ``high`` and ``compared_rows`` from both models scored on the same rows
    neither trained on (None when there is no champion). The challenger is promoted
    when the lower end of the interval exceeds ``min_improvement`` (an equal model
    never churns the production version).
    """
    if config.metric not in challenger_metrics:
        raise ValueError(f"promotion metric {config.metric!r} is not among {sorted(challenger_metrics)}")
    decision = dict(
        metric=config.metric,
        challenger_version=challenger_version,
        challenger_score=challenger_metrics[config.metric],
        champion_version=champion_version,
        confidence=config.confidence,
    )
    failures = check_gates(challenger_metrics, config.gates)
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
            reason=(
                f"only {comparison['compared_rows']} holdout rows (of both classes) that the champion did "
                f"not train on; at least {config.min_compared_rows} are needed to compare fairly"
            ),
            compared_rows=int(comparison["compared_rows"]),
            **decision,
        )
    low, high = comparison["low"], comparison["high"]
    better = low > config.min_improvement
    verdict = "improves on" if better else "does not improve significantly on"
    reason = (
        f"challenger {config.metric} {comparison['challenger_score']:.4f} {verdict} champion "
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


def positive_proba(pipeline, frame: pd.DataFrame, contract: DataContract) -> np.ndarray:
    """The fitted Pipeline's probability of the positive class for each row of ``frame``."""
    return pipeline.predict_proba(frame[contract.feature_names])[:, 1]


def holdout_metrics(
    pipeline, holdout: pd.DataFrame, contract: DataContract, threshold: float
) -> dict[str, float]:
    """Score a fitted Pipeline on a holdout frame (features and target) with the project's metrics."""
    y = encode_target(holdout[contract.target], contract)
    return evaluate_classifier(y, positive_proba(pipeline, holdout, contract), threshold).metrics


def compare_on_unseen_rows(
    challenger,
    champion,
    holdout: pd.DataFrame,
    champion_train: pd.DataFrame,
    contract: DataContract,
    threshold: float,
    config: PromotionConfig,
) -> dict[str, float]:
    """Score both models on the challenger's holdout rows that the champion did not train on.

    Rows are matched by their feature values (the same key the split uses), so a champion
    trained on another split, or on fewer rows, is never scored on rows it has seen.
    """
    from tabular_ml.splitting import row_keys

    columns = [name for name in contract.feature_names if name in champion_train.columns]
    seen = np.isin(row_keys(holdout, columns), row_keys(champion_train, columns))
    unseen = holdout.loc[~seen]
    overlap = int(np.isin(row_keys(unseen, columns), row_keys(champion_train, columns)).sum())
    result = {"compared_rows": len(unseen), "excluded_rows": int(seen.sum()), "overlap": overlap}
    y = encode_target(unseen[contract.target], contract)
    if len(unseen) < config.min_compared_rows or not 0 < y.sum() < len(y):
        return result
    challenger_proba = positive_proba(challenger, unseen, contract)
    champion_proba = positive_proba(champion, unseen, contract)
    function = METRIC_FUNCTIONS[config.metric]
    improvement, low, high = improvement_interval(
        y,
        challenger_proba,
        champion_proba,
        config.metric,
        threshold,
        confidence=config.confidence,
        samples=config.bootstrap_samples,
    )
    return {
        **result,
        "challenger_score": float(function(y, challenger_proba, threshold)),
        "champion_score": float(function(y, champion_proba, threshold)),
        "improvement": improvement,
        "low": low,
        "high": high,
    }

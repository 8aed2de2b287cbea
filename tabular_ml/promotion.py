"""The champion/challenger rule: promote only a challenger that passes the gates and is better."""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel

from tabular_ml.config import DataContract, PromotionConfig
from tabular_ml.evaluation import HIGHER_IS_BETTER, check_gates, evaluate_classifier
from tabular_ml.model import encode_target


class PromotionDecision(BaseModel):
    """What was compared, on which data, and what was decided (kept as an artifact and metadata)."""

    promote: bool
    reason: str
    metric: str
    challenger_version: str
    challenger_score: float
    champion_version: str | None = None
    champion_score: float | None = None
    gate_failures: list[str] = []
    champion_trained_on_holdout_rows: int | None = None  # > 0: the comparison favours the champion


def decide_promotion(
    challenger_version: str,
    challenger_metrics: dict[str, float],
    champion_version: str | None,
    champion_metrics: dict[str, float] | None,
    config: PromotionConfig,
) -> PromotionDecision:
    """Apply the quality gates, then require an improvement of at least ``min_improvement``.

    Both models must have been scored on the same holdout. "Improvement" is signed by the
    metric's direction (lower log loss is better). An equal score is not an improvement,
    so re-running with an unchanged model never churns the production version.
    """
    if config.metric not in challenger_metrics:
        raise ValueError(f"promotion metric {config.metric!r} is not among {sorted(challenger_metrics)}")
    score = challenger_metrics[config.metric]
    decision = dict(
        metric=config.metric,
        challenger_version=challenger_version,
        challenger_score=score,
        champion_version=champion_version,
    )
    failures = check_gates(challenger_metrics, config.gates)
    if failures:
        return PromotionDecision(
            promote=False,
            reason="quality gate failed: " + "; ".join(failures),
            gate_failures=failures,
            **decision,
        )
    if champion_version is None or champion_metrics is None:
        return PromotionDecision(
            promote=True, reason="no production model yet; the challenger passes the gates", **decision
        )
    champion_score = champion_metrics[config.metric]
    sign = 1 if HIGHER_IS_BETTER.get(config.metric, True) else -1
    improvement = sign * (score - champion_score)
    better = improvement > 0 and improvement >= config.min_improvement
    verdict = "improves on" if better else "does not improve enough on"
    reason = (
        f"challenger {config.metric} {score:.4f} {verdict} champion {champion_score:.4f} "
        f"(improvement {improvement:+.4f}, required >= {config.min_improvement:g} and > 0)"
    )
    return PromotionDecision(promote=better, reason=reason, champion_score=champion_score, **decision)


def holdout_metrics(
    pipeline, holdout: pd.DataFrame, contract: DataContract, threshold: float
) -> dict[str, float]:
    """Score a fitted Pipeline on a holdout frame (features and target) with the project's metrics."""
    y = encode_target(holdout[contract.target], contract)
    proba = pipeline.predict_proba(holdout[contract.feature_names])[:, 1]
    return evaluate_classifier(y, proba, threshold).metrics


def shared_rows(train: pd.DataFrame, holdout: pd.DataFrame) -> int:
    """How many holdout rows also appear (same values) among ``train``'s rows.

    A champion trained on another split may have seen part of the challenger's holdout;
    its score there is then optimistic, which the decision records.
    """
    columns = [name for name in holdout.columns if name in train.columns]
    seen = set(pd.util.hash_pandas_object(train[columns], index=False))
    return int(pd.util.hash_pandas_object(holdout[columns], index=False).isin(seen).sum())

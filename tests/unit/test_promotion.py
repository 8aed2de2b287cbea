"""The champion/challenger promotion rule."""

import pytest

from tabular_ml.config import PromotionConfig, QualityGates
from tabular_ml.promotion import decide_promotion

METRICS = {"roc_auc": 0.85, "f1": 0.62, "log_loss": 0.45}


def test_first_challenger_that_passes_the_gates_is_promoted():
    decision = decide_promotion(
        "1", METRICS, None, None, PromotionConfig(gates=QualityGates(min={"roc_auc": 0.8}))
    )
    assert decision.promote
    assert decision.reason == "no production model yet; the challenger passes the gates"
    assert decision.champion_version is None and decision.challenger_score == 0.85


def test_first_challenger_failing_a_gate_is_not_promoted():
    decision = decide_promotion(
        "1", METRICS, None, None, PromotionConfig(gates=QualityGates(min={"roc_auc": 0.9}))
    )
    assert not decision.promote
    assert decision.gate_failures == ["roc_auc 0.850 is below the minimum 0.900"]
    assert decision.reason == "quality gate failed: roc_auc 0.850 is below the minimum 0.900"


def test_better_challenger_is_promoted_with_both_scores_recorded():
    decision = decide_promotion("3", METRICS, "2", {**METRICS, "roc_auc": 0.84}, PromotionConfig())
    assert decision.promote
    assert (decision.challenger_score, decision.champion_score) == (0.85, 0.84)
    assert decision.reason.startswith(
        "challenger roc_auc 0.8500 improves on champion 0.8400 (improvement +0.0100"
    )


@pytest.mark.parametrize("champion_auc", [0.85, 0.86])
def test_equal_or_worse_challenger_is_not_promoted(champion_auc):
    decision = decide_promotion("3", METRICS, "2", {**METRICS, "roc_auc": champion_auc}, PromotionConfig())
    assert not decision.promote
    assert "does not improve enough on champion" in decision.reason


def test_min_improvement_is_required():
    config = PromotionConfig(min_improvement=0.02)
    assert not decide_promotion("3", METRICS, "2", {**METRICS, "roc_auc": 0.84}, config).promote
    assert decide_promotion("3", METRICS, "2", {**METRICS, "roc_auc": 0.83}, config).promote


def test_lower_is_better_metrics_are_compared_the_other_way():
    config = PromotionConfig(metric="log_loss")
    assert decide_promotion("3", METRICS, "2", {**METRICS, "log_loss": 0.50}, config).promote
    assert not decide_promotion("3", METRICS, "2", {**METRICS, "log_loss": 0.40}, config).promote


def test_gates_apply_even_when_the_challenger_beats_the_champion():
    config = PromotionConfig(gates=QualityGates(min={"f1": 0.7}))
    decision = decide_promotion("3", METRICS, "2", {**METRICS, "roc_auc": 0.5}, config)
    assert not decision.promote and decision.gate_failures == ["f1 0.620 is below the minimum 0.700"]


def test_unknown_metric_is_an_error():
    with pytest.raises(ValueError, match="promotion metric 'auc' is not among"):
        decide_promotion("3", METRICS, None, None, PromotionConfig(metric="auc"))


def test_shared_rows_counts_holdout_rows_seen_in_training():
    import pandas as pd

    from tabular_ml.promotion import shared_rows

    train = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "churn": ["No", "Yes", "No"]})
    holdout = pd.DataFrame({"a": [2, 3, 4], "b": ["y", "q", "w"], "churn": ["Yes", "No", "No"]})
    assert shared_rows(train, holdout) == 1  # only (2, "y", "Yes") appears in both
    assert shared_rows(train, train.iloc[::-1]) == 3  # order does not matter

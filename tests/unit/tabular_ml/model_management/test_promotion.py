"""The champion/challenger promotion rule: gates, the paired bootstrap, rows neither model saw."""

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from tabular_ml.configuration.schema import (
    CleaningConfig,
    DataContract,
    PromotionConfig,
    QualityGates,
    ShadowEvidence,
)
from tabular_ml.model_management.promotion import (
    compare_on_unseen_rows,
    decide_promotion,
    improvement_interval,
    shadow_refusal,
)
from tabular_ml.modelling.trained_model import TrainedModel
from tabular_ml.tasks.target import TargetSpec

METRICS = {"roc_auc": 0.85, "f1": 0.62, "log_loss": 0.45}


def comparison(challenger: float, champion: float, low: float, high: float, rows: int = 1000) -> dict:
    return {
        "challenger_score": challenger,
        "champion_score": champion,
        "improvement": challenger - champion,
        "low": low,
        "high": high,
        "compared_rows": rows,
    }


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


def test_significantly_better_challenger_is_promoted_with_both_scores_recorded():
    decision = decide_promotion("3", METRICS, "2", comparison(0.86, 0.84, 0.005, 0.035), PromotionConfig())
    assert decision.promote
    assert (decision.challenger_score, decision.champion_score) == (0.86, 0.84)
    assert decision.improvement_interval == [0.005, 0.035] and decision.compared_rows == 1000
    assert decision.reason == (
        "challenger roc_auc 0.8600 improves on champion 0.8400 on 1000 rows neither trained on "
        "(improvement +0.0200, 90% interval [+0.0050, +0.0350], required low end > 0)"
    )


def test_better_on_average_but_within_noise_is_not_promoted():
    decision = decide_promotion("3", METRICS, "2", comparison(0.852, 0.848, -0.006, 0.014), PromotionConfig())
    assert not decision.promote
    assert "does not improve significantly on champion 0.8480" in decision.reason


def test_min_improvement_applies_to_the_low_end_of_the_interval():
    config = PromotionConfig(min_improvement=0.01)
    assert not decide_promotion("3", METRICS, "2", comparison(0.87, 0.85, 0.008, 0.03), config).promote
    assert decide_promotion("3", METRICS, "2", comparison(0.87, 0.85, 0.012, 0.03), config).promote


def test_too_few_unseen_rows_is_no_promotion():
    decision = decide_promotion(
        "3", METRICS, "2", {"compared_rows": 40, "excluded_rows": 900, "overlap": 0}, PromotionConfig()
    )
    assert not decision.promote
    assert decision.reason == (
        "only 40 holdout rows that the champion did not train on; at least 100 are needed to "
        "compare fairly (promotion.min_compared_rows)"
    )


def test_unseen_rows_missing_a_class_is_no_promotion_naming_the_class():
    unseen = {"compared_rows": 150, "excluded_rows": 0, "overlap": 0, "missing_classes": ["2"]}
    decision = decide_promotion("3", {"f1_macro": 0.9}, "2", unseen, PromotionConfig(), "f1_macro")
    assert not decision.promote and decision.compared_rows == 150
    assert decision.reason == (
        "the 150 holdout rows that the champion did not train on hold no row of class(es) '2'; "
        "every class is needed to compare fairly"
    )


def test_gates_apply_even_when_the_challenger_beats_the_champion():
    config = PromotionConfig(gates=QualityGates(min={"f1": 0.7}))
    decision = decide_promotion("3", METRICS, "2", comparison(0.9, 0.5, 0.3, 0.5), config)
    assert not decision.promote and decision.gate_failures == ["f1 0.620 is below the minimum 0.700"]


def test_unknown_metric_is_an_error():
    with pytest.raises(ValueError, match="promotion metric 'auc' is not among"):
        decide_promotion("3", METRICS, None, None, PromotionConfig(metric="auc"))


def labelled(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    signal = np.clip(0.5 + (y - 0.5) * 0.4 + rng.normal(0, 0.25, n), 0.001, 0.999)
    return y, signal


def test_identical_models_have_an_interval_around_zero():
    y, proba = labelled(800, 0)
    point, low, high = improvement_interval(y, proba, proba, "roc_auc", 0.5, confidence=0.9, samples=200)
    assert point == low == high == 0.0


def test_a_clearly_better_model_has_an_interval_above_zero():
    y, good = labelled(800, 1)
    noise = np.random.default_rng(2).uniform(0, 1, len(y))
    weak = 0.3 * good + 0.7 * noise
    point, low, high = improvement_interval(y, good, weak, "roc_auc", 0.5, confidence=0.9, samples=300)
    assert low > 0.05 and low <= point <= high


def test_lower_is_better_metrics_are_signed_the_other_way():
    y, good = labelled(500, 3)
    worse = np.clip(good * 0.5 + 0.25, 0, 1)  # squeezed towards 0.5: higher log loss
    point, low, _ = improvement_interval(y, good, worse, "log_loss", 0.5, confidence=0.9, samples=200)
    assert point > 0 and low > 0


CONTRACT = DataContract(
    target="y",
    classes=["No", "Yes"],
    positive_class="Yes",
    columns={"a": {"kind": "numeric"}, "b": {"kind": "numeric"}},
)


def frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = np.where(a + 0.3 * b + rng.normal(0, 0.8, n) > 0, "Yes", "No")
    return pd.DataFrame({"a": a, "b": b, "y": y})


BINARY = TargetSpec(column="y", task="binary", classes=["No", "Yes"])


def fitted(
    train: pd.DataFrame, columns: list[str], estimator=None, target: TargetSpec = BINARY
) -> TrainedModel:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    model = Pipeline(
        [
            ("pick", ColumnTransformer([("keep", "passthrough", columns)])),
            ("model", estimator or LogisticRegression()),
        ]
    )
    model.fit(train[["a", "b"]], target.encode(train["y"]))
    contract = CONTRACT.model_copy(update={"classes": None, "positive_class": None})
    return TrainedModel(model, contract, CleaningConfig(), target, 0.5, "m", "1")


def test_the_comparison_leaves_out_rows_the_champion_trained_on():
    holdout, other = frame(600, 0), frame(600, 1)
    champion_train = pd.concat([other, holdout.iloc[:150]])  # saw 150 of the holdout rows
    challenger, champion = fitted(other, ["a", "b"]), fitted(champion_train, ["b"])
    result = compare_on_unseen_rows(
        challenger, champion, holdout, champion_train, PromotionConfig(bootstrap_samples=200)
    )
    assert (result["compared_rows"], result["excluded_rows"], result["overlap"]) == (450, 150, 0)
    assert result["challenger_score"] > result["champion_score"] and result["low"] > 0


def test_no_comparison_when_too_few_rows_are_unseen():
    holdout = frame(300, 0)
    model = fitted(holdout, ["a", "b"])
    result = compare_on_unseen_rows(model, model, holdout, holdout.iloc[:250], PromotionConfig())
    assert result == {"compared_rows": 50, "excluded_rows": 250, "overlap": 0}


def test_no_comparison_when_a_class_is_missing_from_the_unseen_rows():
    holdout = frame(300, 0)
    model = fitted(holdout, ["a", "b"])
    only_no = holdout[holdout["y"] == "No"]
    result = compare_on_unseen_rows(model, model, only_no, holdout.iloc[:0], PromotionConfig())
    assert result == {
        "compared_rows": len(only_no),
        "excluded_rows": 0,
        "overlap": 0,
        "missing_classes": ["Yes"],
    }


def test_multiclass_and_regression_models_are_compared_on_their_tasks_metrics():
    def three_classes(data: pd.DataFrame) -> pd.DataFrame:
        return data.assign(y=np.select([data["a"] < -0.5, data["a"] > 0.5], ["low", "high"], "mid"))

    def values(data: pd.DataFrame) -> pd.DataFrame:
        return data.assign(y=3 * data["a"] + 0.5 * data["b"])

    holdout, train = frame(600, 0), frame(600, 1)
    classes = TargetSpec(column="y", task="multiclass", classes=["high", "low", "mid"])
    good = fitted(three_classes(train), ["a", "b"], target=classes)
    blind = fitted(three_classes(train), ["b"], target=classes)
    result = compare_on_unseen_rows(
        good, blind, three_classes(holdout), train, PromotionConfig(bootstrap_samples=200)
    )
    assert result["challenger_score"] > 0.8 > 0.5 > result["champion_score"] and result["low"] > 0.2

    value = TargetSpec(column="y", task="regression")
    exact = fitted(values(train), ["a", "b"], LinearRegression(), value)
    partial = fitted(values(train), ["a"], LinearRegression(), value)
    result = compare_on_unseen_rows(
        exact, partial, values(holdout), train, PromotionConfig(bootstrap_samples=200)
    )
    # rmse: lower is better, so the improvement is the champion's error minus the challenger's
    assert result["challenger_score"] == pytest.approx(0.0, abs=1e-9)
    assert result["improvement"] == pytest.approx(result["champion_score"]) and result["low"] > 0.4
    with pytest.raises(ValueError, match="does not apply to a regression model"):
        compare_on_unseen_rows(exact, partial, values(holdout), train, PromotionConfig(metric="roc_auc"))


# ---------------------------------------------------------------------- shadow evidence


def _evidence(requests=5000, production="3", shadow_value=0.82, production_value=0.83, metric="roc_auc"):
    return {
        "production_version": production,
        "shadow_version": "4",
        "requests": requests,
        "estimated": {
            "production": {metric: {"value": production_value}},
            "shadow": {metric: {"value": shadow_value}},
        },
    }


def test_shadow_evidence_passes_the_gate_within_the_allowed_drop():
    required = ShadowEvidence(min_requests=1000, max_estimated_drop=0.02)
    assert shadow_refusal(_evidence(), required, "4", "3", "roc_auc") is None
    assert shadow_refusal(None, required, "1", None, "roc_auc") is None  # a first model: nothing to shadow
    lower_is_better = _evidence(shadow_value=52.0, production_value=53.0, metric="rmse")
    assert shadow_refusal(lower_is_better, ShadowEvidence(max_estimated_drop=0), "4", "3", "rmse") is None


@pytest.mark.parametrize(
    ("evidence", "message"),
    [
        (
            None,
            r"^version 4 has no shadow evidence \(promotion.require_shadow\): serve it with serving.shadow=4",
        ),
        (
            _evidence(production="2"),
            r"^version 4's shadow evidence is against version 2, not production version 3$",
        ),
        (_evidence(requests=999), r"^version 4 scored 999 requests in shadow; .*min_requests is 1000$"),
        (
            _evidence(shadow_value=0.80),
            r"^version 4's estimated roc_auc on live traffic is 0.8000 against "
            r"production's 0.8300 \(a drop of 0.0300 > max_estimated_drop 0.02\)$",
        ),
        (_evidence(metric="f1"), r"^version 4's shadow evidence has no estimated roc_auc for both models$"),
    ],
)
def test_missing_or_insufficient_shadow_evidence_is_refused_in_one_line(evidence, message):
    required = ShadowEvidence(min_requests=1000, max_estimated_drop=0.02)
    reason = shadow_refusal(evidence, required, "4", "3", "roc_auc")
    assert reason is not None and "\n" not in reason
    assert re.match(message, reason), reason

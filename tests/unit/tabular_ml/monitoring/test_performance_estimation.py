"""Performance estimated without labels (monitoring/performance_estimation.py) against the realized
metrics, on synthetic rows whose true probabilities (binary, multiclass) or error spread
(regression) are known, under covariate shift: P(y | x) fixed, x moved."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from tabular_ml.monitoring.performance_estimation import (
    ESTIMATED_METRICS,
    expected_roc_auc,
    fit_performance_estimator,
)


def binary_rows(n: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probabilities of a logistic relation to one feature, and labels drawn from them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    p = 1 / (1 + np.exp(-(1.5 * x - 1)))
    return p, (rng.random(n) < p).astype(int)


def multiclass_rows(n: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, (n, 1))
    logits = x @ np.array([[-1.5, 0.0, 1.5]]) + np.array([0.0, 0.5, 0.0])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return p, np.array([rng.choice(3, p=row) for row in p])


def regression_rows(n: int, shift: float, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A model predicting the mean exactly; the noise grows with |x| and is larger on plan 'b'."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    plan = rng.choice(["a", "b"], n)
    spread = 0.5 + np.abs(x) + np.where(plan == "b", 0.5, 0.0)
    predicted = 2 * x
    return pd.DataFrame({"x": x, "plan": plan}), predicted, predicted + rng.normal(0, spread)


def brute_force_auc(scores: np.ndarray, p: np.ndarray) -> float:
    correct = pairs = 0.0
    for i in range(len(scores)):
        for j in range(len(scores)):
            if i != j:
                weight = p[i] * (1 - p[j])
                pairs += weight
                correct += weight * (1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0)
    return correct / pairs


def test_the_expected_roc_auc_is_the_pairwise_expectation_ties_counting_half():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 15, 150).astype(float)  # many ties
    p = rng.random(150)
    assert expected_roc_auc(scores, p) == pytest.approx(brute_force_auc(scores, p), abs=1e-12)
    assert expected_roc_auc(np.array([0.1, 0.9]), np.array([0.0, 1.0])) == 1.0


@pytest.mark.parametrize("shift", [0.0, 0.6, -0.6])
def test_binary_estimates_match_the_realized_metrics_under_covariate_shift(shift):
    holdout_p, holdout_y = binary_rows(4000, 0.0, seed=1)
    estimator = fit_performance_estimator("binary", holdout_p, holdout_y, threshold=0.4)
    p, y = binary_rows(5000, shift, seed=2)
    estimates = estimator.estimate(p)
    predicted = (p >= 0.4).astype(int)
    realized = {
        "roc_auc": skm.roc_auc_score(y, p),
        "f1": skm.f1_score(y, predicted),
        "accuracy": skm.accuracy_score(y, predicted),
    }
    assert set(estimates) == set(ESTIMATED_METRICS["binary"])
    for name, value in realized.items():
        estimate = estimates[name]
        assert estimate.value == pytest.approx(value, abs=0.02), name
        assert estimate.low < value < estimate.high, name


def test_multiclass_estimates_match_the_realized_f1_macro_and_accuracy():
    holdout_p, holdout_y = multiclass_rows(4000, 0.0, seed=1)
    estimator = fit_performance_estimator("multiclass", holdout_p, holdout_y)
    p, y = multiclass_rows(5000, 0.8, seed=2)
    estimates = estimator.estimate(p)
    predicted = np.argmax(p, axis=1)
    assert estimates["accuracy"].value == pytest.approx(skm.accuracy_score(y, predicted), abs=0.02)
    assert estimates["f1_macro"].value == pytest.approx(skm.f1_score(y, predicted, average="macro"), abs=0.02)


def test_a_class_the_holdout_lacks_keeps_its_raw_probabilities():
    holdout_p, holdout_y = multiclass_rows(400, -2.5, seed=1)
    holdout_y[holdout_y == 2] = 1  # class 2 never seen on the holdout
    estimator = fit_performance_estimator("multiclass", holdout_p, holdout_y)
    calibrated = estimator.calibrated(holdout_p)
    assert np.allclose(calibrated.sum(axis=1), 1.0) and set(estimator.estimate(holdout_p)) == {
        "f1_macro",
        "accuracy",
    }


def test_direct_loss_estimation_follows_the_error_where_the_rows_moved():
    features, predicted, actual = regression_rows(3000, 0.0, seed=1)
    estimator = fit_performance_estimator(
        "regression", predicted, actual, holdout_features=features, chunk_size=500
    )
    holdout_rmse = np.sqrt(np.mean((actual - predicted) ** 2))
    current, current_predicted, current_actual = regression_rows(5000, 1.5, seed=2)
    estimates = estimator.estimate(current_predicted, current)
    errors = current_actual - current_predicted
    rmse, mae = np.sqrt(np.mean(errors**2)), np.mean(np.abs(errors))
    assert rmse > 1.3 * holdout_rmse  # the shift moved the rows where the model errs more...
    assert estimates["rmse"].value == pytest.approx(rmse, rel=0.1)  # ...and the loss model saw it
    assert estimates["mae"].value == pytest.approx(mae, rel=0.1)
    assert estimates["rmse"].low < estimates["rmse"].value < estimates["rmse"].high


def test_the_interval_narrows_as_the_batch_grows_and_the_estimate_ignores_labels():
    holdout_p, holdout_y = binary_rows(4000, 0.0, seed=1)
    estimator = fit_performance_estimator("binary", holdout_p, holdout_y)
    small = estimator.estimate(binary_rows(500, 0.0, seed=2)[0])["roc_auc"]
    large = estimator.estimate(binary_rows(20000, 0.0, seed=3)[0])["roc_auc"]
    assert large.high - large.low < 0.25 * (small.high - small.low)  # 40 times the rows: ~1/6.3
    # concept drift (labels flipped, inputs the same) is invisible to it: the scores did not change
    p, y = binary_rows(5000, 0.0, seed=4)
    assert skm.roc_auc_score(1 - y, p) < 0.3
    assert estimator.estimate(p)["roc_auc"].value > 0.75


def test_bad_input_is_one_line():
    p, y = binary_rows(30, 0.0, seed=1)
    with pytest.raises(ValueError, match="at least 40 holdout rows, got 30"):
        fit_performance_estimator("binary", p, y)
    p, y = binary_rows(100, 0.0, seed=1)
    with pytest.raises(ValueError, match="needs the holdout's features"):
        fit_performance_estimator("regression", p, y)
    with pytest.raises(ValueError, match="unknown task 'ranking'"):
        fit_performance_estimator("ranking", p, y)

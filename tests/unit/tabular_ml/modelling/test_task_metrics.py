"""The holdout metrics of each task (tabular_ml/modelling/task_metrics.py), by hand, and the notes for
the ones a holdout leaves undefined. Multiclass, through the evaluation: test_evaluation_tasks.py."""

import math

import numpy as np
import pytest

from tabular_ml.modelling.task_metrics import binary_scores, regression_scores
from tabular_ml.tasks.metric_names import metric_names


def test_binary_metrics_by_hand_in_display_order():
    y, pred, proba = np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0]), np.array([0.9, 0.4, 0.6, 0.2])
    metrics, notes = binary_scores(y, pred, proba)
    assert list(metrics) == list(metric_names("binary")) and notes == []
    for name in ("accuracy", "balanced_accuracy", "precision", "recall", "f1"):
        assert metrics[name] == 0.5, name  # one of each kind: tp, fn, fp, tn
    assert metrics["roc_auc"] == 0.75  # of the 4 (positive, negative) pairs, 0.4 < 0.6 is ranked wrong
    assert metrics["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)  # precision 1 at recall 0.5, 2/3 at 1
    assert metrics["brier"] == pytest.approx((0.1**2 + 0.6**2 + 0.6**2 + 0.2**2) / 4)
    assert metrics["log_loss"] == pytest.approx(-(math.log(0.9) + 2 * math.log(0.4) + math.log(0.8)) / 4)


def test_a_holdout_of_one_class_has_no_ranking_metrics_and_says_why():
    metrics, notes = binary_scores(np.array([1, 1]), np.array([1, 0]), np.array([0.9, 0.3]))
    assert "roc_auc" not in metrics and "pr_auc" not in metrics
    assert metrics["recall"] == 0.5
    assert notes == [
        "y_true holds only the positive class: roc_auc and pr_auc are undefined and were omitted"
    ]


def test_regression_metrics_by_hand_and_no_r2_for_a_constant_target():
    metrics, notes = regression_scores(np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 2.0]))
    assert metrics == {
        "rmse": pytest.approx(math.sqrt(5 / 3)),
        "mae": 1.0,
        "median_ae": 1.0,
        "max_error": 2.0,
        "r2": pytest.approx(1 - 5 / (14 / 3)),  # mean 7/3: squares 16/9 + 1/9 + 25/9
    }
    assert notes == []
    metrics, notes = regression_scores(np.array([2.0, 2.0]), np.array([1.0, 2.0]))
    assert "r2" not in metrics
    assert notes == ["y_true holds a single value: r2 (relative to its variance) is undefined, omitted"]

"""Multiclass and regression evaluation, the reliability curve and the trivial baseline, by hand."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from tabular_ml.modelling.evaluation import (
    CURVE_MAX_POINTS,
    EvaluationReport,
    baseline_metrics,
    evaluate_classifier,
    evaluate_multiclass,
    evaluate_regression,
    metric_names,
)
from tests.support.evaluation_examples import CLASSES, P3, Y3, Y_PRED, Y_TRUE


@pytest.fixture()
def multiclass() -> EvaluationReport:
    return evaluate_multiclass(Y3, P3, CLASSES, model_name="iris", algorithm="logreg")


def test_perfect_multiclass_model():
    y = [0, 1, 2, 0, 1, 2]
    proba = np.full((6, 3), 0.1) + 0.7 * np.eye(3)[y]
    r = evaluate_multiclass(y, proba, CLASSES)
    assert r.confusion_matrix == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    for name in ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr"):
        assert r.metrics[name] == 1.0
    assert r.metrics["log_loss"] == pytest.approx(-math.log(0.8))
    assert r.per_class["virginica"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2.0}


def test_multiclass_confusion_matrix_and_per_class_by_hand(multiclass):
    assert multiclass.task == "multiclass" and multiclass.class_names == CLASSES
    assert multiclass.confusion_matrix == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]  # rows actual, columns predicted
    assert multiclass.per_class == {
        "setosa": {
            "precision": 1.0,
            "recall": pytest.approx(2 / 3),
            "f1": pytest.approx(0.8),
            "support": 3.0,
        },
        "versicolor": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2.0},
        "virginica": {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1.0},
    }


def test_multiclass_metrics_by_hand(multiclass):
    m = multiclass.metrics
    assert list(m) == list(metric_names("multiclass"))
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision_macro"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert m["recall_macro"] == m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert m["f1_macro"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m["f1_weighted"] == pytest.approx((3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)
    # One-vs-rest ROC AUC, the mean over classes of the share of (member, non-member) pairs ranked right:
    # setosa 7.5 / 9 (0.2 ties 0.2, loses to 0.3), versicolor 6 / 8, virginica 5 / 5.
    assert m["roc_auc_ovr"] == pytest.approx((7.5 / 9 + 6 / 8 + 1) / 3)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.7, 0.5, 0.2, 0.8, 0.3, 0.6])))


def test_class_missing_from_the_holdout_omits_roc_auc_ovr():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = evaluate_multiclass([0, 0, 1], [[0.5, 0.3, 0.2], [0.6, 0.2, 0.2], [0.1, 0.8, 0.1]], CLASSES)
    assert "roc_auc_ovr" not in r.metrics
    assert r.notes == ["class(es) 'virginica' absent from y_true: roc_auc_ovr is undefined and was omitted"]
    assert all(math.isfinite(v) for v in r.metrics.values())
    # A class neither present nor predicted does not drag the macro averages down.
    assert r.metrics["f1_macro"] == 1.0
    assert r.confusion_matrix == [[2, 0, 0], [0, 1, 0], [0, 0, 0]]
    assert EvaluationReport.model_validate_json(r.model_dump_json()) == r


def test_multiclass_bad_inputs():
    with pytest.raises(ValueError, match="class codes 0..2"):
        evaluate_multiclass([0, 3], [[1, 0, 0], [0, 1, 0]], CLASSES)
    with pytest.raises(ValueError, match=r"n x 3 matrix .* got shape \(2, 2\)"):
        evaluate_multiclass([0, 1], [[1, 0], [0, 1]], CLASSES)
    with pytest.raises(ValueError, match="sum to 1"):
        evaluate_multiclass([0, 1], [[0.5, 0.1, 0.1], [0, 1, 0]], CLASSES)
    with pytest.raises(ValueError, match="3 or more labels"):
        evaluate_multiclass([0, 1], [[1, 0], [0, 1]], ["a", "b"])
    with pytest.raises(ValueError, match="distinct"):
        evaluate_multiclass([0], [[1, 0, 0]], ["a", "b", "a"])
    with pytest.raises(ValueError, match="n_samples are computed by the evaluation"):
        evaluate_multiclass(Y3, P3, CLASSES, n_samples=3)
    with pytest.raises(ValueError, match="positive_class apply to a binary task, not to a multiclass one"):
        evaluate_multiclass(Y3, P3, CLASSES, positive_class="setosa")


# --------------------------------------------------------------------------- regression


def test_regression_metrics_by_hand():
    r = evaluate_regression(Y_TRUE, Y_PRED, model_name="houses", algorithm="ridge")
    m = r.metrics
    assert list(m) == list(metric_names("regression"))
    assert m["rmse"] == pytest.approx(math.sqrt((0.25 + 0.25 + 0 + 1) / 4))
    assert m["mae"] == pytest.approx((0.5 + 0.5 + 0 + 1) / 4)
    assert m["median_ae"] == pytest.approx(0.5)
    assert m["max_error"] == pytest.approx(1.0)
    # mean 2.875: total sum of squares 0.125² + 3.375² + 0.875² + 4.125² = 29.1875
    assert m["r2"] == pytest.approx(1 - 1.5 / 29.1875)
    assert r.task == "regression" and r.confusion_matrix == [] and r.class_names == []
    assert r.residuals["actual"] == [-0.5, 2.0, 3.0, 7.0]  # sorted by the actual value
    assert r.residuals["predicted"] == [0.0, 2.0, 2.5, 8.0]
    counts, edges = r.residuals["histogram_counts"], r.residuals["histogram_edges"]
    assert sum(counts) == 4 and len(edges) == len(counts) + 1
    assert edges[0] == -1.0 and edges[-1] == 0.5  # residuals (actual - predicted) span -1 .. 0.5
    assert EvaluationReport.model_validate_json(r.model_dump_json()) == r


def test_regression_points_are_downsampled_but_the_histogram_counts_every_row():
    rng = np.random.default_rng(1)
    y = rng.normal(250_000, 80_000, 5000)
    pred = y + rng.normal(0, 20_000, 5000)
    r = evaluate_regression(y, pred)
    assert len(r.residuals["actual"]) == len(r.residuals["predicted"]) == CURVE_MAX_POINTS
    assert r.residuals["actual"][0] == pytest.approx(y.min(), rel=1e-6)
    assert r.residuals["actual"][-1] == pytest.approx(y.max(), rel=1e-6)
    assert sum(r.residuals["histogram_counts"]) == 5000
    assert len(r.residuals["histogram_counts"]) <= 30
    assert len(r.model_dump_json()) < 20_000


def test_constant_regression_target_omits_r2():
    r = evaluate_regression([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    assert "r2" not in r.metrics and r.metrics["mae"] == pytest.approx(2 / 3)
    assert any("r2" in note for note in r.notes)


def test_regression_bad_inputs():
    with pytest.raises(ValueError, match="finite numbers"):
        evaluate_regression([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(ValueError, match="y_pred must hold numbers"):
        evaluate_regression([1.0, 2.0], ["a", "b"])
    with pytest.raises(ValueError, match="2 values but y_pred has 3"):
        evaluate_regression([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="zero samples"):
        evaluate_regression([], [])
    with pytest.raises(ValueError, match="threshold apply to a binary task"):
        evaluate_regression([1.0], [1.0], threshold=0.3)
    with pytest.raises(ValueError, match="regression report has no confusion_matrix, class_names"):
        evaluate_regression([1.0], [1.0], class_names=["a", "b"])


# --------------------------------------------------------------------------- binary additions


def test_reliability_curve_by_hand():
    # 10 quantile bins of 10 rows each; in bin i every row predicts (i + 0.5) / 10 and i of 10 are positive.
    proba = np.repeat((np.arange(10) + 0.5) / 10, 10)
    y = np.concatenate([[1] * i + [0] * (10 - i) for i in range(10)])
    r = evaluate_classifier(y, proba)
    assert r.reliability["mean_predicted"] == pytest.approx([(i + 0.5) / 10 for i in range(10)])
    assert r.reliability["observed_rate"] == pytest.approx([i / 10 for i in range(10)])
    assert r.reliability["count"] == [10.0] * 10


def test_reliability_of_tied_predictions_has_fewer_bins():
    r = evaluate_classifier([0, 1, 0, 1, 1], [0.2, 0.2, 0.2, 0.9, 0.9])
    assert r.reliability == {
        "mean_predicted": [0.2, 0.9],
        "observed_rate": [pytest.approx(1 / 3), 1.0],
        "count": [3.0, 2.0],
    }
    constant = evaluate_classifier([0, 1, 1], [0.5, 0.5, 0.5])
    assert constant.reliability == {
        "mean_predicted": [0.5],
        "observed_rate": [pytest.approx(2 / 3)],
        "count": [3.0],
    }


def test_binary_class_names_and_per_class():
    r = evaluate_classifier(
        [1, 1, 1, 0, 0, 0, 0, 0], [0.9, 0.6, 0.3, 0.8, 0.55, 0.4, 0.2, 0.1], class_names=["No", "Yes"]
    )
    assert r.class_names == ["No", "Yes"] and r.positive_class == "Yes"
    # tp 2, fn 1, fp 2, tn 3
    assert r.per_class["Yes"] == {
        "precision": 0.5,
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(4 / 7),
        "support": 3.0,
    }
    assert r.per_class["No"] == {"precision": 0.75, "recall": 0.6, "f1": pytest.approx(2 / 3), "support": 5.0}
    assert evaluate_classifier([0, 1], [0.2, 0.7], positive_class="churn").class_names == [
        "not churn",
        "churn",
    ]
    assert evaluate_classifier([0, 1], [0.2, 0.7]).class_names == ["0", "1"]
    with pytest.raises(
        ValueError, match=r"positive_class 'No' must be the second of class_names \['No', 'Yes'\]"
    ):
        evaluate_classifier([0, 1], [0.2, 0.7], class_names=["No", "Yes"], positive_class="No")


def test_report_shape_must_fit_its_task():
    with pytest.raises(ValueError, match=r"confusion_matrix must be 3 x 3"):
        EvaluationReport(
            task="multiclass", n_samples=1, class_names=CLASSES, confusion_matrix=[[1, 0], [0, 0]]
        )
    with pytest.raises(ValueError, match="regression report has no confusion_matrix"):
        EvaluationReport(task="regression", n_samples=1, confusion_matrix=[[1, 0], [0, 0]])
    with pytest.raises(ValueError, match="finite numbers"):
        EvaluationReport(task="binary", n_samples=1, reliability={"mean_predicted": [float("nan")]})
    assert EvaluationReport(task="regression", n_samples=0).confusion_matrix == []
    with pytest.raises(ValueError, match="not of a regression one"):
        _ = EvaluationReport(task="regression", n_samples=0).tn_fp_fn_tp


# --------------------------------------------------------------------------- the baseline


def test_binary_baseline_by_hand():
    # Training prior 1/4 positive, majority negative; holdout 2 positives of 5.
    b = baseline_metrics("binary", [0, 0, 0, 1], [0, 1, 1, 0, 0])
    assert list(b) == list(metric_names("binary"))
    assert b["accuracy"] == pytest.approx(3 / 5)
    assert b["f1"] == 0.0 and b["recall"] == 0.0
    assert b["roc_auc"] == 0.5 and b["balanced_accuracy"] == 0.5
    assert b["pr_auc"] == pytest.approx(2 / 5)  # a constant score's average precision is the prevalence
    assert b["brier"] == pytest.approx((3 * 0.25**2 + 2 * 0.75**2) / 5)
    assert b["log_loss"] == pytest.approx(-(3 * math.log(0.75) + 2 * math.log(0.25)) / 5)


def test_binary_baseline_labels_are_the_majority_whatever_the_prior():
    b = baseline_metrics("binary", [1, 1, 0], [1, 0])  # majority positive: f1 of "always positive"
    assert b["recall"] == 1.0 and b["precision"] == 0.5 and b["f1"] == pytest.approx(2 / 3)


def test_multiclass_baseline_by_hand():
    # Training prior [1/2, 1/4, 1/4], majority class 0; holdout 0, 1, 2, 2.
    b = baseline_metrics("multiclass", [0, 0, 1, 2], [0, 1, 2, 2], class_count=3)
    assert b["accuracy"] == 0.25
    assert b["f1_macro"] == pytest.approx((2 * 0.25 / 1.25) / 3)  # class 0: precision 1/4, recall 1
    assert b["roc_auc_ovr"] == 0.5
    assert b["log_loss"] == pytest.approx(-(math.log(0.5) + 3 * math.log(0.25)) / 4)


def test_multiclass_baseline_with_a_class_absent_from_training():
    b = baseline_metrics("multiclass", [0, 0, 1], [0, 2], class_count=3)
    assert all(math.isfinite(v) for v in b.values())  # the prior 0 of class 2 gives a large, finite log loss
    assert b["log_loss"] > 10


def test_regression_baseline_by_hand():
    # Training mean 2; holdout 1, 3, 5 (mean 3, total sum of squares 8).
    b = baseline_metrics("regression", [1.0, 2.0, 3.0], [1.0, 3.0, 5.0])
    assert b["rmse"] == pytest.approx(math.sqrt(11 / 3))
    assert b["mae"] == pytest.approx(5 / 3)
    assert b["r2"] == pytest.approx(1 - 11 / 8)
    assert b["max_error"] == 3.0


def test_baseline_bad_inputs():
    with pytest.raises(ValueError, match="needs class_count >= 3"):
        baseline_metrics("multiclass", [0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="unknown task 'ranking'"):
        baseline_metrics("ranking", [0], [0])
    with pytest.raises(ValueError, match="y_train must hold only 0 and 1"):
        baseline_metrics("binary", ["No", "Yes"], [0, 1])
    with pytest.raises(ValueError, match="at least one training"):
        baseline_metrics("regression", [], [1.0])


def test_the_baseline_travels_in_the_report():
    b = baseline_metrics("multiclass", [0, 0, 1, 2], Y3, class_count=3)
    r = evaluate_multiclass(Y3, P3, CLASSES, baseline_metrics=b)
    assert r.baseline_metrics == b
    assert EvaluationReport.model_validate_json(r.model_dump_json()).baseline_metrics == b

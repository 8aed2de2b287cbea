"""Holdout metrics against hand-computed values, quality gates, and the HTML report."""

from __future__ import annotations

import json
import math
import re
import warnings

import numpy as np
import pytest

from tabular_ml.configuration.schema import QualityGates
from tabular_ml.modelling.evaluation import (
    CURVE_MAX_POINTS,
    METRIC_NAMES,
    EvaluationReport,
    check_gates,
    evaluate_classifier,
)
from tabular_ml.reporting.html_page import render_report_html

# 3 positives, 5 negatives.
#   index:   0    1    2    3    4     5    6    7
#   y:       1    1    1    0    0     0    0    0
#   p:      .9   .6   .3   .8   .55  .4   .2   .1
# At threshold 0.5 the predictions are 1 1 0 1 1 0 0 0:
#   tp = 2 (0, 1)   fn = 1 (2)   fp = 2 (3, 4)   tn = 3 (5, 6, 7)
Y = [1, 1, 1, 0, 0, 0, 0, 0]
P = [0.9, 0.6, 0.3, 0.8, 0.55, 0.4, 0.2, 0.1]


@pytest.fixture()
def report() -> EvaluationReport:
    return evaluate_classifier(Y, P, 0.5, model_name="churn", algorithm="logreg", positive_class="Yes")


def test_confusion_matrix_by_hand(report):
    assert report.confusion_matrix == [[3, 2], [1, 2]]  # [[tn, fp], [fn, tp]]
    assert report.tn_fp_fn_tp == (3, 2, 1, 2)
    assert report.n_samples == 8


def test_threshold_metrics_by_hand(report):
    m = report.metrics
    assert m["accuracy"] == pytest.approx(5 / 8)  # (tp + tn) / n = (2 + 3) / 8
    assert m["precision"] == pytest.approx(2 / 4)  # tp / (tp + fp)
    assert m["recall"] == pytest.approx(2 / 3)  # tp / (tp + fn)
    assert m["f1"] == pytest.approx(4 / 7)  # 2 * 0.5 * 2/3 / (0.5 + 2/3)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 3 / 5) / 2)  # mean of TPR and TNR


def test_probability_metrics_by_hand(report):
    m = report.metrics
    # ROC AUC: share of (positive, negative) pairs ranked correctly, 15 pairs:
    # 0.9 beats all 5 negatives, 0.6 beats 4 (not 0.8), 0.3 beats 2 (0.2, 0.1) -> 11 / 15.
    assert m["roc_auc"] == pytest.approx(11 / 15)
    # Average precision: positives at ranks 1, 3 and 6 -> precisions 1, 2/3, 3/6.
    assert m["pr_auc"] == pytest.approx((1 + 2 / 3 + 1 / 2) / 3)
    # Brier: mean squared error of the probabilities.
    squared = [0.1**2, 0.4**2, 0.7**2, 0.8**2, 0.55**2, 0.4**2, 0.2**2, 0.1**2]
    assert m["brier"] == pytest.approx(sum(squared) / 8)
    # Log loss: mean of -log(p) for positives and -log(1 - p) for negatives.
    likelihoods = [0.9, 0.6, 0.3, 0.2, 0.45, 0.6, 0.8, 0.9]
    assert m["log_loss"] == pytest.approx(-sum(math.log(v) for v in likelihoods) / 8)
    assert list(m) == list(METRIC_NAMES)


@pytest.mark.parametrize(
    ("y", "p", "expected"),
    [
        ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 3 / 4),  # 0.35 loses to 0.4 only
        ([0, 0, 1, 1, 1], [0.2, 0.6, 0.6, 0.9, 0.1], 3.5 / 6),  # the 0.6/0.6 tie counts one half
        ([1, 0, 1, 0], [0.9, 0.1, 0.8, 0.2], 1.0),
    ],
)
def test_roc_auc_by_hand_on_tiny_arrays(y, p, expected):
    assert evaluate_classifier(y, p).metrics["roc_auc"] == pytest.approx(expected)


def test_threshold_moves_the_predictions_not_the_ranking_metrics(report):
    high = evaluate_classifier(Y, P, 0.7)  # predicted positive: 0.9, 0.8
    assert high.confusion_matrix == [[4, 1], [2, 1]]
    assert high.metrics["recall"] == pytest.approx(1 / 3)
    assert high.metrics["precision"] == pytest.approx(1 / 2)
    low = evaluate_classifier(Y, P, 0.3)  # p >= threshold: 0.3 itself counts as positive
    assert low.confusion_matrix == [[2, 3], [0, 3]]
    assert low.metrics["recall"] == 1.0
    assert low.threshold == 0.3
    for name in ("roc_auc", "pr_auc", "log_loss", "brier"):
        assert high.metrics[name] == low.metrics[name] == report.metrics[name]


def test_no_predicted_positive_gives_zero_precision_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = evaluate_classifier([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], threshold=0.9)
    assert r.metrics["precision"] == 0.0 and r.metrics["recall"] == 0.0 and r.metrics["f1"] == 0.0


@pytest.mark.parametrize(("label", "name"), [(0, "negative"), (1, "positive")])
def test_single_class_omits_ranking_metrics_and_says_why(label, name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = evaluate_classifier([label] * 4, [0.2, 0.7, 0.4, 0.9])
    assert "roc_auc" not in r.metrics and "pr_auc" not in r.metrics
    assert set(r.metrics) == set(METRIC_NAMES) - {"roc_auc", "pr_auc"}
    assert all(math.isfinite(v) for v in r.metrics.values())
    assert r.roc_curve == {"fpr": [], "tpr": []} and r.pr_curve == {"precision": [], "recall": []}
    assert any(f"only the {name} class" in note and "roc_auc" in note for note in r.notes)
    assert r.metrics["accuracy"] == pytest.approx(0.5)
    assert EvaluationReport.model_validate_json(r.model_dump_json()) == r
    # A gate on an omitted metric fails, saying so.
    assert check_gates(r.metrics, QualityGates(min={"roc_auc": 0.8})) == [
        "roc_auc was not computed for this evaluation, so its minimum 0.800 cannot be checked"
    ]
    assert "Not available" in render_report_html(r)


def test_curves_are_downsampled_and_keep_their_ends():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    p = np.clip(rng.normal(0.4 + 0.2 * y, 0.25), 0, 1)
    r = evaluate_classifier(y, p)
    assert 2 < len(r.roc_curve["fpr"]) == len(r.roc_curve["tpr"]) <= CURVE_MAX_POINTS
    assert 2 < len(r.pr_curve["precision"]) == len(r.pr_curve["recall"]) <= CURVE_MAX_POINTS
    assert (r.roc_curve["fpr"][0], r.roc_curve["tpr"][0]) == (0.0, 0.0)
    assert (r.roc_curve["fpr"][-1], r.roc_curve["tpr"][-1]) == (1.0, 1.0)
    assert r.pr_curve["recall"][0] == 1.0 and r.pr_curve["recall"][-1] == 0.0
    assert len(r.model_dump_json()) < 20_000


def test_report_round_trips_through_json_with_context():
    r = evaluate_classifier(
        Y,
        P,
        model_name="m",
        algorithm="rf",
        positive_class="Yes",
        best_params={"n_estimators": np.int64(100), "depth": (3, 5), "w": None},
        cv_metrics={"roc_auc": {"mean": 0.8, "std": 0.02}},
        feature_importances={"a": 0.1, "b": -0.7, "c": 0.3, "d": float("nan")},
        top_features=2,
    )
    assert r.best_params == {"n_estimators": 100, "depth": [3, 5], "w": None}
    assert r.feature_importances == [("b", -0.7), ("c", 0.3)]  # by |value|, NaN dropped, top 2
    dumped = r.model_dump_json()
    json.loads(dumped)  # standard JSON
    assert EvaluationReport.model_validate_json(dumped) == r


def test_non_finite_values_never_reach_the_json():
    r = EvaluationReport(
        task="binary",
        n_samples=3,
        metrics={"accuracy": 0.5, "roc_auc": float("nan")},
        cv_metrics={"f1": {"mean": 0.4, "std": 0.1}, "roc_auc": {"mean": float("nan"), "std": 0.0}},
    )
    assert r.metrics == {"accuracy": 0.5} and list(r.cv_metrics) == ["f1"]
    assert len(r.notes) == 2
    assert "NaN" not in r.model_dump_json() and "null" not in r.model_dump_json()


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="only 0 and 1"):
        evaluate_classifier([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="2 values"):
        evaluate_classifier([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        evaluate_classifier([0, 1], [0.1, 1.2])
    with pytest.raises(ValueError, match="zero samples"):
        evaluate_classifier([], [])
    with pytest.raises(ValueError, match="extra"):
        evaluate_classifier(Y, P, not_a_field=1)


# --------------------------------------------------------------------------- HTML


def test_html_shows_metrics_confusion_counts_and_charts(report):
    r = report.model_copy(
        update={
            "cv_metrics": {"roc_auc": {"mean": 0.8123, "std": 0.0456}},
            "feature_importances": [("tenure", 0.5), ("charges", -0.25)],
            "best_params": {"C": 0.5},
        }
    )
    html = render_report_html(r)
    assert html.startswith("<!DOCTYPE html>")
    for name, value in r.metrics.items():
        assert name in html and f"{value:.4f}" in html
    counts = re.findall(r'<span class="count">(\d+)</span>', html)
    assert counts == ["3", "2", "1", "2"]  # tn, fp / fn, tp
    assert "0.8123 ± 0.0456" in html
    assert html.count("<svg") == 4  # ROC, PR, reliability, importances
    assert "Reliability curve" in html and f"Brier score <b>{r.metrics['brier']:.4f}</b>" in html
    assert "tenure" in html and "charges" in html
    # Self-contained: nothing to fetch, no script.
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html, re.IGNORECASE)
    assert "<script" not in html.lower() and "<link" not in html.lower()


def test_html_escapes_hostile_text():
    hostile = "<script>alert(1)</script>"
    r = evaluate_classifier(
        Y,
        P,
        model_name=f"m{hostile}",
        algorithm=hostile,
        positive_class='"><img src=x onerror=alert(1)>',
        best_params={hostile: hostile},
        cv_metrics={hostile: {"mean": 0.5, "std": 0.1}},
        feature_importances={hostile: 1.0, "price $ usd": 0.5},
        notes=[hostile],
    )
    html = render_report_html(r)
    assert "<script" not in html.lower()
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "price $ usd" in html  # '$' is shown literally, not parsed as mathtext


def test_html_is_reproducible(report):
    assert render_report_html(report) == render_report_html(report)  # no dates, stable SVG ids

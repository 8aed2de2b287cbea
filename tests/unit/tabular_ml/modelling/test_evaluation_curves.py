"""The plotted data of an evaluation report (tabular_ml/modelling/evaluation_curves.py): ROC and PR
points, reliability bins and residuals, by hand and downsampled.

Through the whole evaluation: tests/unit/tabular_ml/modelling/test_evaluation_tasks.py.
"""

import numpy as np
import pytest

from tabular_ml.modelling.evaluation_curves import (
    CURVE_MAX_POINTS,
    ranking_curves,
    reliability_curve,
    residual_summary,
)


def test_roc_and_pr_points_by_hand():
    # Ranked by probability: 0.8 positive, 0.4 negative, 0.35 positive, 0.1 negative.
    roc, pr = ranking_curves(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    assert roc == {"fpr": [0.0, 0.0, 0.5, 0.5, 1.0], "tpr": [0.0, 0.5, 0.5, 1.0, 1.0]}
    # Thresholds 0.1, 0.35, 0.4, 0.8, then the (recall 0, precision 1) end; rounded to 6 decimals.
    assert pr == {"precision": [0.5, 0.666667, 0.5, 1.0, 1.0], "recall": [1.0, 1.0, 0.5, 0.5, 0.0]}


def test_long_curves_are_downsampled_keeping_both_ends():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    proba = np.clip(0.3 * y + rng.uniform(0, 0.7, 5000), 0, 1)
    roc, pr = ranking_curves(y, proba)
    assert len(roc["fpr"]) == len(roc["tpr"]) <= CURVE_MAX_POINTS
    assert len(pr["precision"]) == len(pr["recall"]) <= CURVE_MAX_POINTS
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0.0, 0.0, 1.0, 1.0)
    assert pr["recall"][0] == 1.0 and pr["recall"][-1] == 0.0


def test_the_top_bin_of_the_reliability_curve_holds_its_upper_edge():
    curve = reliability_curve(np.array([0, 1, 1]), np.array([0.2, 0.8, 0.8]), bins=2)
    # Quantile edges 0.2, 0.8, 0.8 -> 0.2, 0.8: one bin, holding the rows at 0.8 too.
    assert curve == {
        "mean_predicted": [0.6],
        "observed_rate": [pytest.approx(2 / 3, abs=1e-6)],
        "count": [3.0],
    }


def test_residuals_sorted_by_actual_with_every_row_in_the_histogram():
    summary = residual_summary(
        np.array([3.0, 1.0, 2.0, 1_234_567.891]), np.array([2.5, 1.0, 2.0, 1_234_567.0])
    )
    assert summary["actual"] == [1.0, 2.0, 3.0, 1_234_568.0]  # 7 significant digits
    assert summary["predicted"] == [1.0, 2.0, 2.5, 1_234_567.0]
    assert sum(summary["histogram_counts"]) == 4
    assert len(summary["histogram_edges"]) == len(summary["histogram_counts"]) + 1
    assert summary["histogram_edges"][0] == 0.0 and summary["histogram_edges"][-1] == 0.891

"""The decision threshold: chosen for an objective on out-of-fold probabilities."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from tabular_ml.modelling.threshold import choose_threshold, out_of_fold_proba


def test_the_f1_best_threshold_is_found_among_the_probabilities():
    y = np.array([0, 0, 0, 0, 1, 0, 1, 1])
    proba = np.array([0.05, 0.1, 0.2, 0.3, 0.35, 0.4, 0.6, 0.7])
    threshold = choose_threshold(y, proba, "f1")
    # every row from 0.35 up positive: precision 3/4, recall 1 -> f1 0.857, the best cut
    assert 0.3 < threshold <= 0.35
    assert f1_score(y, proba >= threshold) == pytest.approx(6 / 7)


def test_a_rare_class_gets_a_threshold_below_one_half():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 1))
    y = (x[:, 0] + rng.normal(0, 1.5, 4000) > 2.0).astype(int)  # about 10 % positives
    proba = out_of_fold_proba(LogisticRegression(), x, y, StratifiedKFold(5, shuffle=True, random_state=0))
    threshold = choose_threshold(y, proba, "f1")
    assert 0.1 < threshold < 0.4
    assert f1_score(y, proba >= threshold) > f1_score(y, proba >= 0.5) + 0.05
    assert choose_threshold(y, proba, "accuracy") > threshold  # accuracy favours the majority


def test_one_class_keeps_one_half():
    assert choose_threshold(np.zeros(10, dtype=int), np.linspace(0, 1, 10)) == 0.5


def test_the_threshold_sample_is_bounded_stratified_and_seeded():
    import pandas as pd

    from tabular_ml.modelling.threshold import threshold_sample

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": np.arange(10_000)})
    y = (rng.random(10_000) < 0.13).astype(int)  # 13 % positives
    X_s, y_s, groups = threshold_sample(X, y, 1_000, random_state=7)
    assert groups is None
    assert len(X_s) == len(y_s) == 1_000
    assert y_s.sum() == round(1_000 * y.mean())  # each class keeps its share
    np.testing.assert_array_equal(y[X_s["x"].to_numpy()], y_s)  # rows and labels stay paired
    assert X_s["x"].is_unique  # without replacement
    again, _, _ = threshold_sample(X, y, 1_000, random_state=7)
    assert again["x"].tolist() == X_s["x"].tolist()  # seeded
    other, _, _ = threshold_sample(X, y, 1_000, random_state=8)
    assert other["x"].tolist() != X_s["x"].tolist()
    # a table within the bound is used whole
    whole, y_whole, _ = threshold_sample(X, y, 10_000, random_state=7)
    assert whole is X and len(y_whole) == 10_000

"""Grouped CV: with the split's id_column, the search's and threshold's folds keep an id's rows together."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

from tabular_ml.configuration.schema import (
    AlgorithmSpec,
    ColumnSpec,
    DataContract,
    PreprocessingConfig,
    SearchConfig,
)
from tabular_ml.modelling.model import build_model, make_estimator
from tabular_ml.modelling.search import cv_folds, run_search
from tabular_ml.modelling.threshold import out_of_fold_proba, threshold_sample

CONTRACT = DataContract(
    target="label",
    classes=["no", "yes"],
    positive_class="yes",
    columns={"x1": ColumnSpec(kind="numeric"), "x2": ColumnSpec(kind="numeric")},
)
#: an unpruned tree memorises every row it trains on
TREE = AlgorithmSpec(
    name="tree", estimator="sklearn.tree.DecisionTreeClassifier", search_space={"min_samples_leaf": [1, 2]}
)


def copies_per_id(
    ids: int = 80, copies: int = 6, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Each id's rows are copies of one random row with one random label: nothing to learn but the
    copies themselves, so a model scores well only on rows whose id it trained on."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(ids, 2))
    labels = np.arange(ids) % 2  # balanced, unrelated to the features
    rng.shuffle(labels)
    groups = np.repeat(np.arange(ids), copies)
    X = pd.DataFrame(features[groups], columns=["x1", "x2"])
    return X, labels[groups], groups


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_grouped_folds_never_put_an_id_in_two_folds(task):
    X, y, groups = copies_per_id()
    folds = cv_folds(SearchConfig(cv=4, algorithms=[TREE]), task, grouped=True)
    test_folds = [set(groups[test]) for _, test in folds.split(X, y, groups)]
    assert len(test_folds) == 4
    assert sum(len(ids) for ids in test_folds) == len(set(groups))  # every id tested exactly once
    for _, test in folds.split(X, y, groups):
        train = np.setdiff1d(np.arange(len(y)), test)
        assert not set(groups[train]) & set(groups[test])


def test_without_groups_the_folds_are_the_seeded_k_folds_of_before():
    config = SearchConfig(cv=4, random_state=3, algorithms=[TREE])
    X, y, _ = copies_per_id()
    for task, expected in (("binary", StratifiedKFold), ("regression", KFold)):
        folds = cv_folds(config, task)
        reference = expected(n_splits=4, shuffle=True, random_state=3)
        for (_, ours), (_, theirs) in zip(folds.split(X, y), reference.split(X, y), strict=True):
            np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("strategy", ["grid", "halving"])
def test_grouped_search_scores_only_rows_of_unseen_ids(strategy):
    X, y, groups = copies_per_id()
    config = SearchConfig(strategy=strategy, cv=4, n_jobs=1, algorithms=[TREE])
    alone = run_search(X, y, CONTRACT, PreprocessingConfig(), [], config)
    grouped = run_search(X, y, CONTRACT, PreprocessingConfig(), [], config, groups=groups)
    if strategy == "halving":
        assert alone.best.rows == grouped.best.rows == len(y)  # the finalists on every row
    assert alone.best.mean_score > 0.95  # copies of the scored rows were in the training folds
    assert abs(grouped.best.mean_score - 0.5) < 0.2  # nothing to learn: about chance


def test_a_search_without_groups_scores_as_scikit_learns_seeded_folds():
    X, y, _ = copies_per_id(seed=1)
    y = (X["x1"] + 0.5 * np.random.default_rng(1).normal(size=len(X)) > 0).astype(int).to_numpy()
    config = SearchConfig(strategy="grid", cv=3, n_jobs=1, random_state=5, algorithms=[TREE])
    result = run_search(X, y, CONTRACT, PreprocessingConfig(), [], config)
    pipeline = build_model(CONTRACT, PreprocessingConfig(), [], make_estimator(TREE, 5)).set_params(
        model__min_samples_leaf=result.best.params["min_samples_leaf"]
    )
    expected = cross_val_score(
        pipeline, X, y, scoring="roc_auc", cv=StratifiedKFold(3, shuffle=True, random_state=5)
    )
    assert result.best.mean_score == pytest.approx(expected.mean())


def test_the_threshold_folds_and_sample_keep_ids_together():
    X, y, groups = copies_per_id(ids=200)
    pipeline = build_model(CONTRACT, PreprocessingConfig(), [], make_estimator(TREE, 0))
    X_s, y_s, g_s = threshold_sample(X, y, 600, random_state=0, groups=groups)
    assert len(X_s) == len(y_s) == len(g_s) == 600
    np.testing.assert_array_equal(groups[X_s.index.to_numpy()], g_s)  # rows and ids stay paired
    np.testing.assert_array_equal(y[X_s.index.to_numpy()], y_s)
    search = SearchConfig(cv=4, algorithms=[TREE])
    ungrouped = out_of_fold_proba(pipeline, X_s, y_s, cv_folds(search, "binary"))
    grouped = out_of_fold_proba(pipeline, X_s, y_s, cv_folds(search, "binary", grouped=True), g_s)
    assert np.mean((ungrouped >= 0.5) == y_s) > 0.95  # scored by trees that saw the id's copies
    assert abs(np.mean((grouped >= 0.5) == y_s) - 0.5) < 0.15

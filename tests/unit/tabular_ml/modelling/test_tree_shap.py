"""The project's TreeSHAP against shap's, and against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import shap
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from tabular_ml.modelling.tree_shap import path_dependent_shap, tree_arrays


def _ours(model):
    trees = list(getattr(model, "estimators_", [model]))
    arrays = tree_arrays(trees, 1.0 / len(trees))
    return arrays.base, arrays


def _shap(model, X) -> np.ndarray:
    values = np.asarray(shap.TreeExplainer(model).shap_values(X, check_additivity=False))
    return values[:, :, None] if values.ndim == 2 else values


def _classification(classes: int, missing: bool):
    X, y = make_classification(1500, 12, n_informative=5, n_classes=classes, random_state=3)
    if missing:  # splits learn where missing values go
        X[::7, 2] = np.nan
    return X, y


@pytest.mark.parametrize(
    "model",
    [
        RandomForestClassifier(40, min_samples_leaf=3, random_state=0),
        ExtraTreesClassifier(30, random_state=1),
        DecisionTreeClassifier(random_state=0),  # fully grown: a feature split many times a path
        DecisionTreeClassifier(max_leaf_nodes=40, random_state=0),  # best-first node order
    ],
    ids=["forest", "extra trees", "deep tree", "best-first tree"],
)
@pytest.mark.parametrize("classes", [2, 3])
def test_classifiers_match_shap_and_add_up_to_predict_proba(model, classes):
    X, y = _classification(classes, missing=isinstance(model, RandomForestClassifier))
    model.fit(X, y)
    base, arrays = _ours(model)
    rows = X[:60]
    ours = path_dependent_shap(arrays, rows)
    np.testing.assert_allclose(ours, _shap(model, rows), rtol=0, atol=1e-10)
    np.testing.assert_allclose(base + ours.sum(axis=1), model.predict_proba(rows), rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    "model",
    [RandomForestRegressor(25, random_state=0), ExtraTreesRegressor(20, max_depth=12, random_state=0)],
    ids=["forest", "extra trees"],
)
def test_regressors_match_shap_and_add_up_to_predict(model):
    X, y = make_regression(800, 8, noise=5.0, random_state=0)
    weights = np.random.default_rng(0).uniform(0.2, 3.0, len(y))  # covers are weighted
    model.fit(X, y, sample_weight=weights)
    base, arrays = _ours(model)
    ours = path_dependent_shap(arrays, X[:40])
    np.testing.assert_allclose(ours[:, :, 0], _shap(model, X[:40])[:, :, 0], rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(base[0] + ours[:, :, 0].sum(axis=1), model.predict(X[:40]), rtol=1e-10)


def test_a_stump_by_hand():
    """One split on x0 at 0.5, 3 rows left (value 1) and 1 right (value 5): the base is the cover-
    weighted mean 2, and x0 takes the whole difference; x1 is never split on and gets 0."""
    X = np.array([[0.0, 9.0], [0.1, 9.0], [0.2, 9.0], [1.0, 9.0]])
    tree = DecisionTreeRegressor(max_depth=1).fit(X, np.array([1.0, 1.0, 1.0, 5.0]))
    base, arrays = _ours(tree)
    assert base[0] == pytest.approx(2.0)
    contributions = path_dependent_shap(arrays, np.array([[0.0, 0.0], [3.0, 0.0]]))[:, :, 0]
    np.testing.assert_allclose(contributions, [[-1.0, 0.0], [3.0, 0.0]])


def test_two_features_by_hand():
    """y = 4 on the quadrant x0 > 0.5 and x1 > 0.5, else 0, four equal quadrants: E[y] = 1. For the
    row (1, 1) the two features are symmetric, so each takes half of 4 - 1."""
    grid = np.array([[a, b] for a in (0.0, 1.0) for b in (0.0, 1.0)] * 5)
    y = np.where((grid[:, 0] > 0.5) & (grid[:, 1] > 0.5), 4.0, 0.0)
    tree = DecisionTreeRegressor().fit(grid, y)
    base, arrays = _ours(tree)
    contributions = path_dependent_shap(arrays, np.array([[1.0, 1.0], [0.0, 0.0]]))[:, :, 0]
    assert base[0] == pytest.approx(1.0)
    np.testing.assert_allclose(contributions[0], [1.5, 1.5])
    np.testing.assert_allclose(contributions[1], [-0.5, -0.5])


def test_rows_compare_as_float32_like_scikit_learn():
    """A value just above a threshold in float64 that rounds onto it in float32 goes left, as in
    scikit-learn's own predict."""
    X = np.array([[0.0], [1.0]] * 10)
    tree = DecisionTreeRegressor(max_depth=1).fit(X, X[:, 0] * 10)
    threshold = tree.tree_.threshold[0]
    row = np.array([[np.nextafter(np.float32(threshold), np.float32(2)) - 1e-12]])
    base, arrays = _ours(tree)
    assert base[0] + path_dependent_shap(arrays, row)[0, 0, 0] == pytest.approx(tree.predict(row)[0])


def test_trees_with_several_outputs_are_refused():
    X, y = make_regression(200, 4, n_targets=2, random_state=0)
    with pytest.raises(ValueError, match="several outputs"):
        tree_arrays([DecisionTreeRegressor().fit(X, y)], 1.0)

"""Additive contributions to one estimator's output, per estimator input (no ZenML here).

Each method takes the estimator's input matrix ``X`` (n, p) and gives an :class:`Attribution`:
the output (n, k), the base value (k,) and the contributions (n, p, k), with
``base + contributions.sum(axis=1) == output`` (``k`` is 1 except for a multiclass model's
per-class outputs):

- linear models, exactly, in closed form: ``coef * (x - mean of the background rows)``, in the
  space of ``decision_function`` (log-odds for a binary logistic regression) or the value;
- tree ensembles (random forests, extra trees, gradient boosting, histogram gradient boosting,
  single trees), exactly, by path-dependent TreeSHAP (forests and single trees by
  :mod:`tabular_ml.modelling.tree_shap`, boosted trees by ``shap.TreeExplainer``), in the space the
  trees add up in: the probability for forests and single trees (the mean of the leaves' class
  shares), the log-odds (binary) or per-class logits for gradient boosting, the value for
  regressors;
- any other estimator, approximately, by permutation SHAP (``shap.PermutationExplainer``) over
  the background rows, in probability (classifiers) or value space. Its contributions still
  sum to the output, but each one is an estimate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import is_classifier
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.tree import (
    DecisionTreeClassifier,
    DecisionTreeRegressor,
    ExtraTreeClassifier,
    ExtraTreeRegressor,
)

__all__ = ["Attribution", "Method", "method_for"]

LINEAR = (LogisticRegression, LinearRegression, Ridge, Lasso, ElasticNet)
AVERAGED_TREES = (
    RandomForestClassifier,
    ExtraTreesClassifier,
    DecisionTreeClassifier,
    ExtraTreeClassifier,
)
BOOSTED_TREES = (GradientBoostingClassifier, HistGradientBoostingClassifier)
AVERAGED_TREE_REGRESSORS = (
    RandomForestRegressor,
    ExtraTreesRegressor,
    DecisionTreeRegressor,
    ExtraTreeRegressor,
)
TREE_REGRESSORS = (*AVERAGED_TREE_REGRESSORS, GradientBoostingRegressor, HistGradientBoostingRegressor)
#: Background rows the permutation method masks with (more: steadier estimates, slower).
MAX_PERMUTATION_BACKGROUND = 100


@dataclass(frozen=True)
class Attribution:
    """Output (n, k), base value (k,) and contributions (n, p, k) for n rows of p inputs."""

    output: np.ndarray
    base: np.ndarray
    contributions: np.ndarray


@dataclass(frozen=True)
class Method:
    """How one estimator is explained: ``exact`` or ``approximate``, in which space, by what."""

    kind: str  # exact | approximate
    space: str  # log_odds | logit | probability | value
    attribute: Callable[[np.ndarray], Attribution]


def _as_columns(values: np.ndarray) -> np.ndarray:
    """(n,) -> (n, 1); (n, k) as it is."""
    values = np.asarray(values, dtype=float)
    return values[:, None] if values.ndim == 1 else values


def _space(multiclass: bool, classifier: bool, averaged: bool) -> str:
    if not classifier:
        return "value"
    if averaged:
        return "probability"
    return "logit" if multiclass else "log_odds"


def _linear(model: Any, background: np.ndarray | None, multiclass: bool) -> Method:
    if background is None:
        raise ValueError("a linear model's explanation needs background rows (its base is their mean)")
    coef = np.atleast_2d(np.asarray(model.coef_, dtype=float)).T  # (p, k)
    intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=float))
    mean = background.mean(axis=0)

    def attribute(X: np.ndarray) -> Attribution:
        output = X @ coef + intercept
        contributions = (X - mean)[:, :, None] * coef[None, :, :]
        return Attribution(output, mean @ coef + intercept, contributions)

    return Method("exact", _space(multiclass, is_classifier(model), False), attribute)


def _trees(model: Any, multiclass: bool) -> Method:
    averaged = isinstance(model, AVERAGED_TREES + AVERAGED_TREE_REGRESSORS)
    classifier = is_classifier(model)
    binary_probability = classifier and averaged and not multiclass
    compute = _own_tree_shap(model, binary_probability) if averaged else None
    if compute is None:
        compute = _shap_tree_shap(model, binary_probability)
    base, contributions_of = compute

    def attribute(X: np.ndarray) -> Attribution:
        values = contributions_of(X)
        # TreeSHAP is exact: base + contributions is the trees' output (the tests compare it with
        # predict_proba / decision_function / predict); asking the model again would cost a
        # second pass, and histogram gradient boosting's threads on a single row
        return Attribution(base + values.sum(axis=1), base, values)

    return Method("exact", _space(multiclass, classifier, averaged), attribute)


Contributions = Callable[[np.ndarray], np.ndarray]  # X (n, p) -> contributions (n, p, k)


def _own_tree_shap(model: Any, binary_probability: bool) -> tuple[np.ndarray, Contributions] | None:
    """Forests and single trees by :mod:`tabular_ml.modelling.tree_shap` (the same values as
    shap's, several times faster a row); None for trees it does not cover."""
    from tabular_ml.modelling.tree_shap import edge_tables, path_dependent_shap, tree_arrays  # numba

    trees = list(model.estimators_) if hasattr(model, "estimators_") else [model]
    try:
        arrays = tree_arrays(trees, 1.0 / len(trees))
    except ValueError:
        return None
    if binary_probability:  # the positive class's share only
        arrays = dataclasses.replace(
            arrays, value=np.ascontiguousarray(arrays.value[:, 1:]), base=arrays.base[1:]
        )
    tables = edge_tables(arrays)
    return arrays.base, lambda X: path_dependent_shap(arrays, X, tables)


def _shap_tree_shap(model: Any, binary_probability: bool) -> tuple[np.ndarray, Contributions]:
    """Boosted trees (histogram gradient boosting's trees are private: shap reads them)."""
    import shap  # numba compiles on import: only when a boosted model is explained

    explainer = shap.TreeExplainer(model)
    base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    if binary_probability:
        base = base[1:]

    def contributions_of(X: np.ndarray) -> np.ndarray:
        values = np.asarray(explainer.shap_values(X, check_additivity=False), dtype=float)
        values = values[:, :, None] if values.ndim == 2 else values
        return values[:, :, 1:] if binary_probability else values

    return base, contributions_of


def _permutation(model: Any, background: np.ndarray | None, multiclass: bool) -> Method:
    import shap

    if background is None:
        raise ValueError(
            f"a {type(model).__name__}'s explanation needs background rows (it is approximated over them)"
        )
    classifier = is_classifier(model)

    def output_of(X: np.ndarray) -> np.ndarray:
        if not classifier:
            return _as_columns(model.predict(X))
        proba = model.predict_proba(X)
        return proba if multiclass else proba[:, 1:]

    rows = background[:MAX_PERMUTATION_BACKGROUND]
    explainer = shap.PermutationExplainer(output_of, shap.maskers.Independent(rows, max_samples=len(rows)))

    def attribute(X: np.ndarray) -> Attribution:
        explained = explainer(X, max_evals=max(500, 2 * X.shape[1] + 1), silent=True)
        values = np.asarray(explained.values, dtype=float)
        values = values[:, :, None] if values.ndim == 2 else values
        base = np.asarray(explained.base_values, dtype=float).reshape(len(X), -1)[0]
        return Attribution(output_of(X), base, values)

    return Method("approximate", "probability" if classifier else "value", attribute)


def method_for(model: Any, background: np.ndarray | None, multiclass: bool) -> Method:
    """The way ``model`` (the Pipeline's fitted estimator) is explained.

    ``background`` is the estimator's inputs for rows of the data (the linear base, the
    permutation method's masking values); tree ensembles do not use it.
    """
    if isinstance(model, LINEAR):
        return _linear(model, background, multiclass)
    if isinstance(model, AVERAGED_TREES + BOOSTED_TREES + TREE_REGRESSORS):
        return _trees(model, multiclass)
    return _permutation(model, background, multiclass)

"""Additive contributions to one estimator's output, per estimator input (no ZenML here).

Each method takes the estimator's input matrix ``X`` (n, p) and gives an :class:`Attribution`:
the output (n, k), the base value (k,) and the contributions (n, p, k), with
``base + contributions.sum(axis=1) == output`` (``k`` is 1 except for a multiclass model's
per-class outputs):

- linear models, exactly, in closed form: ``coef * (x - mean of the background rows)``, in the
  space of ``decision_function`` (log-odds for a binary logistic regression) or the value;
- tree ensembles (random forests, extra trees, gradient boosting, histogram gradient boosting,
  single trees), exactly, by path-dependent TreeSHAP (``shap.TreeExplainer``), in the space the
  trees add up in: the probability for forests and single trees (the mean of the leaves' class
  shares), the log-odds (binary) or per-class logits for gradient boosting, the value for
  regressors;
- any other estimator, approximately, by permutation SHAP (``shap.PermutationExplainer``) over
  the background rows, in probability (classifiers) or value space. Its contributions still
  sum to the output, but each one is an estimate.
"""

from __future__ import annotations

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
TREE_REGRESSORS = (
    RandomForestRegressor,
    ExtraTreesRegressor,
    DecisionTreeRegressor,
    ExtraTreeRegressor,
    GradientBoostingRegressor,
    HistGradientBoostingRegressor,
)
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
    import shap  # numba compiles on import: only when a tree model is explained

    explainer = shap.TreeExplainer(model)
    averaged = isinstance(model, AVERAGED_TREES)
    classifier = is_classifier(model)
    binary_probability = classifier and averaged and not multiclass
    base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    if binary_probability:
        base = base[1:]

    def attribute(X: np.ndarray) -> Attribution:
        values = np.asarray(explainer.shap_values(X, check_additivity=False), dtype=float)
        values = values[:, :, None] if values.ndim == 2 else values
        if binary_probability:
            values = values[:, :, 1:]
        # TreeSHAP is exact: base + contributions is the trees' output (the tests compare it with
        # predict_proba / decision_function / predict); asking the model again would cost a
        # second pass, and histogram gradient boosting's threads on a single row
        return Attribution(base + values.sum(axis=1), base, values)

    return Method("exact", _space(multiclass, classifier, averaged), attribute)


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

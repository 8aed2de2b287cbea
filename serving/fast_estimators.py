"""Fitted binary classifiers re-done on numpy: P(class 1) from the preprocessed matrix.

Logistic regression is a dot product and a sigmoid. Trees (a decision tree, a random forest,
extra trees, histogram gradient boosting) are flattened into one set of node arrays and
walked for all trees and rows at once, a level per step, comparing as scikit-learn does
(float32 inputs for its classic trees, float64 for histogram boosting; NaN follows each
node's missing-value direction). Anything else (another estimator, more than two classes,
a regressor, categorical splits) raises :class:`~serving.fast_features.Unsupported`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

from serving.fast_features import Unsupported

__all__ = ["compile_estimator"]

Scorer = Callable[[np.ndarray], np.ndarray]


def compile_estimator(estimator: Any) -> Scorer:
    """A function: the estimator's input matrix (n, features) -> P(class 1) per row."""
    classes = [c.item() if hasattr(c, "item") else c for c in getattr(estimator, "classes_", [])]
    if sorted(classes) != [0, 1]:
        raise Unsupported(f"{type(estimator).__name__} with classes {classes} (only a 0/1 classifier)")
    positive = classes.index(1)
    kind = type(estimator)
    if kind is LogisticRegression:
        return _logistic(estimator, positive)
    if kind in (DecisionTreeClassifier, ExtraTreeClassifier):
        return _forest([estimator], positive)
    if kind in (RandomForestClassifier, ExtraTreesClassifier):
        return _forest(list(estimator.estimators_), positive)
    if kind is HistGradientBoostingClassifier:
        return _hist_boosting(estimator, positive)
    raise Unsupported(f"estimator {kind.__module__}.{kind.__name__}")


def _checked(X: np.ndarray) -> np.ndarray:
    """scikit-learn refuses non-finite inputs to these estimators with a ValueError: so does this."""
    if not np.isfinite(X).all():
        raise ValueError("Input X contains infinity or a value too large for dtype('float64').")
    return X


def _logistic(model: LogisticRegression, positive: int) -> Scorer:
    if model.coef_.shape[0] != 1:
        raise Unsupported("a LogisticRegression with more than one coefficient row")
    coef = np.ascontiguousarray(model.coef_[0], dtype=np.float64)
    intercept = float(model.intercept_[0])

    def score(X: np.ndarray) -> np.ndarray:
        p = expit(_checked(X) @ coef + intercept)
        return p if positive == 1 else 1.0 - p

    return score


@dataclass(frozen=True)
class _Nodes:
    """Every tree's nodes in one set of arrays; a leaf points to itself, so extra steps stay put."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray
    value: np.ndarray  # the leaf's contribution (0 for inner nodes)
    roots: np.ndarray
    depth: int

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """(rows, trees) leaf indices for the rows of ``X``."""
        n_rows, n_trees = X.shape[0], self.roots.size
        node = np.tile(self.roots, n_rows)
        row = np.repeat(np.arange(n_rows), n_trees)
        has_nan = bool(np.isnan(X).any())
        for _ in range(self.depth):
            x = X[row, self.feature[node]]
            go_left = x <= self.threshold[node]
            if has_nan:
                go_left = np.where(np.isnan(x), self.missing_left[node], go_left)
            node = np.where(go_left, self.left[node], self.right[node])
        return node.reshape(n_rows, n_trees)


def _join(trees: list[dict[str, np.ndarray]]) -> _Nodes:
    parts: dict[str, list[np.ndarray]] = {
        key: [] for key in ("feature", "threshold", "left", "right", "missing_left", "value")
    }
    roots, offset, depth = [], 0, 0
    for tree in trees:
        size = tree["feature"].size
        leaf = tree["leaf"]
        own = np.arange(size) + offset
        parts["feature"].append(np.where(leaf, 0, tree["feature"]).astype(np.intp))
        parts["threshold"].append(np.where(leaf, np.inf, tree["threshold"]).astype(np.float64))
        parts["left"].append(np.where(leaf, own, tree["left"] + offset).astype(np.intp))
        parts["right"].append(np.where(leaf, own, tree["right"] + offset).astype(np.intp))
        parts["missing_left"].append(tree["missing_left"].astype(bool))
        parts["value"].append(np.where(leaf, tree["value"], 0.0).astype(np.float64))
        roots.append(offset)
        offset += size
        depth = max(depth, int(tree["depth"]))
    joined = {key: np.concatenate(arrays) for key, arrays in parts.items()}
    return _Nodes(**joined, roots=np.asarray(roots, dtype=np.intp), depth=depth)


def _forest(trees: list[Any], positive: int) -> Scorer:
    """A tree or a forest: the mean over trees of the leaf's class-1 share (``predict_proba``)."""
    flat = []
    for tree in trees:
        if tree.n_outputs_ != 1:
            raise Unsupported("a tree with several outputs")
        t = tree.tree_
        counts = t.value[:, 0, :]
        totals = counts.sum(axis=1)
        totals[totals == 0] = 1.0
        leaf = t.children_left == -1
        missing = getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=np.uint8))
        flat.append(
            {
                "feature": t.feature,
                "threshold": t.threshold,
                "left": t.children_left,
                "right": t.children_right,
                "missing_left": missing,
                "value": counts[:, positive] / totals,
                "leaf": leaf,
                "depth": t.max_depth,
            }
        )
    nodes = _join(flat)
    n_trees = len(trees)

    def score(X: np.ndarray) -> np.ndarray:
        X32 = np.asarray(_checked(X), dtype=np.float32)  # scikit-learn's trees compare float32 inputs
        return nodes.value[nodes.leaves(X32)].sum(axis=1) / n_trees

    return score


def _hist_boosting(model: HistGradientBoostingClassifier, positive: int) -> Scorer:
    if model.n_trees_per_iteration_ != 1 or type(model._loss).__name__ != "HalfBinomialLoss":
        raise Unsupported("a HistGradientBoostingClassifier that is not binary log-loss")
    if getattr(model, "_preprocessor", None) is not None or (
        model.is_categorical_ is not None and np.any(model.is_categorical_)
    ):
        raise Unsupported("a HistGradientBoostingClassifier with categorical features")
    flat = []
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        if np.any(nodes["is_categorical"]):
            raise Unsupported("a HistGradientBoostingClassifier with categorical splits")
        flat.append(
            {
                "feature": nodes["feature_idx"],
                "threshold": nodes["num_threshold"],
                "left": nodes["left"].astype(np.intp),
                "right": nodes["right"].astype(np.intp),
                "missing_left": nodes["missing_go_to_left"],
                "value": nodes["value"],
                "leaf": nodes["is_leaf"].astype(bool),
                "depth": int(nodes["depth"].max()) if nodes.size else 0,
            }
        )
    if not flat:
        raise Unsupported("a HistGradientBoostingClassifier without trees")
    joined = _join(flat)
    baseline = float(np.asarray(model._baseline_prediction).ravel()[0])

    def score(X: np.ndarray) -> np.ndarray:
        # no finiteness check: histogram boosting takes NaN and infinities as scikit-learn does
        raw = baseline + joined.value[joined.leaves(np.asarray(X, dtype=np.float64))].sum(axis=1)
        p = expit(raw)
        return p if positive == 1 else 1.0 - p

    return score

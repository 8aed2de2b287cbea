"""Exact path-dependent TreeSHAP for scikit-learn's trees and forests, in time linear in the nodes.

The definition is Lundberg et al.'s (2018, "Consistent individualized feature attribution for
tree ensembles"), the one ``shap.TreeExplainer`` computes without background data: a leaf's
value, seen from a coalition ``S`` of features, is ``v * prod_{j in S} o_j * prod_{j not in S} z_j``
over the distinct features ``j`` split on along the leaf's path, where ``z_j`` is the share of the
training cover that follows the path at ``j``'s splits and ``o_j`` is 1 when the row follows the
path at all of them, else 0. The Shapley value of such a product is, for a feature ``i`` on the path,

    phi_i = v * (o_i - z_i) * integral_0^1 P(t) / F_i(t) dt,   F_j(t) = z_j + t (o_j - z_j),

with ``P = prod_j F_j`` (the Shapley weights ``|S|! (m - |S| - 1)! / m!`` are Beta integrals). The
integrand is a polynomial of degree below the path's number of distinct features, so
Gauss-Legendre quadrature with half as many nodes is exact, and at a quadrature node every term
is a number. Summed over a tree's leaves, ``sum_leaves v P`` factors at each edge into the product
of the edge factors above it and the sum below it, so one pass down the tree and one pass up give
every feature's value: O(nodes x quadrature nodes) a tree, where shap's path extension costs
O(leaves x depth^2). A feature split on again lower down merges into one factor: the lower edge's
factor is the merged one divided by the upper one, and the lower edge's term corrects the upper
one's for the leaves below it (the terms telescope to the deepest split's). The quadrature idea is
Linear TreeSHAP's (Yu et al., NeurIPS 2022); this code is the project's own.

Only the trees' public fitted attributes are read (``tree_.children_left/right``, ``feature``,
``threshold``, ``missing_go_to_left``, ``weighted_n_node_samples``, ``value``); a row goes down a
split as scikit-learn sends it (``float32(x) <= threshold``, a missing value where the split
sends missing values). ``shap`` remains the reference the tests compare with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

__all__ = ["TreeArrays", "edge_tables", "path_dependent_shap", "tree_arrays"]


@dataclass(frozen=True)
class TreeArrays:
    """An ensemble's nodes, trees one after the other (node ``i`` of tree ``k`` at ``tree_start[k] + i``)."""

    tree_start: np.ndarray  # (trees + 1,) int64
    parent: np.ndarray  # (nodes,) int64, -1 at a root
    goes_left: np.ndarray  # (nodes,) bool: the node is its parent's left child
    feature: np.ndarray  # (nodes,) int64: the split's feature, -1 at leaves
    threshold: np.ndarray  # (nodes,) float64
    missing_left: np.ndarray  # (nodes,) bool
    same_feature_above: np.ndarray  # (nodes,) int64: the nearest node above entered by a split on
    #   the feature this node's parent splits on, or -1
    cover_share: np.ndarray  # (nodes,) float64: z merged over the path's splits on that feature
    value: np.ndarray  # (nodes, outputs): the node's value times the tree's weight (leaves used)
    is_leaf: np.ndarray  # (nodes,) bool
    base: np.ndarray  # (outputs,): the expected output, the cover-weighted mean of the leaves
    quadrature_nodes: np.ndarray  # Gauss-Legendre on [0, 1], exact for the longest path
    quadrature_weights: np.ndarray


def tree_arrays(trees: list[Any], weight: float) -> TreeArrays:
    """The nodes of fitted scikit-learn trees (``DecisionTree*`` / ``ExtraTree*`` estimators),
    each tree's output multiplied by ``weight`` (``1 / len(trees)`` for a forest's average);
    ValueError for trees this method does not cover (several outputs, an empty node)."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in (*_PER_NODE, "value")}
    starts, base, longest = [0], 0.0, 1
    for estimator in trees:
        tree = estimator.tree_
        if tree.n_outputs != 1:
            raise ValueError(f"a {type(estimator).__name__} with several outputs")
        nodes = _nodes(tree, starts[-1])
        for name in _PER_NODE:
            parts[name].append(nodes[name])
        value = tree.value[:, 0, :] * weight  # (nodes, classes) shares, or (nodes, 1) values
        parts["value"].append(value)
        leaves = tree.children_left == -1
        cover = tree.weighted_n_node_samples
        base = base + (value[leaves] * (cover[leaves] / cover[0])[:, None]).sum(axis=0)
        longest = max(longest, nodes["longest"])
        starts.append(starts[-1] + tree.node_count)
    points, weights = np.polynomial.legendre.leggauss((longest + 1) // 2)
    return TreeArrays(
        tree_start=np.asarray(starts, dtype=np.int64),
        **{name: np.concatenate(parts[name]) for name in (*_PER_NODE, "value")},
        base=np.atleast_1d(np.asarray(base, dtype=np.float64)),
        quadrature_nodes=(points + 1.0) / 2.0,  # from [-1, 1] to [0, 1]
        quadrature_weights=weights / 2.0,
    )


_PER_NODE = (
    "parent",
    "goes_left",
    "feature",
    "threshold",
    "missing_left",
    "same_feature_above",
    "cover_share",
    "is_leaf",
)


def _nodes(tree: Any, offset: int) -> dict[str, Any]:
    """One tree's per-node arrays (node indices shifted by ``offset``) and its longest path's
    number of distinct features."""
    n = tree.node_count
    left, right, cover = tree.children_left, tree.children_right, tree.weighted_n_node_samples
    if (cover <= 0).any():
        raise ValueError("a tree with a node of no training weight")
    parent = np.full(n, -1, dtype=np.int64)
    goes_left = np.zeros(n, dtype=bool)
    above = np.full(n, -1, dtype=np.int64)
    share = np.ones(n, dtype=np.float64)
    longest = 1
    # depth first; each node with {feature: the node entered by the nearest split on it above}
    stack: list[tuple[int, dict[int, int]]] = [(0, {})]
    while stack:
        node, entered = stack.pop()
        if left[node] == -1:
            longest = max(longest, len(entered))
            continue
        feature = int(tree.feature[node])
        for child, is_left in ((int(left[node]), True), (int(right[node]), False)):
            if child <= node:
                raise ValueError("a tree whose children come before their parent")
            parent[child], goes_left[child] = node, is_left
            previous = entered.get(feature, -1)
            above[child] = previous
            share[child] = cover[child] / cover[node] * (share[previous] if previous >= 0 else 1.0)
            stack.append((child, {**entered, feature: child}))
    leaf = left == -1
    return {
        "parent": np.where(parent >= 0, parent + offset, -1),
        "goes_left": goes_left,
        "feature": np.where(leaf, -1, tree.feature).astype(np.int64),
        "threshold": tree.threshold.astype(np.float64),
        "missing_left": np.asarray(tree.missing_go_to_left, dtype=bool),
        "same_feature_above": np.where(above >= 0, above + offset, -1),
        "cover_share": share,
        "is_leaf": leaf,
        "longest": longest,
    }


def edge_tables(trees: TreeArrays) -> dict[str, np.ndarray]:
    """Each edge's factor and correction at the quadrature nodes, for the row following the
    path at the edge's feature (``*_on``) or leaving it there (``*_off``), with the merged
    feature's upper edge followed; computed once, so that a row's pass divides nothing. (When the
    row already left the path at the upper edge, the factor is the edge's own cover share and the
    correction is 0.)"""
    t = trees.quadrature_nodes[None, :]
    z = trees.cover_share[:, None]  # merged over the path's splits on the feature
    above = trees.same_feature_above
    merged = above >= 0
    za = np.where(merged, trees.cover_share[np.where(merged, above, 0)], 1.0)[:, None]
    upper_on = np.where(merged[:, None], za + t * (1 - za), 1.0)  # 1: no upper edge
    upper_term = np.where(merged[:, None], (1 - za) / upper_on, 0.0)
    factor_on, factor_off = z + t * (1 - z), z * (1 - t)
    return {
        "factor_on": factor_on / upper_on,
        "factor_off": factor_off / upper_on,
        "correction_on": (1 - z) / factor_on - upper_term,
        "correction_off": -1.0 / (1 - t) - upper_term,
        "edge_share": (z / za)[:, 0],
    }


def path_dependent_shap(
    trees: TreeArrays, X: np.ndarray, tables: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """Contributions (rows, features, outputs): ``trees.base + sum over features`` is each row's
    output (the trees' weighted leaf values). ``tables``: :func:`edge_tables` of ``trees``, when
    kept from an earlier call."""
    tables = edge_tables(trees) if tables is None else tables
    X32 = np.ascontiguousarray(X, dtype=np.float32)  # as scikit-learn's trees compare
    out = np.zeros((X32.shape[0], X32.shape[1], trees.value.shape[1]), dtype=np.float64)
    _kernel(len(trees.quadrature_weights), trees.value.shape[1])(
        X32,
        trees.tree_start,
        trees.parent,
        trees.goes_left,
        trees.feature,
        trees.threshold,
        trees.missing_left,
        trees.same_feature_above,
        trees.value,
        trees.is_leaf,
        tables["factor_on"],
        tables["factor_off"],
        tables["correction_on"],
        tables["correction_off"],
        tables["edge_share"],
        trees.quadrature_weights,
        out,
    )
    return out


_KERNELS: dict[tuple[int, int], Any] = {}


def _kernel(n_q: int, n_out: int) -> Any:
    """The pass over the trees, compiled for ``n_q`` quadrature nodes and ``n_out`` outputs: as
    constants, the loops over them are unrolled and vectorised (about a fifth faster a row)."""
    if (n_q, n_out) not in _KERNELS:

        def accumulate(
            X,
            tree_start,
            parent,
            goes_left,
            feature,
            threshold,
            missing_left,
            above,
            value,
            is_leaf,
            factor_on,
            factor_off,
            correction_on,
            correction_off,
            edge_share,
            w,
            out,
        ):  # pragma: no cover - compiled; its results are compared with shap's in the tests
            widest = int(np.max(tree_start[1:] - tree_start[:-1]))
            follows = np.empty(widest, dtype=np.bool_)  # the row follows every split on the feature so far
            factor = np.empty((widest, n_q))  # the edge's factor (merged / the one above on its feature)
            correction = np.empty((widest, n_q))  # (O - z) / F, less the same above on its feature
            above_product = np.empty((widest, n_q))  # the product of the factors from the root down
            below_sum = np.empty((widest, n_out, n_q))  # sum over leaves below of value x factors below
            for row in range(X.shape[0]):
                for k in range(tree_start.shape[0] - 1):
                    first, last = tree_start[k], tree_start[k + 1]
                    for node in range(first, last):  # down: parents come before their children
                        i = node - first
                        for c in range(n_out):  # the sums below start from the leaves' values
                            start = value[node, c] if is_leaf[node] else 0.0
                            for q in range(n_q):
                                below_sum[i, c, q] = start
                        p = parent[node]
                        if p < 0:
                            follows[i] = True
                            for q in range(n_q):
                                above_product[i, q] = 1.0
                            continue
                        x = X[row, feature[p]]
                        on = (missing_left[p] if np.isnan(x) else x <= threshold[p]) == goes_left[node]
                        a = above[node]
                        j = p - first
                        if a >= 0 and not follows[a - first]:  # left the path higher up on this feature
                            follows[i] = False
                            share = edge_share[node]
                            for q in range(n_q):
                                factor[i, q] = share
                                correction[i, q] = 0.0
                                above_product[i, q] = above_product[j, q] * share
                            continue
                        follows[i] = on
                        chosen_factor = factor_on if on else factor_off
                        chosen_correction = correction_on if on else correction_off
                        for q in range(n_q):
                            f = chosen_factor[node, q]
                            factor[i, q] = f
                            correction[i, q] = chosen_correction[node, q]
                            above_product[i, q] = above_product[j, q] * f
                    for node in range(last - 1, first, -1):  # up: children before their parents
                        i = node - first
                        j = parent[node] - first
                        f = feature[parent[node]]
                        for c in range(n_out):
                            total = 0.0
                            for q in range(n_q):
                                below = below_sum[i, c, q]
                                total += w[q] * correction[i, q] * above_product[i, q] * below
                                below_sum[j, c, q] += factor[i, q] * below
                            out[row, f, c] += total

        # not "nnan" among the fast-math flags: rows may hold NaN (a split sends them one way)
        fast = {"reassoc", "contract", "nsz"}
        _KERNELS[n_q, n_out] = numba.njit(nogil=True, fastmath=fast)(accumulate)
    return _KERNELS[n_q, n_out]

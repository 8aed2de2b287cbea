"""The served model's scores: the fitted Pipeline compiled to numpy, or the Pipeline itself.

Scoring one row through the scikit-learn Pipeline costs milliseconds of pandas and scikit-learn
overhead per call; the same arithmetic on a parsed request's arrays takes tens of microseconds.
:func:`compile_pipeline` rebuilds the project's Pipeline (derived features -> ``ColumnTransformer``
-> estimator, see :mod:`tabular_ml.modelling.model`) from public fitted attributes only:

- the derived features: each transformer's own ``derive``, the method its ``transform`` calls;
- the ColumnTransformer: a ``SimpleImputer`` then a standard, robust or min-max scaler for
  numbers; a ``SimpleImputer`` then a ``OneHotEncoder`` or an ``OrdinalEncoder`` for text;
- the estimator: logistic regression (binary, multinomial), linear regression (ordinary, ridge,
  lasso, elastic net), decision trees, random forests and extra trees, classifiers and regressors;
  any other estimator (histogram gradient boosting, whose trees are reachable only through private
  attributes, among them) is called through its own ``predict_proba`` or ``predict`` on the
  compiled inputs.

Anything else is not compiled: a feature or preprocessing step it does not know.
:func:`choose_scorer`, called when the server loads a model, serves the compiled path only when
it agrees with the Pipeline (:func:`~tabular_ml.modelling.trained_model.scores_of`) within
:data:`TOLERANCE`, with the same labels, on the bundle's reference rows and on edge rows made from
the schema; otherwise the Pipeline serves and :attr:`Scorer.reason` says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.base import is_classifier
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler
from sklearn.tree import (
    DecisionTreeClassifier,
    DecisionTreeRegressor,
    ExtraTreeClassifier,
    ExtraTreeRegressor,
)

from serving.request_schema import ParsedRequest, RequestSchema
from tabular_ml.modelling.features import DerivedFeature
from tabular_ml.modelling.trained_model import scores_of
from tabular_ml.tasks.target import TargetSpec

__all__ = [
    "TOLERANCE",
    "Scorer",
    "Unsupported",
    "choose_scorer",
    "compile_inputs",
    "compile_pipeline",
    "edge_rows",
]

TOLERANCE = 1e-6
_LOOP_ROWS = 16  # up to this many rows a request's one-hot columns are set one by one

Columns = dict[str, np.ndarray]  # column name -> one value per row (float64, or object for text)
Block = Callable[[Columns], np.ndarray]  # columns -> some of the estimator's input columns
Model = Callable[[np.ndarray], np.ndarray]  # input matrix -> predict_proba (n, k) or predict (n,)
Compiled = Callable[[ParsedRequest], np.ndarray]

_LINEAR_REGRESSORS = (LinearRegression, Ridge, Lasso, ElasticNet)
_TREES = (DecisionTreeClassifier, ExtraTreeClassifier, DecisionTreeRegressor, ExtraTreeRegressor)
_FORESTS = (RandomForestClassifier, ExtraTreesClassifier, RandomForestRegressor, ExtraTreesRegressor)


class Unsupported(Exception):
    """A part of the Pipeline that is not compiled (the message says which)."""


# ---------------------------------------------------------------------- compiling


def compile_pipeline(pipeline: Any, schema: RequestSchema, target: TargetSpec) -> Compiled:
    """``features -> preprocess -> model`` as one function of parsed requests, giving what
    ``scores_of`` gives; :class:`Unsupported` naming the part it does not know."""
    inputs = compile_inputs(pipeline, schema)
    model = _estimator(pipeline.steps[-1][1], target)
    binary = target.task == "binary"

    def scores(parsed: ParsedRequest) -> np.ndarray:
        with np.errstate(all="ignore"):  # overflow is a value here, as in pandas and scikit-learn
            out = model(inputs(parsed))
        return out[:, 1] if binary else out

    return scores


def compile_inputs(pipeline: Any, schema: RequestSchema) -> Callable[[ParsedRequest], np.ndarray]:
    """``features -> preprocess`` as one function of parsed requests: the estimator's input matrix
    (what ``pipeline[:-1].transform`` gives; the explanations use it too); :class:`Unsupported`
    naming the part it does not know."""
    if type(pipeline) is not Pipeline or len(pipeline.steps) < 2:
        raise Unsupported(f"a {type(pipeline).__name__}, not a Pipeline of features, preprocessing, model")
    *feature_steps, (_, preprocess) = pipeline.steps[:-1]
    derived = [part for _, step in feature_steps for part in _parts(step)]
    for part in derived:
        if not isinstance(part, DerivedFeature) or type(part).transform is not DerivedFeature.transform:
            raise Unsupported(f"feature step {type(part).__name__}")
    numbers = {*schema.numeric_names, *(part.name for part in derived)}
    matrix = _column_transformer(preprocess, numbers, set(schema.text_names))

    def inputs(parsed: ParsedRequest) -> np.ndarray:
        columns = dict(zip(parsed.schema.numeric_names, parsed.numeric, strict=True))
        columns.update(zip(parsed.schema.text_names, parsed.text, strict=True))
        with np.errstate(all="ignore"):
            for feature in derived:
                columns[feature.name] = feature.derive(columns)
            return matrix(columns)

    return inputs


def _parts(step: Any) -> list[Any]:
    """A Pipeline's steps, or the one step ("passthrough" and None are none)."""
    steps = [part for _, part in step.steps] if type(step) is Pipeline else [step]
    return [part for part in steps if part not in (None, "passthrough")]


def _column_transformer(transformer: Any, numbers: set[str], texts: set[str]) -> Block:
    """The fitted ColumnTransformer (dense output, columns selected by name) as one function."""
    if type(transformer) is not ColumnTransformer or transformer.sparse_output_:
        raise Unsupported(f"preprocessing step {type(transformer).__name__} (not a dense ColumnTransformer)")
    blocks: list[Block] = []
    for name, part, selection in transformer.transformers_:
        if part == "drop":
            continue
        by_name = isinstance(selection, (list, tuple, np.ndarray)) and all(
            isinstance(c, str) for c in selection
        )
        if not by_name:
            raise Unsupported(f"ColumnTransformer part {name!r} selects columns by {selection!r}")
        names = list(selection)
        if not names:
            continue
        if set(names) <= numbers:
            blocks.append(_numeric_block(_parts(part), names))
        elif set(names) <= texts:
            blocks.append(_text_block(_parts(part), names))
        else:
            raise Unsupported(f"ColumnTransformer part {name!r} mixes numbers and text, or unknown columns")
    if not blocks:
        raise Unsupported("a ColumnTransformer with no output")
    return lambda columns: np.hstack([block(columns) for block in blocks])


def _imputer(parts: list[Any], kind: str) -> np.ndarray:
    """The fill values of the block's first step, a SimpleImputer of NaN (so no NaN goes on)."""
    first = parts[0] if parts else None
    missing = getattr(first, "missing_values", None)
    if type(first) is not SimpleImputer or first.add_indicator or not _is_nan(missing):
        raise Unsupported(f"{kind} columns not first imputed by a SimpleImputer of NaN (without indicator)")
    return first.statistics_


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and np.isnan(value)


def _numeric_block(parts: list[Any], names: list[str]) -> Block:
    """Imputation then scaling of float columns, on an (n, k) block at once."""
    fill = np.asarray(_imputer(parts, "numeric"), dtype=np.float64)
    if np.isnan(fill).any():
        raise Unsupported("a numeric imputer that drops a column (all missing in training)")
    scalers = [_scaler(part) for part in parts[1:]]

    def block(columns: Columns) -> np.ndarray:
        X = np.array([columns[name] for name in names], dtype=np.float64).T
        X = np.where(np.isnan(X), fill, X)
        for scale in scalers:
            scale(X)
        return X

    return block


def _scaler(part: Any) -> Callable[[np.ndarray], None]:
    """A fitted scaler as an in-place operation, in scikit-learn's order of operations."""
    kind = type(part)
    if kind is MinMaxScaler:
        low, high = part.feature_range

        def min_max(X: np.ndarray) -> None:
            X *= part.scale_
            X += part.min_
            if part.clip:
                np.clip(X, low, high, out=X)

        return min_max
    if kind is StandardScaler:
        center = part.mean_ if part.with_mean else None
        scale = part.scale_ if part.with_std else None
    elif kind is RobustScaler:
        center = part.center_ if part.with_centering else None
        scale = part.scale_ if part.with_scaling else None
    else:
        raise Unsupported(f"numeric transformer {kind.__name__}")

    def center_scale(X: np.ndarray) -> None:
        if center is not None:
            X -= center
        if scale is not None:
            X /= scale

    return center_scale


def _text_block(parts: list[Any], names: list[str]) -> Block:
    """Imputation then one-hot or ordinal encoding of text columns, by dictionary look-up."""
    fill = list(_imputer(parts, "text"))
    encoder = parts[1] if len(parts) == 2 else None
    if type(encoder) not in (OneHotEncoder, OrdinalEncoder):
        raise Unsupported(f"text steps {[type(part).__name__ for part in parts]} (an imputer and an encoder)")
    if encoder.min_frequency is not None or encoder.max_categories is not None:
        raise Unsupported(f"a {type(encoder).__name__} grouping infrequent categories")
    codes = [{category: i for i, category in enumerate(categories)} for categories in encoder.categories_]

    def encoded(columns: Columns, k: int) -> list[int | None]:
        """Column k's category codes (None: unknown), NaN imputed as SimpleImputer does (``X != X``)."""
        lookup, missing = codes[k], fill[k]
        return [lookup.get(missing if value != value else value) for value in columns[names[k]]]

    if type(encoder) is OrdinalEncoder:
        if encoder.handle_unknown != "use_encoded_value":
            raise Unsupported("an OrdinalEncoder that raises on unknown categories")
        unknown = float(encoder.unknown_value)

        def ordinal(columns: Columns) -> np.ndarray:
            found = [[unknown if c is None else c for c in encoded(columns, k)] for k in range(len(names))]
            return np.array(found, dtype=np.float64).T

        return ordinal
    if encoder.drop_idx_ is not None or encoder.handle_unknown not in ("ignore", "infrequent_if_exist"):
        raise Unsupported("a OneHotEncoder that drops a category or raises on unknown categories")
    offsets = np.cumsum([0] + [len(categories) for categories in encoder.categories_])

    def one_hot(columns: Columns) -> np.ndarray:
        n = len(columns[names[0]])
        out = np.zeros((n, offsets[-1]), dtype=np.float64)
        for k in range(len(names)):
            found = encoded(columns, k)
            if n <= _LOOP_ROWS:  # a few rows: a Python loop costs less than numpy's per-call overhead
                for row, at in enumerate(found):
                    if at is not None:
                        out[row, offsets[k] + at] = 1.0
                continue
            at = np.array([-1 if code is None else code for code in found], dtype=np.intp)
            rows = np.flatnonzero(at >= 0)
            out[rows, offsets[k] + at[rows]] = 1.0
        return out

    return one_hot


def _estimator(model: Any, target: TargetSpec) -> Model:
    """The fitted estimator as ``predict_proba`` (classifiers) or ``predict`` (regressors)."""
    kind = type(model)
    if is_classifier(model) != target.is_classification:
        raise Unsupported(f"a {kind.__name__} for a {target.task} target")
    if kind is LogisticRegression:
        return _logistic(model)
    if kind in _LINEAR_REGRESSORS:
        return _linear(model)
    if kind in _TREES or kind in _FORESTS:
        return _forest([model] if kind in _TREES else list(model.estimators_), target.is_classification)
    # Any other estimator (histogram gradient boosting, whose trees are private, among them) is
    # called through its own public method on the compiled inputs: the Pipeline's overhead is in
    # the steps before it. It validates its inputs itself, as it does inside the Pipeline.
    method = getattr(model, "predict_proba" if target.is_classification else "predict", None)
    if method is None:
        raise Unsupported(f"estimator {kind.__module__}.{kind.__name__} without predict_proba")
    return lambda X: np.asarray(method(X), dtype=np.float64)


def _finite(X: np.ndarray) -> np.ndarray:
    """X, or the ValueError scikit-learn raises for non-finite inputs (the server answers 400)."""
    if not np.isfinite(X).all():
        what = "NaN" if np.isnan(X).any() else f"infinity or a value too large for {X.dtype!r}"
        raise ValueError(f"Input X contains {what}.")
    return X


def _logistic(model: LogisticRegression) -> Model:
    """Binary: the sigmoid of the decision; more classes: its softmax (multinomial), as scikit-learn."""
    coef = np.asarray(model.coef_, dtype=np.float64).T
    intercept = np.asarray(model.intercept_, dtype=np.float64)

    def proba(X: np.ndarray) -> np.ndarray:
        decision = _finite(X) @ coef + intercept
        if decision.shape[1] == 1:
            positive = expit(decision[:, 0])
            return np.stack([1 - positive, positive], axis=1)
        decision -= decision.max(axis=1, keepdims=True)
        np.exp(decision, out=decision)
        decision /= decision.sum(axis=1, keepdims=True)
        return decision

    return proba


def _linear(model: Any) -> Model:
    coef = np.asarray(model.coef_, dtype=np.float64)
    if coef.ndim != 1:
        raise Unsupported(f"a {type(model).__name__} with several outputs")
    intercept = float(model.intercept_)
    return lambda X: _finite(X) @ coef + intercept


def _forest(trees: list[Any], classification: bool) -> Model:
    """Trees walked together, a level a step (a leaf points to itself), comparing float32 inputs
    as scikit-learn does: the mean over trees of the leaf's class shares or value."""
    feature, threshold, left, right, value, roots = [], [], [], [], [], []
    offset = depth = 0
    for tree in trees:
        if tree.n_outputs_ != 1:
            raise Unsupported(f"a {type(tree).__name__} with several outputs")
        t = tree.tree_
        leaf = t.children_left == -1
        own = np.arange(t.node_count) + offset
        feature.append(np.where(leaf, 0, t.feature))
        threshold.append(np.where(leaf, np.inf, t.threshold))
        left.append(np.where(leaf, own, t.children_left + offset))
        right.append(np.where(leaf, own, t.children_right + offset))
        value.append(t.value[:, 0, : tree.n_classes_] if classification else t.value[:, 0, :1])
        roots.append(offset)
        offset += t.node_count
        depth = max(depth, int(t.max_depth))
    feature_, left_, right_ = (np.concatenate(part).astype(np.intp) for part in (feature, left, right))
    threshold_, value_ = np.concatenate(threshold), np.concatenate(value)
    roots_ = np.asarray(roots, dtype=np.intp)

    def predict(X: np.ndarray) -> np.ndarray:
        X32 = _finite(X.astype(np.float32))
        n_rows = X32.shape[0]
        node = np.tile(roots_, n_rows)
        row = np.repeat(np.arange(n_rows), roots_.size)
        for _ in range(depth):
            node = np.where(X32[row, feature_[node]] <= threshold_[node], left_[node], right_[node])
        mean = value_[node].reshape(n_rows, roots_.size, -1).sum(axis=1) / roots_.size
        return mean if classification else mean[:, 0]

    return predict


# ---------------------------------------------------------------------- the load-time check


def edge_rows(schema: RequestSchema, reference: dict | None = None) -> dict:
    """Rows at the edges, as an ndarray request: every value missing; then, from the reference's
    first row (or typical values), each categorical column unknown, missing and each category;
    each binary column 0, 1 and missing; each numeric one at its range's ends, middle, 0, 1, missing."""
    given = _first_row(reference)
    base = [given.get(column.name, _typical(column)) for column in schema.columns]
    rows = [[None] * len(base)]
    for i, column in enumerate(schema.columns):
        for value in _edges(column):
            rows.append([*base[:i], value, *base[i + 1 :]])
    return {"data": {"names": list(schema.names), "ndarray": rows}}


def _first_row(reference: dict | None) -> dict[str, Any]:
    """The reference's first row by column name ({} when there is no ndarray request)."""
    try:
        data = reference["data"]  # None: a TypeError
        return dict(zip(data["names"], data["ndarray"][0], strict=True))
    except (KeyError, IndexError, TypeError, ValueError):
        return {}


def _typical(column: Any) -> Any:
    if column.kind == "categorical":
        return sorted(column.categories)[0] if column.categories else "a"
    return 0 if column.min is None else column.min


def _edges(column: Any) -> list[Any]:
    if column.kind == "categorical":
        return ["no such category", None, *sorted(column.categories or [])]
    if column.kind == "binary":
        return [0, 1, None]
    low = -1e6 if column.min is None else column.min
    high = 1e6 if column.max is None else column.max
    return [v for v in (low, high, (low + high) / 2, 0, 1) if low <= v <= high] + [None]


def _disagreement(
    compiled: Compiled,
    pipeline: Any,
    schema: RequestSchema,
    target: TargetSpec,
    threshold: float,
    request: dict,
) -> str:
    """Where the compiled path and the Pipeline differ on the request's rows; "" where they agree."""
    try:
        rows = len(request["data"]["ndarray"])
        parsed = RequestSchema(schema.columns, max_rows=rows, violations="flag").parse(request)
        expected = scores_of(pipeline, parsed.frame, target)
        got = compiled(parsed)
    except Exception as exc:  # anything it cannot prove equal falls back
        return f"{type(exc).__name__}: {exc}"
    if got.shape != expected.shape:
        return f"scores of shape {got.shape}, the Pipeline's {expected.shape}"
    wrong = np.argwhere(~(np.abs(got - expected) <= TOLERANCE))
    if wrong.size:
        at = tuple(wrong[0])
        column = f" (class {target.classes[at[1]]})" if got.ndim == 2 else ""
        return f"row {at[0]}{column}: {got[at]!r} vs the Pipeline's {expected[at]!r}"
    if target.task == "regression":
        return ""
    labels = [s >= threshold if target.task == "binary" else s.argmax(axis=1) for s in (got, expected)]
    if not np.array_equal(*labels):
        row = int(np.flatnonzero(labels[0] != labels[1])[0])
        return f"row {row} gets another label ({got[row]!r} vs the Pipeline's {expected[row]!r})"
    return ""


@dataclass(frozen=True)
class Scorer:
    """What the server scores parsed requests with: the compiled path, or the Pipeline.

    Attributes:
        reason: Why the Pipeline serves ("" when the compiled path does).
    """

    pipeline: Any = field(repr=False)
    target: TargetSpec
    compiled: Compiled | None = field(default=None, repr=False)
    reason: str = ""

    @property
    def path(self) -> str:
        """``"compiled"`` or ``"pipeline"``."""
        return "pipeline" if self.compiled is None else "compiled"

    def scores(self, parsed: ParsedRequest) -> np.ndarray:
        """binary: P(positive class) per row, shape (n,); multiclass: probabilities (n, k) in the
        model's class order (as ``scores_of`` gives); regression: predicted values (n,).
        Raises ValueError where scikit-learn would (e.g. non-finite inputs to a linear model)."""
        if self.compiled is not None:
            return self.compiled(parsed)
        with np.errstate(all="ignore"):  # overflow is a value here, as on the compiled path
            return scores_of(self.pipeline, parsed.frame, self.target)


def choose_scorer(
    pipeline: Any,
    schema: RequestSchema,
    target: TargetSpec,
    threshold: float,
    reference: dict | None,
    enabled: bool = True,
) -> Scorer:
    """The compiled path when it compiles and agrees with ``scores_of(pipeline, parsed.frame, target)``
    within TOLERANCE on the bundle's reference rows and on edge rows (and, for classification,
    gives the same labels: threshold for binary, argmax for multiclass); else the Pipeline, with the
    reason. enabled=False: the Pipeline ("turned off").

    Args:
        pipeline: The bundle's fitted Pipeline.
        schema: The request schema whose parsed requests will be scored.
        target: The model's target (task and classes).
        threshold: The binary decision threshold.
        reference: The bundle's reference rows as an ndarray request body, or None.
        enabled: False serves the Pipeline.
    """
    if not enabled:
        return Scorer(pipeline, target, reason="turned off")
    try:
        compiled = compile_pipeline(pipeline, schema, target)
    except Exception as exc:  # what it does not know, or cannot read, the Pipeline serves
        problem = str(exc) if isinstance(exc, Unsupported) else f"{type(exc).__name__}: {exc}"
        return Scorer(pipeline, target, reason=f"not compiled: {problem}")
    checks = {"the bundle's reference rows": reference} if reference else {}
    checks["edge rows"] = edge_rows(schema, reference)
    for name, request in checks.items():
        problem = _disagreement(compiled, pipeline, schema, target, threshold, request)
        if problem:
            return Scorer(pipeline, target, reason=f"differs from the Pipeline on {name}: {problem}")
    return Scorer(pipeline, target, compiled)

"""Derived features as small scikit-learn transformers (no ZenML here).

Every transformer takes a pandas DataFrame and returns a copy with ONE added
column named by its spec's ``name``. They are stateless: ``fit`` only records
``feature_names_in_``/``n_features_in_`` so that ``get_feature_names_out``
works inside a Pipeline. Results are float64; impossible values (division by
zero, log of a negative number, values outside the bin edges) become NaN,
never inf, and are left to the Pipeline's imputer.

Feature specs are applied in order, so a later feature may use an earlier
one's output (``log`` of a ``ratio``, for instance).

Each transformer computes its column once, from numpy arrays: :meth:`DerivedFeature.derive`
takes ``column name -> 1-D array`` and is what both ``transform`` (on a DataFrame's columns)
and the served model's compiled path (:mod:`serving.scoring`, on a request's parsed arrays) call.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd
from pydantic import TypeAdapter
from sklearn.base import BaseEstimator, TransformerMixin

from tabular_ml.configuration.schema import (
    BinFeature,
    CountFeature,
    DifferenceFeature,
    FeatureSpec,
    LogFeature,
    RatioFeature,
)

__all__ = [
    "BinTransformer",
    "CountTransformer",
    "DerivedFeature",
    "DifferenceTransformer",
    "LogTransformer",
    "RatioTransformer",
    "build_feature_steps",
    "derived_feature_names",
    "parse_feature_specs",
    "referenced_columns",
    "validate_feature_specs",
]

_SPEC_ADAPTER: TypeAdapter[FeatureSpec] = TypeAdapter(FeatureSpec)


def _numbers(values: Any) -> np.ndarray:
    """Values as a float64 array: a float64 array as it is; anything else as ``pd.to_numeric``
    reads it (text that is not a number becomes NaN)."""
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        return values
    return pd.to_numeric(pd.Series(values, copy=False), errors="coerce").astype("float64").to_numpy()


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


@functools.lru_cache(maxsize=256)
def _membership(values: tuple[Any, ...]) -> Callable[[np.ndarray], np.ndarray]:
    """``pd.Series(column).isin(values)`` as a function of the column: numbers compared as
    numbers, anything else by equality (text as text), and a NaN among ``values`` matches NaN."""
    nan = any(map(_is_nan, values))
    numbers = np.asarray(
        [v for v in values if isinstance(v, (Real, np.number)) and not _is_nan(v)], dtype=np.float64
    )
    lookup = set(values)

    def isin(column: np.ndarray) -> np.ndarray:
        if column.dtype.kind in "biuf":
            # a few values: one broadcast comparison (np.isin costs ~10 µs a call on a single row)
            hits = (
                (column[:, None] == numbers).any(axis=1) if numbers.size <= 16 else np.isin(column, numbers)
            )
            return hits | np.isnan(column) if nan and column.dtype.kind == "f" else hits
        found = (
            (value in lookup or _is_nan(value) for value in column)
            if nan
            else map(lookup.__contains__, column)
        )
        return np.fromiter(found, dtype=bool, count=len(column))

    return isin


class DerivedFeature(TransformerMixin, BaseEstimator):
    """Shared plumbing: input checks, the added column, feature names.

    A subclass computes its column once, in :meth:`_compute`, from its input columns as arrays;
    :meth:`derive` (what the served model's compiled path calls) and :meth:`transform` (the
    Pipeline) both go through it.
    """

    name: str
    _reads_numbers = True  # inputs as float64 (numeric text coerced); False: as they are

    def _inputs(self) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _compute(self, *inputs: np.ndarray) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def input_columns(self) -> list[str]:
        """The columns this feature is computed from (explanations share its contribution among them)."""
        return list(self._inputs())

    def derive(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """This feature's column from ``columns`` (name -> 1-D array, one value per row: float64
        for numbers, object holding text or NaN for text): float64, impossible values as NaN.

        Overflow is a value here (inf, then NaN), as in pandas: call it under
        ``np.errstate(all="ignore")``, as :meth:`transform` does, to keep numpy from warning.
        """
        inputs = [_numbers(columns[c]) if self._reads_numbers else columns[c] for c in self._inputs()]
        values = np.asarray(self._compute(*inputs), dtype=np.float64)
        values[np.isinf(values)] = np.nan
        return values

    def _check_frame(self, X: Any) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"feature {self.name!r} ({type(self).__name__}) needs a pandas DataFrame, "
                f"got {type(X).__name__}"
            )
        missing = [column for column in self._inputs() if column not in X.columns]
        if missing:
            raise ValueError(f"feature {self.name!r} needs column(s) {missing} which the data does not have")
        return X

    def fit(self, X: pd.DataFrame, y: Any = None) -> DerivedFeature:
        X = self._check_frame(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        X = self._check_frame(X)
        read = _numbers if self._reads_numbers else pd.Series.to_numpy
        with np.errstate(all="ignore"):
            values = self.derive({column: read(X[column]) for column in self._inputs()})
        out = X.copy()
        out[self.name] = values
        return out

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        if input_features is None:
            if not hasattr(self, "feature_names_in_"):
                raise AttributeError(f"feature {self.name!r} is not fitted: no input feature names")
            input_features = self.feature_names_in_
        return np.asarray([*input_features, self.name], dtype=object)


class RatioTransformer(DerivedFeature):
    """``numerator / denominator``; a zero denominator gives NaN."""

    def __init__(self, name: str, numerator: str, denominator: str):
        self.name = name
        self.numerator = numerator
        self.denominator = denominator

    def _inputs(self) -> list[str]:
        return [self.numerator, self.denominator]

    def _compute(self, numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
        return numerator / np.where(denominator != 0, denominator, np.nan)


class DifferenceTransformer(DerivedFeature):
    """``left - right``."""

    def __init__(self, name: str, left: str, right: str):
        self.name = name
        self.left = left
        self.right = right

    def _inputs(self) -> list[str]:
        return [self.left, self.right]

    def _compute(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        return left - right


class LogTransformer(DerivedFeature):
    """``log1p(column)``; negative values give NaN."""

    def __init__(self, name: str, column: str):
        self.name = name
        self.column = column

    def _inputs(self) -> list[str]:
        return [self.column]

    def _compute(self, values: np.ndarray) -> np.ndarray:
        return np.log1p(np.where(values >= 0, values, np.nan))


class BinTransformer(DerivedFeature):
    """Index of the bin (``pd.cut`` with ``edges``) holding each value, as a number.

    Bins are right-closed, ``(e0, e1], (e1, e2], ...``, and the first one also
    holds ``e0`` itself (``include_lowest``), so edges ``[0, 12, 24]`` put
    0..12 in bin 0 and 12.x..24 in bin 1. NaN and values outside the edges give NaN.
    """

    def __init__(self, name: str, column: str, edges: Sequence[float]):
        self.name = name
        self.column = column
        self.edges = edges

    def _inputs(self) -> list[str]:
        return [self.column]

    def _compute(self, values: np.ndarray) -> np.ndarray:
        """``pd.cut(values, edges, include_lowest=True).codes`` as pandas computes them."""
        edges = np.asarray(self.edges, dtype=np.float64)
        steps = edges[1:] - edges[:-1]
        if not (steps > 0).all() and not (edges.size == 2 and steps[0] == 0):  # pd.cut's checks
            problem = "increase monotonically" if not (steps >= 0).all() else "be unique"
            raise ValueError(f"feature {self.name!r}: bin edges {list(self.edges)} must {problem}")
        ids = edges.searchsorted(values, side="left")
        ids[values == edges[0]] = 1
        outside = np.isnan(values) | (ids == 0) | (ids == edges.size)
        return np.where(outside, np.nan, ids - 1.0)


class CountTransformer(DerivedFeature):
    """How many of ``columns`` hold one of ``values`` (e.g. add-on services that are "Yes").

    Values are compared as ``DataFrame.isin`` compares them: text as text, numbers as numbers.
    """

    _reads_numbers = False

    def __init__(self, name: str, columns: Sequence[str], values: Sequence[Any] = ("Yes", 1)):
        self.name = name
        self.columns = columns
        self.values = values

    def _inputs(self) -> list[str]:
        return list(self.columns)

    def _compute(self, *columns: np.ndarray) -> np.ndarray:
        isin = _membership(tuple(self.values))
        total = np.zeros(len(columns[0]))
        for column in columns:
            total += isin(np.asarray(column))
        return total


# --------------------------------------------------------------------------- specs -> steps


def parse_feature_specs(specs: Iterable[FeatureSpec | dict[str, Any]]) -> list[FeatureSpec]:
    """Feature specs as config models (plain dicts, e.g. from YAML, are validated)."""
    return [spec if not isinstance(spec, dict) else _SPEC_ADAPTER.validate_python(spec) for spec in specs]


def referenced_columns(spec: FeatureSpec) -> list[str]:
    """The input columns one feature spec reads."""
    if isinstance(spec, RatioFeature):
        return [spec.numerator, spec.denominator]
    if isinstance(spec, DifferenceFeature):
        return [spec.left, spec.right]
    if isinstance(spec, (LogFeature, BinFeature)):
        return [spec.column]
    if isinstance(spec, CountFeature):
        return list(spec.columns)
    raise TypeError(f"unknown feature spec {spec!r}")


def derived_feature_names(specs: Iterable[FeatureSpec | dict[str, Any]]) -> list[str]:
    """Names of the columns the feature specs add, in order."""
    return [spec.name for spec in parse_feature_specs(specs)]


def validate_feature_specs(
    specs: Iterable[FeatureSpec | dict[str, Any]], columns: Iterable[str] | None = None
) -> list[FeatureSpec]:
    """Check names and references; raise ValueError naming the feature at fault.

    Names must be non-empty, unique, free of ``__`` (they become Pipeline step
    names) and must not shadow an input column. With ``columns`` (e.g. the
    contract's feature names) every referenced column must be an input column
    or an earlier feature.
    """
    parsed = parse_feature_specs(specs)
    known = None if columns is None else list(columns)
    available = set(known or [])
    seen: set[str] = set()
    for spec in parsed:
        if not spec.name or "__" in spec.name:
            raise ValueError(f"feature name {spec.name!r} must be non-empty and must not contain '__'")
        if spec.name in seen:
            raise ValueError(f"feature {spec.name!r} is defined twice")
        if known is not None and spec.name in known:
            raise ValueError(f"feature {spec.name!r} has the name of an existing column")
        if isinstance(spec, BinFeature) and any(
            b <= a for a, b in zip(spec.edges[:-1], spec.edges[1:], strict=True)
        ):
            raise ValueError(f"feature {spec.name!r}: bin edges {spec.edges} must increase strictly")
        if known is not None:
            missing = [column for column in referenced_columns(spec) if column not in available]
            if missing:
                raise ValueError(
                    f"feature {spec.name!r} ({spec.kind}) references missing column(s) {missing}"
                )
        seen.add(spec.name)
        available.add(spec.name)
    return parsed


def _transformer(spec: FeatureSpec) -> DerivedFeature:
    if isinstance(spec, RatioFeature):
        return RatioTransformer(spec.name, spec.numerator, spec.denominator)
    if isinstance(spec, DifferenceFeature):
        return DifferenceTransformer(spec.name, spec.left, spec.right)
    if isinstance(spec, LogFeature):
        return LogTransformer(spec.name, spec.column)
    if isinstance(spec, BinFeature):
        return BinTransformer(spec.name, spec.column, list(spec.edges))
    if isinstance(spec, CountFeature):
        return CountTransformer(spec.name, list(spec.columns), list(spec.values))
    raise TypeError(f"unknown feature spec {spec!r}")


def build_feature_steps(
    specs: Iterable[FeatureSpec | dict[str, Any]], columns: Iterable[str] | None = None
) -> list[tuple[str, TransformerMixin]]:
    """``(name, transformer)`` Pipeline steps, one per spec, in order.

    Give ``columns`` (the contract's feature names) to check at build time that
    every referenced column exists.
    """
    return [(spec.name, _transformer(spec)) for spec in validate_feature_specs(specs, columns)]

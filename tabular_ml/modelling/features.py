"""Derived features as small scikit-learn transformers (no ZenML here).

Every transformer takes a pandas DataFrame and returns a copy with ONE added
column named by its spec's ``name``. They are stateless: ``fit`` only records
``feature_names_in_``/``n_features_in_`` so that ``get_feature_names_out``
works inside a Pipeline. Results are float64; impossible values (division by
zero, log of a negative number, values outside the bin edges) become NaN,
never inf, and are left to the Pipeline's imputer.

Feature specs are applied in order, so a later feature may use an earlier
one's output (``log`` of a ``ratio``, for instance).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column as float64; text that is not a number becomes NaN."""
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


class _DerivedFeature(TransformerMixin, BaseEstimator):
    """Shared plumbing: input checks, the added column, feature names."""

    name: str

    def _inputs(self) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _compute(self, frame: pd.DataFrame) -> pd.Series:  # pragma: no cover - overridden
        raise NotImplementedError

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

    def fit(self, X: pd.DataFrame, y: Any = None) -> _DerivedFeature:
        X = self._check_frame(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        X = self._check_frame(X)
        values = self._compute(X).astype("float64").replace([np.inf, -np.inf], np.nan)
        out = X.copy()
        out[self.name] = values.to_numpy()
        return out

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        if input_features is None:
            if not hasattr(self, "feature_names_in_"):
                raise AttributeError(f"feature {self.name!r} is not fitted: no input feature names")
            input_features = self.feature_names_in_
        return np.asarray([*input_features, self.name], dtype=object)


class RatioTransformer(_DerivedFeature):
    """``numerator / denominator``; a zero denominator gives NaN."""

    def __init__(self, name: str, numerator: str, denominator: str):
        self.name = name
        self.numerator = numerator
        self.denominator = denominator

    def _inputs(self) -> list[str]:
        return [self.numerator, self.denominator]

    def _compute(self, frame: pd.DataFrame) -> pd.Series:
        numerator = _numeric(frame, self.numerator)
        denominator = _numeric(frame, self.denominator)
        return numerator / denominator.where(denominator != 0)


class DifferenceTransformer(_DerivedFeature):
    """``left - right``."""

    def __init__(self, name: str, left: str, right: str):
        self.name = name
        self.left = left
        self.right = right

    def _inputs(self) -> list[str]:
        return [self.left, self.right]

    def _compute(self, frame: pd.DataFrame) -> pd.Series:
        return _numeric(frame, self.left) - _numeric(frame, self.right)


class LogTransformer(_DerivedFeature):
    """``log1p(column)``; negative values give NaN."""

    def __init__(self, name: str, column: str):
        self.name = name
        self.column = column

    def _inputs(self) -> list[str]:
        return [self.column]

    def _compute(self, frame: pd.DataFrame) -> pd.Series:
        values = _numeric(frame, self.column)
        return np.log1p(values.where(values >= 0))


class BinTransformer(_DerivedFeature):
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

    def _compute(self, frame: pd.DataFrame) -> pd.Series:
        codes = pd.cut(_numeric(frame, self.column), bins=list(self.edges), include_lowest=True).cat.codes
        return codes.astype("float64").where(codes >= 0)


class CountTransformer(_DerivedFeature):
    """How many of ``columns`` hold one of ``values`` (e.g. add-on services that are "Yes")."""

    def __init__(self, name: str, columns: Sequence[str], values: Sequence[Any] = ("Yes", 1)):
        self.name = name
        self.columns = columns
        self.values = values

    def _inputs(self) -> list[str]:
        return list(self.columns)

    def _compute(self, frame: pd.DataFrame) -> pd.Series:
        return frame[list(self.columns)].isin(list(self.values)).sum(axis=1)


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


def _transformer(spec: FeatureSpec) -> _DerivedFeature:
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

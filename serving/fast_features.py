"""The Pipeline's transformers re-done on numpy arrays, for the fast single-row path.

A compiled step takes a dict ``column name -> 1-D array`` (float64 for numbers, object for
text, one value per request row) and either adds a column (the derived features of
:mod:`tabular_ml.modelling.features`) or, for the ``ColumnTransformer``, returns the estimator's input
matrix. Steps run under ``np.errstate(all="ignore")`` (see ``FastPipeline``), as pandas
does. Each step repeats exactly the arithmetic scikit-learn and pandas do, in the same
order, so results agree to rounding; :mod:`serving.fast_path` still checks that on
reference rows before using them. Anything not known here raises :class:`Unsupported`,
and the server keeps the Pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler

from tabular_ml.modelling.features import (
    BinTransformer,
    CountTransformer,
    DifferenceTransformer,
    LogTransformer,
    RatioTransformer,
)

__all__ = ["Columns", "Unsupported", "compile_column_transformer", "compile_derived_feature"]

Columns = dict[str, np.ndarray]
ColumnStep = Callable[[Columns], None]
Block = Callable[[Columns], np.ndarray]


class Unsupported(Exception):
    """A Pipeline part the fast path does not reproduce (the message says which)."""


# ---------------------------------------------------------------------- derived features


def _finite(values: np.ndarray) -> np.ndarray:
    values[np.isinf(values)] = np.nan  # the transformers turn inf into NaN
    return values


def _numbers(columns: Columns, name: str, numeric: set[str]) -> np.ndarray:
    if name not in numeric:
        raise Unsupported(f"a derived feature reads the text column {name!r}")
    return columns[name]


def compile_derived_feature(step: Any, numeric: set[str]) -> ColumnStep:
    """One of :mod:`tabular_ml.modelling.features`' transformers as a step adding its column.

    ``numeric`` names the float64 columns so far (raw numeric/binary and earlier derived ones);
    the new column is added to it.
    """
    kind = type(step)
    out = step.name
    if kind is RatioTransformer:
        a, b = step.numerator, step.denominator

        def ratio(columns: Columns) -> None:
            denominator = _numbers(columns, b, numeric)
            columns[out] = _finite(
                _numbers(columns, a, numeric) / np.where(denominator != 0, denominator, np.nan)
            )

        compiled = ratio
    elif kind is DifferenceTransformer:
        a, b = step.left, step.right

        def difference(columns: Columns) -> None:
            columns[out] = _finite(_numbers(columns, a, numeric) - _numbers(columns, b, numeric))

        compiled = difference
    elif kind is LogTransformer:
        a = step.column

        def log(columns: Columns) -> None:
            values = _numbers(columns, a, numeric)
            columns[out] = _finite(np.log1p(np.where(values >= 0, values, np.nan)))

        compiled = log
    elif kind is BinTransformer:
        compiled = _bin_step(step, numeric)
    elif kind is CountTransformer:
        compiled = _count_step(step, numeric)
    else:
        raise Unsupported(f"feature step {type(step).__name__}")
    numeric.add(out)
    return compiled


def _bin_step(step: BinTransformer, numeric: set[str]) -> ColumnStep:
    """``pd.cut(right=True, include_lowest=True).codes`` as pandas computes it (searchsorted)."""
    edges = np.asarray(list(step.edges), dtype=np.float64)
    if edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise Unsupported(f"bin edges {list(step.edges)}")
    a, out = step.column, step.name

    def bin_codes(columns: Columns) -> None:
        values = _numbers(columns, a, numeric)
        ids = edges.searchsorted(values, side="left")
        ids[values == edges[0]] = 1
        outside = np.isnan(values) | (ids == len(edges)) | (ids == 0)
        columns[out] = np.where(outside, np.nan, ids - 1.0)

    return bin_codes


def _count_step(step: CountTransformer, numeric: set[str]) -> ColumnStep:
    """``frame[columns].isin(values).sum(axis=1)``: text compared as text, numbers as numbers."""
    values = list(step.values)
    if any(isinstance(v, bool) or not isinstance(v, (str, Real)) for v in values):
        raise Unsupported(f"count values {values}")
    texts = frozenset(v for v in values if isinstance(v, str))
    numbers = np.asarray([float(v) for v in values if not isinstance(v, str)], dtype=np.float64)
    names, out = list(step.columns), step.name

    def count(columns: Columns) -> None:
        total = None
        for name in names:
            column = columns[name]
            if name in numeric:
                hits = np.isin(column, numbers) if numbers.size else np.zeros(column.shape, dtype=bool)
            else:
                hits = np.fromiter(map(texts.__contains__, column), dtype=bool, count=len(column))
            total = hits.astype(np.float64) if total is None else total + hits
        columns[out] = total

    return count


# ---------------------------------------------------------------------- the ColumnTransformer


def _parts(transformer: Any) -> list[Any]:
    if isinstance(transformer, Pipeline):
        return [step for _, step in transformer.steps if step not in (None, "passthrough")]
    return [transformer]


def _numeric_block(parts: list[Any], names: list[str]) -> Block:
    """Imputation and scaling of float columns, on an (n, k) block at once."""
    operations: list[Callable[[np.ndarray], np.ndarray]] = []
    for part in parts:
        kind = type(part)
        if kind is SimpleImputer:
            _check_imputer(part)
            statistics = np.asarray(part.statistics_, dtype=np.float64)
            if np.isnan(statistics).any():
                raise Unsupported("a numeric imputer with an all-missing column")
            operations.append(lambda X, s=statistics: np.where(np.isnan(X), s, X))
        elif kind is StandardScaler:
            mean = part.mean_ if part.with_mean else None
            scale = part.scale_ if part.with_std else None
            operations.append(lambda X, m=mean, s=scale: _center_scale(X, m, s))
        elif kind is RobustScaler:
            center = part.center_ if part.with_centering else None
            scale = part.scale_ if part.with_scaling else None
            operations.append(lambda X, m=center, s=scale: _center_scale(X, m, s))
        elif kind is MinMaxScaler:
            operations.append(_min_max(part))
        else:
            raise Unsupported(f"numeric transformer {kind.__name__}")

    def block(columns: Columns) -> np.ndarray:
        X = np.array([columns[name] for name in names], dtype=np.float64).T  # a copy: edited in place
        for operation in operations:
            X = operation(X)
        return X

    return block


def _center_scale(X: np.ndarray, center: np.ndarray | None, scale: np.ndarray | None) -> np.ndarray:
    if center is not None:
        X -= center
    if scale is not None:
        X /= scale
    return X


def _min_max(part: MinMaxScaler) -> Callable[[np.ndarray], np.ndarray]:
    low, high = part.feature_range

    def min_max(X: np.ndarray) -> np.ndarray:
        X *= part.scale_
        X += part.min_
        return np.clip(X, low, high, out=X) if part.clip else X

    return min_max


def _check_imputer(imputer: SimpleImputer) -> None:
    missing = imputer.missing_values
    if imputer.add_indicator or not (isinstance(missing, float) and np.isnan(missing)):
        raise Unsupported("an imputer with an indicator or a missing-value marker other than NaN")


def _text_block(parts: list[Any], names: list[str]) -> Block:
    """Imputation and one-hot or ordinal encoding of text columns, by dictionary look-up."""
    fill = None
    encoder = None
    for part in parts:
        if type(part) is SimpleImputer and encoder is None and fill is None:
            _check_imputer(part)
            fill = list(part.statistics_)
        elif type(part) in (OneHotEncoder, OrdinalEncoder) and encoder is None:
            encoder = part
        else:
            raise Unsupported(f"text transformer {type(part).__name__}")
    if encoder is None:
        raise Unsupported("text columns without an encoder")
    codes = [{category: i for i, category in enumerate(categories)} for categories in encoder.categories_]
    if type(encoder) is OneHotEncoder:
        return _one_hot(encoder, names, fill, codes)
    return _ordinal(encoder, names, fill, codes)


def _filled(column: np.ndarray, fill: Any) -> Any:
    """The column with NaN replaced by the imputer's value (SimpleImputer's ``X != X`` test)."""
    if fill is None:
        return column
    return [fill if value != value else value for value in column]  # noqa: PLR0124 - NaN test


def _one_hot(encoder: OneHotEncoder, names: list[str], fill: list[Any] | None, codes: list[dict]) -> Block:
    if (
        encoder.drop_idx_ is not None
        or getattr(encoder, "_infrequent_enabled", False)
        or encoder.handle_unknown not in ("ignore", "infrequent_if_exist")
        or getattr(encoder, "sparse_output_", False)
    ):
        raise Unsupported(
            "a OneHotEncoder with drop, infrequent categories, sparse output or unknown='error'"
        )
    offsets = np.cumsum([0] + [len(c) for c in encoder.categories_])
    width = int(offsets[-1])

    def block(columns: Columns) -> np.ndarray:
        n = len(columns[names[0]])
        out = np.zeros((n, width), dtype=np.float64)
        for k, name in enumerate(names):
            lookup, offset = codes[k], offsets[k]
            for row, value in enumerate(_filled(columns[name], fill[k] if fill else None)):
                at = lookup.get(value)
                if at is not None:
                    out[row, offset + at] = 1.0
        return out

    return block


def _ordinal(encoder: OrdinalEncoder, names: list[str], fill: list[Any] | None, codes: list[dict]) -> Block:
    if encoder.handle_unknown != "use_encoded_value" or getattr(encoder, "_infrequent_enabled", False):
        raise Unsupported("an OrdinalEncoder that raises on unknown values or groups infrequent ones")
    unknown = float(encoder.unknown_value)

    def block(columns: Columns) -> np.ndarray:
        n = len(columns[names[0]])
        out = np.empty((n, len(names)), dtype=np.float64)
        for k, name in enumerate(names):
            lookup = codes[k]
            for row, value in enumerate(_filled(columns[name], fill[k] if fill else None)):
                out[row, k] = lookup.get(value, unknown)
        return out

    return block


def compile_column_transformer(transformer: Any, numeric: set[str], known: set[str]) -> Block:
    """The fitted ``ColumnTransformer`` (dense output, named columns) as one function.

    Args:
        transformer: The fitted ColumnTransformer.
        numeric: The float64 columns; the others are text.
        known: Every column the steps before it provide.
    """
    if type(transformer) is not ColumnTransformer:
        raise Unsupported(f"preprocessing step {type(transformer).__name__}")
    if getattr(transformer, "sparse_output_", False):
        raise Unsupported("a ColumnTransformer with sparse output")
    blocks: list[Block] = []
    for name, part, selection in transformer.transformers_:
        if part == "drop" or (name == "remainder" and part == "drop"):
            continue
        names = list(selection) if isinstance(selection, (list, tuple, np.ndarray)) else None
        if not names or not all(isinstance(column, str) and column in known for column in names):
            if name == "remainder" and names == []:
                continue
            raise Unsupported(f"ColumnTransformer part {name!r} selects columns by {selection!r}")
        if part == "passthrough":
            if not set(names) <= numeric:
                raise Unsupported(f"ColumnTransformer part {name!r} passes text through")
            blocks.append(_numeric_block([], names))
        elif set(names) <= numeric:
            blocks.append(_numeric_block(_parts(part), names))
        elif not set(names) & numeric:
            blocks.append(_text_block(_parts(part), names))
        else:
            raise Unsupported(f"ColumnTransformer part {name!r} mixes numeric and text columns")

    def transform(columns: Columns) -> np.ndarray:
        return np.hstack([block(columns) for block in blocks]) if len(blocks) > 1 else blocks[0](columns)

    if not blocks:
        raise Unsupported("a ColumnTransformer with no output")
    return transform

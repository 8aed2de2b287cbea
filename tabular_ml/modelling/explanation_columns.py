"""Which of the client's columns each of the estimator's inputs comes from (no ZenML here).

The estimator sees the ``preprocess`` step's output: a numeric or ordinal column is one input,
a one-hot encoded column one input per category, a derived feature one input computed from other
columns. :func:`source_matrix` is the (inputs x client columns) matrix that turns contributions
to the estimator's inputs into contributions of the columns the client sent: a one-hot input
counts fully for its column, a derived feature's input is shared equally among the columns it is
computed from (recursively: a ``log`` of a ``ratio`` splits between the ratio's two columns).
Rows of the matrix sum to 1, so totals are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from tabular_ml.modelling.features import DerivedFeature

__all__ = ["source_matrix"]


def _steps(step: Any) -> list[Any]:
    parts = [part for _, part in step.steps] if isinstance(step, Pipeline) else [step]
    return [part for part in parts if part not in (None, "passthrough")]


def _derived_sources(pipeline: Pipeline) -> dict[str, list[str]]:
    """Derived feature name -> the columns it is computed from, for the ``features`` step."""
    step = pipeline.named_steps.get("features", "passthrough")
    sources: dict[str, list[str]] = {}
    for part in _steps(step):
        if not isinstance(part, DerivedFeature):
            raise ValueError(f"cannot explain through feature step {type(part).__name__}")
        sources[part.name] = part.input_columns()
    return sources


def _one_hot_widths(part: Any, columns: list[str]) -> list[int]:
    encoder = _steps(part)[-1] if _steps(part) else None
    if not isinstance(encoder, OneHotEncoder) or getattr(encoder, "infrequent_categories_", None):
        raise ValueError(f"cannot tell which of {columns[:5]}'s encoded inputs come from which column")
    dropped = encoder.drop_idx_ if encoder.drop_idx_ is not None else [None] * len(columns)
    return [
        len(categories) - (drop is not None)
        for categories, drop in zip(encoder.categories_, dropped, strict=True)
    ]


def _input_columns(preprocess: ColumnTransformer, width: int) -> list[str]:
    """The source column (client or derived) of each of the ``width`` estimator inputs."""
    owner: list[str | None] = [None] * width
    for name, part, selection in preprocess.transformers_:
        if part == "drop" or name not in preprocess.output_indices_:
            continue
        out = preprocess.output_indices_[name]
        columns = [str(c) for c in np.atleast_1d(selection)]
        size = out.stop - out.start
        if size == 0:
            continue
        widths = [1] * len(columns) if size == len(columns) else _one_hot_widths(part, columns)
        if sum(widths) != size:
            raise ValueError(f"preprocessing part {name!r} gives {size} inputs for columns {columns[:5]}")
        position = out.start
        for column, n in zip(columns, widths, strict=True):
            owner[position : position + n] = [column] * n
            position += n
    if None in owner:
        raise ValueError("some of the estimator's inputs come from no column of the preprocessing step")
    return [str(column) for column in owner]


def source_matrix(pipeline: Pipeline, columns: Sequence[str], width: int) -> np.ndarray:
    """(``width`` estimator inputs x ``columns``): each input's share of each client column.

    Raises:
        ValueError: When the preprocessing is not one this module can trace (one line).
    """
    preprocess = pipeline.named_steps.get("preprocess")
    if not isinstance(preprocess, ColumnTransformer):
        raise ValueError("cannot explain a Pipeline without a ColumnTransformer 'preprocess' step")
    derived = _derived_sources(pipeline)
    index = {column: i for i, column in enumerate(columns)}

    def shares(column: str, depth: int = 0) -> np.ndarray:
        row = np.zeros(len(columns))
        if column in index:
            row[index[column]] = 1.0
        elif column in derived and depth < 50:
            inputs = derived[column]
            for source in inputs:
                row += shares(source, depth + 1) / len(inputs)
        else:
            raise ValueError(f"the model's input column {column!r} is neither sent by clients nor derived")
        return row

    return np.array([shares(column) for column in _input_columns(preprocess, width)]).reshape(
        width, len(columns)
    )

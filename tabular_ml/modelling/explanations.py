"""Why the model scored a row as it did: additive contributions per client column (no ZenML here).

For each row, ``base_value + sum(contributions.values()) == output`` (within 1e-6 for the exact
methods; see :mod:`tabular_ml.modelling.explanation_methods` for which estimator is explained how,
and in which ``space``), and every column the client sent has a contribution
(:mod:`tabular_ml.modelling.explanation_columns` maps one-hot and derived inputs back to them).

A row's explanation as JSON (:meth:`RowExplanation.as_dict`), binary or regression::

    {"output": -0.42, "space": "log_odds", "base_value": -1.31, "method": "exact",
     "contributions": {"tenure": 0.61, "contract": 0.52, ...},
     "top": [["tenure", 0.61], ["contract", 0.52], ...]}

Multiclass: ``output`` and ``base_value`` map each class to its value, each contribution maps
each class to its value, and ``top`` ranks the columns for the class with the largest output,
named by ``class``.

The background rows (the linear base, the permutation method's masking values) are the first
:data:`BACKGROUND_ROWS` rows of the version's test split everywhere (the report, batch scoring,
the server's bundled reference rows), so all three explain a row alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from tabular_ml.modelling.explanation_columns import source_matrix
from tabular_ml.modelling.explanation_methods import Attribution, method_for
from tabular_ml.tasks.target import TargetSpec

__all__ = ["BACKGROUND_ROWS", "DEFAULT_TOP_K", "Explainer", "RowExplanation", "explain_rows"]

BACKGROUND_ROWS = 500
DEFAULT_TOP_K = 5


@dataclass(frozen=True)
class RowExplanation:
    """One row's explanation (see the module doc); ``explained_class`` only for multiclass."""

    output: float | dict[str, float]
    space: str
    base_value: float | dict[str, float]
    contributions: dict[str, Any]
    top: list[tuple[str, float]]
    method: str
    explained_class: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``top`` as ``[column, contribution]`` pairs)."""
        body: dict[str, Any] = {
            "output": self.output,
            "space": self.space,
            "base_value": self.base_value,
            "contributions": self.contributions,
            "top": [[column, value] for column, value in self.top],
            "method": self.method,
        }
        if self.explained_class is not None:
            body["class"] = self.explained_class
        return body


@dataclass(frozen=True)
class ColumnAttribution:
    """Output (n, k), base (k,) and contributions per client column (n, columns, k)."""

    output: np.ndarray
    base: np.ndarray
    contributions: np.ndarray


class Explainer:
    """Explains rows for one fitted Pipeline (``features -> preprocess -> model``); built once.

    Args:
        pipeline: The fitted Pipeline.
        target: Its resolved target (task, classes in the model's order).
        columns: The columns clients send, in order (the contract's feature names).
        background: Rows of the data (the client's columns), for the linear base and the
            approximate method; at most :data:`BACKGROUND_ROWS` are used. Tree ensembles need none.

    Raises:
        ValueError: When the Pipeline cannot be explained (one line saying why).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        target: TargetSpec,
        columns: list[str],
        background: pd.DataFrame | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.target = target
        self.columns = list(columns)
        self.transform = pipeline[:-1].transform
        inputs = None
        if background is not None and len(background):
            inputs = np.asarray(self.transform(background[self.columns].head(BACKGROUND_ROWS)), dtype=float)
        self._method = method_for(pipeline[-1], inputs, target.task == "multiclass")
        try:
            width = len(pipeline[:-1].get_feature_names_out())
        except AttributeError as exc:  # a step that cannot name its outputs
            raise ValueError(f"the model's inputs cannot be traced to the columns: {exc}") from exc
        self.sources = source_matrix(pipeline, self.columns, width)

    @property
    def method(self) -> str:
        """``exact`` or ``approximate``."""
        return self._method.kind

    @property
    def space(self) -> str:
        """``log_odds``, ``logit`` (multiclass, per class), ``probability`` or ``value``."""
        return self._method.space

    def attribute(self, inputs: np.ndarray) -> ColumnAttribution:
        """Contributions per client column for rows given as the estimator's inputs (n, p)."""
        found: Attribution = self._method.attribute(np.asarray(inputs, dtype=float))
        per_column = np.einsum("npk,pc->nck", found.contributions, self.sources)
        return ColumnAttribution(found.output, found.base, per_column)

    def attribute_frame(self, frame: pd.DataFrame) -> ColumnAttribution:
        """As :meth:`attribute`, for rows of the client's columns."""
        return self.attribute(np.asarray(self.transform(frame[self.columns]), dtype=float))

    def rows(self, found: ColumnAttribution, top_k: int = DEFAULT_TOP_K) -> list[RowExplanation]:
        """One :class:`RowExplanation` per row of ``found``."""
        if self.target.task == "multiclass":
            return [self._multiclass_row(found, i, top_k) for i in range(len(found.output))]
        base = float(found.base[0])
        output = found.output[:, 0].tolist()
        contributions = found.contributions[:, :, 0]
        explained = []
        for i, values in enumerate(contributions.tolist()):
            explained.append(
                RowExplanation(
                    output=output[i],
                    space=self.space,
                    base_value=base,
                    contributions=dict(zip(self.columns, values, strict=True)),
                    top=top_columns(self.columns, contributions[i], top_k),
                    method=self.method,
                )
            )
        return explained

    def _multiclass_row(self, found: ColumnAttribution, i: int, top_k: int) -> RowExplanation:
        classes = self.target.classes
        best = int(np.argmax(found.output[i]))
        values = found.contributions[i]
        return RowExplanation(
            output=dict(zip(classes, found.output[i].tolist(), strict=True)),
            space=self.space,
            base_value=dict(zip(classes, found.base.tolist(), strict=True)),
            contributions={
                column: dict(zip(classes, row, strict=True))
                for column, row in zip(self.columns, values.tolist(), strict=True)
            },
            top=top_columns(self.columns, values[:, best], top_k),
            method=self.method,
            explained_class=classes[best],
        )

    def top_reasons(self, found: ColumnAttribution, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the ``top_k`` columns with the largest contributions by size and those
        contributions, (n, top_k) each: what a row's ``top`` lists, as arrays (batch scoring)."""
        values = found.contributions
        if self.target.task == "multiclass":  # the contributions to the class with the largest output
            values = np.take_along_axis(values, found.output.argmax(axis=1)[:, None, None], axis=2)
        values = values[:, :, 0]
        order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :top_k]
        return np.asarray(self.columns, dtype=object)[order], np.take_along_axis(values, order, axis=1)

    def explain(self, frame: pd.DataFrame, top_k: int = DEFAULT_TOP_K) -> list[RowExplanation]:
        """One :class:`RowExplanation` per row of ``frame`` (the client's columns)."""
        return self.rows(self.attribute_frame(frame), top_k)


def top_columns(columns: list[str], values: np.ndarray, k: int) -> list[tuple[str, float]]:
    """The ``k`` columns with the largest contributions by size, largest first (ties: column order)."""
    order = np.argsort(-np.abs(values), kind="stable")[: max(k, 0)]
    return [(columns[j], float(values[j])) for j in order]


def explain_rows(
    pipeline: Pipeline,
    frame: pd.DataFrame,
    target: TargetSpec,
    *,
    columns: list[str] | None = None,
    background: pd.DataFrame | None = None,
    top_k: int = DEFAULT_TOP_K,
) -> list[RowExplanation]:
    """Each row of ``frame`` explained (see :class:`Explainer`; ``columns`` default to the
    Pipeline's input columns)."""
    columns = list(columns if columns is not None else pipeline.feature_names_in_)
    return Explainer(pipeline, target, columns, background).explain(frame, top_k)

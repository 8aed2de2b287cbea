"""What a model predicts: the task, the class labels, and how labels become numbers.

The task (binary, multiclass, regression) is configured or inferred from the target's values,
once per training run, and recorded as a :class:`TargetSpec` that travels with the model.

Labels are compared by their text (:func:`label_text`): the integer ``0`` in the data, ``0`` or
``"0"`` in YAML are one label; ``True`` and ``"True"`` are one label. YAML turns unquoted
``yes``/``no`` into booleans, so a boolean class in the config also matches the data's
yes/no (or y/n, true/false, on/off) text, whatever its case.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_INFERRED_CLASSES",
    "Task",
    "TargetError",
    "TargetSpec",
    "binary_target",
    "is_class",
    "label_text",
    "resolve_target",
]

Task = Literal["binary", "multiclass", "regression"]

#: A numeric target with more distinct values than this (or any non-integer value) is regression.
MAX_INFERRED_CLASSES = 20

_BOOLEAN_SPELLINGS = (("yes", "no"), ("y", "n"), ("true", "false"), ("t", "f"), ("on", "off"))


class TargetError(ValueError):
    """The target column does not fit the configured (or inferred) task; one line."""


def label_text(value: Any) -> str:
    """The text a label is compared by: ``0``, ``0.0`` and ``"0"`` are all ``"0"``."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


class TargetSpec(BaseModel):
    """The resolved target: what the model learns to predict and how labels are encoded.

    ``classes`` are label texts in the model's order: the model's class ``i`` is
    ``classes[i]``. For a binary task they are ``[negative, positive]``, so
    ``predict_proba(...)[:, 1]`` is the positive class's probability. Empty for regression.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    task: Task
    classes: list[str] = Field(default_factory=list)
    inferred: bool = Field(False, description="the task was inferred from the data, not configured")

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    @property
    def positive_class(self) -> str | None:
        return self.classes[1] if self.task == "binary" else None

    def describe(self) -> str:
        """One line for the run's output: the task and where it came from."""
        how = (
            "inferred from the target's values; set parameters.task to change"
            if self.inferred
            else "configured"
        )
        if self.task == "regression":
            return f"task: regression of {self.column!r} ({how})"
        if self.task == "binary":
            return (
                f"task: binary classification of {self.column!r}, positive class {self.classes[1]!r} ({how})"
            )
        return f"task: multiclass classification of {self.column!r}, {len(self.classes)} classes ({how})"

    def encode(self, labels: pd.Series | Sequence[Any]) -> np.ndarray:
        """Class indices (int64) for classification, float64 values for regression.

        Raises :class:`TargetError` on missing labels, unknown classes or non-numeric values.
        """
        series = pd.Series(labels, copy=False)
        missing = int(series.isna().sum())
        if missing:
            raise TargetError(f"target {self.column!r} has {missing} missing value(s)")
        if self.task == "regression":
            values = pd.to_numeric(series, errors="coerce")
            bad = series[values.isna()]
            if len(bad):
                examples = ", ".join(map(repr, pd.unique(bad.astype(str))[:3]))
                raise TargetError(
                    f"target {self.column!r} of a regression has {len(bad)} non-numeric value(s) "
                    f"(e.g. {examples})"
                )
            return values.to_numpy(dtype=np.float64)
        texts = _as_text(series)
        index = {label: i for i, label in enumerate(self.classes)}
        codes = texts.map(index)
        unknown = texts[codes.isna()]
        if len(unknown):
            examples = ", ".join(map(repr, pd.unique(unknown)[:3]))
            raise TargetError(
                f"target {self.column!r}: {len(unknown)} row(s) hold label(s) outside the classes "
                f"{self.classes} (e.g. {examples})"
            )
        return codes.to_numpy(dtype=np.int64)

    def decode(self, codes: Sequence[int] | np.ndarray) -> list[str]:
        """Class labels for class indices (classification only)."""
        return [self.classes[int(code)] for code in codes]


# --------------------------------------------------------------------------- resolution


def is_class(labels: pd.Series, classes: Sequence[Any]) -> pd.Series:
    """Whether each label is one of ``classes``, compared as :func:`resolve_target` compares them."""
    texts = _as_text(labels)
    configured = _match_boolean_spelling([label_text(c) for c in classes], set(texts.dropna().unique()))
    return texts.isin(configured)


def _as_text(series: pd.Series) -> pd.Series:
    if pd.api.types.is_string_dtype(series) or series.dtype == object:
        return series.map(label_text)
    uniques = pd.unique(series)
    return series.map({value: label_text(value) for value in uniques})


def _natural_order(labels: Sequence[str]) -> list[str]:
    """Numbers in numeric order, then text in alphabetical order ('False' before 'True')."""

    def key(label: str) -> tuple[int, float, str]:
        try:
            return 0, float(label), label
        except ValueError:
            return 1, 0.0, label

    return sorted(labels, key=key)


def _match_boolean_spelling(configured: list[str], observed: set[str]) -> list[str]:
    """Configured True/False (YAML's yes/no) renamed to the data's own yes/no spelling."""
    if not {"True", "False"} & set(configured) or not observed:
        return configured
    for yes, no in _BOOLEAN_SPELLINGS:
        spelling = {label.lower(): label for label in observed}
        if set(spelling) <= {yes, no}:
            rename = {"True": spelling.get(yes, yes), "False": spelling.get(no, no)}
            return [rename.get(label, label) for label in configured]
    return configured


def _infer_task(series: pd.Series, configured_classes: list[str] | None) -> Task:
    if configured_classes is not None:
        return "binary" if len(configured_classes) == 2 else "multiclass"
    distinct = series.dropna().unique()
    is_number = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if is_number:
        values = pd.to_numeric(pd.Series(distinct), errors="coerce")
        integral = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
        if not integral or len(distinct) > MAX_INFERRED_CLASSES:
            return "regression"
    return "binary" if len(distinct) <= 2 else "multiclass"


def resolve_target(
    labels: pd.Series,
    column: str,
    task: Task | None = None,
    classes: Sequence[Any] | None = None,
    positive_class: Any = None,
) -> TargetSpec:
    """The target spec for these labels: the configured task and classes, or inferred ones.

    Binary classes are ordered ``[negative, positive]``: the positive class is
    ``positive_class`` when given, else the last class (configured order, or natural order
    of the labels: ``1`` after ``0``, ``True`` after ``False``, ``Yes`` after ``No``).
    Raises :class:`TargetError` when the labels do not fit.
    """
    series = pd.Series(labels, copy=False).dropna()
    configured = [label_text(c) for c in classes] if classes is not None else None
    if configured is not None:
        configured = _match_boolean_spelling(configured, set(_as_text(series).unique()))
    inferred = task is None
    task = task or _infer_task(series, configured)

    if task == "regression":
        if configured is not None:
            raise TargetError("a regression target has no classes: remove contract.classes / positive_class")
        spec = TargetSpec(column=column, task=task, inferred=inferred)
        spec.encode(series)  # non-numeric values fail here, with examples
        return spec

    observed = set(_as_text(series).unique())
    ordered = configured if configured is not None else _natural_order(sorted(observed))
    if task == "binary" and len(ordered) != 2:
        raise TargetError(
            f"a binary target needs exactly 2 classes; {column!r} has {len(ordered)}: {ordered[:10]}"
            + ("" if len(ordered) < 2 else " (set parameters.task: multiclass)")
        )
    if task == "multiclass" and len(ordered) < 3:
        raise TargetError(f"a multiclass target needs 3 or more classes; {column!r} has {ordered}")
    if task == "binary" and positive_class is not None:
        positive = _match_boolean_spelling([label_text(positive_class)], observed)[0]
        if positive not in ordered:
            raise TargetError(f"positive_class {positive!r} is not one of the classes {ordered}")
        ordered = [label for label in ordered if label != positive] + [positive]
    spec = TargetSpec(column=column, task=task, classes=list(ordered), inferred=inferred)
    spec.encode(series)  # labels outside configured classes fail here, with examples
    return spec


def binary_target(column: str, classes: Sequence[Any], positive_class: Any) -> TargetSpec:
    """The binary target a contract names (classes and positive class), resolved without data
    (for a caller that has the contract but no resolved target)."""
    return resolve_target(pd.Series([], dtype=object), column, "binary", classes, positive_class)

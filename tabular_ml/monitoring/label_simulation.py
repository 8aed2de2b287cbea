"""Simulated changes to the labels, for testing monitors: concept drift and label delay.

``simulate_concept_drift(frame, target, column, share, seed, category=None)`` changes the
label's relation to one feature and nothing else: among the rows where ``column`` is above its
median (or equals ``category``), a random ``share`` get another label (a binary label flipped,
a multiclass label replaced by a random other class, a numeric target moved up by one standard
deviation). Every input column keeps its values row for row, so a drift check sees nothing;
only the model's performance (estimated from its inputs it cannot see it either; realized on
the labels it can) shows the change.

``delay_labels(frame, target, key_column, arrived_share, seed)`` splits a labelled frame into
what a model is asked to score (the rows with a key, without the target) and the labels that
arrive later, keyed alike; only ``arrived_share`` of the rows have theirs yet.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tabular_ml.monitoring.drift_simulation import DriftSpecError, parse_share, random_stream

__all__ = ["delay_labels", "parse_concept_drift", "simulate_concept_drift"]


def parse_concept_drift(text: str) -> tuple[str, str | None, float]:
    """``"tenure:0.5"`` -> ("tenure", None, 0.5); ``"contract=Two year:0.5"`` -> (..., "Two year", 0.5)."""
    where, sep, share = text.rpartition(":")
    if not sep or not where.strip():
        raise DriftSpecError(f"--concept-drift: {text!r} is not COLUMN:SHARE or COLUMN=CATEGORY:SHARE")
    column, _, category = where.partition("=")
    return column.strip(), category.strip() or None, parse_share(share, f"--concept-drift {where}")


def _affected(values: pd.Series, category: str | None, column: str) -> np.ndarray:
    """Row positions where the relation changes: above the median, or of ``category``."""
    if category is not None:
        matches = values.astype(str) == category
        if not matches.any():
            raise DriftSpecError(f"--concept-drift: column {column!r} has no value {category!r}")
        return np.flatnonzero(matches.to_numpy())
    if not pd.api.types.is_numeric_dtype(values):
        raise DriftSpecError(
            f"--concept-drift: column {column!r} is not numeric: name a category (COLUMN=CATEGORY)"
        )
    return np.flatnonzero((values > values.median()).to_numpy())


def _changed_labels(labels: pd.Series, rng: np.random.Generator) -> list[Any]:
    """Other labels for ``labels``: another class, or a numeric target one standard deviation up."""
    classes = sorted(labels.dropna().unique().tolist(), key=str)
    if pd.api.types.is_numeric_dtype(labels) and len(classes) > 2:
        return (labels + labels.std()).tolist()
    if len(classes) < 2:
        raise DriftSpecError("--concept-drift: the target holds a single class; there is no other label")
    return [rng.choice([c for c in classes if c != label]) for label in labels]


def simulate_concept_drift(
    frame: pd.DataFrame, target: str, column: str, share: float, seed: int, category: str | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A copy of ``frame`` with the target changed as the module docstring says, and a manifest entry."""
    for name in (target, column):
        if name not in frame.columns:
            raise DriftSpecError(f"--concept-drift: unknown column {name!r}")
    rng = random_stream(seed, "concept", column)
    affected = _affected(frame[column], category, column)
    chosen = np.sort(rng.choice(affected, size=round(share * len(affected)), replace=False))
    drifted = frame.copy()
    labels = drifted[target].copy()
    labels.iloc[chosen] = _changed_labels(labels.iloc[chosen], rng)
    drifted[target] = labels
    entry = {
        "operation": "concept_drift",
        "target": target,
        "column": column,
        "where": f"{column} == {category!r}" if category is not None else f"{column} > median",
        "share": share,
        "rows_affected": len(affected),
        "labels_changed": len(chosen),
    }
    return drifted, entry


def delay_labels(
    frame: pd.DataFrame, target: str, key_column: str, arrived_share: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The rows to score (a ``key_column`` added when missing, no target), the labels that have
    arrived (key and target, ``arrived_share`` of the rows, in random order) and a manifest entry."""
    if target not in frame.columns:
        raise DriftSpecError(f"--label-key: the data has no target column {target!r}")
    keyed = frame if key_column in frame.columns else frame.assign(**{key_column: np.arange(len(frame))})
    if keyed[key_column].duplicated().any():
        raise DriftSpecError(f"--label-key: column {key_column!r} repeats values; a key must be unique")
    order = random_stream(seed, "labels").permutation(len(keyed))
    arrived = keyed.iloc[order[: round(arrived_share * len(keyed))]][[key_column, target]]
    entry = {
        "operation": "label_delay",
        "key_column": key_column,
        "rows": len(keyed),
        "labels_arrived": len(arrived),
        "labels_pending": len(keyed) - len(arrived),
    }
    return keyed.drop(columns=[target]), arrived.reset_index(drop=True), entry

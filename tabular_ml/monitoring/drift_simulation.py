"""Simulated drift for testing monitors: a clean held-out slice and a drifted copy of it.

No ZenML here; ``scripts/simulate_drift.py`` is the command line around it.

``split_holdout(frame, rows, seed)`` draws ``rows`` rows without replacement: the holdout and
the rest are disjoint *by row position* and together are the input (rows with identical
values, which the Telco data has, can fall on both sides). The holdout keeps the input's row
order; a drift check of it against a reference drawn from the rest compares two random
samples of one population and should not alarm.

``simulate_drift(frame, numeric_shift, category_mix, missing, seed)`` returns a drifted copy
of ``frame`` with the same rows in the same order, and a manifest of what changed. Only the
named columns are touched, cell by cell; rows are never resampled, so every other column keeps
its values row for row (resampling whole rows to reach a category mix would carry correlated
columns along, e.g. contract and tenure, and a monitor would rightly flag those too). In order:

1. ``numeric_shift``: ``{"tenure": "1.5"}`` (or ``1.5``, ``"x1.5"``, ``"*1.5"``) multiplies,
   ``{"monthly_charges": "+20"}`` (or ``"-5"``: a sign means add) adds. Results are clipped to
   the column's observed range widened by 10 % of its width on each side (never below 0 for a
   column without negative values) and rounded to the column's decimals (at most 6), so integer
   columns stay integer and charges keep their cents; missing values stay missing.
2. ``category_mix``: ``{"contract": {"Month-to-month": 0.8}}`` sets those categories' shares
   of the column's non-missing values exactly (to the nearest row); the other categories
   share the rest in their current proportions. The fewest cells needed are relabelled,
   chosen at random from the categories that are over their target. A category absent from
   the data may be named (a new category appears); categories of a numeric column (0/1) are
   given as text and read as numbers.
3. ``missing``: ``{"total_charges": 0.2}`` blanks random non-missing cells until that share
   of the column is missing (cells already missing count); integer columns become nullable
   integers, so they still print without ``.0``.

Randomness comes from one stream per (operation, column) derived from ``seed``, so the same
seed gives the same output, and one column's change does not depend on which other columns
are changed.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

#: Each side of a shifted column's observed range is widened by this share of its width.
RANGE_MARGIN = 0.1


class DriftSpecError(ValueError):
    """A drift request that cannot be applied to the frame (named column, what is wrong)."""


def random_stream(seed: int, *labels: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(":".join(labels).encode())])


def split_holdout(frame: pd.DataFrame, rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, list[int]]:
    """``rows`` rows drawn without replacement, the rest, and the holdout's row positions.

    Both frames keep the input's row order and get a fresh 0..n-1 index.
    """
    if not 0 < rows < len(frame):
        raise DriftSpecError(
            f"holdout rows must be between 1 and {len(frame) - 1} (the input has {len(frame)})"
        )
    positions = np.sort(random_stream(seed, "holdout").permutation(len(frame))[:rows])
    taken = np.zeros(len(frame), dtype=bool)
    taken[positions] = True
    holdout = frame.iloc[positions].reset_index(drop=True)
    rest = frame.iloc[np.flatnonzero(~taken)].reset_index(drop=True)
    return holdout, rest, [int(p) for p in positions]


# ---------------------------------------------------------------------------- parsing


def parse_shift(value: str | float) -> tuple[str, float]:
    """``"1.5"``/``1.5``/``"x1.5"``/``"*1.5"`` -> ("multiply", 1.5); ``"+20"``/``"-5"`` -> ("add", ...)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "multiply", float(value)
    text = str(value).strip()
    operation = "add" if text[:1] in "+-" and text else "multiply"
    number = text[1:] if text[:1] in "x*" and text else text
    try:
        amount = float(number)
    except ValueError:
        raise DriftSpecError(
            f"shift {text!r}: expected a factor (1.5, x1.5) or a signed amount (+20, -5)"
        ) from None
    if not math.isfinite(amount):
        raise DriftSpecError(f"shift {text!r}: must be a finite number")
    return operation, amount


def _pairs(text: str, option: str) -> list[tuple[str, str]]:
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        column, sep, value = item.partition("=")
        if not sep or not column.strip() or not value.strip():
            raise DriftSpecError(f"{option}: {item!r} is not COLUMN=VALUE")
        pairs.append((column.strip(), value.strip()))
    return pairs


def parse_numeric_shift(text: str) -> dict[str, str]:
    """``"tenure=1.5,monthly_charges=+20"`` -> ``{"tenure": "1.5", "monthly_charges": "+20"}``."""
    shifts: dict[str, str] = {}
    for column, value in _pairs(text, "--numeric-shift"):
        parse_shift(value)  # fail early on a bad number
        if column in shifts:
            raise DriftSpecError(f"--numeric-shift: column {column!r} is given twice")
        shifts[column] = value
    return shifts


def parse_category_mix(text: str) -> dict[str, dict[str, float]]:
    """``"contract=Month-to-month:0.6,contract=Two year:0.3"`` -> ``{"contract": {...: 0.6, ...: 0.3}}``.

    The share follows the last colon, so a category may contain colons itself.
    """
    mix: dict[str, dict[str, float]] = {}
    for column, value in _pairs(text, "--category-mix"):
        category, sep, share = value.rpartition(":")
        if not sep or not category:
            raise DriftSpecError(f"--category-mix: {column}={value!r} is not COLUMN=CATEGORY:SHARE")
        mix.setdefault(column, {})[category] = parse_share(share, f"--category-mix {column}={category}")
    return mix


def parse_missing(text: str) -> dict[str, float]:
    """``"total_charges=0.2"`` -> ``{"total_charges": 0.2}``."""
    return {column: parse_share(value, f"--missing {column}") for column, value in _pairs(text, "--missing")}


def parse_share(value: Any, what: str) -> float:
    try:
        share = float(value)
    except (TypeError, ValueError):
        raise DriftSpecError(f"{what}: share {value!r} is not a number") from None
    if not 0.0 <= share <= 1.0:
        raise DriftSpecError(f"{what}: share {share} must be between 0 and 1")
    return share


# ---------------------------------------------------------------------------- drift


def _known_column(frame: pd.DataFrame, column: str, option: str) -> pd.Series:
    if column not in frame.columns:
        raise DriftSpecError(
            f"{option}: unknown column {column!r}; columns: {', '.join(map(str, frame.columns))}"
        )
    return frame[column]


def _is_integer_valued(values: pd.Series) -> bool:
    if pd.api.types.is_integer_dtype(values):
        return True
    present = values.dropna()
    return pd.api.types.is_float_dtype(values) and len(present) > 0 and bool((present % 1 == 0).all())


def _decimals(present: pd.Series, most: int = 6) -> int:
    """The fewest decimals (up to ``most``) that every value has: shifted values keep them."""
    for decimals in range(most):
        if bool(np.allclose(present, present.round(decimals), rtol=0, atol=1e-9)):
            return decimals
    return most


def _shift_numeric(frame: pd.DataFrame, column: str, value: str | float) -> dict[str, Any]:
    values = _known_column(frame, column, "numeric_shift")
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise DriftSpecError(f"numeric_shift: column {column!r} is not numeric; change its mix instead")
    present = values.dropna()
    if present.nunique() <= 2:
        raise DriftSpecError(
            f"numeric_shift: column {column!r} has {present.nunique()} distinct value(s); "
            "change its mix (category_mix) instead"
        )
    operation, amount = parse_shift(value)
    low, high = float(present.min()), float(present.max())
    margin = RANGE_MARGIN * (high - low)
    bounds = (low - margin if low < 0 or low - margin >= 0 else 0.0, high + margin)
    shifted = values.astype(float) * amount if operation == "multiply" else values.astype(float) + amount
    clipped = int(((shifted < bounds[0]) | (shifted > bounds[1])).sum())
    shifted = shifted.clip(*bounds)
    integer = _is_integer_valued(values)
    shifted = shifted.round(_decimals(present))
    if integer and pd.api.types.is_integer_dtype(values):
        shifted = shifted.astype(values.dtype)
    frame[column] = shifted
    return {
        "column": column,
        "kind": "numeric_shift",
        "operation": operation,
        "value": amount,
        "bounds": [bounds[0], bounds[1]],
        "integer": integer,
        "clipped": clipped,
        "mean_before": float(present.mean()),
        "mean_after": float(shifted.dropna().mean()),
    }


def _target_counts(current: pd.Series, requested: Mapping[Any, float], column: str) -> dict[Any, int]:
    """Rows per category after the mix: requested shares exactly, the rest in current proportions."""
    total_requested = sum(requested.values())
    if total_requested > 1 + 1e-9:
        raise DriftSpecError(
            f"category_mix: shares for {column!r} add up to {total_requested:g}, more than 1"
        )
    others = current.drop(labels=[c for c in requested if c in current.index])
    others = others[others > 0]
    if others.sum() == 0 and not math.isclose(total_requested, 1.0):
        raise DriftSpecError(
            f"category_mix: {column!r} has no other category to take the remaining "
            f"{1 - total_requested:g} of the rows; the shares must add up to 1"
        )
    remaining = max(0.0, 1.0 - total_requested)  # not -2e-16 when the shares add up to 1
    shares = dict(requested)
    for category, count in others.items():
        shares[category] = remaining * count / others.sum()
    rows = int(current.sum())
    # Largest remainder: the counts add up to the rows and each is within one row of its share.
    exact = {category: share * rows for category, share in shares.items()}
    counts = {category: math.floor(value) for category, value in exact.items()}
    by_remainder = sorted(exact, key=lambda c: (exact[c] - counts[c], str(c)), reverse=True)
    for category in by_remainder[: rows - sum(counts.values())]:
        counts[category] += 1
    return counts


def _category_key(values: pd.Series, category: Any, column: str) -> Any:
    """A category as the column holds it: text for text columns, a number for numeric ones."""
    if pd.api.types.is_numeric_dtype(values) and isinstance(category, str):
        try:
            number = float(category)
        except ValueError:
            raise DriftSpecError(
                f"category_mix: column {column!r} is numeric; {category!r} is not a number"
            ) from None
        return int(number) if number.is_integer() and _is_integer_valued(values) else number
    return category


def _set_cells(frame: pd.DataFrame, column: str, positions: np.ndarray, new_values: list[Any]) -> None:
    """Assign by row position (the index may repeat labels)."""
    values = frame[column]
    if isinstance(values.dtype, pd.CategoricalDtype):
        extra = [v for v in dict.fromkeys(new_values) if v is not None and v not in values.cat.categories]
        values = values.cat.add_categories(extra) if extra else values
    elif pd.api.types.is_integer_dtype(values) and any(isinstance(v, float) for v in new_values):
        values = values.astype(float)
    values = values.copy()
    values.iloc[positions] = new_values
    frame[column] = values


def _mix_categories(
    frame: pd.DataFrame, column: str, requested: Mapping[Any, float], seed: int
) -> dict[str, Any]:
    values = _known_column(frame, column, "category_mix")
    requested = {
        _category_key(values, category, column): parse_share(share, f"category_mix {column}={category}")
        for category, share in requested.items()
    }
    if not requested:
        raise DriftSpecError(f"category_mix: no category given for {column!r}")
    current = values.dropna().value_counts()
    counts = _target_counts(current, requested, column)
    rng = random_stream(seed, "category_mix", column)
    surplus_positions = []
    for category in sorted(current.index, key=str):
        surplus = int(current[category]) - counts.get(category, 0)
        if surplus > 0:
            positions = np.flatnonzero((values == category).to_numpy())
            surplus_positions.append(rng.choice(positions, size=surplus, replace=False))
    moved = rng.permutation(np.concatenate(surplus_positions)) if surplus_positions else np.array([], int)
    new_values = [
        category
        for category in sorted(counts, key=str)
        for _ in range(max(counts[category] - int(current.get(category, 0)), 0))
    ]
    _set_cells(frame, column, moved, new_values)
    after = frame[column].dropna().value_counts(normalize=True)
    return {
        "column": column,
        "kind": "category_mix",
        "requested": {str(c): s for c, s in requested.items()},
        "shares_before": {str(c): float(s) for c, s in (current / current.sum()).items()},
        "shares_after": {str(c): float(s) for c, s in after.items()},
        "relabelled": len(moved),
    }


def _inject_missing(frame: pd.DataFrame, column: str, share: float, seed: int) -> dict[str, Any]:
    values = _known_column(frame, column, "missing")
    share = parse_share(share, f"missing {column}")
    missing_before = int(values.isna().sum())
    target = round(share * len(values))
    if target < missing_before:
        raise DriftSpecError(
            f"missing: {column!r} already has {missing_before} missing of {len(values)} "
            f"({missing_before / len(values):.4f}), more than the requested {share:g}"
        )
    present = np.flatnonzero(values.notna().to_numpy())
    blank = random_stream(seed, "missing", column).choice(
        present, size=target - missing_before, replace=False
    )
    if pd.api.types.is_integer_dtype(values) and isinstance(values.dtype, np.dtype):
        frame[column] = values.astype("Int64")  # integers with gaps, printed without .0
    gap = np.nan if isinstance(frame[column].dtype, np.dtype) else pd.NA
    _set_cells(frame, column, np.sort(blank), [gap] * len(blank))
    return {
        "column": column,
        "kind": "missing",
        "share_requested": share,
        "share_before": missing_before / len(values),
        "share_after": float(frame[column].isna().mean()),
        "cells_blanked": len(blank),
    }


def changed_columns(before: pd.DataFrame, after: pd.DataFrame) -> list[str]:
    """Columns with at least one cell that differs (missing equals missing), in frame order."""
    changed = []
    for column in before.columns:
        old, new = before[column].astype(object), after[column].astype(object)
        same = (old == new) | (old.isna() & new.isna())
        if not bool(same.all()):
            changed.append(str(column))
    return changed


def simulate_drift(
    frame: pd.DataFrame,
    numeric_shift: Mapping[str, str | float] | None = None,
    category_mix: Mapping[str, Mapping[Any, float]] | None = None,
    missing: Mapping[str, float] | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A drifted copy of ``frame`` (same rows, same order) and its manifest (see the module doc).

    The manifest's ``changed_columns`` is read from the data (cells that differ), not from the
    request; ``changes`` has one entry per requested operation, with its before/after figures.
    """
    drifted = frame.copy()
    changes: list[dict[str, Any]] = []
    for column, value in (numeric_shift or {}).items():
        changes.append(_shift_numeric(drifted, column, value))
    for column, requested in (category_mix or {}).items():
        changes.append(_mix_categories(drifted, column, requested, seed))
    for column, share in (missing or {}).items():
        changes.append(_inject_missing(drifted, column, share, seed))
    changed = changed_columns(frame, drifted)
    manifest = {
        "seed": seed,
        "rows": len(frame),
        "changed_columns": changed,
        "unchanged_columns": [str(c) for c in frame.columns if str(c) not in changed],
        "changes": changes,
    }
    return drifted, manifest

"""What one column of a table looks like, as a drafted contract entry (``run.py draft-config``).

A column is profiled twice: its kind is read from the data after the text fixes of cleaning
(:func:`infer_kind`), and its contract entry from the data cleaned with the drafted kinds
(:func:`contract_entry`), so the observed ranges, categories and missing shares are those
training will see.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from tabular_ml.data.cleaning import binary_number

Role = Literal["feature", "identifier", "constant", "empty", "high_cardinality"]

#: A text column with more distinct values than this is left out (one-hot encoding it would add a
#: column per value); so is one with more than 20 distinct values that are mostly unique.
MAX_CATEGORIES = 100
#: A text column is read as numeric when at least this share of its values are numbers.
NUMERIC_TEXT_SHARE = 0.95
#: Observed ranges are widened by this share of their span on each side.
RANGE_MARGIN = 0.10
#: A column missing more than this share of its values gets a REVIEW comment.
MANY_MISSING_SHARE = 0.30
#: Fewer rows than this and "every value distinct" says nothing about identifiers.
MIN_ROWS_FOR_IDENTIFIERS = 20

_ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|guid|key)$", re.IGNORECASE)
_CAMEL_ID_NAME = re.compile(r"[a-z0-9](ID|Id)$")


@dataclass
class ColumnDraft:
    """A column's drafted role and kind, and the notes a reviewer should read."""

    name: str
    role: Role
    kind: Literal["numeric", "binary", "categorical"] | None = None
    distinct: int = 0
    notes: list[str] = field(default_factory=list)
    review: bool = False  # the notes ask a human to decide


def looks_like_id_name(name: str) -> bool:
    """``customer_id``, ``order-key``, ``customerID``, ``id``: names of identifiers."""
    return bool(_ID_NAME.search(name) or _CAMEL_ID_NAME.search(name))


def _as_binary(value) -> int | None:
    number = binary_number(value)
    if number is not None:
        return number
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number in (0.0, 1.0) else None


def _is_text(series: pd.Series) -> bool:
    return series.dtype == object or pd.api.types.is_string_dtype(series)


def _integral(values: pd.Series) -> bool:
    numbers = values.to_numpy(dtype="float64")
    return bool(np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)))


def _identifier_note(present: pd.Series, numbers: pd.Series | None, distinct: int, name: str) -> str | None:
    """Why the column looks like an identifier, or None.

    ``numbers`` are the column's values as numbers when it holds (mostly) numbers.
    """
    if len(present) < MIN_ROWS_FOR_IDENTIFIERS:
        return None
    text = numbers is None
    integer = not text and _integral(numbers.dropna())
    unique = distinct == len(present)
    consecutive = integer and unique and float(numbers.max()) - float(numbers.min()) == len(present) - 1
    if looks_like_id_name(name) and (text or integer) and distinct >= 0.5 * len(present):
        why = "its name"
    elif unique and (text or consecutive):
        why = "consecutive numbers" if consecutive else "a different value in every row"
    else:
        return None
    counts = f"{distinct} distinct values in {len(present)} rows"
    return f"identifier-like ({why}; {counts}): left out of the features"


def _binary_note(series: pd.Series, present: pd.Series) -> list[str]:
    """How cleaning reads a binary column's words (none for 0/1 numbers)."""
    if not (_is_text(series) or pd.api.types.is_bool_dtype(series)):
        return []
    words = sorted(pd.unique(present), key=lambda value: (_as_binary(value), str(value)))
    readings = " and ".join(f"{value!r} as {_as_binary(value)}" for value in words)
    return [f"cleaning reads {readings}"]


def _as_numbers(series: pd.Series, present: pd.Series) -> pd.Series | None:
    """The values as numbers when the column is numeric or its text is (mostly) numbers, else None."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return present
    numbers = pd.to_numeric(present, errors="coerce")
    return numbers if numbers.notna().mean() >= NUMERIC_TEXT_SHARE else None


def infer_kind(series: pd.Series, name: str) -> ColumnDraft:
    """The role and kind of one column (already stripped, blanks as missing)."""
    present = series.dropna()
    if present.empty:
        return ColumnDraft(name, "empty", notes=["every value is missing: left out"], review=True)
    try:
        distinct = int(present.nunique())
    except TypeError:  # unhashable values (lists from a JSON API)
        return ColumnDraft(name, "high_cardinality", notes=["holds lists or mappings: left out"], review=True)
    if distinct == 1:
        note = f"constant ({present.iloc[0]!r} in every row): left out"
        return ColumnDraft(name, "constant", distinct=1, notes=[note])
    binary = pd.Series(pd.unique(present)).map(_as_binary)
    if binary.notna().all() and binary.nunique() == 2:
        return ColumnDraft(name, "feature", "binary", distinct, _binary_note(series, present))
    numbers = _as_numbers(series, present)
    identifier = _identifier_note(present, numbers, distinct, name)
    if identifier:
        return ColumnDraft(name, "identifier", distinct=distinct, notes=[identifier], review=True)
    if numbers is not None:
        return ColumnDraft(name, "feature", "numeric", distinct)
    if distinct > MAX_CATEGORIES or (distinct > 20 and distinct > 0.5 * len(present)):
        note = (
            f"{distinct} distinct values in {len(present)} rows (high cardinality): left out; "
            "add it as categorical or derive a feature from it"
        )
        return ColumnDraft(name, "high_cardinality", distinct=distinct, notes=[note], review=True)
    return ColumnDraft(name, "feature", "categorical", distinct)


# --------------------------------------------------------------------------- contract entries


def _nice_bounds(low: float, high: float) -> tuple[float, float]:
    """``[low, high]`` widened by RANGE_MARGIN of the span and rounded outwards to the margin's
    leading digit; a column never negative stays so (counts, amounts, durations)."""
    margin = (high - low) * RANGE_MARGIN
    if margin <= 0:
        margin = max(abs(high), 1.0) * RANGE_MARGIN
    exponent = math.floor(math.log10(margin))
    step = 10.0**exponent
    decimals = max(0, -exponent)
    lower = round(math.floor((low - margin) / step) * step, decimals)
    upper = round(math.ceil((high + margin) / step) * step, decimals)
    if low >= 0 > lower:
        lower = 0.0
    return lower, upper


def _plain_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def missing_headroom(share: float) -> float:
    """The max_missing_share for an observed missing share: a quarter more (0.005 at least),
    rounded up to a hundredth."""
    return min(1.0, math.ceil((share + max(0.005, 0.25 * share)) * 100 - 1e-9) / 100)


def contract_entry(column: ColumnDraft, cleaned: pd.Series, lost_to_cleaning: int = 0) -> dict:
    """The contract's ``{kind: ..., ...}`` for a feature column of the cleaned data; adds notes."""
    entry: dict = {"kind": column.kind}
    present = cleaned.dropna()
    if column.kind == "numeric" and not present.empty:
        low, high = _nice_bounds(float(present.min()), float(present.max()))
        entry.update(min=_plain_number(low), max=_plain_number(high))
    if column.kind == "categorical":
        entry["categories"] = sorted(str(value) for value in pd.unique(present))
    share = float(cleaned.isna().mean())
    if share > 0:
        entry["max_missing_share"] = missing_headroom(share)
    if lost_to_cleaning:
        column.notes.append(f"{lost_to_cleaning} value(s) are not numbers: cleaning makes them missing")
        column.review = True
    if share > MANY_MISSING_SHARE:
        column.notes.append(f"{share:.0%} missing: keep it (imputed) or drop it (cleaning.drop_columns)")
        column.review = True
    return entry

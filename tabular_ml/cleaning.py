"""Safe, recorded data cleaning: nothing here guesses a value, it only normalises."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from tabular_ml.config import CleaningConfig, DataContract

logger = logging.getLogger(__name__)


class CleaningSummary(BaseModel):
    """What cleaning changed, kept as run metadata."""

    rows_in: int
    rows_out: int
    columns_dropped: list[str] = Field(default_factory=list)
    cells_stripped: dict[str, int] = Field(default_factory=dict)
    blanks_to_missing: dict[str, int] = Field(default_factory=dict)
    coerced_to_missing: dict[str, int] = Field(default_factory=dict)
    duplicates_dropped: int = 0

    def as_metadata(self) -> dict:
        """Flat, dashboard-friendly view (empty maps left out)."""
        return {key: value for key, value in self.model_dump().items() if value not in ({}, [])}


def _text_columns(df: pd.DataFrame) -> list[str]:
    return [name for name in df.columns if df[name].dtype == object or pd.api.types.is_string_dtype(df[name])]


def _stripped(value):
    return value.strip() if isinstance(value, str) else value  # mixed columns keep their numbers


def _is_blank(value) -> bool:
    return str(value).strip() == ""


def _fix_text(df: pd.DataFrame, cleaning: CleaningConfig, summary: CleaningSummary) -> None:
    """Strip whitespace and turn blanks into missing values, column by column.

    Each function is applied once per distinct value and broadcast back to the rows (text
    columns repeat few values, and batch scoring cleans millions of rows); values that cannot
    be hashed (e.g. lists from a JSON API) are handled cell by cell.
    """
    for name in _text_columns(df):
        column = df[name]
        try:
            codes, distinct = pd.factorize(column, use_na_sentinel=True)
        except TypeError:
            codes, distinct = np.arange(len(column)), column.to_numpy(dtype=object)
            codes = np.where(column.notna().to_numpy(), codes, -1)
        present = codes >= 0
        if cleaning.strip_whitespace:
            stripped = np.fromiter(
                (_stripped(value) for value in distinct), dtype=object, count=len(distinct)
            )
            changed_values = np.array(
                [new != old for new, old in zip(stripped, distinct, strict=True)] + [False]
            )
            changed = changed_values[codes]  # code -1 (missing) picks the trailing False
            if changed.any():
                df.loc[changed, name] = stripped[codes[changed]]
                summary.cells_stripped[name] = int(changed.sum())
        if cleaning.empty_strings_as_missing:
            blank = np.array([_is_blank(value) for value in distinct] + [False])[codes] & present
            if blank.any():
                df.loc[blank, name] = None
                summary.blanks_to_missing[name] = int(blank.sum())


def _coerce_numeric(df: pd.DataFrame, contract: DataContract, summary: CleaningSummary) -> None:
    """Numeric and binary contract columns read as text (e.g. ' 29.85') become numbers.

    A value that is not a number becomes missing and is counted, so the contract's
    missing-share rule decides whether the data is still usable.
    """
    numeric = contract.columns_of_kind("numeric") + contract.columns_of_kind("binary")
    for name in numeric:
        if name not in df.columns or pd.api.types.is_numeric_dtype(df[name]):
            continue
        before = df[name].notna()
        df[name] = pd.to_numeric(df[name], errors="coerce")
        lost = int((before & df[name].isna()).sum())
        if lost:
            summary.coerced_to_missing[name] = lost


def clean_frame(
    df: pd.DataFrame, cleaning: CleaningConfig, contract: DataContract
) -> tuple[pd.DataFrame, CleaningSummary]:
    """Apply the configured safe fixes and say what changed.

    Args:
        df: Raw data as loaded from a source; it is not modified.
        cleaning: Which fixes to apply.
        contract: Column kinds (for numeric coercion) and the duplicates policy.

    Returns:
        The cleaned copy and a summary of every change.
    """
    out = df.copy()
    summary = CleaningSummary(rows_in=len(df), rows_out=len(df))
    drop = [name for name in cleaning.drop_columns if name in out.columns]
    if drop:
        out = out.drop(columns=drop)
        summary.columns_dropped = drop
    if cleaning.strip_whitespace or cleaning.empty_strings_as_missing:
        _fix_text(out, cleaning, summary)
    if cleaning.coerce_numeric:
        _coerce_numeric(out, contract, summary)
    if contract.duplicates == "drop":
        before = len(out)
        out = out.drop_duplicates(ignore_index=True)
        summary.duplicates_dropped = before - len(out)
    summary.rows_out = len(out)
    logger.info(
        "Cleaned %d -> %d rows (%d duplicates dropped, %d cells coerced to missing)",
        summary.rows_in,
        summary.rows_out,
        summary.duplicates_dropped,
        sum(summary.coerced_to_missing.values()),
    )
    if not out.index.equals(pd.RangeIndex(len(out))):  # a copy of every column otherwise
        out = out.reset_index(drop=True)
    return out, summary

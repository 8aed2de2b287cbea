"""Safe, recorded data cleaning: nothing here guesses a value, it only normalises."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from tabular_ml.configuration.schema import CleaningConfig, DataContract

logger = logging.getLogger(__name__)


class CleaningSummary(BaseModel):
    """What cleaning changed, kept as run metadata."""

    rows_in: int
    rows_out: int
    columns_dropped: list[str] = Field(default_factory=list)
    cells_stripped: dict[str, int] = Field(default_factory=dict)
    blanks_to_missing: dict[str, int] = Field(default_factory=dict)
    binary_words_to_numbers: dict[str, int] = Field(
        default_factory=dict, description="binary column -> cells of yes/no, true/false... made 1/0"
    )
    coerced_to_missing: dict[str, int] = Field(default_factory=dict)
    duplicates_dropped: int = 0

    def as_metadata(self) -> dict:
        """Flat, dashboard-friendly view (empty maps left out)."""
        return {key: value for key, value in self.model_dump().items() if value not in ({}, [])}


def _text_columns(df: pd.DataFrame) -> list[str]:
    return [
        name
        for name in df.columns
        if df[name].dtype == object or pd.api.types.is_string_dtype(df[name]) or _is_categorical(df[name])
    ]


def _is_categorical(column: pd.Series) -> bool:
    return isinstance(column.dtype, pd.CategoricalDtype)


def _stripped(value):
    return value.strip() if isinstance(value, str) else value  # mixed columns keep their numbers


def _is_blank(value) -> bool:
    return str(value).strip() == ""


def _fix_text(
    df: pd.DataFrame, cleaning: CleaningConfig, summary: CleaningSummary, text_values: dict | None
) -> None:
    """Strip whitespace and turn blanks into missing values, column by column.

    Each function is applied once per distinct value and broadcast back to the rows (text
    columns repeat few values, and batch scoring cleans millions of rows); values that cannot
    be hashed (e.g. lists from a JSON API) are handled cell by cell.
    """
    for name in _text_columns(df):
        column = df[name]
        if _is_categorical(column):
            _fix_categories(df, name, cleaning, summary, text_values)
            continue
        hashable = True
        try:
            codes, distinct = pd.factorize(column, use_na_sentinel=True)
        except TypeError:
            hashable = False
            codes, distinct = np.arange(len(column)), column.to_numpy(dtype=object)
            codes = np.where(column.notna().to_numpy(), codes, -1)
        present = codes >= 0
        cleaned_values = distinct
        if cleaning.strip_whitespace:
            stripped = np.fromiter(
                (_stripped(value) for value in distinct), dtype=object, count=len(distinct)
            )
            cleaned_values = stripped
            changed_values = np.array(
                [new != old for new, old in zip(stripped, distinct, strict=True)] + [False]
            )
            changed = changed_values[codes]  # code -1 (missing) picks the trailing False
            if changed.any():
                _replaced(df, name, changed, stripped[codes[changed]])
                summary.cells_stripped[name] = int(changed.sum())
        blank_values, blank_rows = np.zeros(len(distinct), dtype=bool), 0
        if cleaning.empty_strings_as_missing:
            blank_values = np.array([_is_blank(value) for value in distinct], dtype=bool)
            blank = np.append(blank_values, False)[codes] & present
            blank_rows = int(blank.sum())
            if blank_rows:
                _replaced(df, name, blank, None)
                summary.blanks_to_missing[name] = blank_rows
        if text_values is not None and hashable:
            kept = {
                value for value, is_blank in zip(cleaned_values, blank_values, strict=True) if not is_blank
            }
            text_values[name] = (kept, int((~present).sum()) + blank_rows)


def _fix_categories(
    df: pd.DataFrame, name: str, cleaning: CleaningConfig, summary: CleaningSummary, text_values: dict | None
) -> None:
    """:func:`_fix_text` for a categorical column: its categories are cleaned, not its rows.

    The same changes and counts as for the column's values as text; categories that become
    equal (``"Yes"`` and ``" Yes"``) become one, blanks become missing codes.
    """
    column = df[name]
    categories = column.cat.categories.to_numpy(dtype=object)
    codes = column.cat.codes.to_numpy()
    rows_of = np.bincount(codes[codes >= 0], minlength=len(categories))  # rows per category
    values = categories
    if cleaning.strip_whitespace:
        values = np.fromiter((_stripped(value) for value in categories), dtype=object, count=len(categories))
        stripped = np.array([new != old for new, old in zip(values, categories, strict=True)], dtype=bool)
        if stripped.any():
            summary.cells_stripped[name] = int(rows_of[stripped].sum())
    blank = np.zeros(len(categories), dtype=bool)
    if cleaning.empty_strings_as_missing:
        blank = np.array([_is_blank(value) for value in categories], dtype=bool)
        if rows_of[blank].sum():
            summary.blanks_to_missing[name] = int(rows_of[blank].sum())
    if values is not categories or blank.any():
        new_codes, kept = pd.factorize(pd.Series(values).where(~blank), use_na_sentinel=True)
        df[name] = pd.Categorical.from_codes(
            np.where(codes >= 0, new_codes[codes], -1).astype(codes.dtype), kept.to_numpy(dtype=object)
        )
    if text_values is not None:
        text_values[name] = (set(values[~blank]), int((codes < 0).sum() + rows_of[blank].sum()))


def _replaced(df: pd.DataFrame, name: str, rows: np.ndarray, values) -> None:
    """Column ``name`` gets new values in ``rows`` as a new array (``df`` shares the input's)."""
    column = df[name].copy()
    column[rows] = values
    df[name] = column


#: The text spellings of a binary value (compared in lower case); booleans count too.
BINARY_WORDS: dict[str, int] = {"yes": 1, "no": 0, "y": 1, "n": 0, "true": 1, "false": 0, "t": 1, "f": 0}


def binary_number(value) -> int | None:
    """1 or 0 for a yes/no, y/n, true/false or t/f word (any case) or a boolean; else None."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, str):
        return BINARY_WORDS.get(value.strip().lower())
    return None


def _binary_words_to_numbers(column: pd.Series) -> tuple[pd.Series, int]:
    """The column with its binary words and booleans as 1/0, and how many cells changed."""
    if pd.api.types.is_bool_dtype(column):
        return column.astype("float64" if column.isna().any() else "int64"), int(column.notna().sum())
    distinct = pd.unique(column.dropna())
    mapping = {value: number for value in distinct if (number := binary_number(value)) is not None}
    if not mapping:
        return column, 0
    words = column.isin(list(mapping))
    mapped = column.astype(object).where(~words, column.map(mapping))
    return mapped, int(words.sum())


def numbers_from_text(values: list[str]) -> np.ndarray:
    """Text cells of a numeric column read as :func:`clean_frame` reads them with the default
    cleaning: whitespace stripped, a blank is missing, the rest goes through ``pd.to_numeric``
    (text that is not a number becomes NaN). Used by serving for numbers sent as text."""
    stripped = pd.Series([value.strip() for value in values], dtype=object)
    return pd.to_numeric(stripped.where(stripped != ""), errors="coerce").to_numpy(dtype=np.float64)


def _coerce_numeric(df: pd.DataFrame, contract: DataContract, summary: CleaningSummary) -> None:
    """Numeric and binary contract columns read as text (e.g. ' 29.85') become numbers.

    A binary column's yes/no, y/n, true/false or t/f (any case) and booleans become 1/0
    first (``binary`` means 0/1 numbers to the contract and the model). A value that is
    not a number becomes missing and is counted, so the contract's missing-share rule
    decides whether the data is still usable.
    """
    binary = contract.columns_of_kind("binary")
    for name in contract.columns_of_kind("numeric") + binary:
        if name not in df.columns:
            continue
        column = df[name]
        if _is_categorical(column):  # numbers read as text: as an object column (shared strings)
            column = df[name] = column.astype(object)
        is_bool, is_number = pd.api.types.is_bool_dtype(column), pd.api.types.is_numeric_dtype(column)
        if name in binary and (is_bool or not is_number):
            df[name], words = _binary_words_to_numbers(column)
            if words:
                summary.binary_words_to_numbers[name] = words
        if pd.api.types.is_numeric_dtype(df[name]):
            continue
        before = df[name].notna()
        df[name] = pd.to_numeric(df[name], errors="coerce")
        lost = int((before & df[name].isna()).sum())
        if lost:
            summary.coerced_to_missing[name] = lost


def clean_frame(
    df: pd.DataFrame,
    cleaning: CleaningConfig,
    contract: DataContract,
    text_values: dict[str, tuple[set, int]] | None = None,
) -> tuple[pd.DataFrame, CleaningSummary]:
    """Apply the configured safe fixes and say what changed.

    Args:
        df: Raw data as loaded from a source; it is not modified.
        cleaning: Which fixes to apply.
        contract: Column kinds (for numeric coercion) and the duplicates policy.
        text_values: If given, receives for each text column that whitespace or blank fixing
            went through (a pass over its values) its distinct values after cleaning and its
            number of missing values; batch scoring checks categories with them instead of
            another pass. Columns that later stop being text are left out.

    Returns:
        The cleaned copy and a summary of every change.
    """
    out = df.copy(deep=False)  # a changed column is replaced, never written into (see _replaced)
    summary = CleaningSummary(rows_in=len(df), rows_out=len(df))
    drop = [name for name in cleaning.drop_columns if name in out.columns]
    if drop:
        out = out.drop(columns=drop)
        summary.columns_dropped = drop
    if cleaning.strip_whitespace or cleaning.empty_strings_as_missing:
        _fix_text(out, cleaning, summary, text_values)
    if cleaning.coerce_numeric:
        _coerce_numeric(out, contract, summary)
    if contract.duplicates == "drop":
        before = len(out)
        out = out.drop_duplicates(ignore_index=True)
        summary.duplicates_dropped = before - len(out)
    summary.rows_out = len(out)
    if text_values is not None:
        still_text = set(_text_columns(out))
        for name in list(text_values):  # coerced to numbers, or counted before duplicates went
            if summary.duplicates_dropped or name not in still_text:
                del text_values[name]
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


def columns_left_out(
    columns: Iterable[str], contract: DataContract, id_column: str | None = None
) -> list[str]:
    """The data's columns the model never sees: neither a contract feature nor the target.

    ``id_column`` (the split's) is left out of the list too: it is used, by the split.
    """
    used = {*contract.feature_names, contract.target, id_column}
    return [str(name) for name in columns if name not in used]

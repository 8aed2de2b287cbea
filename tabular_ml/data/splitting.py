"""Train/holdout split that depends on each row alone, and data fingerprints.

A row's side is decided by a salted 64-bit hash of its key (the configured id column,
else its feature values): the row is in the holdout when the hash, as a fraction of
2**64, is below ``test_size``. So the split does not depend on row order, duplicates
of a row (also with a different label) land on the same side, and rows appended to the
data never move an earlier row between train and holdout. Class shares are therefore
only approximately ``test_size`` (binomially distributed); ``holdout_shares`` reports them.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd

from tabular_ml.configuration.schema import DataContract, SplitConfig

_MISSING = "\x00<missing>"  # the string a missing non-numeric value hashes as
_UINT64 = np.uint64


def row_keys(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """A uint64 hash per row of ``frame[columns]``: equal values, equal key, in any frame.

    Values are put in a canonical form first, so a key does not change when a source
    returns a column with another dtype: numbers (and booleans) hash as float64 (``1``,
    ``1.0`` and ``True`` are one value, as are ``-0.0`` and ``0.0``), anything else as its
    ``str()``; missing values (``NaN``, ``None``, ``pd.NA``) hash alike.
    """
    if not columns:
        raise ValueError("row_keys: no columns to hash")
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ValueError(f"row_keys: column(s) not in the data: {', '.join(map(str, missing))}")
    canonical = pd.DataFrame(
        {f"c{i}": _canonical(frame[name]) for i, name in enumerate(columns)}, index=range(len(frame))
    )
    return pd.util.hash_pandas_object(canonical, index=False).to_numpy(dtype=np.uint64)


def _canonical(column: pd.Series) -> np.ndarray | pd.Categorical:
    if isinstance(column.dtype, pd.CategoricalDtype) and pd.api.types.is_string_dtype(column.cat.categories):
        # text categories: their canonical form is themselves, missing becomes _MISSING; a
        # categorical hashes as its values do, from a code per row instead of a string per row
        values = column.array
        if values.isna().any():
            values = values.add_categories([_MISSING] if _MISSING not in values.categories else []).fillna(
                _MISSING
            )
        return values
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype="float64", na_value=np.nan) + 0.0  # -0.0 -> 0.0
        values[np.isnan(values)] = np.nan  # one NaN bit pattern
        return values
    values = column.astype(object)
    return values.where(values.notna(), _MISSING).map(str).to_numpy(dtype=object)


def split_key(split: SplitConfig) -> str:
    """What decides a row's side, as recorded in the split's metadata."""
    return f"id_column: {split.id_column}" if split.id_column else "feature hash"


def key_columns(df: pd.DataFrame, contract: DataContract, split: SplitConfig) -> list[str]:
    """The columns a row's split key is hashed from; a bad ``id_column`` is a one-line error."""
    if split.id_column is None:
        return contract.feature_names
    if split.id_column not in df.columns:
        raise ValueError(f"split.id_column: column {split.id_column!r} is not in the data")
    if split.id_column == contract.target or split.id_column in contract.feature_names:
        role = "the target" if split.id_column == contract.target else "a feature in the contract"
        raise ValueError(
            f"split.id_column: column {split.id_column!r} is {role}; an id must not be a model input"
        )
    return [split.id_column]


def in_holdout(keys: np.ndarray, split: SplitConfig) -> np.ndarray:
    """True where a key's salted hash (salt: ``random_state``), as a fraction of 2**64, is < ``test_size``."""
    salt = _mix64(np.array([split.random_state % 2**64], dtype=_UINT64))
    threshold = _UINT64(min(math.floor(split.test_size * 2**64), 2**64 - 1))
    return _mix64(np.asarray(keys, dtype=_UINT64) ^ salt) < threshold


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer: a bijection on uint64 with full avalanche (arithmetic wraps)."""
    x = x ^ (x >> _UINT64(30))
    x = x * _UINT64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _UINT64(27))
    x = x * _UINT64(0x94D049BB133111EB)
    return x ^ (x >> _UINT64(31))


def split_frame(
    df: pd.DataFrame, contract: DataContract, split: SplitConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into train and holdout frames; each row's side depends on that row alone.

    Both parts come back in a canonical order (by key, then by the whole row), so the
    same rows give the same frames whatever order the source returned them in.
    """
    keys = row_keys(df, key_columns(df, contract, split))
    holdout = in_holdout(keys, split)
    order = np.lexsort((pd.util.hash_pandas_object(df, index=False).to_numpy(), keys))
    ordered, holdout = df.iloc[order], holdout[order]
    train, test = ordered[~holdout].reset_index(drop=True), ordered[holdout].reset_index(drop=True)
    if train.empty or test.empty:
        raise ValueError(
            f"split: {len(train)} train and {len(test)} holdout rows of {len(df)}; "
            f"test_size {split.test_size} needs more data"
        )
    return train, test


def holdout_shares(train: pd.DataFrame, test: pd.DataFrame, target: str) -> dict[str, float]:
    """Per class, the share of its rows that landed in the holdout (about ``test_size`` each)."""
    total = pd.concat([train[target], test[target]]).value_counts()
    held = test[target].value_counts()
    return {str(label): round(int(held.get(label, 0)) / int(n), 4) for label, n in sorted(total.items())}


def unbalanced_classes(
    train: pd.DataFrame, test: pd.DataFrame, target: str, test_size: float, sigmas: float = 3.0
) -> list[str]:
    """Classes whose holdout share is further from ``test_size`` than ``sigmas`` binomial std devs."""
    total = pd.concat([train[target], test[target]]).value_counts()
    shares = holdout_shares(train, test, target)
    spread = {
        str(label): sigmas * math.sqrt(test_size * (1 - test_size) / int(n)) for label, n in total.items()
    }
    return [
        f"{label}: {share:.3f} of its rows in the holdout (expected {test_size} +- {spread[label]:.3f})"
        for label, share in shares.items()
        if abs(share - test_size) > spread[label]
    ]


def fingerprint(df: pd.DataFrame) -> str:
    """A SHA-256 of the column names and the rows, in any order: equal data, equal fingerprint."""
    digest = hashlib.sha256(",".join(map(str, df.columns)).encode())
    digest.update(np.sort(pd.util.hash_pandas_object(df, index=False).to_numpy()).tobytes())
    return digest.hexdigest()

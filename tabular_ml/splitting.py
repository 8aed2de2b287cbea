"""Train/holdout split and data fingerprints."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from tabular_ml.config import DataContract, SplitConfig


def split_frame(
    df: pd.DataFrame, contract: DataContract, split: SplitConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into train and holdout frames, stratified on the target when configured.

    Rows are first put in a canonical order (by a hash of their values), so the same
    data gives the same split whatever order the source returned it in (SQL tables
    have no defined order; PostgreSQL was seen returning rows out of insertion order).
    """
    df = df.iloc[_canonical_order(df)].reset_index(drop=True)
    stratify = df[contract.target] if split.stratify else None
    train, test = train_test_split(
        df, test_size=split.test_size, random_state=split.random_state, stratify=stratify
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _canonical_order(df: pd.DataFrame) -> np.ndarray:
    return np.argsort(pd.util.hash_pandas_object(df, index=False).to_numpy(), kind="stable")


def fingerprint(df: pd.DataFrame) -> str:
    """A SHA-256 of the column names and the rows, in any order: equal data, equal fingerprint."""
    digest = hashlib.sha256(",".join(map(str, df.columns)).encode())
    digest.update(np.sort(pd.util.hash_pandas_object(df, index=False).to_numpy()).tobytes())
    return digest.hexdigest()

"""Train/holdout split and data fingerprints."""

from __future__ import annotations

import hashlib

import pandas as pd
from sklearn.model_selection import train_test_split

from tabular_ml.config import DataContract, SplitConfig


def split_frame(df: pd.DataFrame, contract: DataContract, split: SplitConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into train and holdout frames, stratified on the target when configured."""
    stratify = df[contract.target] if split.stratify else None
    train, test = train_test_split(
        df, test_size=split.test_size, random_state=split.random_state, stratify=stratify
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def fingerprint(df: pd.DataFrame) -> str:
    """A SHA-256 of the frame's values and column names: equal data, equal fingerprint."""
    digest = hashlib.sha256(",".join(map(str, df.columns)).encode())
    digest.update(pd.util.hash_pandas_object(df, index=False).values.tobytes())
    return digest.hexdigest()

"""Train/holdout split (stratified, independent of row order) and data fingerprints."""

from __future__ import annotations

import pandas as pd
import pytest

from tabular_ml.config import DataContract, SplitConfig
from tabular_ml.splitting import fingerprint, split_frame

CONTRACT = DataContract(
    target="y", classes=["No", "Yes"], positive_class="Yes", columns={"x": {"kind": "numeric"}}
)


def data(n: int = 100, positives: int = 20) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [float(i) for i in range(n)],
            "c": [f"v{i % 7}" for i in range(n)],
            "y": ["Yes"] * positives + ["No"] * (n - positives),
        }
    )


def shuffled(df: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def test_stratified_proportions():
    train, test = split_frame(data(), CONTRACT, SplitConfig(test_size=0.25, random_state=0, stratify=True))
    assert (len(train), len(test)) == (75, 25)
    assert (test["y"] == "Yes").sum() == 5
    assert (train["y"] == "Yes").sum() == 15
    # every row lands in exactly one part
    assert sorted(pd.concat([train, test])["x"]) == [float(i) for i in range(100)]
    assert train.index.tolist() == list(range(75)) and test.index.tolist() == list(range(25))


@pytest.mark.parametrize("seed", [0, 1, 2, 42])
def test_stratified_proportions_hold_for_any_seed(seed):
    _, test = split_frame(data(200, 50), CONTRACT, SplitConfig(test_size=0.2, random_state=seed))
    assert len(test) == 40
    assert (test["y"] == "Yes").sum() == 10


def test_same_split_for_rows_in_another_order():
    df = data()
    split = SplitConfig(test_size=0.3, random_state=7)
    train, test = split_frame(df, CONTRACT, split)
    for seed in (1, 2):
        other_train, other_test = split_frame(shuffled(df, seed), CONTRACT, split)
        pd.testing.assert_frame_equal(train, other_train)
        pd.testing.assert_frame_equal(test, other_test)


def test_the_random_state_changes_the_split():
    df = data()
    _, test_a = split_frame(df, CONTRACT, SplitConfig(random_state=1))
    _, test_b = split_frame(df, CONTRACT, SplitConfig(random_state=2))
    assert set(test_a["x"]) != set(test_b["x"])


def test_unstratified_split_sizes():
    train, test = split_frame(data(10, 5), CONTRACT, SplitConfig(test_size=0.3, stratify=False))
    assert (len(train), len(test)) == (7, 3)


def test_split_does_not_modify_the_input():
    df = shuffled(data())
    before = df.copy()
    split_frame(df, CONTRACT, SplitConfig())
    pd.testing.assert_frame_equal(df, before)


def test_fingerprint_ignores_row_order_and_index():
    df = data()
    print_ = fingerprint(df)
    assert len(print_) == 64 and int(print_, 16) >= 0
    assert fingerprint(shuffled(df)) == print_
    assert fingerprint(df.set_axis(range(1000, 1100))) == print_
    assert fingerprint(df.copy()) == print_


def test_fingerprint_changes_when_a_value_changes():
    df = data()
    changed = df.copy()
    changed.loc[17, "x"] = 17.5
    assert fingerprint(changed) != fingerprint(df)
    changed = df.copy()
    changed.loc[3, "c"] = "other"
    assert fingerprint(changed) != fingerprint(df)


def test_fingerprint_changes_when_a_column_is_renamed():
    df = data()
    assert fingerprint(df.rename(columns={"c": "category"})) != fingerprint(df)


def test_fingerprint_changes_when_a_row_is_added_or_removed():
    df = data()
    assert fingerprint(df.iloc[:-1]) != fingerprint(df)
    assert fingerprint(pd.concat([df, df.iloc[[0]]])) != fingerprint(df)

"""Train/holdout split (each row's side depends on that row alone) and data fingerprints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabular_ml.configuration.schema import DataContract, SplitConfig
from tabular_ml.data.splitting import (
    fingerprint,
    holdout_shares,
    in_holdout,
    row_keys,
    split_frame,
    split_key,
    unbalanced_classes,
)

CONTRACT = DataContract(
    target="y",
    classes=["No", "Yes"],
    positive_class="Yes",
    columns={"x": {"kind": "numeric"}, "c": {"kind": "categorical"}},
)


def data(n: int = 100, positives: int = 20, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [float(i) for i in range(start, start + n)],
            "c": [f"v{i % 7}" for i in range(start, start + n)],
            "y": ["Yes"] * positives + ["No"] * (n - positives),
        }
    )


def shuffled(df: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def sides(df: pd.DataFrame, split: SplitConfig = SplitConfig(), contract: DataContract = CONTRACT) -> dict:
    """x -> "test"/"train" for every row (x is unique in these frames)."""
    train, test = split_frame(df, contract, split)
    return {**{x: "train" for x in train["x"]}, **{x: "test" for x in test["x"]}}


# ----------------------------------------------------------------------------- row keys


def test_row_keys_are_one_uint64_per_row_and_ignore_order_and_index():
    df = data()
    keys = row_keys(df, ["x", "c"])
    assert keys.dtype == np.uint64 and keys.shape == (100,)
    assert len(set(keys.tolist())) == 100
    moved = shuffled(df).set_axis(range(500, 600))
    by_x = dict(zip(df["x"], keys, strict=True))
    assert dict(zip(moved["x"], row_keys(moved, ["x", "c"]), strict=True)) == by_x


def test_row_keys_depend_only_on_the_named_columns():
    df = data()
    relabelled = df.assign(y="No", other=1)
    np.testing.assert_array_equal(row_keys(relabelled, ["x", "c"]), row_keys(df, ["x", "c"]))
    assert (row_keys(df, ["x"]) != row_keys(df, ["x", "c"])).all()


def test_row_keys_do_not_depend_on_the_dtype_a_source_returned():
    ints = pd.DataFrame({"n": [1, 2, 0], "s": ["a", None, "b"], "b": [True, False, True]})
    other = pd.DataFrame(
        {
            "n": pd.array([1.0, 2.0, -0.0], dtype="Float64"),
            "s": pd.Series(["a", np.nan, "b"], dtype="category"),
            "b": [1, 0, 1],
        }
    )
    np.testing.assert_array_equal(row_keys(ints, ["n", "s", "b"]), row_keys(other, ["n", "s", "b"]))
    with_missing = pd.DataFrame({"n": pd.array([1, None], dtype="Int64")})
    np.testing.assert_array_equal(
        row_keys(with_missing, ["n"]), row_keys(pd.DataFrame({"n": [1.0, np.nan]}), ["n"])
    )


def test_row_keys_name_missing_columns():
    with pytest.raises(ValueError, match="row_keys: column\\(s\\) not in the data: nope"):
        row_keys(data(), ["x", "nope"])


# ----------------------------------------------------------------------------- the split


def test_every_row_lands_in_exactly_one_part_in_canonical_order():
    train, test = split_frame(data(), CONTRACT, SplitConfig(test_size=0.25, random_state=0))
    assert len(train) + len(test) == 100 and len(test) > 0 and len(train) > 0
    assert sorted(pd.concat([train, test])["x"]) == [float(i) for i in range(100)]
    assert train.index.tolist() == list(range(len(train))) and test.index.tolist() == list(range(len(test)))
    assert list(train.columns) == ["x", "c", "y"]


def test_same_split_for_rows_in_another_order():
    df = data(500, 100)
    split = SplitConfig(test_size=0.3, random_state=7)
    train, test = split_frame(df, CONTRACT, split)
    for seed in (1, 2):
        other_train, other_test = split_frame(shuffled(df, seed).set_axis(range(7, 507)), CONTRACT, split)
        pd.testing.assert_frame_equal(train, other_train)
        pd.testing.assert_frame_equal(test, other_test)


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_appended_rows_never_move_an_earlier_row(seed):
    split = SplitConfig(test_size=0.2, random_state=seed)
    first = data(1000, 200)
    appended = pd.concat([shuffled(first), data(300, 90, start=1000)], ignore_index=True)
    before, after = sides(first, split), sides(appended, split)
    assert {x: after[x] for x in before} == before
    assert len(after) == 1300
    # and the new rows are split too, not all put on one side
    assert {after[float(x)] for x in range(1000, 1300)} == {"train", "test"}


def test_removed_rows_never_move_the_remaining_rows():
    full = sides(data(1000, 200))
    kept = sides(data(1000, 200).iloc[::3])
    assert kept == {x: full[x] for x in kept}


def test_duplicates_and_label_conflicting_duplicates_land_on_the_same_side():
    df = data(400, 80)
    copies = df.iloc[:150].assign(y=lambda d: d["y"].map({"Yes": "No", "No": "Yes"}))
    train, test = split_frame(
        pd.concat([df, df.iloc[:150], copies], ignore_index=True), CONTRACT, SplitConfig()
    )
    assert not set(train["x"]) & set(test["x"])
    assert len(train) + len(test) == 700
    counts = pd.concat([train, test])["x"].value_counts()
    assert (counts[[float(i) for i in range(150)]] == 3).all()


def test_the_target_is_not_part_of_the_key():
    df = data(300, 60)
    assert sides(df) == sides(df.assign(y="No"))


def test_the_random_state_changes_the_split():
    df = data()
    _, test_a = split_frame(df, CONTRACT, SplitConfig(random_state=1))
    _, test_b = split_frame(df, CONTRACT, SplitConfig(random_state=2))
    assert set(test_a["x"]) != set(test_b["x"])


def test_holdout_shares_are_close_to_test_size_on_10k_rows():
    df = data(10_000, 2_650)
    for test_size, seed in [(0.2, 42), (0.3, 1), (0.1, 7)]:
        train, test = split_frame(df, CONTRACT, SplitConfig(test_size=test_size, random_state=seed))
        assert abs(len(test) / 10_000 - test_size) < 0.015
        shares = holdout_shares(train, test, "y")
        assert set(shares) == {"No", "Yes"}
        assert all(abs(share - test_size) < 0.03 for share in shares.values()), shares
        assert unbalanced_classes(train, test, "y", test_size) == []


def test_in_holdout_compares_the_salted_hash_with_test_size():
    keys = np.arange(200_000, dtype=np.uint64)  # sequential keys: the salted hash must spread them
    for test_size in (0.05, 0.5, 0.95):
        assert abs(in_holdout(keys, SplitConfig(test_size=test_size)).mean() - test_size) < 0.005
    small, large = SplitConfig(test_size=0.1), SplitConfig(test_size=0.3)
    assert not (in_holdout(keys, small) & ~in_holdout(keys, large)).any()  # a larger holdout only adds rows


def test_unbalanced_classes_names_a_class_far_from_test_size():
    train = pd.DataFrame({"y": ["No"] * 800 + ["Yes"] * 100})
    test = pd.DataFrame({"y": ["No"] * 200 + ["Yes"] * 100})
    assert holdout_shares(train, test, "y") == {"No": 0.2, "Yes": 0.5}
    (message,) = unbalanced_classes(train, test, "y", 0.2)
    assert message.startswith("Yes: 0.500 of its rows in the holdout (expected 0.2 +- 0.")


def test_id_column_decides_the_side():
    df = data(1000, 200).assign(customer=[f"id-{i}" for i in range(1000)])
    split = SplitConfig(id_column="customer")
    assert split_key(split) == "id_column: customer" and split_key(SplitConfig()) == "feature hash"
    by_id = sides(df, split)
    # the same customers with changed feature values keep their sides; the id column stays in the frames
    changed = df.assign(c="changed")
    assert sides(changed, split) == by_id
    train, _ = split_frame(df, CONTRACT, split)
    assert "customer" in train.columns
    # the id hash and the feature hash are different splits
    assert by_id != sides(df)
    # every row of one customer is on one side, whatever its features
    repeat = pd.concat([df, df.iloc[:200].assign(x=lambda d: d["x"] + 0.5)], ignore_index=True)
    train, test = split_frame(repeat, CONTRACT, split)
    assert not set(train["customer"]) & set(test["customer"])


def test_missing_id_column_is_a_one_line_error():
    with pytest.raises(ValueError) as error:
        split_frame(data(), CONTRACT, SplitConfig(id_column="customer_id"))
    assert str(error.value) == "split.id_column: column 'customer_id' is not in the data"


@pytest.mark.parametrize(("column", "role"), [("x", "a feature in the contract"), ("y", "the target")])
def test_id_column_must_not_be_a_model_input(column, role):
    with pytest.raises(ValueError, match=f"split.id_column: column '{column}' is {role}"):
        split_frame(data(), CONTRACT, SplitConfig(id_column=column))


def test_a_side_left_empty_is_an_error():
    with pytest.raises(ValueError, match="split: .* test_size 0.01 needs more data"):
        split_frame(data(3, 1), CONTRACT, SplitConfig(test_size=0.01))


def test_split_does_not_modify_the_input():
    df = shuffled(data())
    before = df.copy()
    split_frame(df, CONTRACT, SplitConfig())
    pd.testing.assert_frame_equal(df, before)


# ----------------------------------------------------------------------------- fingerprints


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

"""Safe, recorded cleaning: every change is counted, nothing is guessed, the input is left alone."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tabular_ml.configuration.schema import CleaningConfig, DataContract
from tabular_ml.data.cleaning import CleaningSummary, clean_frame, columns_left_out

OFF = CleaningConfig(strip_whitespace=False, empty_strings_as_missing=False, coerce_numeric=False)


def contract(duplicates: str = "keep") -> DataContract:
    return DataContract(
        target="y",
        classes=["No", "Yes"],
        positive_class="Yes",
        duplicates=duplicates,
        columns={
            "charges": {"kind": "numeric"},
            "name": {"kind": "categorical"},
            "flag": {"kind": "binary"},
        },
    )


def raw() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "charges": [" 29.85", "abc", "  ", "10", None],
            "name": [" a", "b ", "c", "", None],
            "flag": ["1", "0", " 1", "x", "0"],
            "y": ["No", "Yes", "No", "Yes", "No"],
        }
    )


def test_default_cleaning_counts_every_change():
    out, summary = clean_frame(raw(), CleaningConfig(), contract())
    assert summary.cells_stripped == {"charges": 2, "name": 2, "flag": 1}
    # "  " is stripped to "" first, then counted as a blank
    assert summary.blanks_to_missing == {"charges": 1, "name": 1}
    assert summary.coerced_to_missing == {"charges": 1, "flag": 1}
    assert (summary.rows_in, summary.rows_out, summary.duplicates_dropped) == (5, 5, 0)
    assert out["charges"].dtype == np.float64
    assert out["charges"].tolist()[0] == 29.85
    assert out["charges"].tolist()[3] == 10.0
    assert out["charges"].isna().tolist() == [False, True, True, False, True]
    assert out["flag"].tolist()[:3] == [1.0, 0.0, 1.0] and math.isnan(out["flag"][3])
    assert out["name"].tolist()[:3] == ["a", "b", "c"]
    assert out["name"].isna().tolist() == [False, False, False, True, True]
    # the target is text, not a numeric contract column: untouched
    assert out["y"].tolist() == ["No", "Yes", "No", "Yes", "No"]


def test_strip_whitespace_counts_per_column():
    df = pd.DataFrame({"a": [" x", "y ", "z", None], "b": ["p", "q", "r", "s"], "n": [1, 2, 3, 4]})
    out, summary = clean_frame(
        df, CleaningConfig(empty_strings_as_missing=False, coerce_numeric=False), contract()
    )
    assert summary.cells_stripped == {"a": 2}
    assert out["a"].tolist()[:3] == ["x", "y", "z"] and out["a"].isna().tolist() == [
        False,
        False,
        False,
        True,
    ]
    assert out["b"].tolist() == ["p", "q", "r", "s"]
    assert out["n"].tolist() == [1, 2, 3, 4]


def test_strip_whitespace_on_pandas_string_dtype():
    df = pd.DataFrame({"a": pd.array([" x", "y", None], dtype="string")})
    out, summary = clean_frame(df, CleaningConfig(empty_strings_as_missing=False), contract())
    assert summary.cells_stripped == {"a": 1}
    assert out["a"].tolist()[:2] == ["x", "y"]


def test_strip_whitespace_keeps_numbers_in_a_mixed_column():
    df = pd.DataFrame({"charges": [29.85, " 10.5", 7], "y": ["No", "Yes", "No"]}, dtype=object)
    out, summary = clean_frame(df, CleaningConfig(), contract())
    assert out["charges"].tolist() == [29.85, 10.5, 7.0]
    assert summary.cells_stripped == {"charges": 1}


def test_blank_strings_become_missing():
    df = pd.DataFrame({"a": ["x", "", "   ", None], "b": ["", "q", "r", "s"]})
    out, summary = clean_frame(df, CleaningConfig(strip_whitespace=False, coerce_numeric=False), contract())
    assert summary.blanks_to_missing == {"a": 2, "b": 1}
    assert summary.cells_stripped == {}
    assert out["a"].isna().tolist() == [False, True, True, True]
    assert out["b"].isna().tolist() == [True, False, False, False]


def test_numeric_coercion_of_a_text_column():
    df = pd.DataFrame({"charges": [" 29.85", "abc", "1e3", None], "flag": ["1", "0", "1", "0"]})
    out, summary = clean_frame(df, CleaningConfig(strip_whitespace=False), contract())
    assert out["charges"].dtype == np.float64
    assert out["charges"][0] == 29.85
    assert out["charges"][2] == 1000.0
    assert out["charges"].isna().tolist() == [False, True, False, True]
    # only the value that was present and is not a number counts; the None was missing already
    assert summary.coerced_to_missing == {"charges": 1}
    assert out["flag"].tolist() == [1, 0, 1, 0]


def test_numeric_coercion_only_touches_numeric_and_binary_contract_columns():
    df = pd.DataFrame({"name": ["1", "2"], "other": ["3", "x"], "charges": [1.5, 2.5]})
    out, summary = clean_frame(df, CleaningConfig(), contract())
    assert out["name"].tolist() == ["1", "2"]
    assert out["other"].tolist() == ["3", "x"]
    assert out["charges"].tolist() == [1.5, 2.5]
    assert summary.coerced_to_missing == {}


@pytest.mark.parametrize(("policy", "rows_out", "dropped"), [("drop", 3, 2), ("keep", 5, 0), ("fail", 5, 0)])
def test_duplicates_policy(policy, rows_out, dropped):
    df = pd.DataFrame({"charges": [1.0, 2.0, 1.0, 3.0, 1.0], "y": ["No", "Yes", "No", "No", "No"]})
    out, summary = clean_frame(df, CleaningConfig(), contract(duplicates=policy))
    assert len(out) == summary.rows_out == rows_out
    assert summary.duplicates_dropped == dropped
    assert summary.rows_in == 5
    assert out.index.tolist() == list(range(rows_out))
    if policy == "drop":
        assert out["charges"].tolist() == [1.0, 2.0, 3.0]
        assert out["y"].tolist() == ["No", "Yes", "No"]


def test_duplicates_after_cleaning_are_dropped():
    df = pd.DataFrame({"name": ["a", " a"], "y": ["No", "No"]})
    out, summary = clean_frame(df, CleaningConfig(), contract(duplicates="drop"))
    assert out["name"].tolist() == ["a"]
    assert summary.duplicates_dropped == 1 and summary.cells_stripped == {"name": 1}


def test_drop_columns():
    df = pd.DataFrame({"id": [1, 2], "notes": [" a", "b"], "charges": [1.0, 2.0]})
    out, summary = clean_frame(df, CleaningConfig(drop_columns=["notes", "not_there", "id"]), contract())
    assert list(out.columns) == ["charges"]
    assert summary.columns_dropped == ["notes", "id"]
    # a dropped column is not stripped either
    assert summary.cells_stripped == {}


@pytest.mark.parametrize(
    "cleaning, duplicates",
    [(CleaningConfig(drop_columns=["name"]), "drop"), (CleaningConfig(), "keep")],
    ids=["drop", "keep"],
)
def test_the_input_frame_is_not_modified(cleaning, duplicates):
    df = raw().assign(note=[" x", "x", "x ", "   ", np.nan])
    before = df.copy(deep=True)
    out, summary = clean_frame(df, cleaning, contract(duplicates=duplicates))
    assert summary.cells_stripped and summary.blanks_to_missing  # there were changes to make
    pd.testing.assert_frame_equal(df, before)


def test_disabled_options_do_nothing():
    df = raw()
    out, summary = clean_frame(df, OFF, contract())
    pd.testing.assert_frame_equal(out, df)
    assert summary == CleaningSummary(rows_in=5, rows_out=5)


def test_without_stripping_padded_numbers_still_coerce_and_blanks_count_as_lost():
    out, summary = clean_frame(
        raw(), CleaningConfig(strip_whitespace=False, empty_strings_as_missing=False), contract()
    )
    assert out["charges"][0] == 29.85
    # "abc" and "  " were present and are not numbers
    assert summary.coerced_to_missing == {"charges": 2, "flag": 1}
    assert out["name"].tolist()[:4] == [" a", "b ", "c", ""]


def test_as_metadata_leaves_out_empty_maps():
    summary = CleaningSummary(rows_in=5, rows_out=4, duplicates_dropped=1, coerced_to_missing={"charges": 2})
    assert summary.as_metadata() == {
        "rows_in": 5,
        "rows_out": 4,
        "coerced_to_missing": {"charges": 2},
        "duplicates_dropped": 1,
    }


def test_as_metadata_keeps_zero_counts():
    assert CleaningSummary(rows_in=0, rows_out=0).as_metadata() == {
        "rows_in": 0,
        "rows_out": 0,
        "duplicates_dropped": 0,
    }


def test_as_metadata_of_a_real_run():
    _, summary = clean_frame(raw(), CleaningConfig(drop_columns=["flag"]), contract())
    assert summary.as_metadata() == {
        "rows_in": 5,
        "rows_out": 5,
        "columns_dropped": ["flag"],
        "cells_stripped": {"charges": 2, "name": 2},
        "blanks_to_missing": {"charges": 1, "name": 1},
        "coerced_to_missing": {"charges": 1},
        "duplicates_dropped": 0,
    }


# --------------------------------------------------------------------------- binary words


def binary_contract() -> DataContract:
    return DataContract(
        target="y",
        columns={"partner": {"kind": "binary"}, "paid": {"kind": "binary"}, "name": {"kind": "categorical"}},
    )


def test_binary_words_and_booleans_become_1_and_0():
    df = pd.DataFrame(
        {
            "partner": ["Yes", "no", " Y", "n", "TRUE", "false", "t", "F", None],
            "paid": [True, False, True, False, True, False, True, False, True],
            "name": ["Yes", "no", "y", "n", "true", "false", "t", "f", "x"],
            "y": range(9),
        }
    )
    out, summary = clean_frame(df, CleaningConfig(), binary_contract())
    assert out["partner"].tolist()[:8] == [1, 0, 1, 0, 1, 0, 1, 0] and math.isnan(out["partner"][8])
    assert out["partner"].dtype == np.float64
    assert out["paid"].tolist() == [1, 0, 1, 0, 1, 0, 1, 0, 1] and out["paid"].dtype == np.int64
    # a categorical column keeps its words; the target is not a contract column
    assert out["name"].tolist() == df["name"].tolist()
    assert summary.binary_words_to_numbers == {"partner": 8, "paid": 9}
    assert summary.coerced_to_missing == {}
    assert summary.as_metadata()["binary_words_to_numbers"] == {"partner": 8, "paid": 9}


def test_binary_words_mix_with_numbers_and_other_text_is_lost():
    df = pd.DataFrame(
        {
            "partner": ["yes", "1", 0, "maybe", "NO"],
            "paid": pd.array([True, None, False, True, False], dtype="boolean"),
            "name": list("abcde"),
            "y": range(5),
        }
    )
    out, summary = clean_frame(df, CleaningConfig(), binary_contract())
    assert out["partner"].isna().tolist() == [False, False, False, True, False]
    assert out["partner"].dropna().tolist() == [1, 1, 0, 0]
    assert out["paid"].isna().tolist() == [False, True, False, False, False]
    assert out["paid"].dropna().tolist() == [1, 0, 1, 0]
    assert summary.binary_words_to_numbers == {"partner": 2, "paid": 4}
    assert summary.coerced_to_missing == {"partner": 1}


def test_numeric_binary_columns_are_left_alone():
    df = pd.DataFrame({"partner": [1, 0, 1], "paid": [0.0, 1.0, np.nan], "name": list("abc"), "y": [1, 2, 3]})
    out, summary = clean_frame(df, CleaningConfig(), binary_contract())
    assert out["partner"].tolist() == [1, 0, 1] and out["partner"].dtype == np.int64
    assert summary.binary_words_to_numbers == {}


def test_binary_words_are_not_mapped_without_coercion():
    df = pd.DataFrame({"partner": ["yes", "no"], "paid": [1, 0], "name": ["a", "b"], "y": [1, 2]})
    out, summary = clean_frame(df, OFF, binary_contract())
    assert out["partner"].tolist() == ["yes", "no"]
    assert summary.binary_words_to_numbers == {}


# --------------------------------------------------------------------------- columns left out


def test_columns_left_out_are_neither_features_nor_the_target():
    columns = ["customer_id", "partner", "notes", "y", "paid", "name"]
    assert columns_left_out(columns, binary_contract()) == ["customer_id", "notes"]
    assert columns_left_out(columns, binary_contract(), id_column="customer_id") == ["notes"]
    assert columns_left_out(["partner", "paid", "name", "y"], binary_contract()) == []


def recount(out: pd.DataFrame, name: str) -> tuple[set, int]:
    return set(out[name].dropna()), int(out[name].isna().sum())


@pytest.mark.parametrize(
    "cleaning",
    [
        CleaningConfig(),
        CleaningConfig(strip_whitespace=False),
        CleaningConfig(empty_strings_as_missing=False),
        CleaningConfig(coerce_numeric=False),
    ],
    ids=["default", "no strip", "no blanks", "no coercion"],
)
def test_text_values_are_the_cleaned_columns_distinct_values_and_missing_counts(cleaning):
    df = raw().assign(note=[" x", "x", "x ", "   ", np.nan], mixed=[1, " 1", "a", None, 2.5])
    text_values = {}
    out, _ = clean_frame(df, cleaning, contract(), text_values)
    text = [name for name in out.columns if out[name].dtype == object]
    assert sorted(text_values) == sorted(text)  # coerced columns are left out
    for name in text:
        assert text_values[name] == recount(out, name), name


def test_text_values_are_left_empty_when_duplicates_were_dropped_or_text_is_not_fixed():
    df = pd.concat([raw(), raw()], ignore_index=True)
    text_values = {}
    clean_frame(df, CleaningConfig(), contract(duplicates="drop"), text_values)
    assert text_values == {}  # counted before the duplicates went
    clean_frame(df, OFF, contract(), text_values)
    assert text_values == {}  # no pass over the text values was made
    clean_frame(df, CleaningConfig(), contract(), text_values)
    assert text_values["name"] == ({"a", "b", "c"}, 4)

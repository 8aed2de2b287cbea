"""The drift simulator (tabular_ml/monitoring/drift_simulation.py) on the bundled Telco data.

A 2,000-row holdout, drifted as requested, checked value by value; Evidently (as the monitoring
uses it) sees no drift in the clean slice against the rest and exactly the changed columns in the
drifted copy. The command line around it: tests/tools/test_simulate_drift.py.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pandas as pd
import pytest

from tabular_ml.monitoring.drift_simulation import (
    RANGE_MARGIN,
    DriftSpecError,
    changed_columns,
    parse_category_mix,
    parse_missing,
    parse_numeric_shift,
    parse_shift,
    simulate_drift,
    split_holdout,
)
from tests.support.paths import PROJECT_ROOT

DATA = PROJECT_ROOT / "data/raw/telco_churn.csv"


@cache
def telco() -> pd.DataFrame:
    return pd.read_csv(DATA)


@cache
def _split(rows: int = 2000, seed: int = 7):
    return split_holdout(telco(), rows, seed)


def holdout() -> pd.DataFrame:
    return _split()[0].copy()


# ---------------------------------------------------------------------------- holdout


def test_the_holdout_and_the_rest_are_the_input_split_by_position():
    frame = telco()
    held, rest, positions = split_holdout(frame, 2000, seed=7)
    assert (len(held), len(rest), len(positions)) == (2000, 5043, 2000)
    assert positions == sorted(set(positions)) and 0 <= positions[0] and positions[-1] < len(frame)
    pd.testing.assert_frame_equal(held, frame.iloc[positions].reset_index(drop=True))
    others = [p for p in range(len(frame)) if p not in set(positions)]
    pd.testing.assert_frame_equal(rest, frame.iloc[others].reset_index(drop=True))
    assert split_holdout(frame, 2000, seed=7)[2] == positions
    assert split_holdout(frame, 2000, seed=8)[2] != positions


@pytest.mark.parametrize("rows", [0, 7043, 9000])
def test_the_holdout_must_leave_rows_on_both_sides(rows):
    with pytest.raises(
        DriftSpecError, match="holdout rows must be between 1 and 7042 \\(the input has 7043\\)"
    ):
        split_holdout(telco(), rows, seed=7)


# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.5", ("multiply", 1.5)),
        ("x1.5", ("multiply", 1.5)),
        ("*0.5", ("multiply", 0.5)),
        (2, ("multiply", 2.0)),
        ("+20", ("add", 20.0)),
        ("-5.5", ("add", -5.5)),
    ],
)
def test_a_shift_is_a_factor_or_a_signed_amount(text, expected):
    assert parse_shift(text) == expected


def test_option_parsing():
    assert parse_numeric_shift("tenure=1.5, monthly_charges=+20") == {
        "tenure": "1.5",
        "monthly_charges": "+20",
    }
    assert parse_category_mix("contract=Month-to-month:0.6,contract=Two year:0.3,senior_citizen=1:0.5") == {
        "contract": {"Month-to-month": 0.6, "Two year": 0.3},
        "senior_citizen": {"1": 0.5},
    }
    assert parse_category_mix("label=a:b:0.5") == {"label": {"a:b": 0.5}}
    assert parse_missing("total_charges=0.2,tenure=0") == {"total_charges": 0.2, "tenure": 0.0}
    assert parse_numeric_shift("") == {} and parse_category_mix("") == {} and parse_missing("") == {}


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (parse_numeric_shift, "tenure", "--numeric-shift: 'tenure' is not COLUMN=VALUE"),
        (parse_numeric_shift, "tenure=big", "shift 'big': expected a factor (1.5, x1.5) or a signed amount"),
        (parse_numeric_shift, "tenure=2,tenure=3", "--numeric-shift: column 'tenure' is given twice"),
        (parse_category_mix, "contract=0.8", "--category-mix: contract='0.8' is not COLUMN=CATEGORY:SHARE"),
        (parse_category_mix, "contract=One year:1.5", "--category-mix contract=One year: share 1.5 must be"),
        (parse_missing, "total_charges=lots", "--missing total_charges: share 'lots' is not a number"),
    ],
)
def test_option_errors_name_the_option(parse, text, message):
    with pytest.raises(DriftSpecError) as caught:
        parse(text)
    assert str(caught.value).startswith(message)


# ---------------------------------------------------------------------------- drift


def test_same_seed_same_output_and_the_seed_matters():
    request = dict(
        numeric_shift={"monthly_charges": "x1.2"},
        category_mix={"contract": {"Month-to-month": 0.8}},
        missing={"total_charges": 0.2},
    )
    first, first_manifest = simulate_drift(holdout(), **request, seed=3)
    again, again_manifest = simulate_drift(holdout(), **request, seed=3)
    pd.testing.assert_frame_equal(first, again)
    assert first_manifest == again_manifest
    other, _ = simulate_drift(holdout(), **request, seed=4)
    assert not other["contract"].equals(first["contract"])
    assert not other["total_charges"].isna().equals(first["total_charges"].isna())
    pd.testing.assert_series_equal(other["monthly_charges"], first["monthly_charges"])  # no randomness


def test_the_input_frame_is_not_modified():
    frame = holdout()
    before = frame.copy()
    simulate_drift(frame, {"tenure": 2}, {"contract": {"Two year": 0.5}}, {"tenure": 0.3}, seed=1)
    pd.testing.assert_frame_equal(frame, before)


def test_the_category_share_is_reached_and_the_others_keep_their_proportions():
    frame = holdout()
    before = frame["contract"].value_counts()
    drifted, manifest = simulate_drift(frame, category_mix={"contract": {"Month-to-month": 0.8}}, seed=7)
    after = drifted["contract"].value_counts()
    assert abs(after["Month-to-month"] / 2000 - 0.8) <= 0.02
    assert after["Month-to-month"] == 1600  # exact here: 0.8 of 2,000 rows
    # One year and Two year share the remaining 400 rows as they shared theirs before (to a row)
    expected_one_year = 400 * before["One year"] / (before["One year"] + before["Two year"])
    assert abs(after["One year"] - expected_one_year) <= 1 and after.sum() == 2000
    (change,) = manifest["changes"]
    assert change["relabelled"] == 1600 - before["Month-to-month"]
    assert change["shares_after"]["Month-to-month"] == 0.8
    assert (drifted["contract"] != frame["contract"]).sum() == change["relabelled"]  # the fewest cells
    # only Month-to-month was written, only over-represented categories lost rows
    changed = drifted["contract"] != frame["contract"]
    assert set(drifted.loc[changed, "contract"]) == {"Month-to-month"}


def test_a_mix_of_several_categories_and_a_new_one():
    drifted, manifest = simulate_drift(
        holdout(), category_mix={"contract": {"Two year": 0.5, "Three year": 0.1}}, seed=2
    )
    shares = drifted["contract"].value_counts(normalize=True)
    assert (shares["Two year"], shares["Three year"]) == (0.5, 0.1)
    assert shares.sum() == pytest.approx(1.0)
    assert manifest["changed_columns"] == ["contract"]


def test_shares_that_add_up_to_one_in_floating_point():
    # 0.1 + 0.2 + 0.7 == 1.0000000000000002: the unnamed Two year ends with exactly 0 rows
    drifted, _ = simulate_drift(
        holdout(), category_mix={"contract": {"Month-to-month": 0.1, "One year": 0.2, "Three year": 0.7}}
    )
    counts = drifted["contract"].value_counts().to_dict()
    assert counts == {"Three year": 1400, "One year": 400, "Month-to-month": 200}


def test_a_numeric_column_mixed_by_value():
    drifted, _ = simulate_drift(holdout(), category_mix={"senior_citizen": {"1": 0.5}}, seed=2)
    assert drifted["senior_citizen"].dtype == np.int64
    assert drifted["senior_citizen"].value_counts().to_dict() == {0: 1000, 1: 1000}


def test_a_multiplicative_shift_without_clipping_moves_the_mean_by_the_factor():
    frame = holdout()
    # 72 months x 1.1 = 79.2, the widened maximum itself: nothing is clipped
    drifted, manifest = simulate_drift(frame, numeric_shift={"tenure": "1.1"})
    (change,) = manifest["changes"]
    assert (change["operation"], change["value"], change["clipped"], change["integer"]) == (
        "multiply",
        1.1,
        0,
        True,
    )
    assert drifted["tenure"].dtype == np.int64
    np.testing.assert_array_equal(drifted["tenure"], np.round(frame["tenure"] * 1.1).astype(np.int64))
    assert drifted["tenure"].mean() == pytest.approx(frame["tenure"].mean() * 1.1, abs=0.02)  # rounding
    assert change["mean_after"] == drifted["tenure"].mean()


def test_an_additive_shift_moves_the_mean_by_the_amount_and_keeps_cents():
    frame = holdout()
    drifted, manifest = simulate_drift(frame, numeric_shift={"monthly_charges": "+5"})
    assert manifest["changes"][0]["clipped"] == 0
    assert drifted["monthly_charges"].mean() == pytest.approx(frame["monthly_charges"].mean() + 5, abs=1e-9)
    assert (drifted["monthly_charges"] * 100).round(6).mod(1).eq(0).all()  # still whole cents


def test_a_shift_is_clipped_to_the_widened_observed_range():
    frame = holdout()
    low, high = frame["monthly_charges"].min(), frame["monthly_charges"].max()
    margin = RANGE_MARGIN * (high - low)
    drifted, manifest = simulate_drift(frame, numeric_shift={"monthly_charges": 3, "tenure": "-30"})
    by_column = {change["column"]: change for change in manifest["changes"]}
    assert by_column["monthly_charges"]["bounds"] == [low - margin, high + margin]
    assert drifted["monthly_charges"].max() == pytest.approx(high + margin, abs=0.005)
    assert by_column["monthly_charges"]["clipped"] == int(
        (frame["monthly_charges"] * 3 > high + margin).sum()
    )
    # tenure has no negative values: its floor stays at 0 rather than 0 - 7.2
    assert by_column["tenure"]["bounds"][0] == 0.0
    assert drifted["tenure"].min() == 0 and by_column["tenure"]["clipped"] == int(
        (frame["tenure"] < 30).sum()
    )


def test_missing_values_as_requested_counting_those_already_there():
    frame = holdout()
    already = int(frame["total_charges"].isna().sum())
    assert already > 0  # the bundled data has a few
    drifted, manifest = simulate_drift(frame, missing={"total_charges": 0.2, "tenure": 0.1}, seed=5)
    assert drifted["total_charges"].isna().sum() == 400 and drifted["tenure"].isna().sum() == 200
    by_column = {change["column"]: change for change in manifest["changes"]}
    assert by_column["total_charges"]["cells_blanked"] == 400 - already
    assert by_column["total_charges"]["share_after"] == 0.2
    # values that were not blanked are the same values
    kept = drifted["total_charges"].notna()
    pd.testing.assert_series_equal(drifted.loc[kept, "total_charges"], frame.loc[kept, "total_charges"])
    assert str(drifted["tenure"].dtype) == "Int64"  # integers with gaps
    assert "34.0" not in drifted["tenure"].to_csv(index=False)


def test_only_the_named_columns_change_and_the_manifest_says_which():
    frame = holdout()
    drifted, manifest = simulate_drift(
        frame,
        numeric_shift={"monthly_charges": "1.3"},
        category_mix={"payment_method": {"Electronic check": 0.7}},
        missing={"total_charges": 0.1},
        seed=7,
    )
    assert manifest["changed_columns"] == ["payment_method", "monthly_charges", "total_charges"]
    assert manifest["unchanged_columns"] == [c for c in frame.columns if c not in manifest["changed_columns"]]
    # row for row identical: the rows are not resampled
    pd.testing.assert_frame_equal(
        drifted[manifest["unchanged_columns"]], frame[manifest["unchanged_columns"]]
    )
    assert [(c["column"], c["kind"]) for c in manifest["changes"]] == [
        ("monthly_charges", "numeric_shift"),
        ("payment_method", "category_mix"),
        ("total_charges", "missing"),
    ]
    assert (manifest["seed"], manifest["rows"]) == (7, 2000)
    json.dumps(manifest)  # plain JSON


def test_a_columns_change_does_not_depend_on_the_other_requests():
    alone, _ = simulate_drift(holdout(), category_mix={"contract": {"Month-to-month": 0.8}}, seed=7)
    together, _ = simulate_drift(
        holdout(),
        numeric_shift={"tenure": 2},
        category_mix={"payment_method": {"Mailed check": 0.5}, "contract": {"Month-to-month": 0.8}},
        missing={"total_charges": 0.3},
        seed=7,
    )
    pd.testing.assert_series_equal(alone["contract"], together["contract"])


def test_changed_columns_treats_missing_as_equal():
    before = pd.DataFrame({"a": [1.0, None], "b": ["x", None], "c": [1, 2]})
    after = pd.DataFrame({"a": [1.0, None], "b": ["x", "y"], "c": [1, 3]})
    assert changed_columns(before, after) == ["b", "c"]


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (dict(numeric_shift={"tenur": 2}), "numeric_shift: unknown column 'tenur'; columns: churn, female,"),
        (dict(numeric_shift={"contract": 2}), "numeric_shift: column 'contract' is not numeric"),
        (dict(numeric_shift={"female": 2}), "numeric_shift: column 'female' has 2 distinct value(s)"),
        (
            dict(category_mix={"contract": {"Month-to-month": 0.7, "One year": 0.4}}),
            "category_mix: shares for 'contract' add up to 1.1, more than 1",
        ),
        (
            dict(category_mix={"contract": {"Month-to-month": 0.2, "One year": 0.2, "Two year": 0.2}}),
            "category_mix: 'contract' has no other category to take the remaining 0.4",
        ),
        (
            dict(category_mix={"senior_citizen": {"yes": 0.5}}),
            "category_mix: column 'senior_citizen' is numeric",
        ),
        (dict(missing={"total_charges": 0.0}), "missing: 'total_charges' already has 4 missing of 2000"),
    ],
)
def test_requests_that_cannot_be_applied(request_, message):
    with pytest.raises(DriftSpecError) as caught:
        simulate_drift(holdout(), **request_, seed=7)
    assert str(caught.value).startswith(message)


# ---------------------------------------------------------------------------- a real drift check


def _evidently_drifted(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    """The feature columns Evidently's DataDriftPreset flags (its default tests, as monitoring runs it)."""
    from evidently.legacy.metric_preset import DataDriftPreset
    from evidently.legacy.pipeline.column_mapping import ColumnMapping
    from evidently.legacy.report import Report

    features = [c for c in reference.columns if c != "churn"]
    numerical = ["tenure", "monthly_charges", "total_charges"]
    mapping = ColumnMapping(
        numerical_features=numerical, categorical_features=[c for c in features if c not in numerical]
    )
    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=reference[features], current_data=current[features], column_mapping=mapping)
    table = next(m["result"] for m in report.as_dict()["metrics"] if m["metric"] == "DataDriftTable")
    return sorted(name for name, result in table["drift_by_columns"].items() if result["drift_detected"])


def test_evidently_sees_no_drift_in_the_clean_slice_and_exactly_the_changed_columns_in_the_drifted():
    held, rest, _ = _split()
    drifted, manifest = simulate_drift(
        held,
        numeric_shift={"monthly_charges": "1.3", "tenure": "-12"},
        category_mix={"contract": {"Month-to-month": 0.8}},
        seed=7,
    )
    assert _evidently_drifted(rest, held) == []
    assert _evidently_drifted(rest, drifted) == sorted(manifest["changed_columns"])
    assert sorted(manifest["changed_columns"]) == ["contract", "monthly_charges", "tenure"]

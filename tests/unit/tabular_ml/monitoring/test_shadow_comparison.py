"""Production against a shadow on logged rows (tabular_ml/monitoring/shadow_comparison.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabular_ml.monitoring.shadow_comparison import compare_predictions, paired_rows, shadow_rows


def log(**columns) -> pd.DataFrame:
    rows = len(next(iter(columns.values())))
    base = {"tenure": np.arange(rows, dtype=float), "model_version": ["3"] * rows}
    return pd.DataFrame({**base, **columns})


def test_agreement_and_mean_difference_of_a_binary_shadow():
    rows = log(
        request_id=["a", "a", "b", "c"],
        prediction=["Yes", "No", "No", "Yes"],
        probability=[0.9, 0.2, 0.4, 0.6],
        shadow_prediction=["Yes", "Yes", "No", "No"],
        shadow_probability=[0.8, 0.5, 0.4, 0.3],
        shadow_model_version=["4"] * 4,
    )
    estimated = {"production": {"roc_auc": {"value": 0.8}}, "shadow": {"roc_auc": {"value": 0.82}}}
    comparison = compare_predictions(rows, "binary", estimated)
    assert comparison.requests == 3 and comparison.rows == 4
    assert comparison.agreement == 0.5
    assert comparison.mean_abs_difference == pytest.approx((0.1 + 0.3 + 0.0 + 0.3) / 4)
    assert (comparison.production_version, comparison.shadow_version) == ("3", "4")
    assert comparison.as_metadata()["estimated"]["shadow"]["roc_auc"]["value"] == 0.82


def test_a_regression_shadow_has_no_class_agreement():
    rows = log(
        request_id=["a", "b"],
        prediction=["10.0", "20.0"],
        probability=[10.0, 20.0],
        shadow_prediction=["12.0", "17.0"],
        shadow_probability=[12.0, 17.0],
        shadow_model_version=["4", "4"],
    )
    comparison = compare_predictions(rows, "regression")
    assert comparison.agreement is None and comparison.mean_abs_difference == 2.5


def test_shadow_rows_keep_the_latest_shadow_version_and_old_logs_have_none():
    rows = log(
        request_id=["a", "b", "c", "d"],
        prediction=["Yes"] * 4,
        probability=[0.9] * 4,
        shadow_prediction=[None, "No", "Yes", "Yes"],
        shadow_probability=[np.nan, 0.1, 0.7, 0.8],
        shadow_model_version=[None, "4", "5", "5"],
    )
    assert shadow_rows(rows)["request_id"].tolist() == ["c", "d"]
    assert shadow_rows(rows, "4")["request_id"].tolist() == ["b"]
    assert shadow_rows(rows.drop(columns=["shadow_model_version"])).empty
    with pytest.raises(ValueError, match=r"^rows of several shadow versions \['4', '5'\]"):
        compare_predictions(rows.iloc[1:], "binary")
    with pytest.raises(ValueError, match="^no logged row has a shadow prediction"):
        compare_predictions(rows.iloc[0:0], "binary")


def test_a_mirrored_shadows_own_rows_pair_by_request_id_and_position():
    rows = pd.DataFrame(
        {
            "tenure": [1.0, 2.0, 1.0, 2.0, 5.0, 9.0],
            "model_version": ["3", "3", "8", "8", "3", "8"],
            "request_id": ["a", "a", "a", "a", "b", "lonely"],
            "prediction": ["Yes", "No", "No", "No", "Yes", "Yes"],
            "probability": [0.9, 0.1, 0.4, 0.2, 0.7, 0.9],
        }
    )
    paired = paired_rows(rows, "3", "8")
    assert paired["request_id"].tolist() == ["a", "a"]
    assert paired["shadow_prediction"].tolist() == ["No", "No"]
    assert paired["shadow_probability"].tolist() == [0.4, 0.2]
    comparison = compare_predictions(paired, "binary")
    assert comparison.agreement == 0.5 and comparison.shadow_version == "8"

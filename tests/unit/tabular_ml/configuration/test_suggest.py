"""'did you mean ...?' for misspelled column names, alone and in the contract's violations."""

from __future__ import annotations

import pandas as pd
import pytest

from tabular_ml.configuration.schema import DataContract
from tabular_ml.configuration.suggest import did_you_mean, nearest_name
from tabular_ml.data.contract import validate_frame

COLUMNS = ["tenure", "monthly_charges", "total_charges", "contract", "churn"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tenur", "tenure"),
        ("Tenure", "tenure"),
        ("montly_charges", "monthly_charges"),
        ("total_charge", "total_charges"),
        ("CONTRACT", "contract"),
        ("zzz", None),
        ("age", None),
    ],
)
def test_nearest_name(name, expected):
    assert nearest_name(name, COLUMNS) == expected


def test_did_you_mean_text():
    assert did_you_mean("tenur", COLUMNS) == " (did you mean 'tenure'?)"
    assert did_you_mean("zzz", COLUMNS) == ""
    assert did_you_mean("tenure", COLUMNS) == ""  # the name exists: nothing to suggest
    assert did_you_mean("tenure", []) == ""


def test_a_missing_contract_column_suggests_the_nearest_name():
    contract = DataContract(
        target="churn",
        min_rows=2,
        columns={"tenur": {"kind": "numeric"}, "contract": {"kind": "categorical"}},
    )
    frame = pd.DataFrame({"tenure": [1.0, 2.0], "contract": ["a", "b"], "churn": ["No", "Yes"]})
    report = validate_frame(frame, contract, with_target=False)
    assert [v.describe() for v in report.violations] == [
        "tenur: required column present (did you mean 'tenure'?) broken by 2 row(s)"
    ]

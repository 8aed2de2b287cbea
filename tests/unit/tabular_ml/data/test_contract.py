"""The data contract: one test per rule, asserting what the report says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from tabular_ml.configuration.schema import CleaningConfig, DataContract
from tabular_ml.data.cleaning import clean_frame
from tabular_ml.data.contract import (
    ContractReport,
    DataContractError,
    Violation,
    validate_frame,
)
from tests.support.paths import PROJECT_ROOT


def contract(**changes) -> DataContract:
    spec = {
        "target": "y",
        "classes": ["No", "Yes"],
        "positive_class": "Yes",
        "min_rows": 1,
        "columns": {
            "age": {"kind": "numeric", "min": 0, "max": 100},
            "color": {"kind": "categorical", "categories": ["red", "blue"]},
            "flag": {"kind": "binary"},
        },
    }
    spec.update(changes)
    return DataContract(**spec)


def frame(**columns) -> pd.DataFrame:
    data = {
        "age": [10.0, 20.0, 30.0, 40.0],
        "color": ["red", "blue", "red", "blue"],
        "flag": [0, 1, 0, 1],
        "y": ["No", "Yes", "No", "Yes"],
    }
    data.update(columns)
    return pd.DataFrame(data)


def only_violation(df: pd.DataFrame, data_contract: DataContract | None = None, **kwargs) -> Violation:
    report = validate_frame(df, data_contract or contract(), **kwargs)
    assert len(report.violations) == 1, report.summary()
    return report.violations[0]


def test_a_clean_frame_passes():
    report = validate_frame(frame(), contract())
    assert report == ContractReport(rows=4, columns_checked=4, violations=[])
    assert report.passed
    assert report.summary() == "data contract passed: 4 rows, 4 columns"


def test_missing_required_column():
    violation = only_violation(frame().drop(columns="age"))
    assert violation == Violation(column="age", rule="required column present", failing_rows=4, examples=[])


def test_below_min():
    violation = only_violation(frame(age=[-1.0, 20.0, -3.0, 40.0]))
    assert violation == Violation(column="age", rule="minimum 0", failing_rows=2, examples=["-1.0", "-3.0"])


def test_above_max():
    violation = only_violation(frame(age=[10.0, 200.0, 150.0, 200.0]))
    assert violation == Violation(
        column="age", rule="maximum 100", failing_rows=3, examples=["200.0", "150.0"]
    )


def test_category_not_allowed():
    violation = only_violation(frame(color=["red", "green", "pink", "green"]))
    assert violation == Violation(
        column="color", rule="allowed categories", failing_rows=3, examples=["green", "pink"]
    )


def test_examples_are_at_most_three_distinct_values():
    violation = only_violation(frame(color=["a", "b", "c", "d"]))
    assert violation.failing_rows == 4
    assert violation.examples == ["a", "b", "c"]


def test_binary_value_not_zero_or_one():
    violation = only_violation(frame(flag=[0, 2, 1, 3]))
    assert violation == Violation(
        column="flag", rule="binary value (0 or 1)", failing_rows=2, examples=["2", "3"]
    )


def test_binary_accepts_floats_and_missing_values():
    assert validate_frame(frame(flag=[0.0, 1.0, 1.0, 0.0]), contract()).passed
    # a missing value is the missing-share rule's business, not the binary rule's
    report = validate_frame(frame(flag=[0.0, np.nan, 1.0, 0.0]), contract(max_missing_share=0.5))
    assert report.passed


def test_non_numeric_dtype_in_a_numeric_column():
    data_contract = contract(columns={"age": {"kind": "numeric"}})
    violation = only_violation(frame(age=["1", "2", "3", "4"])[["age", "y"]], data_contract)
    assert violation == Violation(column="age", rule="numeric type", failing_rows=4, examples=[])


def test_non_numeric_dtype_is_reported_once():
    report = validate_frame(frame(age=["a", "b", "c", "d"]), contract())
    assert [v.rule for v in report.violations] == ["numeric type"]
    assert "TypeError" not in report.summary()


def test_missing_share_above_the_contract_default():
    violation = only_violation(frame(age=[1.0, np.nan, 3.0, 4.0]))  # 25% > the 5% default
    assert violation == Violation(column="age", rule="missing share <= 0.05", failing_rows=1, examples=[])


def test_missing_share_within_the_contract_default():
    assert validate_frame(frame(age=[1.0, np.nan, 3.0, 4.0]), contract(max_missing_share=0.25)).passed


def test_missing_share_column_override():
    columns = {
        "age": {"kind": "numeric", "max_missing_share": 0.3},
        "color": {"kind": "categorical", "max_missing_share": 0.5},
    }
    df = frame(age=[1.0, np.nan, np.nan, 4.0], color=["red", None, None, "blue"])[["age", "color", "y"]]
    # the column's own limit wins over the contract default (which would allow 60%)
    violation = only_violation(df, contract(columns=columns, max_missing_share=0.6))
    assert violation == Violation(column="age", rule="missing share <= 0.3", failing_rows=2, examples=[])


def test_target_class_not_allowed():
    violation = only_violation(frame(y=["No", "Maybe", "Yes", "Yes"]))
    assert violation == Violation(
        column="y", rule="target class in ['No', 'Yes']", failing_rows=1, examples=["Maybe"]
    )


def test_missing_target_value():
    violation = only_violation(frame(y=["No", None, "Yes", "Yes"]))
    assert violation == Violation(column="y", rule="no missing values", failing_rows=1, examples=[])


def test_missing_target_column():
    violation = only_violation(frame().drop(columns="y"))
    assert violation == Violation(column="y", rule="required column present", failing_rows=4, examples=[])


def test_with_target_false_ignores_the_target():
    data_contract = contract()
    report = validate_frame(frame().drop(columns="y"), data_contract, with_target=False)
    assert report == ContractReport(rows=4, columns_checked=3, violations=[])
    assert validate_frame(frame(y=["a", None, "b", "c"]), data_contract, with_target=False).passed


def test_duplicates_with_policy_fail():
    df = pd.concat([frame(), frame().iloc[[0, 0]]], ignore_index=True)
    report = validate_frame(df, contract(duplicates="fail"))
    assert not report.passed
    assert {v.rule for v in report.violations} == {"no duplicate rows"}
    # the first occurrence is not counted, its two copies are
    assert {v.failing_rows for v in report.violations} == {2}
    assert all(v.examples == [] for v in report.violations)
    assert validate_frame(df, contract(duplicates="keep")).passed
    assert validate_frame(df, contract(duplicates="drop")).passed


def test_duplicates_are_one_violation():
    df = pd.concat([frame(), frame().iloc[[0, 0]]], ignore_index=True)
    report = validate_frame(df, contract(duplicates="fail"))
    assert len(report.violations) == 1
    assert report.violations[0].rule == "no duplicate rows"
    assert report.violations[0].failing_rows == 2


def test_too_few_rows():
    violation = only_violation(frame(), contract(min_rows=10))
    assert (violation.column, violation.rule, violation.failing_rows) == ("<table>", "at least 10 rows", 4)


def test_several_violations_in_one_report():
    df = frame(age=[-1.0, 20.0, 30.0, 40.0], color=["red", "blue", "red", "pink"]).drop(columns="flag")
    report = validate_frame(df, contract())
    assert [(v.column, v.failing_rows) for v in report.violations] == [("flag", 4), ("age", 1), ("color", 1)]


def test_data_contract_error_lists_each_violation():
    df = frame(color=["red", "green", "red", "blue"], y=["No", None, "Yes", "Yes"]).drop(columns="flag")
    with pytest.raises(DataContractError) as caught:
        raise DataContractError(validate_frame(df, contract()))
    lines = str(caught.value).splitlines()
    assert lines[0] == "data contract failed: 3 violation(s) in 4 rows"
    assert lines[1] == "  - flag: required column present broken by 4 row(s)"
    assert lines[2] == "  - color: allowed categories broken by 1 row(s) (e.g. green)"
    assert lines[3] == "  - y: no missing values broken by 1 row(s)"
    assert len(lines) == 4
    assert caught.value.report.summary() == str(caught.value)
    assert len(caught.value.report.violations) == 3


def test_violation_describe():
    assert Violation(column="a", rule="r", failing_rows=2, examples=["x", "y"]).describe() == (
        "a: r broken by 2 row(s) (e.g. x, y)"
    )
    assert Violation(column="a", rule="r", failing_rows=1).describe() == "a: r broken by 1 row(s)"


def test_bundled_telco_data_meets_the_shipped_contract():
    config = yaml.safe_load((PROJECT_ROOT / "configs" / "training.yaml").read_text())["parameters"]
    data_contract = DataContract(**config["contract"])
    raw = pd.read_csv(PROJECT_ROOT / "data" / "raw" / "telco_churn.csv")
    cleaned, _ = clean_frame(raw, CleaningConfig(**config.get("cleaning", {})), data_contract)
    report = validate_frame(cleaned, data_contract)
    assert report.passed
    assert report.rows == len(raw) > 7000
    assert report.columns_checked == len(data_contract.columns) + 1
    assert (
        report.summary() == f"data contract passed: {len(raw)} rows, {len(data_contract.columns) + 1} columns"
    )

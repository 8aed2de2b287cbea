"""--check-data: every problem of a training config against its data, before any pipeline."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from tabular_ml.configuration.loading import read_yaml
from tabular_ml.configuration.schema import TrainingParameters
from tabular_ml.drafting.check_data import check_training_data
from tests.support.paths import PROJECT_ROOT

RAW = read_yaml(PROJECT_ROOT / "configs" / "training.yaml")["parameters"]


@pytest.fixture(scope="module")
def telco() -> pd.DataFrame:
    return pd.read_csv(PROJECT_ROOT / "data" / "raw" / "telco_churn.csv")


def parameters(change=None) -> TrainingParameters:
    raw = copy.deepcopy(RAW)
    if change:
        change(raw)
    return TrainingParameters.model_validate(raw)


def test_the_bundled_config_fits_its_data(telco):
    report = check_training_data(telco, parameters())
    assert report.passed, report.problems
    assert report.lines == [
        "cleaned 7043 -> 7043 rows",
        "task: binary classification of 'churn', positive class 'Yes' (configured)",
        "data contract passed: 7043 rows, 19 columns",
        "derived features built on a sample of 1000 rows: "
        "avg_monthly_charge, addon_services, tenure_band, log_total_charges",
        "every column of the data is used",
    ]


def test_a_misspelled_contract_column_suggests_the_data_column(telco):
    def rename_tenure(raw):
        raw["contract"]["columns"] = {
            ("tenur" if name == "tenure" else name): spec for name, spec in raw["contract"]["columns"].items()
        }
        raw["features"] = [f for f in raw["features"] if f["kind"] in ("count", "log")]

    report = check_training_data(telco, parameters(rename_tenure))
    assert report.problems == [
        f"contract: tenur: required column present (did you mean 'tenure'?) broken by {len(telco)} row(s)"
    ]
    assert report.lines[-1] == "columns in the data the contract leaves out (not used): tenure"


def test_a_derived_feature_naming_a_missing_column(telco):
    def misname(raw):
        raw["features"][0]["denominator"] = "tenure_months"
        raw["features"][2]["column"] = "partner"  # in the data and the contract: fine

    report = check_training_data(telco, parameters(misname))
    assert report.problems == [
        "feature 'avg_monthly_charge' (ratio) references missing column 'tenure_months' "
        "(did you mean 'tenure'?)"
    ]


def test_a_derived_feature_naming_a_column_the_contract_leaves_out(telco):
    def drop_from_contract(raw):
        del raw["contract"]["columns"]["tenure"]

    report = check_training_data(telco, parameters(drop_from_contract))
    assert report.problems == [
        "feature 'avg_monthly_charge' (ratio) references missing column 'tenure' "
        "(it is in the data: add it to contract.columns)",
        "feature 'tenure_band' (bin) references missing column 'tenure' "
        "(it is in the data: add it to contract.columns)",
    ]


def test_target_and_contract_problems_are_all_listed(telco):
    def break_two_things(raw):
        raw["contract"]["columns"]["tenure"]["max"] = 50
        raw["contract"]["classes"] = ["0", "1"]
        raw["contract"]["positive_class"] = "1"

    report = check_training_data(telco, parameters(break_two_things))
    assert report.problems == [
        "target 'churn': 7043 row(s) hold label(s) outside the classes ['0', '1'] (e.g. 'No', 'Yes')",
        f"contract: tenure: maximum 50 broken by {(telco['tenure'] > 50).sum()} row(s) (e.g. 62, 56, 64)",
    ]
    assert not report.passed


def test_a_gate_name_that_is_not_a_metric_of_the_inferred_task(telco):
    def regression_gate(raw):
        raw.pop("task")  # inferred from the data: the config alone cannot tell
        raw["evaluation"]["gates"]["min"] = {"rmse": 0.8}
        raw["evaluation"]["gates"]["beat_baseline"] = {"f1": 0.05}

    report = check_training_data(telco, parameters(regression_gate))
    assert report.problems == [
        "evaluation.gates.min: 'rmse' is not a binary metric; binary metrics: accuracy, balanced_accuracy, "
        "precision, recall, f1, roc_auc, pr_auc, log_loss, brier"
    ]


def test_a_misspelled_target_and_id_column(telco):
    def misname(raw):
        raw["contract"]["target"] = "Churn"
        raw["split"]["id_column"] = "customer"

    report = check_training_data(telco, parameters(misname))
    assert report.problems == [
        "contract.target: column 'Churn' is not in the data (did you mean 'churn'?)",
        "split.id_column: column 'customer' is not in the data",
    ]
    assert report.lines[-1] == "columns in the data the contract leaves out (not used): churn"


def test_a_feature_missing_in_every_sampled_row(telco):
    def log_of_zero(raw):
        raw["features"] = [
            {"kind": "ratio", "name": "per_senior", "numerator": "tenure", "denominator": "senior_citizen"}
        ]

    frame = telco.assign(senior_citizen=0)
    report = check_training_data(frame, parameters(log_of_zero))
    assert report.problems == ["feature 'per_senior' is missing in every row of the sample"]


def test_columns_left_out_and_the_id_column(telco):
    frame = telco.assign(customer_id=[f"C{i}" for i in range(len(telco))], note="x")

    def use_id(raw):
        raw["split"]["id_column"] = "customer_id"

    report = check_training_data(frame, parameters(use_id))
    assert report.passed, report.problems
    assert report.lines[-2:] == [
        "columns in the data the contract leaves out (not used): note",
        "split.id_column 'customer_id': used by the split only",
    ]


def test_yes_no_binary_columns_pass_after_cleaning(telco):
    frame = telco.assign(partner=telco["partner"].map({1: "Yes", 0: "no"}))
    report = check_training_data(frame, parameters())
    assert report.passed, report.problems
    assert (
        report.lines[0] == f"cleaned 7043 -> 7043 rows; binary_words_to_numbers: {{'partner': {len(telco)}}}"
    )

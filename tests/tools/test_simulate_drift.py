"""scripts/simulate_drift.py, run as ``python -m scripts.simulate_drift``: the three files it writes,
the default scenario, and one-line errors (exit 2).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tabular_ml.monitoring.drift_simulation import changed_columns
from tests.support.paths import PROJECT_ROOT
from tests.support.paths import TELCO_CSV as DATA

pytestmark = pytest.mark.tools


COMMAND = [sys.executable, "-m", "scripts.simulate_drift"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*COMMAND, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_writes_the_three_files(tmp_path):
    out = tmp_path / "drift"
    result = run_cli(
        "--input", str(DATA), "--out-dir", str(out), "--seed", "7", "--rows", "1500",
        "--numeric-shift", "tenure=1.5,monthly_charges=+20",
        "--category-mix", "contract=Month-to-month:0.8",
        "--missing", "total_charges=0.2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"1500 of 7043 rows -> {out}/holdout_clean.csv and drifted.csv "
        f"(changed: tenure, contract, monthly_charges, total_charges); manifest: {out}/drift_manifest.json"
    )
    manifest = json.loads((out / "drift_manifest.json").read_text())
    clean, drifted = pd.read_csv(out / "holdout_clean.csv"), pd.read_csv(out / "drifted.csv")
    source = pd.read_csv(DATA)
    # the clean slice is the input's rows at the recorded positions, value for value
    pd.testing.assert_frame_equal(clean, source.iloc[manifest["holdout_positions"]].reset_index(drop=True))
    assert (manifest["input_rows"], manifest["rows"], manifest["seed"]) == (7043, 1500, 7)
    assert manifest["default_scenario"] is False
    assert manifest["changed_columns"] == ["tenure", "contract", "monthly_charges", "total_charges"]
    assert changed_columns(clean, drifted) == manifest["changed_columns"]
    unchanged = manifest["unchanged_columns"]
    pd.testing.assert_frame_equal(drifted[unchanged], clean[unchanged])
    assert drifted["total_charges"].isna().mean() == 0.2
    assert drifted["contract"].value_counts(normalize=True)["Month-to-month"] == 0.8
    assert drifted["tenure"].dtype == np.int64  # read back as integers
    # same seed, same files
    again = tmp_path / "again"
    args = result.args[len(COMMAND) :]  # --input DATA --out-dir OUT, then the options
    run_cli(*args[:2], "--out-dir", str(again), *args[4:])
    for name in ("holdout_clean.csv", "drifted.csv", "drift_manifest.json"):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name


def test_the_command_without_drift_options_runs_the_default_scenario(tmp_path):
    result = run_cli("--input", str(DATA), "--out-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "drift_manifest.json").read_text())
    assert manifest["default_scenario"] is True and manifest["rows"] == 2000 and manifest["seed"] == 7
    assert manifest["changed_columns"] == ["contract", "monthly_charges", "total_charges"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--numeric-shift", "female=2"], "error: numeric_shift: column 'female' has 2 distinct value(s)"),
        (["--rows", "8000"], "error: holdout rows must be between 1 and 7042 (the input has 7043)"),
        (
            ["--missing", "total_charges=2"],
            "error: --missing total_charges: share 2.0 must be between 0 and 1",
        ),
    ],
)
def test_the_command_refuses_a_bad_option_in_one_line(tmp_path, args, message):
    result = run_cli("--input", str(DATA), "--out-dir", str(tmp_path / "out"), *args)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(message) and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_the_command_names_a_missing_input(tmp_path):
    result = run_cli("--input", str(tmp_path / "nope.csv"), "--out-dir", str(tmp_path / "out"))
    assert (result.returncode, result.stderr.strip()) == (
        2,
        f"error: input file not found: {tmp_path / 'nope.csv'}",
    )


def test_concept_drift_with_late_labels_changes_no_input_and_writes_the_labels_apart(tmp_path):
    out = tmp_path / "concept"
    result = run_cli(
        "--input", str(DATA), "--out-dir", str(out), "--seed", "7", "--rows", "1000",
        "--concept-drift", "tenure:0.5", "--label-key", "row_id", "--labels-arrived", "0.6",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "drift_manifest.json").read_text())
    clean, current = pd.read_csv(out / "holdout_clean.csv"), pd.read_csv(out / "drifted.csv")
    labels = pd.read_csv(out / "labels.csv")
    assert manifest["changed_columns"] == ["churn"] and manifest["labels_file"] == "labels.csv"
    assert [change["operation"] for change in manifest["changes"]] == ["concept_drift", "label_delay"]
    # every input is the clean slice's, the target is gone; 600 labels arrived, 250 of them changed
    pd.testing.assert_frame_equal(current.drop(columns="row_id"), clean.drop(columns="churn"))
    assert len(labels) == 600 and labels["row_id"].is_unique
    truth = clean["churn"].iloc[labels["row_id"]].to_numpy()
    changed = labels["churn"].to_numpy() != truth
    assert (
        changed.any() and (clean["tenure"].iloc[labels["row_id"][changed]] > clean["tenure"].median()).all()
    )
    assert manifest["changes"][0]["labels_changed"] == 250

"""Simulated concept drift and label delay (monitoring/label_simulation.py) on the bundled Telco data."""

from __future__ import annotations

import pandas as pd
import pytest

from tabular_ml.monitoring.drift_simulation import DriftSpecError, changed_columns
from tabular_ml.monitoring.label_simulation import delay_labels, parse_concept_drift, simulate_concept_drift
from tests.support.paths import PROJECT_ROOT

TELCO = pd.read_csv(PROJECT_ROOT / "data/raw/telco_churn.csv").head(1000)


def test_concept_drift_relabels_the_named_share_and_leaves_every_input_alone():
    drifted, entry = simulate_concept_drift(TELCO, "churn", "tenure", 0.5, seed=7)
    above = TELCO["tenure"] > TELCO["tenure"].median()
    flipped = drifted["churn"] != TELCO["churn"]
    assert changed_columns(TELCO, drifted) == ["churn"]
    assert not flipped[~above].any() and flipped.sum() == round(0.5 * above.sum()) == entry["labels_changed"]
    assert entry["where"] == "tenure > median" and entry["rows_affected"] == above.sum()
    again, _ = simulate_concept_drift(TELCO, "churn", "tenure", 0.5, seed=7)
    pd.testing.assert_frame_equal(again, drifted)


def test_concept_drift_on_a_category():
    drifted, entry = simulate_concept_drift(TELCO, "churn", "contract", 1.0, seed=1, category="Two year")
    two_year = TELCO["contract"] == "Two year"
    assert (drifted["churn"] != TELCO["churn"]).eq(two_year).all()
    assert entry["labels_changed"] == two_year.sum()


def test_parsing_and_bad_requests_are_one_line():
    assert parse_concept_drift("tenure:0.5") == ("tenure", None, 0.5)
    assert parse_concept_drift("contract=Two year:0.25") == ("contract", "Two year", 0.25)
    with pytest.raises(DriftSpecError, match="is not COLUMN:SHARE"):
        parse_concept_drift("tenure")
    with pytest.raises(DriftSpecError, match="share 1.5 must be between 0 and 1"):
        parse_concept_drift("tenure:1.5")
    with pytest.raises(DriftSpecError, match="'contract' is not numeric: name a category"):
        simulate_concept_drift(TELCO, "churn", "contract", 0.5, seed=1)
    with pytest.raises(DriftSpecError, match="has no value 'Lifetime'"):
        simulate_concept_drift(TELCO, "churn", "contract", 0.5, seed=1, category="Lifetime")


def test_delayed_labels_are_keyed_and_only_the_arrived_share_is_there():
    current, labels, entry = delay_labels(TELCO, "churn", "row_id", 0.6, seed=3)
    assert "churn" not in current.columns and list(current["row_id"]) == list(range(1000))
    assert list(labels.columns) == ["row_id", "churn"] and len(labels) == 600 == entry["labels_arrived"]
    assert entry["labels_pending"] == 400
    joined = labels.merge(TELCO.assign(row_id=range(1000)), on="row_id", suffixes=("", "_true"))
    assert (joined["churn"] == joined["churn_true"]).all()
    with pytest.raises(DriftSpecError, match="'female' repeats values"):
        delay_labels(TELCO, "churn", "female", 1.0, seed=3)

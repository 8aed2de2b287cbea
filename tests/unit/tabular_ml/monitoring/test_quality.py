"""Data quality of the current rows against the contract and the reference (monitoring/quality.py)."""

import pandas as pd

from tabular_ml.monitoring.quality import data_quality
from tests.support.monitoring_frames import CONTRACT, frame


def test_quality_counts_missing_unseen_and_out_of_range_values():
    reference = frame(100, 0)
    current = pd.DataFrame(
        {
            "amount": [10.0, None, 150.0, -1.0, 50.0],
            "plan": ["a", "z", "b", None, "z"],
            "flag": [0, 1, 7, 1, None],
        }
    )
    report = data_quality(current, reference, CONTRACT)
    by_name = {column.column: column for column in report.columns}
    assert report.rows == 5 and report.missing_columns == []
    assert by_name["amount"].missing_share == 0.2 and by_name["amount"].out_of_range_share == 0.5
    assert by_name["plan"].unseen_share == 0.5 and by_name["plan"].unseen_examples == ["z"]
    assert by_name["flag"].out_of_range_share == 0.25
    assert by_name["amount"].reference_missing_share == 0.0


def test_quality_names_contract_columns_the_current_data_lacks():
    report = data_quality(frame(10, 0).drop(columns="flag"), frame(10, 1), CONTRACT)
    assert report.missing_columns == ["flag"]

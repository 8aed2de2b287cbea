import pytest

from tabular_ml.monitoring.drift import DriftSummary
from tabular_ml.monitoring.history import run_record
from tabular_ml.monitoring.quality import DataQualityReport


@pytest.fixture
def three_runs() -> list[dict]:
    """Three run records of a history, a day apart, drift share 0.1, 0.2, 0.6, an estimated and a
    realized ROC AUC each."""
    drift = DriftSummary(
        reference_rows=100, current_rows=50, columns=[], features=2, drifted_features=[], drift_share=0
    )
    windows = [
        {"window_start": "a", "predictions": 30, "labelled_rows": 20, "unlabelled_rows": 10, "metrics": {}}
    ]
    return [
        run_record(
            {
                "checked_at": f"2026-01-0{day}T00:00:00+00:00",
                "drift_share": share,
                "current_rows": 50,
                "estimated": {"roc_auc": {"value": 0.8 - share / 10, "low": 0.75, "high": 0.85}},
            },
            drift,
            DataQualityReport(rows=50, columns=[]),
            windows,
            {"roc_auc": 0.8 - share / 5},
            f"run-{day}",
        )
        for day, share in ((1, 0.1), (2, 0.2), (3, 0.6))
    ]

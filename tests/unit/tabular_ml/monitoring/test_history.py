from tabular_ml.monitoring.drift import ColumnDrift, DriftSummary
from tabular_ml.monitoring.history import MonitoringHistory, plotted_values, run_record
from tabular_ml.monitoring.quality import ColumnQuality, DataQualityReport

DRIFT = DriftSummary(
    reference_rows=100,
    current_rows=50,
    columns=[
        ColumnDrift(column="tenure", kind="num", test="wasserstein", score=0.3, threshold=0.1, drifted=True),
        ColumnDrift(
            column="contract", kind="cat", test="jensenshannon", score=0.02, threshold=0.1, drifted=False
        ),
    ],
    features=2,
    drifted_features=["tenure"],
    drift_share=0.5,
)
QUALITY = DataQualityReport(
    rows=50, columns=[ColumnQuality(column="tenure", missing_share=0.1, reference_missing_share=0.0)]
)
WINDOWS = [
    {"window_start": "a", "predictions": 30, "labelled_rows": 20, "unlabelled_rows": 10, "metrics": {}},
    {"window_start": "b", "predictions": 20, "labelled_rows": 5, "unlabelled_rows": 15, "metrics": {}},
]
NUMBERS = {
    "checked_at": "2026-01-02T03:04:05+00:00",
    "model_version": "3",
    "alert": True,
    "current_rows": 50,
    "drift_share": 0.5,
    "estimated": {"roc_auc": {"value": 0.81, "low": 0.78, "high": 0.84}},
}


def test_a_run_record_holds_drift_scores_quality_estimates_and_window_totals():
    record = run_record(NUMBERS, DRIFT, QUALITY, WINDOWS, {"roc_auc": 0.8, "accuracy": 0.7}, "monitoring-1")
    assert record["drift_scores"] == {"tenure": 0.3, "contract": 0.02}
    assert record["quality"]["tenure"]["missing_share"] == 0.1
    assert record["realized_windows"] == {
        "windows": 2,
        "predictions": 50,
        "labelled_rows": 25,
        "unlabelled_rows": 25,
    }
    assert record["realized"] == {"roc_auc": 0.8, "accuracy": 0.7}  # the verdict step recorded none
    assert run_record(
        {**NUMBERS, "realized": {"roc_auc": 0.9, "labelled_rows": 4}}, DRIFT, QUALITY, [], {}, "r"
    )["realized"] == {"roc_auc": 0.9, "labelled_rows": 4}


def test_plotted_values_flatten_the_estimates_and_leave_out_counts_in_realized():
    record = run_record(
        NUMBERS, DRIFT, QUALITY, WINDOWS, {"roc_auc": 0.8, "labelled_rows": 25}, "monitoring-1"
    )
    assert plotted_values(record) == {
        "drift_share": 0.5,
        "current_rows": 50.0,
        "labelled_rows": 25.0,
        "unlabelled_rows": 25.0,
        "estimated_roc_auc": 0.81,
        "estimated_roc_auc_low": 0.78,
        "estimated_roc_auc_high": 0.84,
        "realized_roc_auc": 0.8,
    }


def test_the_history_keeps_runs_in_order_and_the_last_windows(tmp_path):
    history = MonitoringHistory(tmp_path, "churn", 3)
    assert history.runs() == [] and history.windows() == []
    history.append_run({"run": "a"})
    history.append_run({"run": "b"})
    history.save_windows(WINDOWS)
    again = MonitoringHistory(tmp_path, "churn", "3")
    assert [run["run"] for run in again.runs()] == ["a", "b"]
    assert again.windows() == WINDOWS
    assert (tmp_path / "churn" / "version-3" / "runs.jsonl").exists()
    assert MonitoringHistory(tmp_path, "churn", 4).runs() == []  # one series per version


def test_a_line_torn_by_a_killed_run_is_skipped_and_the_next_run_starts_a_line_of_its_own(tmp_path):
    history = MonitoringHistory(tmp_path, "churn", 3)
    history.append_run({"run": 1})
    with open(history.folder / "runs.jsonl", "a") as handle:  # killed mid-write: no newline
        handle.write('{"run": 2, "drift_sh')
    history.append_run({"run": 3})
    assert history.runs() == [{"run": 1}, {"run": 3}]
    assert (history.folder / "runs.jsonl").read_text().count("\n") == 3

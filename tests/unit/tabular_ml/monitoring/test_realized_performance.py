from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from tabular_ml.monitoring.realized_performance import (
    join_labels,
    logged_predictions,
    merge_windows,
    served_metrics,
    window_numbers,
)
from tabular_ml.tasks.target import TargetSpec

BINARY = TargetSpec(column="churn", task="binary", classes=["No", "Yes"])


def served(**columns) -> pd.DataFrame:
    """Six predictions over two days: request ids r0..r5, three a day."""
    frame = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(6)],
            "logged_at": pd.to_datetime(
                ["2026-01-01T01:00", "2026-01-01T12:00", "2026-01-01T23:00"]
                + ["2026-01-02T01:00", "2026-01-02T02:00", "2026-01-02T03:00"],
                utc=True,
            ),
            "prediction": ["Yes", "No", "Yes", "No", "No", "Yes"],
            "probability": [0.9, 0.2, 0.6, 0.1, 0.4, 0.7],
        }
    )
    return frame.assign(**columns)


def test_labels_join_on_the_request_id_and_a_corrected_label_replaces_the_first():
    labels = pd.DataFrame({"request_id": ["r0", "r1", "r1", "zz"], "churn": ["Yes", "Yes", "No", "Yes"]})
    joined = join_labels(served(), labels, "request_id", "churn")
    assert joined["label"].tolist()[:2] == ["Yes", "No"]
    assert joined["label"].isna().tolist() == [False, False, True, True, True, True]


def test_a_missing_key_or_target_is_a_one_line_error():
    with pytest.raises(ValueError, match="key_column 'customer' is not a column of the predictions"):
        join_labels(served(), pd.DataFrame({"customer": [1], "churn": ["No"]}), "customer", "churn")
    with pytest.raises(ValueError, match="the labels have no target column 'churn'"):
        join_labels(served(), pd.DataFrame({"request_id": ["r0"]}), "request_id", "churn")


def test_windows_count_labelled_and_unlabelled_predictions_and_score_the_labelled():
    labels = pd.DataFrame({"request_id": ["r0", "r1", "r2", "r3"], "churn": ["Yes", "No", "No", "No"]})
    windows = window_numbers(join_labels(served(), labels, "request_id", "churn"), BINARY, "1d")
    assert [w["window_start"] for w in windows] == ["2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"]
    assert [(w["predictions"], w["labelled_rows"], w["unlabelled_rows"]) for w in windows] == [
        (3, 3, 0),
        (3, 1, 2),
    ]
    first = windows[0]["metrics"]
    # served Yes, No, Yes against Yes, No, No: 2 of 3 right; probabilities rank both classes right
    assert (
        first["accuracy"] == pytest.approx(2 / 3)
        and first["roc_auc"] == 1.0
        and first["f1"] == pytest.approx(2 / 3)
    )
    assert "roc_auc" not in windows[1]["metrics"]  # one class only: undefined, left out
    assert windows[1]["metrics"]["accuracy"] == 1.0


def test_labels_arriving_later_update_their_window_and_keep_when_it_was_first_checked():
    first_labels = pd.DataFrame({"request_id": ["r3"], "churn": ["No"]})
    monday, tuesday = datetime(2026, 1, 3, tzinfo=UTC), datetime(2026, 1, 4, tzinfo=UTC)
    stored = merge_windows(
        [], window_numbers(join_labels(served(), first_labels, "request_id", "churn"), BINARY, "1d"), monday
    )
    more = pd.concat([first_labels, pd.DataFrame({"request_id": ["r4", "r5"], "churn": ["Yes", "Yes"]})])
    updated = merge_windows(
        stored, window_numbers(join_labels(served(), more, "request_id", "churn"), BINARY, "1d"), tuesday
    )
    day_two = updated[1]
    assert (day_two["labelled_rows"], day_two["unlabelled_rows"]) == (3, 0)
    assert day_two["metrics"]["accuracy"] == pytest.approx(2 / 3)
    assert day_two["first_checked_at"] == monday.isoformat() and day_two["updated_at"] == tuesday.isoformat()
    assert updated[0]["updated_at"] == monday.isoformat()  # no new label: unchanged


def test_a_window_the_log_retention_thinned_keeps_its_stored_numbers():
    full = window_numbers(
        join_labels(served(), pd.DataFrame({"request_id": ["r0"], "churn": ["Yes"]}), "request_id", "churn"),
        BINARY,
        "1d",
    )
    thinned = window_numbers(
        join_labels(
            served().iloc[4:], pd.DataFrame({"request_id": ["r4"], "churn": ["No"]}), "request_id", "churn"
        ),
        BINARY,
        "1d",
    )
    merged = merge_windows(full, thinned)
    assert merged[1]["predictions"] == 3 and merged[1]["labelled_rows"] == 0


def test_only_the_watched_versions_rows_of_the_log_count():
    log = served(model_version=["1", "1", "2", "2", "2", "1"])
    assert logged_predictions(log, "request_id", "1")["request_id"].tolist() == ["r0", "r1", "r5"]
    with pytest.raises(ValueError, match="key_column 'customer' is not a column of the request log"):
        logged_predictions(log, "customer", "1")


def test_regression_and_multiclass_metrics_come_from_the_served_answers():
    regression = TargetSpec(column="y", task="regression")
    values = served_metrics(
        regression, pd.Series([1.0, 3.0]), pd.Series(["2.0", "3.0"]), pd.Series([np.nan] * 2)
    )
    assert values["mae"] == 0.5 and values["rmse"] == pytest.approx(np.sqrt(0.5))
    wine = TargetSpec(column="c", task="multiclass", classes=["a", "b", "c"])
    values = served_metrics(
        wine, pd.Series(["a", "b", "c", "c"]), pd.Series(["a", "b", "b", "c"]), pd.Series([0.9] * 4)
    )
    assert values["accuracy"] == 0.75 and values["f1_macro"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


def test_a_batch_is_scored_as_served_with_its_timestamp_column_or_the_run_time():
    from sklearn.dummy import DummyClassifier

    from tabular_ml.configuration.schema import CleaningConfig
    from tabular_ml.modelling.trained_model import TrainedModel
    from tabular_ml.monitoring.realized_performance import scored_predictions
    from tests.support.monitoring_frames import CONTRACT, frame

    rows = frame(4, 0).assign(
        customer=["a", "b", "c", "d"], at=["2026-01-01T05:00"] * 2 + ["2026-01-02T05:00"] * 2
    )
    constant = DummyClassifier(strategy="prior").fit(rows[CONTRACT.feature_names], [0, 1, 1, 1])
    model = TrainedModel(constant, CONTRACT, CleaningConfig(), BINARY, 0.5, "m", "1")
    now = datetime(2026, 1, 9, tzinfo=UTC)
    scored = scored_predictions(rows, model, "customer", "at", now)
    assert scored["prediction"].tolist() == ["Yes"] * 4 and scored["probability"].tolist() == [0.75] * 4
    assert [w["predictions"] for w in window_numbers(scored.assign(label=np.nan), BINARY, "1d")] == [2, 2]
    assert set(scored_predictions(rows, model, "customer", None, now)["logged_at"]) == {pd.Timestamp(now)}
    with pytest.raises(ValueError, match=r"column\(s\) \['when'\] named by key_column/timestamp_column"):
        scored_predictions(rows, model, "customer", "when", now)

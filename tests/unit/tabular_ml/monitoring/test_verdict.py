"""The monitoring verdict: every crossed threshold listed, no alert otherwise (monitoring/verdict.py)."""

from tabular_ml.configuration.schema import MonitoringThresholds
from tabular_ml.monitoring.quality import data_quality
from tabular_ml.monitoring.verdict import decide
from tests.support.monitoring_frames import CONTRACT, evidently_summary, frame


def test_the_verdict_lists_every_crossed_threshold():
    reference = frame(3000, 0).drop(columns="y")
    drifted = frame(2000, 1, amount_shift=15).drop(columns="y")
    drifted.loc[:300, "plan"] = None
    summary = evidently_summary(reference, drifted)
    quality = data_quality(drifted, reference, CONTRACT)
    verdict = decide(
        "4",
        summary,
        quality,
        MonitoringThresholds(),
        metrics={"roc_auc": 0.70},
        holdout_metrics={"roc_auc": 0.84},
    )
    assert verdict.alert and verdict.model_version == "4" and "amount" in verdict.drifted_columns
    assert verdict.reasons[0].startswith("plan: missing share 0.150 vs 0.000 in the reference")
    assert any(
        reason.startswith("1 of 3 feature columns drifted (33%): amount (Wasserstein")
        for reason in verdict.reasons
    )
    assert verdict.reasons[-1] == (
        "roc_auc 0.7000 realized on the labelled current rows vs 0.8400 on the holdout "
        "(a drop of 0.1400, allowed 0.05)"
    )


def test_no_alert_when_nothing_crosses_and_no_drift_verdict_without_rows():
    reference = frame(3000, 0).drop(columns="y")
    current = frame(2000, 3).drop(columns="y")
    verdict = decide(
        "1",
        evidently_summary(reference, current),
        data_quality(current, reference, CONTRACT),
        MonitoringThresholds(),
    )
    assert not verdict.alert and verdict.reasons == []
    quiet = decide(
        "1",
        None,
        data_quality(current.head(5), reference, CONTRACT),
        MonitoringThresholds(),
        note="only 5 current rows",
    )
    assert not quiet.alert and quiet.note == "only 5 current rows" and quiet.drift_share is None


def test_an_estimate_alerts_only_when_its_whole_interval_is_worse_than_allowed():
    reference = frame(3000, 0).drop(columns="y")
    current = frame(2000, 3).drop(columns="y")
    quality = data_quality(current, reference, CONTRACT)
    holdout = {"roc_auc": 0.84, "rmse": 2.0}
    thresholds = MonitoringThresholds(estimated_drop={"roc_auc": 0.05, "rmse": 0.5})
    low = {
        "roc_auc": {"value": 0.76, "low": 0.75, "high": 0.78},
        "rmse": {"value": 2.7, "low": 2.6, "high": 2.8},
    }
    verdict = decide("2", None, quality, thresholds, holdout_metrics=holdout, estimated=low)
    assert verdict.alert and verdict.estimated == low and verdict.realized == {}
    assert verdict.reasons == [
        "estimated roc_auc 0.7600 (interval 0.7500 to 0.7800, without labels) vs 0.8400 on the holdout: "
        "the whole interval is worse by more than the allowed 0.05",
        "estimated rmse 2.7000 (interval 2.6000 to 2.8000, without labels) vs 2.0000 on the holdout: "
        "the whole interval is worse by more than the allowed 0.5",
    ]
    # an interval reaching within the allowed drop is no alert; realized metrics carry their row count
    near = {"roc_auc": {"value": 0.76, "low": 0.74, "high": 0.80}}
    quiet = decide(
        "2",
        None,
        quality,
        thresholds,
        metrics={"roc_auc": 0.83},
        holdout_metrics=holdout,
        estimated=near,
        labelled_rows=800,
    )
    assert not quiet.alert and quiet.realized == {"roc_auc": 0.83, "labelled_rows": 800}

"""Monitoring logic on small frames: data quality, Evidently drift summaries, the verdict."""

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from evidently.legacy.metric_preset import DataDriftPreset
from evidently.legacy.pipeline.column_mapping import ColumnMapping
from evidently.legacy.report import Report
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from tabular_ml.configuration.schema import (
    CleaningConfig,
    DataContract,
    MonitoringParameters,
    MonitoringThresholds,
)
from tabular_ml.modelling.trained_model import TrainedModel
from tabular_ml.monitoring.drift import PREDICTION_COLUMN, column_roles, sample, summarise_drift
from tabular_ml.monitoring.prepare import (
    comparison_samples,
    labelled_metrics,
    labelled_rows,
    parse_window,
)
from tabular_ml.monitoring.quality import data_quality
from tabular_ml.monitoring.verdict import decide
from tabular_ml.tasks.target import TargetSpec

CONTRACT = DataContract(
    target="y",
    classes=["No", "Yes"],
    positive_class="Yes",
    columns={
        "amount": {"kind": "numeric", "min": 0, "max": 100},
        "plan": {"kind": "categorical", "categories": ["a", "b", "c"]},
        "flag": {"kind": "binary"},
    },
)


def frame(n: int, seed: int, amount_shift: float = 0.0, plan_p=(0.5, 0.3, 0.2)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = np.clip(rng.normal(40 + amount_shift, 10, n), 0, 100)
    plan = rng.choice(["a", "b", "c"], n, p=plan_p)
    flag = rng.integers(0, 2, n)
    y = np.where(amount / 100 + 0.3 * flag + rng.normal(0, 0.2, n) > 0.6, "Yes", "No")
    return pd.DataFrame({"amount": amount, "plan": plan, "flag": flag, "y": y})


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


def evidently_summary(reference: pd.DataFrame, current: pd.DataFrame):
    roles = column_roles(CONTRACT, with_prediction=False)
    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=reference, current_data=current, column_mapping=ColumnMapping(**roles))
    return summarise_drift(report.as_dict(), CONTRACT.feature_names, len(reference), len(current))


def test_the_summary_names_exactly_the_shifted_columns():
    reference = frame(3000, 0).drop(columns="y")
    drifted = frame(2000, 1, amount_shift=15, plan_p=(0.1, 0.2, 0.7)).drop(columns="y")
    summary = evidently_summary(reference, drifted)
    assert summary.drifted_features == ["amount", "plan"] and summary.features == 3
    assert summary.drift_share == pytest.approx(2 / 3)
    amount = next(column for column in summary.columns if column.column == "amount")
    assert amount.test == "Wasserstein distance (normed)" and amount.score > 0.1 and amount.threshold == 0.1


def test_a_fresh_sample_of_the_same_distribution_does_not_drift():
    summary = evidently_summary(frame(3000, 0).drop(columns="y"), frame(2000, 5).drop(columns="y"))
    assert summary.drifted_features == []


def test_sampling_is_seeded_and_bounded():
    data = frame(500, 0)
    assert len(sample(data, 100, seed=1)) == 100
    pd.testing.assert_frame_equal(sample(data, 100, seed=1), sample(data, 100, seed=1))
    assert len(sample(data, 1000, seed=1)) == 500


def fitted_model(data: pd.DataFrame):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [("num", "passthrough", ["amount", "flag"]), ("cat", OneHotEncoder(), ["plan"])]
                ),
            ),
            ("lr", LogisticRegression(max_iter=500)),
        ]
    )
    return model.fit(data[CONTRACT.feature_names], data["y"] == "Yes")


def trained(pipeline, threshold: float = 0.5) -> TrainedModel:
    target = TargetSpec(column="y", task="binary", classes=["No", "Yes"])
    return TrainedModel(pipeline, CONTRACT, CleaningConfig(), target, threshold, "m", "1")


def test_both_samples_get_the_models_prediction():
    reference, current = frame(400, 0), frame(300, 1)
    model = fitted_model(reference)
    ref_sample, cur_sample = comparison_samples(
        reference, current, trained(model), CONTRACT, rows=200, seed=0
    )
    assert list(cur_sample.columns) == [*CONTRACT.feature_names, PREDICTION_COLUMN]
    assert (len(ref_sample), len(cur_sample)) == (200, 200)
    expected = model.predict_proba(cur_sample[CONTRACT.feature_names])[:, 1]
    np.testing.assert_allclose(cur_sample[PREDICTION_COLUMN], expected)


def test_without_every_feature_only_shared_columns_are_compared():
    reference, current = frame(400, 0), frame(300, 1).drop(columns="flag")
    ref_sample, cur_sample = comparison_samples(reference, current, None, CONTRACT, rows=100, seed=0)
    assert list(ref_sample.columns) == list(cur_sample.columns) == ["amount", "plan"]


def test_labels_are_joined_on_the_key_and_scored():
    current = frame(300, 1).drop(columns="y").assign(id=range(300))
    labels = frame(300, 1)[["y"]].assign(id=range(300)).iloc[::2]  # half the rows have a label
    labelled = labelled_rows(current, labels, "id", "y")
    assert len(labelled) == 150 and set(labelled["id"]) == set(range(0, 300, 2))
    model = fitted_model(frame(400, 0))
    metrics = labelled_metrics(labelled, trained(model))
    proba = model.predict_proba(labelled[CONTRACT.feature_names])[:, 1]
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(labelled["y"] == "Yes", proba))
    assert metrics["roc_auc"] > 0.7
    assert labelled_metrics(labelled.iloc[0:0], trained(model)) == {}


def test_labels_without_the_key_column_are_a_clear_error():
    with pytest.raises(ValueError, match="key_column 'id' is not a column of the labels"):
        labelled_rows(frame(10, 0).assign(id=1), frame(10, 0), "id", "y")


@pytest.mark.parametrize(("text", "expected"), [("30m", timedelta(minutes=30)), ("24h", timedelta(hours=24))])
def test_windows_parse(text, expected):
    assert parse_window(text) == expected


def test_labels_need_a_key_in_the_config():
    with pytest.raises(ValueError, match="set key_column"):
        MonitoringParameters(current={"type": "request_log"}, labels={"type": "file", "path": "x.csv"})


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
        "roc_auc 0.7000 on the labelled current rows vs 0.8400 on the holdout "
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


def test_a_multiclass_models_prediction_drifts_as_a_category_and_a_regressions_as_a_number():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import Pipeline

    def pipeline(estimator):
        return Pipeline(
            [("pick", ColumnTransformer([("num", "passthrough", ["amount", "flag"])])), ("m", estimator)]
        )

    reference, shifted = frame(3000, 0), frame(2000, 1, amount_shift=25)
    contract = CONTRACT.model_copy(update={"classes": None, "positive_class": None})
    bands = TargetSpec(column="y", task="multiclass", classes=["high", "low", "mid"])
    band_of = lambda data: np.select([data["amount"] > 45, data["amount"] < 35], ["high", "low"], "mid")  # noqa: E731
    classifier = pipeline(LogisticRegression(max_iter=1000))
    classifier.fit(reference[["amount", "flag"]], bands.encode(band_of(reference)))
    multiclass = TrainedModel(classifier, contract, CleaningConfig(), bands, 0.5, "m", "1")
    value = TargetSpec(column="y", task="regression")
    regressor = pipeline(LinearRegression()).fit(reference[["amount", "flag"]], 2 * reference["amount"])
    regression = TrainedModel(regressor, contract, CleaningConfig(), value, 0.5, "m", "1")

    for model, column, kind in (
        (multiclass, "predicted_class", "cat"),
        (regression, "predicted_value", "num"),
    ):
        ref, cur = comparison_samples(reference, shifted, model, contract, rows=2000, seed=0)
        roles = column_roles(contract, task=model.target.task)
        assert column in roles["categorical_features" if kind == "cat" else "numerical_features"]
        report = Report(metrics=[DataDriftPreset()])
        report.run(reference_data=ref, current_data=cur, column_mapping=ColumnMapping(**roles))
        summary = summarise_drift(report.as_dict(), contract.feature_names, len(ref), len(cur))
        assert summary.prediction is not None and summary.prediction.column == column
        assert summary.prediction.drifted, summary.prediction
    # the predicted class is a label, the share of "high" rises with the shifted amounts
    _, cur = comparison_samples(reference, shifted, multiclass, contract, rows=2000, seed=0)
    assert (
        set(cur["predicted_class"]) <= {"high", "low", "mid"}
        and (cur["predicted_class"] == "high").mean() > 0.8
    )


def test_the_shipped_monitoring_config_checks_a_labelled_metric_of_every_task():
    from tabular_ml.configuration.loading import read_yaml
    from tabular_ml.tasks.metric_names import METRICS_BY_TASK
    from tests.support.paths import PROJECT_ROOT

    parameters = read_yaml(PROJECT_ROOT / "configs/monitoring.yaml")["parameters"]
    drops = MonitoringParameters(**parameters).thresholds.metric_drop
    for task, metrics in METRICS_BY_TASK.items():
        assert set(drops) & set(metrics), f"no metric_drop for a {task} model: {sorted(drops)}"


def test_an_unknown_metric_drop_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown metric 'f1macro' \(did you mean 'f1_macro'\?\)"):
        MonitoringThresholds(metric_drop={"f1macro": 0.05})
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        MonitoringThresholds(metric_drop={"r2": -0.1})

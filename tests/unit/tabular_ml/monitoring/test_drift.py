"""Evidently drift summaries, column roles and seeded samples (tabular_ml/monitoring/drift.py)."""

import numpy as np
import pandas as pd
import pytest
from evidently.legacy.metric_preset import DataDriftPreset
from evidently.legacy.pipeline.column_mapping import ColumnMapping
from evidently.legacy.report import Report
from sklearn.linear_model import LogisticRegression

from tabular_ml.configuration.schema import CleaningConfig
from tabular_ml.modelling.trained_model import TrainedModel
from tabular_ml.monitoring.drift import column_roles, sample, summarise_drift
from tabular_ml.monitoring.prepare import comparison_samples
from tabular_ml.tasks.target import TargetSpec
from tests.support.monitoring_frames import CONTRACT, evidently_summary, frame


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

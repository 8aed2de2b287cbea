"""The compared samples with the model's prediction, labels joined and scored, and windows
(tabular_ml/monitoring/prepare.py)."""

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from tabular_ml.configuration.schema import CleaningConfig
from tabular_ml.modelling.trained_model import TrainedModel
from tabular_ml.monitoring.drift import PREDICTION_COLUMN
from tabular_ml.monitoring.prepare import comparison_samples, labelled_metrics, labelled_rows, parse_window
from tabular_ml.tasks.target import TargetSpec
from tests.support.monitoring_frames import CONTRACT, frame


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

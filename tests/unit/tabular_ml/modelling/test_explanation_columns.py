"""The estimator's inputs traced back to the client's columns: one-hot inputs to their column,
derived features shared equally among the columns they are computed from."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from tabular_ml.configuration.schema import LogFeature, PreprocessingConfig, RatioFeature
from tabular_ml.modelling.explanation_columns import source_matrix
from tabular_ml.modelling.model import build_model
from tests.support.factories import CONTRACTS, SECURITY, TINY_FEATURES, tiny_contract, tiny_frame

COLUMNS = tiny_contract().feature_names


def fitted(features, preprocessing=None):
    frame = tiny_frame(40)
    pipeline = build_model(
        tiny_contract(), preprocessing or PreprocessingConfig(), features, LogisticRegression()
    )
    return pipeline.fit(frame[COLUMNS], frame["churn"] == "Yes")


def shares(pipeline) -> dict[str, dict[str, float]]:
    names = [str(n) for n in pipeline[:-1].get_feature_names_out()]
    matrix = source_matrix(pipeline, COLUMNS, len(names))
    return {
        name: {c: v for c, v in zip(COLUMNS, row, strict=True) if v}
        for name, row in zip(names, matrix, strict=True)
    }


def test_one_hot_inputs_count_for_their_column_and_derived_ones_are_shared_equally():
    found = shares(fitted(TINY_FEATURES))
    assert found["tenure"] == {"tenure": 1.0}
    assert found["avg_monthly"] == {"total": 0.5, "tenure": 0.5}
    assert found["n_addons"] == {"security": 0.5, "backup": 0.5}
    assert all(found[f"contract_{value}"] == {"contract": 1.0} for value in CONTRACTS)
    assert all(found[f"security_{value}"] == {"security": 1.0} for value in SECURITY)


def test_a_feature_of_a_feature_is_shared_down_to_the_client_columns():
    features = [
        RatioFeature(name="avg", numerator="total", denominator="tenure"),
        LogFeature(name="log_avg", column="avg"),
    ]
    assert shares(fitted(features))["log_avg"] == {"total": 0.5, "tenure": 0.5}


def test_ordinal_columns_are_one_input_each_and_every_row_sums_to_one():
    pipeline = fitted(TINY_FEATURES, PreprocessingConfig(ordinal={"contract": CONTRACTS}))
    found = shares(pipeline)
    assert found["contract"] == {"contract": 1.0}
    width = len(pipeline[:-1].get_feature_names_out())
    np.testing.assert_allclose(source_matrix(pipeline, COLUMNS, width).sum(axis=1), 1.0)


def test_a_pipeline_without_a_preprocess_step_is_a_one_line_error():
    from sklearn.pipeline import Pipeline

    with pytest.raises(ValueError, match="without a ColumnTransformer 'preprocess' step"):
        source_matrix(Pipeline([("model", LogisticRegression())]), COLUMNS, 3)

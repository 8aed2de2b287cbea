"""The production model the batch-scoring tests score with: a logistic regression on tiny rows."""

from __future__ import annotations

import pytest
from sklearn.linear_model import LogisticRegression

from tabular_ml.configuration.schema import CleaningConfig, PreprocessingConfig
from tabular_ml.modelling.model import build_model, encode_target
from tabular_ml.modelling.trained_model import TrainedModel
from tabular_ml.tasks.target import TargetSpec
from tests.support.factories import tiny_contract, tiny_frame


@pytest.fixture(scope="module")
def production() -> TrainedModel:
    """Version 3 of ``churn_tiny``: binary, threshold 0.5, trained on ``tiny_frame(200, seed=1)``."""
    contract = tiny_contract()
    train = tiny_frame(200, seed=1)
    pipeline = build_model(contract, PreprocessingConfig(), [], LogisticRegression(max_iter=500))
    pipeline.fit(train[contract.feature_names], encode_target(train[contract.target], contract))
    target = TargetSpec(column="churn", task="binary", classes=["No", "Yes"])
    return TrainedModel(pipeline, contract, CleaningConfig(), target, 0.5, "churn_tiny", "3")

"""A model version read back from its run metadata; one an earlier version registered says to retrain."""

from __future__ import annotations

import pytest

from tabular_ml.modelling.trained_model import ModelVersionError, TrainedModel
from tabular_ml.tasks.target import TargetSpec
from tests.support.factories import tiny_contract

BINARY = TargetSpec(column="churn", task="binary", classes=["No", "Yes"])
REGRESSION = TargetSpec(column="churn", task="regression")


def metadata(**recorded) -> dict:
    """Run metadata as training records it: the parameters, then what ``recorded`` adds."""
    return {"parameters": {"contract": tiny_contract().model_dump(mode="json")}, **recorded}


def test_a_binary_version_has_its_target_and_threshold():
    recorded = metadata(target=BINARY.model_dump(mode="json"), decision_threshold=0.37)
    model = TrainedModel.from_metadata(object(), recorded, "churn", "4")
    assert (model.target, model.threshold, model.name, model.version) == (BINARY, 0.37, "churn", "4")
    assert model.contract == tiny_contract()


def test_a_regression_version_needs_no_threshold():
    model = TrainedModel.from_metadata(object(), metadata(target=REGRESSION.model_dump()), "price", "2")
    assert (model.target.task, model.threshold) == ("regression", 0.5)


@pytest.mark.parametrize(
    "recorded,missing",
    [
        # registered before task types: the contract's classes and a configured threshold only
        (metadata(), "model version has no 'target'"),
        (metadata(target=BINARY.model_dump()), "binary model version has no 'decision_threshold'"),
    ],
)
def test_a_version_of_an_earlier_project_version_is_a_one_line_error_saying_to_retrain(recorded, missing):
    with pytest.raises(ModelVersionError) as info:
        TrainedModel.from_metadata(object(), recorded, "churn", "3")
    assert str(info.value) == (
        f"churn version 3: the {missing} in its run metadata; "
        "retrain it: a model of an earlier version of this project is not migrated"
    )

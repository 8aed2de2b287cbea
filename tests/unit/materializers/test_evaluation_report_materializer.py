"""The ZenML materializer of EvaluationReport, without any ZenML store or repository.

The materializer gets an explicit ``LocalArtifactStore`` rooted in ``tmp_path``
(which is what ZenML itself passes when it saves a step output), so the active
stack, the client and the global configuration are never touched.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest
from pydantic import BaseModel

from tabular_ml.modelling.evaluation import (
    EvaluationReport,
    baseline_metrics,
    evaluate_classifier,
    evaluate_multiclass,
    evaluate_regression,
)
from tests.support.evaluation_examples import Y_PRED, Y_TRUE


@pytest.fixture()
def materializer(artifact_store):
    from materializers.evaluation_report_materializer import EvaluationReportMaterializer

    uri = os.path.join(artifact_store.path, "evaluate", "report", str(uuid.uuid4()))
    artifact_store.makedirs(uri)  # ZenML creates the artifact directory before calling save()
    return EvaluationReportMaterializer(uri=uri, artifact_store=artifact_store)


@pytest.fixture()
def report() -> EvaluationReport:
    return evaluate_classifier(
        [1, 1, 1, 0, 0, 0, 0, 0],
        [0.9, 0.6, 0.3, 0.8, 0.55, 0.4, 0.2, 0.1],
        0.5,
        model_name="churn",
        algorithm="random_forest",
        positive_class="Yes",
        cv_metrics={"roc_auc": {"mean": 0.81, "std": 0.03}},
        feature_importances={"tenure": 0.4, "charges": 0.2},
        best_params={"n_estimators": 200, "max_depth": None},
    )


def test_materializer_class_contract():
    from zenml.enums import ArtifactType
    from zenml.materializers.materializer_registry import materializer_registry

    from materializers import EvaluationReportMaterializer

    assert EvaluationReport in EvaluationReportMaterializer.ASSOCIATED_TYPES
    assert EvaluationReportMaterializer.ASSOCIATED_ARTIFACT_TYPE == ArtifactType.DATA_ANALYSIS
    # Importing the package registers it, ahead of ZenML's generic pydantic materializer.
    assert materializer_registry[EvaluationReport] is EvaluationReportMaterializer


def test_save_then_load_round_trips_as_json(materializer, report):
    materializer.save(report)
    path = os.path.join(materializer.uri, "report.json")
    assert os.path.isfile(path)
    with open(path) as f:
        raw = json.load(f)  # plain JSON, not pickle
    assert raw["metrics"]["accuracy"] == pytest.approx(0.625)
    assert materializer.load(EvaluationReport) == report
    assert isinstance(materializer.load(BaseModel), EvaluationReport)


def test_a_fresh_materializer_loads_what_another_saved(materializer, report, artifact_store):
    from materializers import EvaluationReportMaterializer

    materializer.save(report)
    again = EvaluationReportMaterializer(uri=materializer.uri, artifact_store=artifact_store)
    assert again.load(EvaluationReport) == report


def test_extract_metadata(materializer, report):
    metadata = materializer.extract_metadata(report)
    for name, value in report.metrics.items():
        assert isinstance(metadata[name], float) and metadata[name] == value
    assert metadata["accuracy"] == pytest.approx(0.625)
    assert metadata["n_samples"] == 8 and isinstance(metadata["n_samples"], int)
    assert metadata["algorithm"] == "random_forest"
    assert metadata["threshold"] == 0.5
    assert metadata["model_name"] == "churn"
    assert metadata["task"] == "binary" and metadata["positive_class"] == "Yes"
    assert metadata["class_names"] == ["not Yes", "Yes"]


def test_full_metadata_is_valid_zenml_metadata(materializer, report):
    from zenml.metadata.metadata_types import StorageSize, validate_metadata

    materializer.save(report)
    full = materializer.extract_full_metadata(report)
    assert isinstance(full["storage_size"], StorageSize) and full["storage_size"] > 0
    assert validate_metadata(full) == full


def test_save_visualizations_writes_an_html_report(materializer, report):
    from zenml.enums import VisualizationType

    visualizations = materializer.save_visualizations(report)
    html_path = os.path.join(materializer.uri, "report.html")
    assert visualizations == {html_path: VisualizationType.HTML}
    assert os.path.isfile(html_path)
    with open(html_path, encoding="utf-8") as f:
        html = f.read()
    for value in report.metrics.values():
        assert f"{value:.4f}" in html
    assert "<svg" in html and "random_forest" in html


def test_content_hash_follows_the_content(materializer, report):
    first = materializer.compute_content_hash(report)
    assert first == materializer.compute_content_hash(report.model_copy(deep=True))
    other = report.model_copy(update={"threshold": 0.6})
    assert materializer.compute_content_hash(other) != first


def test_files_stay_inside_the_artifact_uri(materializer, report):
    materializer.save(report)
    materializer.save_visualizations(report)
    assert sorted(os.listdir(materializer.uri)) == ["report.html", "report.json"]


# --------------------------------------------------------------------------- other tasks


@pytest.fixture()
def multiclass_report() -> EvaluationReport:
    y = [0, 0, 0, 1, 1, 2]
    return evaluate_multiclass(
        y,
        [
            [0.7, 0.2, 0.1],
            [0.5, 0.4, 0.1],
            [0.2, 0.6, 0.2],
            [0.1, 0.8, 0.1],
            [0.3, 0.3, 0.4],
            [0.2, 0.2, 0.6],
        ],
        ["setosa", "versicolor", "virginica"],
        model_name="iris",
        algorithm="logistic_regression",
        baseline_metrics=baseline_metrics("multiclass", [0, 0, 1, 2], y, class_count=3),
    )


@pytest.fixture()
def regression_report() -> EvaluationReport:
    return evaluate_regression(
        Y_TRUE,
        Y_PRED,
        model_name="houses",
        algorithm="ridge",
        baseline_metrics=baseline_metrics("regression", [1.0, 2.0, 3.0], Y_TRUE),
        feature_importances={"rooms": 0.7, "age": -0.2},
    )


@pytest.mark.parametrize("fixture", ["multiclass_report", "regression_report"])
def test_every_task_round_trips_with_its_page_and_metadata(materializer, fixture, request):
    from zenml.enums import VisualizationType
    from zenml.metadata.metadata_types import validate_metadata

    report = request.getfixturevalue(fixture)
    materializer.save(report)
    loaded = materializer.load(EvaluationReport)
    assert loaded == report and loaded.task == report.task
    html_path = os.path.join(materializer.uri, "report.html")
    assert materializer.save_visualizations(report) == {html_path: VisualizationType.HTML}
    with open(html_path, encoding="utf-8") as f:
        html = f.read()
    for value in report.metrics.values():
        assert f"{value:.4f}" in html
    metadata = materializer.extract_metadata(report)
    assert metadata["task"] == report.task and "threshold" not in metadata
    assert {k: v for k, v in metadata.items() if k.startswith("baseline_")} == {
        f"baseline_{k}": v for k, v in report.baseline_metrics.items()
    }
    assert validate_metadata(materializer.extract_full_metadata(report))


def test_multiclass_metadata_names_the_classes(materializer, multiclass_report):
    metadata = materializer.extract_metadata(multiclass_report)
    assert metadata["class_names"] == ["setosa", "versicolor", "virginica"]
    assert metadata["f1_macro"] == multiclass_report.metrics["f1_macro"]
    assert "positive_class" not in metadata


def test_a_report_saved_before_tasks_is_a_one_line_error_saying_to_retrain(materializer):
    # report.json as this materializer wrote it before task types existed: no "task".
    path = os.path.join(materializer.uri, "report.json")
    with materializer.artifact_store.open(path, "w") as f:
        f.write(json.dumps({"model_name": "churn", "threshold": 0.5, "n_samples": 8, "metrics": {}}))
    with pytest.raises(ValueError) as info:
        materializer.load(EvaluationReport)
    assert str(info.value) == (
        f"{path} names no task: it was saved by an earlier version of this project; "
        "retrain the model (reports are not migrated)"
    )


def test_a_report_broken_otherwise_keeps_pydantics_error(materializer):
    path = os.path.join(materializer.uri, "report.json")
    with materializer.artifact_store.open(path, "w") as f:
        f.write(json.dumps({"task": "binary", "n_samples": -1}))
    with pytest.raises(ValueError, match=r"n_samples\n  Input should be greater than or equal to 0"):
        materializer.load(EvaluationReport)

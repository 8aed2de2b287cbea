"""Multiclass and regression end to end: train, register, promote, serve over HTTP, score in batch.

The example tables (data/examples: scikit-learn's wine and diabetes data) are trained with their
drafted configs (configs/training_wine.yaml, configs/training_diabetes.yaml), with one small
algorithm and 3 folds to stay fast. Each model is promoted and served by the deployment pipeline
on the local Seldon stack, then asked over HTTP, and the inference pipeline scores its table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import requests
from zenml.client import Client

from tabular_ml.modelling.trained_model import TrainedModel
from tests.conftest import PROJECT_ROOT
from tests.integration.cli import ok, run_cli
from tests.integration.example_tables import EXAMPLES, example_table, example_training_args
from tests.processes import free_port, listeners, port_is_free

pytestmark = pytest.mark.integration

MODELS = {"multiclass": "wine_types", "regression": "diabetes_types"}
TASKS = {task: {**EXAMPLES[task], "model": model} for task, model in MODELS.items()}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Each task trained, promoted and served; yields {task: (folder, prediction URL, version)}."""
    folder = tmp_path_factory.mktemp("task_types")
    ok(run_cli(folder, "stack", "local"))
    urls, ports = {}, []
    try:
        for task, spec in TASKS.items():
            ok(run_cli(folder, *example_training_args(task, spec["model"], PROJECT_ROOT / spec["data"])))
            port = free_port()
            ports.append(port)
            deployed = ok(
                run_cli(
                    folder,
                    "--config",
                    str(PROJECT_ROOT / "configs/deployment.yaml"),
                    f"model.name={spec['model']}",
                    f"parameters.serving.port={port}",
                    f"parameters.serving.metrics_port={free_port()}",
                    f"parameters.serving.request_log_dir={folder / 'request_log'}",
                )
            )
            assert f"http://127.0.0.1:{port}/api/v1.0/predictions" in deployed.stdout + deployed.stderr
            urls[task] = f"http://127.0.0.1:{port}/api/v1.0/predictions"
        yield folder, urls
    finally:
        deployer = Client().active_stack.model_deployer
        for service in deployer.find_model_server():
            deployer.delete_model_server(service.uuid, timeout=60)
    for port in ports:
        assert port_is_free(port), f"stopping the server must free port {port}; listening: {listeners(port)}"


def production(task: str) -> TrainedModel:
    return TrainedModel.of_version(Client().get_model_version(TASKS[task]["model"], "production"))


def test_the_task_is_recorded_with_its_metrics(served):
    multiclass = Client().get_model_version(TASKS["multiclass"]["model"], "production").run_metadata
    regression = Client().get_model_version(TASKS["regression"]["model"], "production").run_metadata
    assert multiclass["task"] == "multiclass" and multiclass["target"]["classes"] == ["0", "1", "2"]
    assert {"accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr"} <= set(multiclass["metrics"])
    assert multiclass["metrics"]["f1_macro"] > 0.85  # wine is easy: the baseline's f1_macro is ~0.17
    assert regression["task"] == "regression" and regression["target"]["classes"] == []
    assert {"rmse", "mae", "r2"} <= set(regression["metrics"])
    assert 0.3 < regression["metrics"]["r2"] < 0.7  # diabetes: a linear model explains about half
    assert "decision_threshold" not in multiclass and "decision_threshold" not in regression


def test_multiclass_serving_answers_every_class_probability(served):
    _, urls = served
    rows = example_table("multiclass").head(30)
    features = rows.drop(columns="cultivar")
    body = {"data": {"names": list(features.columns), "ndarray": features.to_numpy().tolist()}}
    response = requests.post(urls["multiclass"], json=body, timeout=30)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["names"] == ["prediction", "probability_0", "probability_1", "probability_2"]
    served_proba = np.array([row[1:] for row in data["ndarray"]], dtype=float)
    model = production("multiclass")
    np.testing.assert_allclose(served_proba, model.pipeline.predict_proba(features), atol=1e-9)
    labels = [row[0] for row in data["ndarray"]]
    assert labels == [str(code) for code in served_proba.argmax(axis=1)]
    assert np.mean(np.array(labels) == rows["cultivar"].astype(str).to_numpy()) > 0.9


def test_regression_serving_answers_the_value(served):
    _, urls = served
    features = example_table("regression").drop(columns="progression").head(20)
    records = features.to_dict(orient="records")
    response = requests.post(urls["regression"], json={"jsonData": records}, timeout=30)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["names"] == ["prediction"]
    served_values = np.array([row[0] for row in data["ndarray"]], dtype=float)
    np.testing.assert_allclose(served_values, production("regression").pipeline.predict(features), rtol=1e-9)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_batch_scoring_follows_the_task(served, task):
    folder, _ = served
    sink = folder / f"{task}_predictions.csv"
    ok(
        run_cli(
            folder,
            "--config",
            str(PROJECT_ROOT / "configs/inference.yaml"),
            f"model.name={TASKS[task]['model']}",
            f"parameters.source.path={PROJECT_ROOT / TASKS[task]['data']}",
            f"parameters.sink.path={sink}",
        )
    )
    written = pd.read_csv(sink)
    data = example_table(task)
    model = production(task)
    assert len(written) == len(data)
    scores = model.scores(data)
    if task == "regression":
        np.testing.assert_allclose(written["prediction"], scores, rtol=1e-9)
    else:
        assert written["prediction"].astype(str).tolist() == model.labels(scores).tolist()
        np.testing.assert_allclose(written["probability"], scores.max(axis=1), atol=1e-9)

"""Train -> deploy -> predict over HTTP -> a worse model is refused -> rollback, on the local stack.

Everything is real: run.py in subprocesses, the throwaway ZenML store with the `local` stack
(MLflow tracker and registry, the `seldon-local` model deployer), and a seldon-core-microservice
daemon answering on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient
from zenml.client import Client
from zenml.enums import ModelStages

from tests.conftest import PROJECT_ROOT
from tests.integration.cli import free_port, ok, port_is_free, run_cli, small_training_args, write_sample

pytestmark = pytest.mark.integration

MODEL = "churn_deploy"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    folder = tmp_path_factory.mktemp("deployment")
    write_sample(folder, seed=11)
    ok(run_cli(folder, "stack", "local"))
    port = free_port()
    yield folder, port
    deployer = Client().active_stack.model_deployer
    for service in deployer.find_model_server():
        deployer.delete_model_server(service.uuid, timeout=60)
    assert port_is_free(port), "stopping the model server must free its port"


def train(folder, algorithm: str) -> None:
    ok(
        run_cli(
            folder,
            *small_training_args(
                folder,
                MODEL,
                f"parameters.search.algorithms=[{algorithm}]",
                "parameters.evaluation.gates.min={}",
            ),
        )
    )


def deploy(folder, port) -> subprocess.CompletedProcess:
    return ok(
        run_cli(
            folder,
            "--config",
            str(PROJECT_ROOT / "configs/deployment.yaml"),
            f"model.name={MODEL}",
            f"parameters.serving.port={port}",
            "parameters.promotion.gates.min={roc_auc: 0.6}",
        )
    )


def served_version(port) -> str:
    rows = pd.read_csv(PROJECT_ROOT / "data/raw/telco_churn.csv").head(1).drop(columns="churn")
    body = {"jsonData": json.loads(rows.to_json(orient="records"))}
    answer = requests.post(f"http://127.0.0.1:{port}/api/v1.0/predictions", json=body, timeout=10).json()
    return answer["meta"]["tags"]["model_version"]


GOOD = (
    "{name: lr, estimator: sklearn.linear_model.LogisticRegression, "
    "params: {class_weight: balanced, max_iter: 500}, search_space: {C: [1.0]}}"
)
CRIPPLED = "{name: prior, estimator: sklearn.dummy.DummyClassifier, params: {strategy: prior}}"


@pytest.fixture(scope="module")
def first_deployment(env):
    folder, port = env
    train(folder, GOOD)
    result = deploy(folder, port)
    return folder, port, result


def test_first_model_is_promoted_and_served_on_loopback(first_deployment):
    folder, port, result = first_deployment
    production = Client().get_model_version(MODEL, ModelStages.PRODUCTION)
    assert production.number == 1
    decision = production.run_metadata["promotion"]
    assert decision["promote"] is True and decision["reason"].startswith("no production model yet")
    assert served_version(port) == "1"
    assert requests.get(f"http://127.0.0.1:{port}/health/status", timeout=5).status_code == 200
    listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
    local_addresses = {line.split()[3] for line in listening.splitlines()}
    assert local_addresses == {f"127.0.0.1:{port}"}


def test_http_predictions_equal_the_in_process_pipeline(first_deployment):
    folder, port, _ = first_deployment
    rows = pd.read_csv(folder / "sample.csv").head(25)
    rows.loc[0, "total_charges"] = np.nan
    features = rows.drop(columns="churn")
    from serving.client import predict

    served = predict(f"http://127.0.0.1:{port}", features)
    model = Client().get_model_version(MODEL, 1).get_artifact("model").load()
    np.testing.assert_allclose(
        served["probability"].to_numpy(), model.predict_proba(features)[:, 1], atol=1e-9
    )
    assert set(served["model_version"]) == {"1"}


def test_predict_cli_finds_the_endpoint_and_writes_predictions(first_deployment):
    folder, port, _ = first_deployment
    result = ok(
        run_cli(
            folder,
            "predict",
            "--input",
            str(folder / "sample.csv"),
            "--model",
            MODEL,
            "--output",
            str(folder / "predictions.csv"),
        )
    )
    assert "ignoring column(s) the model does not take: churn" in result.stderr
    written = pd.read_csv(folder / "predictions.csv")
    assert len(written) == 1200 and set(written["prediction"]) <= {"Yes", "No"}
    assert written["probability"].between(0, 1).all()


def test_mlflow_alias_points_at_production(first_deployment):
    mlflow.set_tracking_uri(Client().active_stack.experiment_tracker.get_tracking_uri())
    version = MlflowClient().get_model_version_by_alias(MODEL, "production")
    assert version.tags["zenml_version"] == "1"


def valid_record() -> dict:
    row = pd.read_csv(PROJECT_ROOT / "data/raw/telco_churn.csv").head(1).drop(columns="churn")
    return json.loads(row.to_json(orient="records"))[0]


BAD_REQUESTS = {
    "malformed JSON": (lambda: "{not json", "json"),
    "missing column": (
        lambda: {"jsonData": [{k: v for k, v in valid_record().items() if k != "tenure"}]},
        "tenure",
    ),
    "unknown column": (lambda: {"jsonData": [{**valid_record(), "shoe_size": 42}]}, "shoe_size"),
    "wrong type": (lambda: {"jsonData": [{**valid_record(), "tenure": "twelve"}]}, "twelve"),
    "zero rows": (lambda: {"jsonData": []}, "row"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_requests_get_4xx_and_the_server_keeps_answering(first_deployment, case):
    _, port, _ = first_deployment
    make_body, fragment = BAD_REQUESTS[case]
    body = make_body()
    payload = body if isinstance(body, str) else json.dumps(body)
    response = requests.post(
        f"http://127.0.0.1:{port}/api/v1.0/predictions",
        data=payload,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert 400 <= response.status_code < 500, response.text
    assert fragment in response.text.lower() if fragment == "json" else fragment in response.text
    assert served_version(port) == "1"


def test_oversized_batch_is_refused(first_deployment):
    _, port, _ = first_deployment
    row = pd.read_csv(PROJECT_ROOT / "data/raw/telco_churn.csv").head(1).drop(columns="churn")
    body = {
        "data": {"names": list(row.columns), "ndarray": json.loads(row.to_json(orient="values")) * 100_000}
    }
    response = requests.post(f"http://127.0.0.1:{port}/api/v1.0/predictions", json=body, timeout=60)
    assert response.status_code == 400 and "100000" in response.text
    assert served_version(port) == "1"


def test_worse_model_is_not_promoted_and_rollback_restores_versions(first_deployment):
    folder, port, _ = first_deployment
    train(folder, CRIPPLED)  # version 2: predicts the prior, ROC AUC 0.5
    deploy(folder, port)
    decision = Client().get_model_version(MODEL, 2).run_metadata["promotion"]
    assert decision["promote"] is False and decision["champion_version"] == "1"  # refused by the gate
    assert decision["champion_trained_on_holdout_rows"] == 0  # same data, same split: a fair comparison
    assert "roc_auc 0.500 is below the minimum 0.600" in decision["reason"]
    assert Client().get_model_version(MODEL, ModelStages.PRODUCTION).number == 1
    assert served_version(port) == "1"

    ok(
        run_cli(
            folder, "rollback", "--to-version", "2", f"model.name={MODEL}", f"parameters.serving.port={port}"
        )
    )
    assert Client().get_model_version(MODEL, ModelStages.PRODUCTION).number == 2
    assert Client().get_model_version(MODEL, 1).stage == ModelStages.ARCHIVED.value
    assert served_version(port) == "2"

    ok(run_cli(folder, "rollback", f"model.name={MODEL}", f"parameters.serving.port={port}"))
    assert Client().get_model_version(MODEL, ModelStages.PRODUCTION).number == 1
    assert served_version(port) == "1"
    mlflow.set_tracking_uri(Client().active_stack.experiment_tracker.get_tracking_uri())
    assert MlflowClient().get_model_version_by_alias(MODEL, "production").tags["zenml_version"] == "1"

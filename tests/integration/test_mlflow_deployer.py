"""Train -> deploy with ZenML's MLflow model deployer -> predict over HTTP, on `local-mlflow`.

Everything is real: run.py in subprocesses, the throwaway ZenML store with the `local-mlflow`
stack (MLflow tracker and registry, ZenML's `mlflow` model deployer), and MLflow's scoring
server (uvicorn, started by ZenML as a local daemon) answering `/invocations` on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from zenml.client import Client
from zenml.enums import StackComponentType
from zenml.stack import StackComponent

from adapters.mlflow_tracking import MODEL_REQUIREMENTS
from tests.integration.cli import ok, run_cli, small_training_args, write_sample
from tests.support.paths import PROJECT_ROOT
from tests.support.processes import free_port, listeners, port_is_free

pytestmark = pytest.mark.integration

MODEL = "churn_mlflow"
LOGISTIC = (
    "{name: lr, estimator: sklearn.linear_model.LogisticRegression, "
    "params: {class_weight: balanced, max_iter: 500}, search_space: {C: [1.0]}}"
)


def zenml_python(code: str) -> str:
    """Run ZenML code in a fresh interpreter (this one's client caches the active stack it saw)."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def mlflow_deployer():
    model = Client().get_stack_component(StackComponentType.MODEL_DEPLOYER, "mlflow_deployer")
    return StackComponent.from_model(model)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow_deployer")
    write_sample(folder, seed=11)
    previous_stack = zenml_python("from zenml.client import Client; print(Client().active_stack_model.name)")
    ok(run_cli(folder, "stack", "local-mlflow"))
    ports = []
    try:
        ok(
            run_cli(
                folder,
                *small_training_args(
                    folder,
                    MODEL,
                    f"parameters.search.algorithms=[{LOGISTIC}]",
                    "parameters.evaluation.gates.min={}",
                ),
            )
        )
        result = ok(
            run_cli(
                folder,
                "--config",
                str(PROJECT_ROOT / "configs/deployment.yaml"),
                f"model.name={MODEL}",
                f"parameters.serving.port={free_port()}",  # ignored: ZenML's MLflow deployer picks the port
                "parameters.promotion.gates.min={roc_auc: 0.6}",
            )
        )
        run_name = re.search(r"Pipeline run '([^']+)' finished", result.stdout).group(1)
        info = Client().get_pipeline_run(run_name).steps["deploy_model"].outputs["deployment"][0].load()
        ports.append(urlsplit(info.prediction_url).port)
        yield folder, info
    finally:
        deployer = mlflow_deployer()
        for service in deployer.find_model_server():
            ports.append(service.endpoint.status.port)
            deployer.delete_model_server(service.uuid, timeout=60)
        zenml_python(f"from zenml.client import Client; Client().activate_stack({previous_stack!r})")
    for port in filter(None, ports):
        assert port_is_free(port), (
            f"stopping the MLflow model server must free port {port}; listening: {listeners(port)}"
        )


def test_mlflow_server_answers_on_loopback(deployment):
    _, info = deployment
    assert (info.deployer_flavor, info.model_name, info.model_version) == ("mlflow", MODEL, "1")
    url = urlsplit(info.prediction_url)
    assert (url.scheme, url.hostname, url.path) == ("http", "127.0.0.1", "/invocations")
    assert requests.get(f"http://127.0.0.1:{url.port}/ping", timeout=5).status_code == 200
    listening = subprocess.run(["ss", "-ltnH", f"sport = :{url.port}"], capture_output=True, text=True).stdout
    assert {line.split()[3] for line in listening.splitlines()} == {f"127.0.0.1:{url.port}"}


def test_the_served_model_is_the_one_logged_at_training(deployment):
    _, info = deployment
    (service,) = mlflow_deployer().find_model_server(service_name=f"{MODEL}-mlflow")
    logged = Client().get_model_version(MODEL, 1).get_artifact("model").run_metadata["mlflow_model_uri"]
    assert logged.startswith("models:/") and service.config.model_uri == logged
    assert str(service.uuid) == info.service_id
    mlflow.set_tracking_uri(Client().active_stack.experiment_tracker.get_tracking_uri())
    requirements = Path(mlflow.pyfunc.get_model_dependencies(logged)).read_text().split()
    pinned = [f"{name}=={version(name)}" for name in ("mlflow", *MODEL_REQUIREMENTS)]
    assert sorted(requirements) == sorted(pinned)  # named at logging, not inferred from the process


def test_http_probabilities_equal_the_in_process_pipeline(deployment):
    folder, info = deployment
    rows = pd.read_csv(folder / "sample.csv").head(25)
    rows.loc[0, "total_charges"] = np.nan
    features = rows.drop(columns="churn")
    body = {"dataframe_split": json.loads(features.to_json(orient="split", index=False))}
    response = requests.post(info.prediction_url, json=body, timeout=30)
    assert response.status_code == 200, response.text
    served = np.asarray(response.json()["predictions"])
    model = Client().get_model_version(MODEL, 1).get_artifact("model").load()
    assert served.shape == (25, 2)  # [P(No), P(Yes)] per row, as predict_proba
    np.testing.assert_allclose(served, model.predict_proba(features), atol=1e-9)


def test_a_row_without_a_column_is_refused(deployment):
    _, info = deployment
    row = pd.read_csv(PROJECT_ROOT / "data/raw/telco_churn.csv").head(1).drop(columns=["churn", "tenure"])
    body = {"dataframe_records": json.loads(row.to_json(orient="records"))}
    response = requests.post(info.prediction_url, json=body, timeout=30)
    assert response.status_code == 400 and "tenure" in response.text

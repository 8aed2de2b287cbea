"""What the deployment tests share: a stack folder with a port, training and deploying through run.py,
and what is served and registered afterwards."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pandas as pd
import requests
from mlflow import MlflowClient
from zenml.client import Client

from tests.integration.cli import activate_local_stack, ok, run_cli, small_training_args, write_sample
from tests.support.paths import PROJECT_ROOT, TELCO_CSV
from tests.support.processes import free_port, listeners, port_is_free


def stack_folder_with_port(tmp_path_factory, name: str, seed: int) -> Iterator[tuple]:
    """A folder with a data sample and the `local` stack, and a free port; its servers stopped after."""
    folder = tmp_path_factory.mktemp(name)
    write_sample(folder, seed=seed)
    activate_local_stack()
    port = free_port()
    yield folder, port
    deployer = Client().active_stack.model_deployer
    for service in deployer.find_model_server():
        deployer.delete_model_server(service.uuid, timeout=60)
    assert port_is_free(port), f"stopping the model server must free its port; listening: {listeners(port)}"


def train_with(folder, model: str, algorithm: str) -> None:
    """A training run searching ``algorithm`` alone, with no gates (a crippled model must reach promotion)."""
    ok(
        run_cli(
            folder,
            *small_training_args(
                folder, model, f"parameters.search.algorithms=[{algorithm}]", "parameters.evaluation.gates={}"
            ),
        )
    )


def deploy(folder, port: int, model: str, *overrides: str) -> subprocess.CompletedProcess:
    """A deployment run serving ``model`` on ``port``; it must succeed."""
    return ok(
        run_cli(
            folder,
            "--config",
            str(PROJECT_ROOT / "configs/deployment.yaml"),
            f"model.name={model}",
            f"parameters.serving.port={port}",
            *overrides,
        )
    )


def monitor_request_log(folder, model: str, since: str = "1h") -> subprocess.CompletedProcess:
    """A monitoring run of ``model`` on its request log's last ``since``; it must exit 0 or 3 (an alert)."""
    result = run_cli(
        folder,
        "--config",
        str(PROJECT_ROOT / "configs/monitoring.yaml"),
        f"model.name={model}",
        f"parameters.current={{type: request_log, since: {since}}}",
    )
    assert result.returncode in (0, 3), result.stdout[-2000:] + result.stderr[-3000:]
    return result


def served_version(port: int) -> str:
    """The model version the server on ``port`` answers one Telco row with."""
    row = pd.read_csv(TELCO_CSV, nrows=1).drop(columns="churn")
    body = {"jsonData": json.loads(row.to_json(orient="records"))}
    answer = requests.post(f"http://127.0.0.1:{port}/api/v1.0/predictions", json=body, timeout=10)
    return answer.json()["meta"]["tags"]["model_version"]


def mlflow_production(model: str) -> str:
    """The ZenML version number MLflow's alias ``production`` of ``model`` is on."""
    tracking_uri = Client().active_stack.experiment_tracker.get_tracking_uri()
    version = MlflowClient(tracking_uri=tracking_uri).get_model_version_by_alias(model, "production")
    return version.tags["zenml_version"]

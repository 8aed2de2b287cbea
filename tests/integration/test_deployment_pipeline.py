"""Train -> deploy -> predict over HTTP -> a worse model is refused -> rollback, on the local stack.

Everything is real: run.py in subprocesses, the throwaway ZenML store with the `local` stack
(MLflow tracker and registry, the `seldon-local` model deployer), and a seldon-core-microservice
daemon answering on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient
from zenml.client import Client
from zenml.enums import ModelStages

from tests.integration.cli import ok, run_cli
from tests.integration.deployment_runs import deploy as deploy_model
from tests.integration.deployment_runs import mlflow_production as mlflow_production_of
from tests.integration.deployment_runs import (
    monitor_request_log,
    served_version,
    stack_folder_with_port,
    train_with,
)
from tests.support.paths import PROJECT_ROOT
from tests.support.processes import group_alive, port_is_free

pytestmark = pytest.mark.integration

MODEL = "churn_deploy"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from stack_folder_with_port(tmp_path_factory, "deployment", seed=11)


def train(folder, algorithm: str) -> None:
    train_with(folder, MODEL, algorithm)


def deploy(folder, port) -> subprocess.CompletedProcess:
    return deploy_model(folder, port, MODEL, "parameters.promotion.gates.min={roc_auc: 0.6}")


GOOD = (
    "{name: lr, estimator: sklearn.linear_model.LogisticRegression, "
    "params: {class_weight: balanced, max_iter: 500}, search_space: {C: [1.0]}}"
)
WEAK = "{name: stump, estimator: sklearn.tree.DecisionTreeClassifier, params: {max_depth: 1}}"
CRIPPLED = "{name: prior, estimator: sklearn.dummy.DummyClassifier, params: {strategy: prior}}"


@pytest.fixture(scope="module")
def first_deployment(env):
    folder, port = env
    train(folder, WEAK)
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


def test_zenml_cli_lists_the_running_server(first_deployment, tmp_path):
    """`zenml model-deployer models list` imports the flavor with only its own package resolvable."""
    (tmp_path / "flavors").symlink_to(PROJECT_ROOT / "flavors")
    env = {k: v for k, v in os.environ.items() if k not in ("ZENML_REPOSITORY_PATH", "PYTHONPATH")}
    zenml = str(Path(sys.executable).with_name("zenml"))
    listed = subprocess.run(
        [zenml, "model-deployer", "models", "list"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stdout[-2000:] + listed.stderr[-2000:]
    table = listed.stdout + listed.stderr  # ZenML prints its tables to stderr when not on a terminal
    assert "seldon-l" in table and "deployment" in table and "Traceback" not in table


def test_a_rollback_with_nothing_before_production_exits_2_in_one_line(first_deployment):
    folder, port, _ = first_deployment
    result = run_cli(folder, "rollback", f"model.name={MODEL}")
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        f"error: model '{MODEL}' has no earlier version to roll back to "
        "(version 1 is the first to have been production)"
    ]
    assert "Pipeline" not in result.stdout and served_version(port) == "1"


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


def test_answered_rows_are_in_the_request_log_under_the_working_directory(first_deployment):
    folder, port, _ = first_deployment
    from serving.client import predict
    from serving.request_log import read_request_log

    features = pd.read_csv(folder / "sample.csv").iloc[100:107].drop(columns="churn")
    since = pd.Timestamp.now(tz="UTC")
    served = predict(f"http://127.0.0.1:{port}", features)
    log_dir = folder / "data" / "request_log" / MODEL  # serving.request_log_dir, relative to the cwd
    deadline = time.monotonic() + 20  # a file every 5 s by default
    while len(logged := read_request_log(log_dir, since=since) if log_dir.is_dir() else []) < 7:
        assert time.monotonic() < deadline, f"not logged in time: {log_dir}"
        time.sleep(0.5)
    assert len(logged) == 7 and set(logged["model_version"]) == {"1"}
    np.testing.assert_array_equal(logged["probability"].to_numpy(), served["probability"].to_numpy())
    assert logged["tenure"].tolist() == features["tenure"].astype(float).tolist()


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


class RequestLoop:
    """Single-row predictions in a bounded loop on a background thread; counts every outcome."""

    def __init__(self, port: int, max_seconds: float = 300) -> None:
        self.url = f"http://127.0.0.1:{port}/api/v1.0/predictions"
        self.body = {"jsonData": [valid_record()]}
        self.deadline = time.monotonic() + max_seconds
        self.versions: dict[str, int] = {}
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self.deadline:
            try:
                response = requests.post(self.url, json=self.body, timeout=30)
                response.raise_for_status()
                version = response.json()["meta"]["tags"]["model_version"]
                self.versions[version] = self.versions.get(version, 0) + 1
            except Exception as error:  # every lost request is a failure of the test
                self.failures.append(repr(error)[:200])
            time.sleep(0.01)

    def __enter__(self) -> RequestLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(0.5)  # a few answers from whatever serves after the change
        self._stop.set()
        self._thread.join()


def supervisor_pid(port: int) -> int:
    (service,) = [
        s for s in Client().active_stack.model_deployer.find_model_server() if s.config.model_name == MODEL
    ]
    return service.status.pid


def decision_of(version: int) -> dict:
    return Client().get_model_version(MODEL, version).run_metadata["decision"]


def production_number() -> int:
    return Client().get_model_version(MODEL, ModelStages.PRODUCTION).number


def mlflow_production() -> str:
    return mlflow_production_of(MODEL)


def test_a_better_challenger_replaces_the_champion_without_a_lost_request(first_deployment):
    folder, port, _ = first_deployment
    daemon = supervisor_pid(port)
    train(folder, GOOD)  # version 2: a logistic regression against the depth-1 tree of version 1
    with RequestLoop(port) as loop:
        result = deploy(folder, port)
    decision = Client().get_model_version(MODEL, 2).run_metadata["promotion"]
    assert decision["promote"] is True and decision["champion_version"] == "1", decision["reason"]
    assert decision["improvement_interval"][0] > 0 and decision["compared_rows"] > 100
    assert decision["champion_trained_on_holdout_rows"] == 0 and decision["excluded_rows"] == 0
    assert decision_of(2)["status"] == "promoted"
    assert production_number() == 2 and mlflow_production() == "2"
    assert Client().get_model_version(MODEL, 2).run_metadata["previous_production"] == 1
    assert loop.failures == [] and set(loop.versions) == {"1", "2"}, (loop.versions, loop.failures)
    assert served_version(port) == "2" and supervisor_pid(port) == daemon  # same port, same supervisor
    assert "(swapped)" in result.stdout + result.stderr


def test_deploying_again_with_nothing_new_changes_nothing(first_deployment):
    folder, port, _ = first_deployment
    server_before = requests.get(f"http://127.0.0.1:{port}/api/v1.0/metadata", timeout=5).status_code
    daemon = supervisor_pid(port)
    result = deploy(folder, port)
    output = result.stdout + result.stderr
    assert "no new trained version since the last decision" in output and "(unchanged)" in output
    assert server_before == 200 and supervisor_pid(port) == daemon and served_version(port) == "2"


def test_worse_model_is_rejected_and_a_rollback_sticks(first_deployment):
    folder, port, _ = first_deployment
    train(folder, CRIPPLED)  # version 3: predicts the prior, ROC AUC 0.5
    deploy(folder, port)
    decision = Client().get_model_version(MODEL, 3).run_metadata["promotion"]
    assert decision["promote"] is False and "roc_auc 0.500 is below the minimum 0.600" in decision["reason"]
    assert decision_of(3)["status"] == "rejected" and production_number() == 2

    with RequestLoop(port) as loop:
        ok(run_cli(folder, "rollback", f"model.name={MODEL}", f"parameters.serving.port={port}"))
    assert loop.failures == [] and set(loop.versions) == {"2", "1"}, (loop.versions, loop.failures)
    assert production_number() == 1 and mlflow_production() == "1" and served_version(port) == "1"
    assert Client().get_model_version(MODEL, 2).stage == ModelStages.ARCHIVED.value
    assert (decision_of(2)["status"], decision_of(1)["status"]) == ("rolled_back", "restored")

    result = deploy(folder, port)  # 2 was rolled back from, 3 rejected: nothing to promote
    assert "no new trained version since the last decision" in result.stdout + result.stderr
    assert production_number() == 1 and served_version(port) == "1"

    train(folder, GOOD)  # version 4: the same config on the same data reuses version 2's cached model
    deploy(folder, port)
    assert decision_of(4) == {
        **decision_of(4),
        "status": "rejected",
        "reason": "its model is the very model of version 2, which was rolled back",
    }
    assert production_number() == 1 and served_version(port) == "1"


@pytest.mark.parametrize("to_version", ["0", "-1", "999"])
def test_rollback_to_an_impossible_version_exits_2_before_running(first_deployment, to_version):
    folder, _, _ = first_deployment
    result = run_cli(folder, "rollback", "--to-version", to_version, f"model.name={MODEL}")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert production_number() == 1


def test_registries_move_together_or_not_at_all(first_deployment, monkeypatch):
    from adapters import production_stage

    def unreachable(*args, **kwargs):
        raise ConnectionError("MLflow tracking server unreachable")

    monkeypatch.setattr(production_stage, "set_mlflow_alias", unreachable)
    target, current = Client().get_model_version(MODEL, 2), Client().get_model_version(MODEL, 1)
    with pytest.raises(RuntimeError, match="the ZenML stage was put back, production is still version 1"):
        production_stage.set_production(MODEL, target, current)
    assert production_number() == 1 and mlflow_production() == "1"
    assert Client().get_model_version(MODEL, 2).stage == ModelStages.ARCHIVED.value


def test_served_rows_reach_the_request_log_and_a_monitoring_run_over_it(first_deployment):
    from serving.client import predict
    from serving.request_log import read_request_log

    folder, port, _ = first_deployment
    log_dir = folder / "data/request_log" / MODEL  # serving.request_log_dir, relative to where it ran
    started = datetime.now(UTC)
    rows = pd.read_csv(folder / "sample.csv").iloc[:400].drop(columns="churn")
    served = pd.concat(
        [predict(f"http://127.0.0.1:{port}", rows.iloc[i : i + 100]) for i in range(0, 400, 100)]
    )
    deadline = time.monotonic() + 30
    while len(read_request_log(log_dir, since=started)) < 400 and time.monotonic() < deadline:
        time.sleep(0.5)  # written off the request path, every few seconds
    logged = read_request_log(log_dir, since=started)
    assert len(logged) == 400 and set(logged["model_version"]) == {"1"}
    np.testing.assert_allclose(logged["probability"].to_numpy(), served["probability"].to_numpy(), atol=1e-12)
    np.testing.assert_allclose(logged["tenure"].to_numpy(), rows["tenure"].to_numpy())

    everything = len(read_request_log(log_dir, since=timedelta(hours=1)))
    result = monitor_request_log(folder, MODEL)
    assert f"Monitoring of version 1 on {everything} rows" in result.stdout
    assert Client().get_model_version(MODEL, 1).run_metadata["last_monitoring"]["current_rows"] == everything


def test_a_killed_server_is_cleaned_up_and_serve_brings_production_back(first_deployment):
    folder, port, _ = first_deployment
    (service,) = [
        s for s in Client().active_stack.model_deployer.find_model_server() if s.config.model_name == MODEL
    ]
    server_group = service.served()["server_pid"]
    os.kill(service.status.pid, signal.SIGKILL)  # the ZenML daemon (the supervisor)
    deadline = time.monotonic() + 15
    while (not port_is_free(port) or group_alive(server_group)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert port_is_free(port) and not group_alive(server_group), "the servers must die with their supervisor"
    services = [
        s for s in Client().active_stack.model_deployer.find_model_server() if s.config.model_name == MODEL
    ]
    assert [s.is_running for s in services] == [False]  # what ZenML lists is what runs
    decision_before = decision_of(1)

    result = ok(run_cli(folder, "serve", f"model.name={MODEL}", f"parameters.serving.port={port}"))
    assert served_version(port) == "1" and production_number() == 1
    assert "promote_model" not in result.stdout + result.stderr
    assert decision_of(1) == decision_before  # no promotion ran

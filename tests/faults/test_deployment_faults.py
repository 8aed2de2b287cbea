"""Deployment's bad days: killed between the ZenML stage and the MLflow alias; its server supervisor killed.

What must hold afterwards:

- a promotion killed after the ZenML stage moved and before the MLflow alias did: ``python run.py
  models`` reports the disagreement (exit 1, one line naming both sides); the next deployment run
  finishes that promotion (the version was decided for) in both registries and serves it, and
  ``models`` then agrees;
- the local server's supervisor killed (SIGKILL): nothing is left holding the port, and
  ``python run.py serve`` brings production back on it.

Everything is real: ``python run.py`` in subprocesses on the throwaway ZenML store with the
``local`` stack (MLflow tracker and registry, the ``seldon-local`` deployer); the half promotion
is the project's own ``set_production`` in a child process that dies with SIGKILL between
the two moves (``tests/faults/half_promotion_child.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from zenml.client import Client
from zenml.enums import ModelStages

from tests.integration.cli import ok, output, run_cli
from tests.integration.deployment_runs import deploy as deploy_model
from tests.integration.deployment_runs import mlflow_production as mlflow_production_of
from tests.integration.deployment_runs import served_version, stack_folder_with_port, train_with
from tests.support.paths import PROJECT_ROOT
from tests.support.processes import listeners, port_is_free, process_alive, wait_for

pytestmark = pytest.mark.integration

MODEL = "churn_deploy_faults"
LOGISTIC = "{name: lr, estimator: sklearn.linear_model.LogisticRegression, params: {max_iter: 500}}"
STUMP = "{name: stump, estimator: sklearn.tree.DecisionTreeClassifier, params: {max_depth: 1}}"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from stack_folder_with_port(tmp_path_factory, "deployment-faults", seed=13)


def mlflow_production() -> str:
    return mlflow_production_of(MODEL)


def deploy(folder, port) -> subprocess.CompletedProcess:
    return deploy_model(folder, port, MODEL)


@pytest.fixture(scope="module")
def half_promoted(env):
    """Versions 1 and 2 trained; 1 promoted in both registries; 2's promotion killed between them."""
    folder, _ = env
    for algorithm in (LOGISTIC, STUMP):
        train_with(folder, MODEL, algorithm)
    child = subprocess.run(
        [sys.executable, "-m", "tests.faults.half_promotion_child", MODEL, "1", "2"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout[-2000:] + child.stderr[-3000:]
    return env


def test_models_reports_a_promotion_killed_between_the_two_registries(half_promoted):
    folder, _ = half_promoted
    assert Client().get_model_version(MODEL, ModelStages.PRODUCTION).number == 2
    assert mlflow_production() == "1"
    shown = run_cli(folder, "models", "--model", MODEL)
    assert shown.returncode == 1, output(shown)[-3000:]
    assert "registries disagree: ZenML production is version 2, MLflow alias production is on version 1" in (
        shown.stderr
    )


def test_the_next_deployment_finishes_the_killed_promotion_and_serves_it(half_promoted):
    folder, port = half_promoted
    deploy(folder, port)
    production = Client().get_model_version(MODEL, ModelStages.PRODUCTION)
    assert production.number == 2 and mlflow_production() == "2"
    assert production.run_metadata["decision"]["status"] == "promoted"
    assert served_version(port) == "2"
    shown = run_cli(folder, "models", "--model", MODEL)
    assert shown.returncode == 0 and "disagree" not in shown.stderr, output(shown)[-3000:]


def test_a_killed_supervisor_frees_the_port_and_serve_brings_production_back(half_promoted):
    folder, port = half_promoted
    assert served_version(port) == "2"
    (service,) = Client().active_stack.model_deployer.find_model_server(model_name=MODEL, running=True)
    supervisor = service.served()["supervisor_pid"]
    os.kill(supervisor, signal.SIGKILL)
    assert wait_for(lambda: port_is_free(port) and not process_alive(supervisor), 20), listeners(port)
    ok(
        run_cli(
            folder,
            "serve",
            "--config",
            str(PROJECT_ROOT / "configs/deployment.yaml"),
            f"model.name={MODEL}",
            f"parameters.serving.port={port}",
        )
    )
    assert served_version(port) == "2"
    assert (
        Client().get_model_version(MODEL, ModelStages.PRODUCTION).number == 2 and mlflow_production() == "2"
    )

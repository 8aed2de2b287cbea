"""Deploy a model bundle through whichever model deployer the active stack has.

The deployment pipeline never changes between stacks: this module maps the deployer's
flavor to its service configuration (local Seldon, ZenML's MLflow deployer, or ZenML's
Seldon Core deployer on Kubernetes running the same serving image).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from zenml.io import fileio
from zenml.logger import get_logger

from tabular_ml.config import DataContract, ServingConfig

logger = get_logger(__name__)

# Every deployment of a model is the same logical server, whichever pipeline (deployment or
# rollback) asked for it: ZenML finds the server to replace by these names.
SERVICE_PIPELINE = "deployment"
SERVICE_STEP = "deploy_model"


class DeploymentInfo(BaseModel):
    """Where a model version is served (the `deployment` artifact)."""

    model_name: str
    model_version: str
    deployer_flavor: str
    prediction_url: str | None
    bundle_uri: str
    service_id: str


def export_bundle(
    artifact_store_path: str,
    pipeline: Any,
    contract: DataContract,
    model_name: str,
    model_version: str,
    threshold: float,
) -> str:
    """Write the serving bundle of a model version into the artifact store; return its URI.

    A remote store (s3://, gs://...) gets a copy of the files, which Seldon's storage
    initializer downloads into the pod; a local store's path is used as is.
    """
    from serving.bundle import save_bundle

    uri = os.path.join(artifact_store_path, "serving_bundles", model_name, str(model_version))
    with tempfile.TemporaryDirectory() as folder:
        save_bundle(folder, pipeline, contract, model_name, str(model_version), threshold=threshold)
        fileio.makedirs(uri)
        for name in sorted(os.listdir(folder)):
            fileio.copy(os.path.join(folder, name), os.path.join(uri, name), overwrite=True)
    return uri


def _local_seldon(bundle_uri: str, name: str, version: str, serving: ServingConfig) -> tuple[Any, Any]:
    from flavors.local_seldon.service import LocalSeldonDeploymentConfig, LocalSeldonDeploymentService

    config = LocalSeldonDeploymentConfig(
        bundle_dir=bundle_uri,
        model_name=name,
        model_version=version,
        workers=serving.workers,
        threads=serving.threads,
        port=serving.port,
        pipeline_name=SERVICE_PIPELINE,
        pipeline_step_name=SERVICE_STEP,
        service_name=f"{name}-seldon-local",
    )
    return config, LocalSeldonDeploymentService.SERVICE_TYPE


def _mlflow(mlflow_model_uri: str, name: str, version: str, serving: ServingConfig) -> tuple[Any, Any]:
    from zenml.integrations.mlflow.services import MLFlowDeploymentConfig, MLFlowDeploymentService

    # ZenML's MLflow daemon inherits this environment and runs `bash -c "exec uvicorn ..."`:
    # uvicorn must be on PATH (the venv need not be activated) and the Pipeline's own
    # transformers (tabular_ml) importable from any working directory.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    project = str(Path(__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [project, os.environ.get("PYTHONPATH")]))

    config = MLFlowDeploymentConfig(
        model_uri=mlflow_model_uri,
        model_name=name,
        model_version=version,
        workers=serving.workers,
        timeout=serving.timeout_s,
        pipeline_name=SERVICE_PIPELINE,
        pipeline_step_name=SERVICE_STEP,
        service_name=f"{name}-mlflow",
    )
    return config, MLFlowDeploymentService.SERVICE_TYPE


def _seldon_kubernetes(
    deployer: Any, bundle_uri: str, name: str, version: str, serving: ServingConfig
) -> tuple[Any, Any]:
    from zenml.integrations.seldon.services import SeldonDeploymentConfig, SeldonDeploymentService

    from serving.k8s import zenml_deployment_config

    resources = {
        "requests": {"cpu": serving.cpu, "memory": serving.memory},
        "limits": {"cpu": serving.cpu, "memory": serving.memory},
    }
    kwargs = zenml_deployment_config(
        name.replace("_", "-"),
        version,
        serving.image,
        bundle_uri,
        secret_name=deployer.kubernetes_secret_name,
        replicas=serving.replicas,
        resources=resources,
        workers=serving.workers,
        threads=serving.threads,
    )
    config = SeldonDeploymentConfig(
        **kwargs,
        pipeline_name=SERVICE_PIPELINE,
        pipeline_step_name=SERVICE_STEP,
        service_name=f"{name}-seldon",
    )
    return config, SeldonDeploymentService.SERVICE_TYPE


def deploy(
    deployer: Any,
    bundle_uri: str,
    mlflow_model_uri: str | None,
    model_name: str,
    model_version: str,
    serving: ServingConfig,
) -> DeploymentInfo:
    """Start (or replace) the server of ``model_name`` with this version; wait until it is ready."""
    flavor = deployer.flavor
    if flavor == "seldon-local":
        config, service_type = _local_seldon(bundle_uri, model_name, model_version, serving)
    elif flavor == "mlflow":
        if not (mlflow_model_uri or "").startswith(("models:/", "runs:/")):
            raise ValueError(
                f"version {model_version} has no MLflow model (trained without an MLflow tracker, or before "
                "models were logged): the MLflow deployer cannot serve it; use the local Seldon deployer"
            )
        config, service_type = _mlflow(mlflow_model_uri, model_name, model_version, serving)
    elif flavor == "seldon":
        config, service_type = _seldon_kubernetes(deployer, bundle_uri, model_name, model_version, serving)
    else:
        raise ValueError(
            f"model deployer flavor {flavor!r} is not supported; use seldon-local, mlflow or seldon"
        )
    # Replace this model's running server. (ZenML's continuous_deployment_mode looks the old
    # server up by the *latest* model version, so it misses a server of an older version.)
    for old in deployer.find_model_server(service_name=config.service_name):
        logger.info("Stopping the server of %s version %s", model_name, old.config.model_version)
        deployer.delete_model_server(old.uuid, timeout=serving.timeout_s)
    service = deployer.deploy_model(config, service_type=service_type, timeout=serving.timeout_s)
    if not service.is_running:
        raise RuntimeError(
            f"the {flavor} model server of {model_name} version {model_version} did not start: "
            f"{service.status.last_error or service.status.state.value}"
        )
    logger.info("Serving %s version %s at %s", model_name, model_version, service.get_prediction_url())
    return DeploymentInfo(
        model_name=model_name,
        model_version=model_version,
        deployer_flavor=flavor,
        prediction_url=service.get_prediction_url(),
        bundle_uri=bundle_uri,
        service_id=str(service.uuid),
    )

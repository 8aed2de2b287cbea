"""Deploy a model bundle through whichever model deployer the active stack has.

The deployment pipeline never changes between stacks: this module maps the deployer's
flavor to its service configuration (local Seldon, ZenML's MLflow deployer, or ZenML's
Seldon Core deployer on Kubernetes running the same serving image).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from zenml.client import Client
from zenml.io import fileio
from zenml.logger import get_logger

from tabular_ml.configuration.schema import ServingConfig
from tabular_ml.modelling.trained_model import TrainedModel

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
    outcome: str = "started"  # started | swapped | updated | unchanged
    shadow_version: str | None = None  # the challenger scored in shadow, if any


def export_bundle(artifact_store_path: str, model: TrainedModel, reference_rows: Any = None) -> str:
    """Write the serving bundle of a model version into the artifact store; return its URI.

    A remote store (s3://, gs://...) gets a copy of the files, which Seldon's storage
    initializer downloads into the pod; a local store's path is used as is.
    ``reference_rows`` (the holdout, say) are kept for the server's fast-path check.
    """
    from serving.bundle import META_FILE, save_bundle

    uri = os.path.join(artifact_store_path, "serving_bundles", model.name, model.version)
    if fileio.exists(os.path.join(uri, META_FILE)):
        return uri  # a version's bundle never changes; a server may be reading it right now
    with tempfile.TemporaryDirectory() as folder:
        save_bundle(
            folder,
            model.pipeline,
            model.contract,
            model.name,
            model.version,
            model.threshold,
            model.target,
            reference_rows=reference_rows,
        )
        fileio.makedirs(uri)
        # the metadata file last: its presence means the bundle is complete
        for name in sorted(os.listdir(folder), key=lambda name: name == META_FILE):
            fileio.copy(os.path.join(folder, name), os.path.join(uri, name), overwrite=True)
    return uri


def shadowed_bundle(production_uri: str, shadow_uri: str, shadow_version: str) -> str:
    """A bundle folder holding production's bundle with the shadow's in its ``shadow/`` folder
    (``<production>+shadow-<version>`` beside it); return its URI. Both bundles stay as they are."""
    from serving.bundle import META_FILE, SHADOW_DIR

    uri = f"{production_uri.rstrip('/')}+shadow-{shadow_version}"
    if fileio.exists(os.path.join(uri, META_FILE)):
        return uri  # made before: never changed, a server may be reading it
    fileio.makedirs(os.path.join(uri, SHADOW_DIR))
    for source, target in ((shadow_uri, os.path.join(uri, SHADOW_DIR)), (production_uri, uri)):
        # each metadata file last: its presence means the bundle is complete
        for name in sorted(fileio.listdir(source), key=lambda name: str(name) == META_FILE):
            if not fileio.isdir(os.path.join(source, str(name))):
                fileio.copy(os.path.join(source, str(name)), os.path.join(target, str(name)), overwrite=True)
    return uri


def _local_seldon(bundle_uri: str, name: str, version: str, serving: ServingConfig) -> tuple[Any, Any]:
    from flavors.local_seldon.service import LocalSeldonDeploymentConfig, LocalSeldonDeploymentService

    config = LocalSeldonDeploymentConfig(
        bundle_dir=bundle_uri,
        model_name=name,
        model_version=version,
        workers=serving.workers,
        port=serving.port,
        metrics_port=serving.metrics_port,
        request_log_dir=serving.request_log_path(name) or "",
        max_body_bytes=serving.max_body_bytes,
        contract_violations=serving.contract_violations,
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


def serving_env(serving: ServingConfig) -> dict[str, str]:
    """The serving settings a Kubernetes pod reads from its environment (as the local server does)."""
    return {
        "SERVING_MAX_BODY_BYTES": str(serving.max_body_bytes),
        "SERVING_CONTRACT_VIOLATIONS": serving.contract_violations,
    }


def _seldon_kubernetes(
    deployer: Any, bundle_uri: str, name: str, version: str, serving: ServingConfig
) -> tuple[Any, Any]:
    from zenml.integrations.seldon.services import SeldonDeploymentConfig, SeldonDeploymentService

    from adapters.seldon_deployment import zenml_deployment_config

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
        request_log=bool(serving.request_log_dir.strip()),  # an emptyDir in the pod
        env=serving_env(serving),
    )
    config = SeldonDeploymentConfig(
        **kwargs,
        pipeline_name=SERVICE_PIPELINE,
        pipeline_step_name=SERVICE_STEP,
        service_name=f"{name}-seldon",
    )
    return config, SeldonDeploymentService.SERVICE_TYPE


def _service_config(
    deployer: Any,
    bundle_uri: str,
    mlflow_model_uri: str | None,
    name: str,
    version: str,
    serving: ServingConfig,
) -> tuple[Any, Any]:
    flavor = deployer.flavor
    if flavor == "seldon-local":
        return _local_seldon(bundle_uri, name, version, serving)
    if flavor == "mlflow":
        if serving.shadow is not None:
            raise ValueError(
                "serving.shadow needs the seldon-local or seldon model deployer: the MLflow deployer serves "
                "the MLflow model, which has no shadow"
            )
        if not (mlflow_model_uri or "").startswith(("models:/", "runs:/")):
            raise ValueError(
                f"version {version} has no MLflow model (trained without an MLflow tracker, or before "
                "models were logged): the MLflow deployer cannot serve it; use the local Seldon deployer"
            )
        return _mlflow(mlflow_model_uri, name, version, serving)
    if flavor == "seldon":
        return _seldon_kubernetes(deployer, bundle_uri, name, version, serving)
    raise ValueError(f"model deployer flavor {flavor!r} is not supported; use seldon-local, mlflow or seldon")


def served_version(service: Any) -> str | None:
    """The model version a running server serves now.

    The local supervisor says so itself; otherwise the server record's model version,
    which :func:`deploy` moves on every in-place update (ZenML keeps a server's first
    configuration, so ``service.config.model_version`` can be stale).
    """
    served = service.served().get("model_version") if hasattr(service, "served") else None
    if served:
        return str(served)
    record = Client().get_service(service.uuid)
    return str(record.model_version.number) if record.model_version else service.config.model_version


def _running_server(deployer: Any, service_name: str) -> Any | None:
    """The one running server of a model; records of stopped or surplus servers are removed."""
    services = deployer.find_model_server(service_name=service_name)
    running = [service for service in services if service.is_running]
    for stale in [service for service in services if not service.is_running] + running[1:]:
        logger.info("Removing server record %s (%s)", stale.uuid, stale.status.state.value)
        deployer.delete_model_server(stale.uuid, force=True)
    return running[0] if running else None


def _start_server(deployer: Any, config: Any, service_type: Any, timeout: int) -> Any:
    """A new server for ``config``, recorded in the ZenML store.

    Not ``deployer.deploy_model``: in ZenML 0.98 its lookup of "a server with the exact same
    configuration" ignores the configuration (the store's service filter skips ``config``),
    so it hands back any running server of the flavor: another model's server.
    """
    client = Client()
    record = client.create_service(config=config, service_type=service_type)
    try:
        service = deployer.perform_deploy_model(id=record.id, config=config, timeout=timeout)
    except Exception:
        client.delete_service(record.id)
        raise
    client.update_service(
        id=service.uuid,
        name=service.config.service_name,
        service_source=service.model_dump().get("type"),
        admin_state=service.admin_state,
        status=service.status.model_dump(),
        endpoint=service.endpoint.model_dump() if service.endpoint else None,
        prediction_url=service.get_prediction_url(),
        health_check_url=service.get_healthcheck_url(),
    )
    return service


def _update_in_place(deployer: Any, service: Any, config: Any, version: str, serving: ServingConfig) -> str:
    """Serve another version with the running server kept where it is; returns what happened."""
    if deployer.flavor == "seldon-local":
        return service.switch_to(config.bundle_dir, version, timeout=serving.timeout_s)
    # Kubernetes: the SeldonDeployment keeps its name (zenml-<first service id>) and is updated
    # in place; Seldon rolls the pods, old ones serving until the new ones pass readiness.
    config.secret_name = service.config.secret_name
    service.config = config
    service.start(timeout=serving.timeout_s)
    if not service.is_running:
        raise RuntimeError(f"the updated SeldonDeployment did not become ready: {service.status.last_error}")
    return "updated"


def _image_changed(deployer: Any, service: Any, serving: ServingConfig) -> bool:
    """Kubernetes: whether the model's SeldonDeployment runs another image than ``serving.image``.

    Read from the live resource, not from ZenML's record of the server, which keeps the
    server's first configuration. Local servers run this checkout's code: never changed.
    """
    if deployer.flavor != "seldon":
        return False
    from adapters.seldon_deployment import serving_image

    predictors = deployer.seldon_client.get_deployment(name=service.seldon_deployment_name).spec.predictors
    components = (predictors[0].componentSpecs if predictors else None) or []
    return serving_image(components[0].spec if components else None) != serving.image


def _bundle_changed(deployer: Any, service: Any, bundle_uri: str) -> bool:
    """Whether the running server serves another bundle folder than ``bundle_uri`` (a shadow
    added, changed or removed: the version alone says nothing of it)."""
    if deployer.flavor == "seldon-local":
        served = service.served().get("bundle_dir")
        return bool(served) and served != bundle_uri
    if deployer.flavor == "seldon":  # ZenML drops modelUri: the storage initializer holds it
        from adapters.seldon_deployment import served_bundle_uri

        name = service.seldon_deployment_name
        predictors = deployer.seldon_client.get_deployment(name=name).spec.predictors
        components = (predictors[0].componentSpecs if predictors else None) or []
        served = served_bundle_uri(components[0].spec if components else None)
        return served is not None and served != bundle_uri
    return False


def deploy(
    deployer: Any,
    bundle_uri: str,
    mlflow_model_uri: str | None,
    model_name: str,
    model_version: str,
    serving: ServingConfig,
) -> DeploymentInfo:
    """Serve ``model_version`` of ``model_name``, replacing its running server without a gap.

    The version already served (on Kubernetes: by the same serving image): nothing happens.
    Another version: the local Seldon supervisor starts it beside the old one on the same port
    and stops the old one once the new one is healthy (if it never is, the old one keeps
    serving and this raises); on Kubernetes the model's one SeldonDeployment is updated in
    place, also when only ``serving.image`` changed. ZenML's MLflow
    deployer has no in-place update: the new server starts first (on a free port), then
    the old one is stopped. Two local deployments of one model at once take turns (a file lock
    in the deployer's folder): the second sees what the first left running.
    """
    with _deployment_turn(deployer, f"{model_name}.deploy.lock"):
        config, service_type = _service_config(
            deployer, bundle_uri, mlflow_model_uri, model_name, model_version, serving
        )
        service = _running_server(deployer, config.service_name)
        if (
            service is not None
            and served_version(service) == model_version
            and not _image_changed(deployer, service, serving)
            and not _bundle_changed(deployer, service, bundle_uri)
        ):
            outcome = "unchanged"
            logger.info("Version %s of %s is already served; nothing to do", model_version, model_name)
        elif service is not None and deployer.flavor in ("seldon-local", "seldon"):
            outcome = _update_in_place(deployer, service, config, model_version, serving)
        else:
            old = service
            service = _start_server(deployer, config, service_type, serving.timeout_s)
            if not service.is_running:
                raise RuntimeError(
                    f"the {deployer.flavor} model server of {model_name} version {model_version} "
                    f"did not start: {service.status.last_error or service.status.state.value}"
                )
            if old is not None:
                deployer.delete_model_server(old.uuid, timeout=serving.timeout_s)
            outcome = "started"
        version_id = Client().get_model_version(model_name, model_version).id
        Client().update_service(id=service.uuid, model_version_id=version_id)
        logger.info(
            "Serving %s version %s at %s (%s)",
            model_name,
            model_version,
            service.get_prediction_url(),
            outcome,
        )
        return DeploymentInfo(
            model_name=model_name,
            model_version=model_version,
            deployer_flavor=deployer.flavor,
            prediction_url=service.get_prediction_url(),
            bundle_uri=bundle_uri,
            service_id=str(service.uuid),
            outcome=outcome,
            shadow_version=str(serving.shadow) if serving.shadow is not None else None,
        )


@contextlib.contextmanager
def _deployment_turn(deployer: Any, lock_name: str) -> Iterator[None]:
    """Hold an exclusive lock for a local deployer's model (other deployers: nothing to hold)."""
    if deployer.flavor != "seldon-local":
        yield
        return
    with open(os.path.join(deployer.local_path, lock_name), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield

"""Reading both registries for `run.py models`: ZenML's model versions and MLflow's aliases."""

from __future__ import annotations

from zenml.client import Client
from zenml.utils.pagination_utils import depaginate

from tabular_ml.configuration.loading import ConfigError
from tabular_ml.configuration.redaction import mask_text
from tabular_ml.model_management.registry_view import MlflowRegistry, ZenmlVersion


def zenml_versions(model_name: str) -> list[ZenmlVersion]:
    """Every ZenML version of ``model_name`` with its stage, creation time and run metadata.

    Raises:
        ConfigError: ZenML has no such model.
    """
    client = Client()
    try:
        model = client.get_model(model_name)
    except KeyError:
        raise ConfigError(
            f"ZenML has no model {model_name!r}; train it with `python run.py --config configs/training.yaml`"
        ) from None
    return [
        ZenmlVersion(version.number, version.stage, version.created, version.run_metadata)
        for version in depaginate(client.list_model_versions, model=model.id, hydrate=True)
    ]


def mlflow_registry(model_name: str) -> tuple[MlflowRegistry | None, str | None]:
    """(the MLflow registered model's aliases and versions, None) or (None, why there are none)."""
    tracker = Client().active_stack.experiment_tracker
    if tracker is None or tracker.flavor != "mlflow":
        return None, "the active stack has no MLflow experiment tracker"
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    tracker.configure_mlflow()  # the tracking URI (and credentials) of the stack's tracker
    where = mask_text(tracker.get_tracking_uri())
    mlflow_client = MlflowClient()
    try:
        registered = mlflow_client.get_registered_model(model_name)
        versions = mlflow_client.search_model_versions(f"name = '{model_name}'")
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None, f"the MLflow registry at {where} has no registered model {model_name!r}"
        return None, f"cannot read the MLflow registry at {where}: {str(error).strip().splitlines()[0]}"
    tags = {str(version.version): version.tags.get("zenml_version") for version in versions}
    return MlflowRegistry(dict(registered.aliases), tags), None

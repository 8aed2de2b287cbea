"""Rollback: put an earlier model version back into production."""

from typing import Annotated

from zenml import get_step_context, log_metadata, step
from zenml.client import Client
from zenml.enums import ModelStages
from zenml.logger import get_logger

from tabular_ml.tracking import set_mlflow_alias

logger = get_logger(__name__)


def _previous_production(model_name: str, current) -> int:
    """The version that was production before the current one (recorded at promotion)."""
    previous = current.run_metadata.get("previous_production")
    if previous is not None:
        return int(previous)
    archived = [
        v.number
        for v in Client().list_model_versions(model_name, stage=ModelStages.ARCHIVED, size=1000)
        if v.number < current.number
    ]
    if not archived:
        raise RuntimeError(f"model {model_name!r} has no earlier version to roll back to")
    return max(archived)


@step(enable_cache=False)
def restore_production(to_version: int | None = None) -> Annotated[int, "restored_version"]:
    """Set ``to_version`` (default: the previous production version) to production."""
    name = get_step_context().model.name
    client = Client()
    try:
        current = client.get_model_version(name, ModelStages.PRODUCTION)
    except KeyError:
        current = None
    if to_version is None:
        if current is None:
            raise RuntimeError(f"model {name!r} has no production version, so no previous one either")
        to_version = _previous_production(name, current)
    try:
        target = client.get_model_version(name, to_version)
    except KeyError:
        raise RuntimeError(f"model {name!r} has no version {to_version}") from None
    if "metrics" not in target.run_metadata:
        raise RuntimeError(f"version {to_version} of {name!r} never finished training; it cannot be served")
    client.update_model_version(target.model.id, target.id, stage=ModelStages.PRODUCTION, force=True)
    log_metadata(
        {"rolled_back_from": current.number if current else None},
        model_name=name,
        model_version=str(to_version),
    )
    mlflow_uri = target.get_artifact("model").run_metadata.get("mlflow_model_uri", "")
    if mlflow_uri.startswith(("models:/", "runs:/")):
        set_mlflow_alias(name, mlflow_uri, str(to_version))
    logger.info(
        "Model %s: version %s is production again (was %s)",
        name,
        to_version,
        current.number if current else "none",
    )
    return to_version

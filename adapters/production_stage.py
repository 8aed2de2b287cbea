"""Moving `production` in both registries together: the ZenML stage and the MLflow alias.

Shared by the promotion and rollback steps (and monitoring, which watches production). The
ZenML stage moves first; if the MLflow alias then cannot follow, the stage is put back as it
was, so the two registries never disagree about which version is production.
"""

from __future__ import annotations

from typing import Any

from zenml import log_metadata
from zenml.client import Client
from zenml.enums import ModelStages
from zenml.logger import get_logger

from adapters.mlflow_tracking import set_mlflow_alias
from tabular_ml.configuration.loading import ConfigError
from tabular_ml.model_management.decisions import DECISION_KEY, previous_production

logger = get_logger(__name__)


def production_version(model_name: str):
    """The current production version of ``model_name``, or None."""
    try:
        return Client().get_model_version(model_name, ModelStages.PRODUCTION)
    except KeyError:
        return None


def trained_versions(model_name: str) -> list[tuple[int, dict[str, Any]]]:
    """Every version of ``model_name`` as ``(number, run_metadata)``, newest first."""
    versions = Client().list_model_versions(model_name, sort_by="desc:number", size=1000)
    return [(version.number, dict(version.run_metadata)) for version in versions]


def version_to_restore(model_name: str) -> int:
    """The version a rollback without ``--to-version`` puts back: the one production had before.

    Raises:
        ConfigError: The model has no production version, or none before it.
    """
    current = production_version(model_name)
    if current is None:
        raise ConfigError(f"model {model_name!r} has no production version, so no previous one either")
    previous = previous_production(current.number, current.run_metadata, trained_versions(model_name))
    if previous is None:
        raise ConfigError(
            f"model {model_name!r} has no earlier version to roll back to "
            f"(version {current.number} is the first to have been production)"
        )
    return previous


def newest_version(model_name: str):
    """The newest version of ``model_name`` (a ZenML model version response), or None."""
    versions = Client().list_model_versions(model_name, sort_by="desc:number", size=1).items
    return versions[0] if versions else None


def _mlflow_model_uri(version) -> str:
    try:
        return version.get_artifact("model").run_metadata.get("mlflow_model_uri", "") or ""
    except Exception:  # a version without a model artifact has nothing to register
        return ""


def set_production(model_name: str, target, previous) -> None:
    """Make ``target`` production in ZenML and MLflow, or in neither.

    Args:
        model_name: The ZenML model (and MLflow registered model) name.
        target: The model version (ZenML response) to make production.
        previous: The current production version (or None), restored if MLflow fails.
    """
    client = Client()
    original_stage = target.stage
    client.update_model_version(target.model.id, target.id, stage=ModelStages.PRODUCTION, force=True)
    mlflow_uri = _mlflow_model_uri(target)
    if not mlflow_uri.startswith(("models:/", "runs:/")):
        return  # trained without an MLflow tracker: there is no alias to keep in step
    try:
        set_mlflow_alias(model_name, mlflow_uri, str(target.number))
    except Exception as error:
        if previous is not None:
            client.update_model_version(
                previous.model.id, previous.id, stage=ModelStages.PRODUCTION, force=True
            )
        client.update_model_version(
            target.model.id, target.id, stage=original_stage or ModelStages.NONE, force=True
        )
        kept = f"version {previous.number}" if previous is not None else "no version"
        raise RuntimeError(
            f"the MLflow alias 'production' could not be moved to version {target.number} "
            f"({type(error).__name__}: {error}); the ZenML stage was put back, production is still {kept}"
        ) from error


def record_decision(model_name: str, version_number: int, record: dict[str, Any], **extra: Any) -> None:
    """Store a decision (see tabular_ml.model_management.decisions) on a model version."""
    log_metadata({DECISION_KEY: record, **extra}, model_name=model_name, model_version=str(version_number))

"""ZenML model versions around a run: the one a run names is checked before it starts (a missing one
fails in one line); the one a failed training run created is discarded (the pipeline's failure hook)."""

from __future__ import annotations

from typing import Any

from zenml import get_step_context
from zenml.client import Client
from zenml.logger import get_logger

from adapters.production_stage import newest_version, version_to_restore
from tabular_ml.configuration.loading import ConfigError

logger = get_logger(__name__)


def check_model_version_exists(config: dict[str, Any]) -> None:
    """Raise unless the config's model version (``latest``, a stage, a number) exists.

    ZenML would otherwise fail later with "No latest stage version found for model <uuid>".

    Raises:
        ConfigError: The version is missing; the message says how to make it.
    """
    model = config.get("model") or {}
    version = model.get("version")
    if version is None or not model.get("name"):
        return
    try:
        Client().get_model_version(model["name"], version)
    except KeyError:
        if str(version) == "latest":
            raise ConfigError(
                f"model {model['name']!r} has no version yet; train it first (configs/training.yaml)"
            ) from None
        raise ConfigError(
            f"model {model['name']!r} has no {version} version; "
            "promote one with `python run.py --config configs/deployment.yaml`"
        ) from None


def check_rollback_target(model_name: str | None, version: int | None) -> None:
    """Raise unless ``version`` of the model (None: the version production had before) can be restored.

    Raises:
        ConfigError: No model name, no such version, a version without metrics, or no earlier
            production version.
    """
    if not model_name:
        raise ConfigError("the rollback configuration has no model.name")
    if version is None:
        version_to_restore(model_name)
        return
    try:
        target = Client().get_model_version(model_name, version)
    except KeyError:
        newest = newest_version(model_name)
        has = f"its newest is {newest.number}" if newest else "it has no versions"
        raise ConfigError(
            f"--to-version {version}: model {model_name!r} has no version {version} ({has})"
        ) from None
    if "metrics" not in target.run_metadata:
        raise ConfigError(
            f"--to-version {version}: version {version} of model {model_name!r} never finished training "
            "(it has no metrics), so it cannot be served"
        )


def discard_model_version(exception: BaseException | None = None) -> None:
    """On a failed step, delete the model version this run created (none is registered).

    ZenML creates the run's model version when the run starts; a pipeline's ``on_failure``
    hook runs in the failing step's context after the step is marked failed. Only a version
    created for this run is deleted (the configured model names no version); a configured,
    pre-existing version is left alone. Runs and step runs keep existing: their link to
    the version is set to null by the store.
    """
    context = get_step_context()
    version = context.model_version
    configured = context.pipeline_run.config.model
    if version is None or configured is None or configured.version is not None:
        return
    Client().delete_model_version(version.id)
    logger.info(
        "Run '%s' failed (%s): deleted model version %s of '%s' created for it.",
        context.pipeline_run.name,
        type(exception).__name__ if exception else "failed",
        version.number,
        version.model.name,
    )

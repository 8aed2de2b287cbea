"""A pipeline's run configuration: a config file plus overrides, its parameters validated.

The one loader the CLI uses for every run, and the monitoring pipeline's retrain step for
the training and deployment runs it starts (see ``retrain_runs``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tabular_ml.configuration.loading import ConfigError, apply_overrides, read_yaml, validate_section
from tabular_ml.configuration.schema import (
    DeploymentParameters,
    InferenceParameters,
    MonitoringParameters,
    RetrainConfig,
    RollbackParameters,
    ServeParameters,
    TrainingParameters,
)

# pipeline name (as pipelines/__init__.py exports it) -> the model of its `parameters:` section
PIPELINE_PARAMETERS: dict[str, type[BaseModel]] = {
    "training": TrainingParameters,
    "deployment": DeploymentParameters,
    "rollback": RollbackParameters,
    "serve": ServeParameters,
    "monitoring": MonitoringParameters,
    "inference": InferenceParameters,
}

# The top-level keys of a ZenML run configuration (zenml.config.PipelineRunConfiguration) that
# this project's configs may use; anything else is a typo ZenML would silently ignore.
RUN_CONFIG_KEYS = {
    "run_name",
    "enable_cache",
    "enable_artifact_metadata",
    "enable_artifact_visualization",
    "enable_step_logs",
    "enable_pipeline_logs",
    "schedule",
    "build",
    "steps",
    "settings",
    "environment",
    "secrets",
    "tags",
    "extra",
    "model",
    "parameters",
    "retry",
    "substitutions",
    "cache_policy",
    "execution_mode",
}


def pipeline_for(config_path: str, explicit: str | None) -> str:
    """Which pipeline a config file is for: ``explicit``, else the one its file name starts with.

    Raises:
        ConfigError: The file is missing, or its name names no pipeline.
    """
    if not Path(config_path).is_file():
        raise ConfigError(f"config file not found: {config_path}")
    name = explicit or next(
        (key for key in PIPELINE_PARAMETERS if Path(config_path).stem.startswith(key)), None
    )
    if name not in PIPELINE_PARAMETERS:
        raise ConfigError(
            f"cannot tell which pipeline {config_path} is for; pass --pipeline with one of: "
            f"{', '.join(PIPELINE_PARAMETERS)}"
        )
    return name


def version_number(text: str) -> int:
    """``--to-version N`` as a number >= 1.

    Raises:
        ConfigError: Not a whole number, or below 1.
    """
    number = int(text) if re.fullmatch(r"\s*[+-]?\d+\s*", text) else None
    if number is None or number < 1:
        got = repr(text) if number is None else number
        raise ConfigError(f"--to-version must be a version number >= 1, got {got}")
    return number


def resolve_config_dict(config: dict[str, Any], overrides: list[str], pipeline: str) -> dict[str, Any]:
    """``config`` with overrides applied and its parameters validated and filled in.

    Raises:
        ConfigError: An unknown top-level key, a bad override or an invalid parameter.
    """
    config = apply_overrides(config, overrides)
    unknown = sorted(set(config) - RUN_CONFIG_KEYS)
    if unknown:
        raise ConfigError(
            f"{unknown[0]}: unknown top-level key; expected one of: {', '.join(sorted(RUN_CONFIG_KEYS))}"
        )
    parameters = validate_section(config, "parameters", PIPELINE_PARAMETERS[pipeline])
    config["parameters"] = parameters.model_dump(mode="json")
    return config


def resolve_config(
    config_path: str | Path, overrides: list[str], pipeline: str, no_cache: bool
) -> dict[str, Any]:
    """The run configuration of a config file with overrides applied and parameters validated.

    Raises:
        ConfigError: The file is missing or invalid, or an override does not fit it.
    """
    config = resolve_config_dict(read_yaml(config_path), overrides, pipeline)
    if no_cache:
        config["enable_cache"] = False
    return config


def resolve_serve_config(config_path: str | Path, overrides: list[str]) -> dict[str, Any]:
    """`run.py serve`'s run configuration: the deployment config without its promotion, for production.

    Raises:
        ConfigError: The file is missing or invalid, or an override does not fit it.
    """
    config = read_yaml(config_path)
    config.get("parameters", {}).pop("promotion", None)
    config.get("steps", {}).pop("promote_model", None)
    config = resolve_config_dict(config, overrides, "serve")
    config["model"] = {**config.get("model", {}), "version": "production"}
    return config


def retrain_runs(
    retrain: RetrainConfig, model_name: str, project_root: Path
) -> list[tuple[str, Path, list[str]]]:
    """What ``on_drift: retrain`` runs, in order: ``(pipeline, config file, overrides)``.

    Training, then deployment (whose promotion gate decides), both for the watched model.
    """
    model = f"model.name={model_name}"
    return [
        ("training", project_root / retrain.training_config, [model, *retrain.overrides]),
        ("deployment", project_root / retrain.deployment_config, [model, *retrain.deployment_overrides]),
    ]


def check_retrain_runs(config: dict[str, Any], project_root: Path) -> None:
    """With ``on_drift: retrain``, resolve each run of ``retrain_runs`` now, before monitoring runs.

    Raises:
        ConfigError: A retrain config file is missing or invalid, or an override does not fit it.
    """
    parameters = MonitoringParameters.model_validate(config["parameters"])
    if parameters.on_drift != "retrain":
        return
    for pipeline, path, overrides in retrain_runs(parameters.retrain, config["model"]["name"], project_root):
        try:
            resolve_config(path, overrides, pipeline, no_cache=False)
        except ConfigError as error:
            raise ConfigError(f"parameters.retrain ({pipeline}): {error}") from None

"""What a stack file (configs/stacks/NAME.yaml) may say, and reading one.

A stack file holds the stack's components, the service connectors that give them
credentials, and ``run_config``: the settings every pipeline run on this stack gets (the
pipeline image, pod resources). Values may be ``${VAR}`` placeholders (stacks/environment.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from stacks.environment import substitute, variables
from tabular_ml.configuration.loading import ConfigError, read_yaml, validate_section
from tabular_ml.configuration.schema import StrictModel

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STACKS_DIR = PROJECT_ROOT / "configs" / "stacks"
ENV_FILE = PROJECT_ROOT / ".env"


class ConnectorSpec(StrictModel):
    name: str
    type: str = Field(description="the service connector type: aws, gcp, azure, kubernetes, docker")
    auth_method: str = Field(description="one of the type's methods, e.g. iam-role for aws")
    configuration: dict[str, str] = Field(
        default_factory=dict, description="credentials from ${VAR}s: ZenML stores them as its secrets"
    )
    resource_type: str | None = Field(None, description="left out: every resource type of the connector")
    resource_id: str | None = None
    description: str = ""


class ComponentSpec(StrictModel):
    name: str
    flavor: str
    flavor_source: str | None = Field(
        None, description="import path of a custom flavor class of this project"
    )
    configuration: dict[str, Any] = Field(default_factory=dict)
    connector: str | None = Field(None, description="a service connector of this file giving the credentials")
    connector_resource_id: str | None = Field(
        None, description="which resource of the connector (an EKS cluster's name, say)"
    )


class StepRunConfig(StrictModel):
    settings: dict[str, dict[str, Any]] = Field(default_factory=dict)


class RunConfig(StrictModel):
    """Run-configuration keys that run.py merges into every run while the stack is active."""

    settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="ZenML settings by key: docker, orchestrator.kubernetes, ..."
    )
    steps: dict[str, StepRunConfig] = Field(
        default_factory=dict, description="per step name; a pipeline without that step ignores it"
    )


class StackSpec(StrictModel):
    name: str
    service_connectors: list[ConnectorSpec] = Field(default_factory=list)
    components: dict[str, ComponentSpec] = Field(min_length=2)
    run_config: RunConfig = Field(default_factory=RunConfig)


def load_stack_spec(
    path: Path, env_file: Path = ENV_FILE, environ: Mapping[str, str] | None = None
) -> StackSpec:
    """Read a stack file, fill in its ``${VAR}``s and validate it."""
    data = substitute(read_yaml(path), variables(env_file, environ), shown(path), shown(env_file))
    spec = validate_section({"stack": data}, "stack", StackSpec)
    _check_connector_references(spec)
    return spec


def load_run_config(
    path: Path, env_file: Path = ENV_FILE, environ: Mapping[str, str] | None = None
) -> RunConfig:
    """Only the ``run_config`` of a stack file: a run needs none of registration's variables."""
    section = read_yaml(path).get("run_config") or {}
    data = substitute(section, variables(env_file, environ), f"{shown(path)}: run_config", shown(env_file))
    return validate_section({"run_config": data}, "run_config", RunConfig)


def shown(path: Path) -> str:
    """A path as messages show it: relative to the project when inside it."""
    path = Path(path)
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def stack_file(name: str) -> Path | None:
    """configs/stacks/NAME.yaml when it exists (a stack registered some other way has none)."""
    path = STACKS_DIR / f"{name}.yaml"
    return path if Path(name).name == name and path.is_file() else None


def _check_connector_references(spec: StackSpec) -> None:
    names = [connector.name for connector in spec.service_connectors]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    problems = [f"stack.service_connectors: {name!r} is defined twice" for name in duplicates]
    for component_type, component in spec.components.items():
        where = f"stack.components.{component_type}"
        if component.connector is not None and component.connector not in names:
            known = ", ".join(names) or "none defined"
            problems.append(
                f"{where}.connector: {component.connector!r} is not in service_connectors ({known})"
            )
        if component.connector_resource_id is not None and component.connector is None:
            problems.append(f"{where}.connector_resource_id: set without a connector")
    if problems:
        raise ConfigError("\n".join(problems))

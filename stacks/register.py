"""Idempotent registration of a stack described in YAML (configs/stacks/NAME.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from tabular_ml.configuration.loading import ConfigError, read_yaml, validate_section
from tabular_ml.configuration.schema import StrictModel


class ComponentSpec(StrictModel):
    name: str
    flavor: str
    flavor_source: str | None = Field(
        None, description="import path of a custom flavor class of this project"
    )
    configuration: dict[str, Any] = Field(default_factory=dict)


class StackSpec(StrictModel):
    name: str
    components: dict[str, ComponentSpec] = Field(min_length=2)


def load_stack_spec(path: Path) -> StackSpec:
    """Read and validate a stack file."""
    return validate_section({"stack": read_yaml(path)}, "stack", StackSpec)


def _ensure_flavor(client: Any, component_type: Any, spec: ComponentSpec) -> None:
    """Register a custom flavor (e.g. flavors.local_seldon) the first time a stack needs it."""
    known = {flavor.name for flavor in client.get_flavors_by_type(component_type)}
    if spec.flavor not in known:
        if spec.flavor_source is None:
            raise ConfigError(
                f"{component_type.value} flavor '{spec.flavor}' is unknown to ZenML; "
                f"known: {', '.join(sorted(known))}"
            )
        client.create_flavor(source=spec.flavor_source, component_type=component_type)


def _ensure_component(client: Any, component_type: Any, spec: ComponentSpec) -> None:
    """Register the component unless one of that name exists; refuse a same-named other flavor."""
    _ensure_flavor(client, component_type, spec)
    existing = client.list_stack_components(type=component_type, name=spec.name)
    if existing.items:
        if existing.items[0].flavor_name != spec.flavor:
            raise ConfigError(
                f"{component_type.value} '{spec.name}' exists with flavor '{existing.items[0].flavor_name}', "
                f"not '{spec.flavor}': rename it in the stack file or delete the old component"
            )
        if spec.configuration:
            client.update_stack_component(spec.name, component_type, configuration=spec.configuration)
        return
    client.create_stack_component(spec.name, spec.flavor, component_type, spec.configuration)


def register_stack(path: Path, activate: bool = True) -> StackSpec:
    """Create or update the stack in ``path`` and (by default) make it the active stack."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    spec = load_stack_spec(path)
    client = Client()
    components = {}
    for type_name, component in spec.components.items():
        try:
            component_type = StackComponentType(type_name)
        except ValueError:
            allowed = ", ".join(t.value for t in StackComponentType)
            raise ConfigError(
                f"{path}: unknown component type '{type_name}'; expected one of: {allowed}"
            ) from None
        _ensure_component(client, component_type, component)
        components[component_type] = component.name
    if client.list_stacks(name=spec.name).items:
        client.update_stack(spec.name, component_updates={t: [n] for t, n in components.items()})
    else:
        client.create_stack(spec.name, components=components)
    if activate:
        client.activate_stack(spec.name)
    return spec

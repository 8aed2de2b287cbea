"""Idempotent registration of a stack described in YAML (configs/stacks/NAME.yaml).

Connectors first (components link to them), then components, then the stack. Whatever
already matches the file is left untouched, so registering twice changes nothing.
Service connectors are registered without verification: that would need the cloud itself
(ZenML checks them when a component first uses one; `zenml service-connector verify NAME`
checks one by hand).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

from stacks.run_settings import check_run_config
from stacks.spec import ENV_FILE, ComponentSpec, ConnectorSpec, StackSpec, load_stack_spec, shown
from tabular_ml.configuration.loading import ConfigError


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


def _as_stored(value: Any) -> Any:
    """A configuration value as the store keeps it (JSON), to compare with what it holds."""
    return json.loads(json.dumps(value))


def _type_of(connector: Any) -> Any:
    """A registered connector's type model (the store answers with the model or its name)."""
    from zenml.client import Client

    connector_type = connector.connector_type
    return (
        Client().get_service_connector_type(connector_type)
        if isinstance(connector_type, str)
        else connector_type
    )


def _ensure_connector(client: Any, spec: ConnectorSpec) -> Any:
    """Create the connector, or update it when it differs from the file; return its model."""
    try:
        client.get_service_connector_type(spec.type)
    except KeyError:
        available = ", ".join(sorted(t.connector_type for t in client.list_service_connector_types()))
        raise ConfigError(
            f"service connector {spec.name!r}: type {spec.type!r} is not available here "
            f"(available: {available}); its ZenML integration's packages are missing"
        ) from None
    existing = client.list_service_connectors(name=spec.name).items
    try:
        if not existing:
            connector, _ = client.create_service_connector(
                name=spec.name,
                connector_type=spec.type,
                auth_method=spec.auth_method,
                resource_type=spec.resource_type,
                resource_id=spec.resource_id,
                configuration=spec.configuration,
                description=spec.description,
                auto_configure=False,
                verify=False,
            )
            return connector
        current = client.get_service_connector(spec.name, expand_secrets=True)
        current_type = _type_of(current).connector_type
        if current_type != spec.type:
            raise ConfigError(
                f"service connector {spec.name!r} exists with type {current_type!r}, not {spec.type!r}: "
                "rename it in the stack file or delete the old connector"
            )
        if _connector_matches(current, spec):
            return current
        connector, _ = client.update_service_connector(
            spec.name,
            auth_method=spec.auth_method,
            resource_type=spec.resource_type or "",
            resource_id=spec.resource_id or "",
            configuration=spec.configuration,
            description=spec.description,
            verify=False,
        )
        return connector
    except ConfigError:
        raise
    except ValueError as error:  # ZenML's validation of the type, method and configuration
        raise ConfigError(f"service connector {spec.name!r}: {str(error).strip().splitlines()[0]}") from None


def _connector_matches(current: Any, spec: ConnectorSpec) -> bool:
    stored = current.configuration.plain  # secret values revealed (fetched with expand_secrets)
    resource_types = current.resource_types if spec.resource_type is None else [spec.resource_type]
    return (
        current.auth_method == spec.auth_method
        and stored == spec.configuration
        and (current.resource_id or None) == spec.resource_id
        and sorted(current.resource_types) == sorted(resource_types)
        and current.description == spec.description
    )


def _connector_link(
    component_type: Any, component: ComponentSpec, flavor: Any, connector: Any
) -> tuple[UUID, str | None]:
    """The connector and resource ID a component uses, checked as `zenml ... connect` checks them."""
    where = f"{component_type.value} {component.name!r}"
    requirements = flavor.service_connector_requirements
    if requirements is None:
        raise ConfigError(f"{where}: flavor {component.flavor!r} cannot use a service connector")
    connector_type = _type_of(connector)
    if requirements.connector_type not in (None, connector_type.connector_type):
        raise ConfigError(
            f"{where}: flavor {component.flavor!r} needs a {requirements.connector_type!r} connector, "
            f"{connector.name!r} is {connector_type.connector_type!r}"
        )
    if requirements.resource_type not in connector.resource_types:
        raise ConfigError(
            f"{where}: connector {connector.name!r} gives no {requirements.resource_type!r} resource "
            f"(it gives: {', '.join(connector.resource_types)})"
        )
    resource_id = component.connector_resource_id
    if requirements.resource_id_attr is not None:
        resource_id = component.configuration.get(requirements.resource_id_attr, resource_id)
    resource_id = resource_id or connector.resource_id
    if (
        resource_id is None
        and connector_type.resource_type_dict[requirements.resource_type].supports_instances
    ):
        raise ConfigError(
            f"{where}: set connector_resource_id to the {requirements.resource_type} it uses "
            f"(connector {connector.name!r} can reach several)"
        )
    return connector.id, resource_id


def _ensure_component(
    client: Any, component_type: Any, spec: ComponentSpec, connectors: dict[str, Any]
) -> None:
    """Create the component, or update what differs from the file; refuse a same-named other flavor."""
    from zenml.stack.flavor import Flavor

    _ensure_flavor(client, component_type, spec)
    existing = client.list_stack_components(type=component_type, name=spec.name).items
    if existing and existing[0].flavor_name != spec.flavor:
        raise ConfigError(
            f"{component_type.value} '{spec.name}' exists with flavor '{existing[0].flavor_name}', "
            f"not '{spec.flavor}': rename it in the stack file or delete the old component"
        )
    link = (None, None)  # checked before anything is written, so a bad link changes nothing
    if spec.connector is not None:
        flavor = Flavor.from_model(client.get_flavor_by_name_and_type(spec.flavor, component_type))
        link = _connector_link(component_type, spec, flavor, connectors[spec.connector])
    if not existing:
        client.create_stack_component(spec.name, spec.flavor, component_type, spec.configuration)
    current = client.get_stack_component(component_type, spec.name)
    stored = {key: current.configuration.get(key) for key in spec.configuration}
    if stored != _as_stored(spec.configuration):
        current = client.update_stack_component(spec.name, component_type, configuration=spec.configuration)
    linked = (current.connector.id if current.connector else None, current.connector_resource_id)
    if linked == link:
        return
    if spec.connector is None:
        client.update_stack_component(spec.name, component_type, disconnect=True)
    else:
        client.update_stack_component(
            spec.name, component_type, connector_id=link[0], connector_resource_id=link[1]
        )


def register_stack(path: Path, activate: bool = True, env_file: Path = ENV_FILE) -> StackSpec:
    """Create or update the stack in ``path`` and (by default) make it the active stack."""
    spec = load_stack_spec(path, env_file=env_file)  # before importing ZenML: bad files fail fast
    from zenml.client import Client
    from zenml.enums import StackComponentType

    client = Client()
    component_types = {}
    for type_name in spec.components:
        try:
            component_types[type_name] = StackComponentType(type_name)
        except ValueError:
            allowed = ", ".join(t.value for t in StackComponentType)
            raise ConfigError(
                f"{shown(path)}: unknown component type '{type_name}'; expected one of: {allowed}"
            ) from None
    connectors = {
        connector.name: _ensure_connector(client, connector) for connector in spec.service_connectors
    }
    for type_name, component in spec.components.items():
        _ensure_component(client, component_types[type_name], component, connectors)
    wanted = {component_types[t]: c.name for t, c in spec.components.items()}
    existing = client.list_stacks(name=spec.name).items
    if not existing:
        client.create_stack(spec.name, components=wanted)
    else:
        stack = client.get_stack(spec.name)
        current = {component_type: models[0].name for component_type, models in stack.components.items()}
        if current != wanted:
            updates = {t: [wanted[t]] if t in wanted else [] for t in {*current, *wanted}}
            client.update_stack(spec.name, component_updates=updates)
    check_run_config(spec.run_config, client.get_stack(spec.name), where=shown(path))
    if activate and client.active_stack_model.name != spec.name:
        client.activate_stack(spec.name)
    return spec

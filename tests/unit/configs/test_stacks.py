"""Every configs/stacks/*.yaml against what ZenML knows: component types, flavors, configurations.

Flavors and their configuration classes come from the throwaway ZenML store that
tests/conftest.py points ZENML_CONFIG_PATH at. The ${VAR}s of the remote stacks get the
placeholder values of tests/support/stack_env.py. Registering every file for real, twice, and
switching between them: tests/integration/test_stack_registration.py.
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from stacks.environment import placeholders
from stacks.spec import StackSpec, load_stack_spec
from tests.support.paths import PROJECT_ROOT
from tests.support.stack_env import PLACEHOLDER_VALUES, STACKS

STACK_FILES = sorted(STACKS.glob("*.yaml"))
SECRET_LOOKING_KEYS = (
    "password",
    "secret_key",
    "secret_access_key",
    "access_key_id",
    "token",
    "client_secret",
)


@cache
def _known_flavors(component_type: str) -> frozenset[str]:
    from zenml.client import Client
    from zenml.enums import StackComponentType

    return frozenset(f.name for f in Client().get_flavors_by_type(StackComponentType(component_type)))


@cache
def _custom_flavor(flavor_source: str) -> Any:
    """The project's own flavor class named by ``flavor_source`` (registered by register_stack)."""
    module_name, _, class_name = flavor_source.rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)()


@cache
def _flavor_config_class(component_type: str, flavor: str, flavor_source: str | None = None) -> type:
    if flavor_source:
        return _custom_flavor(flavor_source).config_class
    from zenml.client import Client
    from zenml.enums import StackComponentType
    from zenml.stack.flavor import Flavor

    model = Client().get_flavor_by_name_and_type(flavor, StackComponentType(component_type))
    return Flavor.from_model(model).config_class


def _without_secret_references(configuration: dict[str, Any]) -> dict[str, Any]:
    """Secret references replaced by a dummy: a config class resolves them (against the store) on access."""
    from zenml.utils import secret_utils

    return {k: "dummy" if secret_utils.is_secret_reference(v) else v for k, v in configuration.items()}


def _load(path: Path) -> StackSpec:
    return load_stack_spec(path, env_file=PROJECT_ROOT / "tests" / "no-such.env", environ=PLACEHOLDER_VALUES)


def _specs() -> dict[str, StackSpec]:
    return {path.name: _load(path) for path in STACK_FILES}


def test_the_expected_stack_files_exist():
    assert {"local.yaml", "local-mlflow.yaml", "local-alerts.yaml", "prod.yaml", "aws.yaml"} <= {
        path.name for path in STACK_FILES
    }


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_stack_file_components_are_known_to_zenml(path):
    from zenml.enums import StackComponentType

    spec = _load(path)
    assert spec.name == path.stem
    valid_types = {t.value for t in StackComponentType}
    for component_type, component in spec.components.items():
        assert component_type in valid_types, f"{path.name}: unknown component type {component_type!r}"
        if component.flavor_source:  # a flavor of this project, registered with the stack
            flavor = _custom_flavor(component.flavor_source)
            assert (flavor.name, flavor.type.value) == (component.flavor, component_type)
        else:
            known = _known_flavors(component_type)
            assert component.flavor in known, (
                f"{path.name}: {component_type} flavor {component.flavor!r} is not one of {sorted(known)}"
            )
        # The flavor's own config class accepts the configuration (as registration will).
        config_class = _flavor_config_class(component_type, component.flavor, component.flavor_source)
        config_class(**_without_secret_references(component.configuration))


def test_shared_component_names_mean_the_same_component():
    """Registration updates a component found by name: two files must not configure one name twice."""
    seen: dict[tuple[str, str], tuple[str, str, dict[str, Any]]] = {}
    for file_name, spec in _specs().items():
        for component_type, component in spec.components.items():
            key = (component_type, component.name)
            described = (component.flavor, component.configuration)
            if key in seen:
                other_file, *other = seen[key]
                assert tuple(other) == described, (
                    f"{component_type} {component.name!r} differs between {other_file} and {file_name}"
                )
            else:
                seen[key] = (file_name, *described)


def _plaintext_secrets(
    component_type: str, flavor: str, configuration: dict[str, Any], flavor_source: str | None = None
) -> list[str]:
    from zenml.utils import secret_utils

    config_class = _flavor_config_class(component_type, flavor, flavor_source)
    found = []
    for key, value in configuration.items():
        field = config_class.model_fields.get(key)
        secret_field = field is not None and secret_utils.is_secret_field(field)
        looks_secret = any(word in key.lower() for word in SECRET_LOOKING_KEYS)
        if (
            (secret_field or looks_secret)
            and value is not None
            and not secret_utils.is_secret_reference(value)
        ):
            found.append(f"{component_type}.{key}")
    return found


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_no_plaintext_secrets(path):
    spec = _load(path)
    found = [
        item
        for component_type, component in spec.components.items()
        for item in _plaintext_secrets(
            component_type, component.flavor, component.configuration, component.flavor_source
        )
    ]
    assert not found, f"{path.name}: use a ZenML secret reference ({{{{name.key}}}}) for {found}"


def test_the_secret_check_catches_a_password():
    assert _plaintext_secrets("experiment_tracker", "mlflow", {"tracking_password": "hunter2"}) == [
        "experiment_tracker.tracking_password"
    ]
    assert (
        _plaintext_secrets("experiment_tracker", "mlflow", {"tracking_password": "{{mlflow.password}}"}) == []
    )
    assert _plaintext_secrets("artifact_store", "s3", {"secret": "abc", "path": "s3://b"}) == [
        "artifact_store.secret"
    ]


def test_prod_stack_is_kubernetes_and_seldon():
    from zenml.integrations.seldon.flavors.seldon_model_deployer_flavor import SeldonModelDeployerConfig

    spec = _load(STACKS / "prod.yaml")
    flavors = {component_type: c.flavor for component_type, c in spec.components.items()}
    assert flavors["orchestrator"] == "kubernetes"
    assert flavors["model_deployer"] == "seldon"
    assert flavors["artifact_store"] in ("s3", "gcp", "azure")
    assert flavors["experiment_tracker"] == "mlflow" and flavors["data_validator"] == "evidently"
    # Kubernetes orchestrator and Seldon deployer need images: a registry and a builder.
    assert "container_registry" in flavors and "image_builder" in flavors

    seldon = SeldonModelDeployerConfig(**spec.components["model_deployer"].configuration)
    assert seldon.kubernetes_namespace
    assert urlsplit(seldon.base_url).scheme in ("http", "https") and urlsplit(seldon.base_url).netloc
    # null: the deployer builds the storage initializer's secret from the artifact store's credentials
    assert seldon.secret is None and seldon.kubernetes_secret_name is None

    tracker = spec.components["experiment_tracker"].configuration
    assert urlsplit(tracker["tracking_uri"]).scheme in ("http", "https"), "prod needs a remote MLflow server"
    artifact_store = _flavor_config_class("artifact_store", flavors["artifact_store"])(
        **_without_secret_references(spec.components["artifact_store"].configuration)
    )
    assert not artifact_store.is_local, "pods in the cluster cannot read a local artifact store"


def test_remote_stacks_take_their_infrastructure_from_variables():
    """No account's bucket, cluster or URL in a committed file: each is a ${VAR}."""
    for name, keys in {
        "prod": {
            "orchestrator": ["kubernetes_context"],
            "artifact_store": ["path"],
            "container_registry": ["uri"],
            "image_builder": ["kubernetes_context"],
            "model_deployer": ["kubernetes_context", "base_url"],
            "experiment_tracker": ["tracking_uri"],
        },
        "aws": {
            "artifact_store": ["path"],
            "container_registry": ["uri"],
            "image_builder": ["code_build_project"],
            "model_deployer": ["base_url"],
            "experiment_tracker": ["tracking_uri"],
        },
    }.items():
        raw = yaml.safe_load((STACKS / f"{name}.yaml").read_text(encoding="utf-8"))
        for component_type, names in keys.items():
            configuration = raw["components"][component_type]["configuration"]
            for key in names:
                assert placeholders(configuration[key]), f"{name}.{component_type}.{key} is not a ${{VAR}}"
        assert "REPLACE-ME" not in (STACKS / f"{name}.yaml").read_text(encoding="utf-8")


def test_aws_stack_is_eks_s3_ecr_codebuild_through_one_connector():
    spec = _load(STACKS / "aws.yaml")
    flavors = {component_type: c.flavor for component_type, c in spec.components.items()}
    assert flavors == {
        "orchestrator": "kubernetes",
        "artifact_store": "s3",
        "container_registry": "aws",
        "image_builder": "aws",
        "model_deployer": "seldon",
        "experiment_tracker": "mlflow",
        "model_registry": "mlflow",
        "data_validator": "evidently",
    }
    (connector,) = spec.service_connectors
    assert (connector.name, connector.type, connector.auth_method) == ("aws_connector", "aws", "iam-role")
    assert connector.configuration == {
        "region": PLACEHOLDER_VALUES["AWS_REGION"],
        "role_arn": PLACEHOLDER_VALUES["AWS_STACK_ROLE_ARN"],
        "aws_access_key_id": PLACEHOLDER_VALUES["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": PLACEHOLDER_VALUES["AWS_SECRET_ACCESS_KEY"],
    }
    connected = {t: (c.connector, c.connector_resource_id) for t, c in spec.components.items() if c.connector}
    cluster = PLACEHOLDER_VALUES["AWS_EKS_CLUSTER"]
    assert connected == {
        "orchestrator": ("aws_connector", cluster),
        "artifact_store": ("aws_connector", None),  # the bucket comes from `path`
        "container_registry": ("aws_connector", None),  # the registry from `uri`
        "image_builder": ("aws_connector", None),
        "model_deployer": ("aws_connector", cluster),
    }
    registry = spec.components["container_registry"].configuration["uri"]
    assert registry == "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert "kubernetes_context" not in spec.components["orchestrator"].configuration, "the connector gives it"


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_connector_credentials_come_from_variables(path):
    """A connector's secret fields (per ZenML's schema of its auth method) are ${VAR}s, never values."""
    from zenml.client import Client

    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    for connector in raw.get("service_connectors") or []:
        connector_type = Client().get_service_connector_type(connector["type"])
        schema = connector_type.auth_method_dict[connector["auth_method"]].config_schema["properties"]
        secret_fields = {key for key, field in schema.items() if field.get("format") == "password"}
        assert secret_fields, f"{connector['type']} {connector['auth_method']} has no secret field?"
        for key, value in connector["configuration"].items():
            assert key in schema, f"{path.name}: {connector['name']}.{key} is not a field of the auth method"
            if key in secret_fields:
                assert placeholders(value) and value.strip() == f"${{{placeholders(value)[0]}}}", (
                    f"{path.name}: {connector['name']}.{key} must be a ${{VAR}}"
                )


def test_local_mlflow_is_local_plus_the_mlflow_deployer():
    specs = _specs()
    local, local_mlflow = specs["local.yaml"].components, specs["local-mlflow.yaml"].components
    deployer = local_mlflow["model_deployer"]
    assert (deployer.name, deployer.flavor) == ("mlflow_deployer", "mlflow")
    without = {k: v for k, v in local_mlflow.items() if k != "model_deployer"}
    assert without == {k: v for k, v in local.items() if k != "model_deployer"}


def test_local_alerts_is_local_plus_the_webhook_alerter():
    """`local` itself needs no secret; `local-alerts` adds the alerter and names the secret."""
    specs = _specs()
    local, local_alerts = specs["local.yaml"].components, specs["local-alerts.yaml"].components
    assert "alerter" not in local
    alerter = local_alerts["alerter"]
    assert (alerter.name, alerter.flavor) == ("webhook_alerter", "webhook")
    assert alerter.flavor_source == "flavors.webhook_alerter.flavor.WebhookAlerterFlavor"
    assert alerter.configuration == {"secret_name": "alert_webhook", "payload_format": "slack"}
    assert {k: v for k, v in local_alerts.items() if k != "alerter"} == local

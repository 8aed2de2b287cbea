"""register_stack's checks and updates of connectors and links, in this test process's store.

Every name carries a random suffix, and nothing is activated, so the session's store
(tests/conftest.py) keeps its active stack and other tests never see these.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from stacks.register import register_stack
from tabular_ml.configuration.loading import ConfigError
from tests.support.stack_env import NO_ENV_FILE

CONNECTOR = (
    "  - name: {connector}\n"
    "    type: aws\n"
    "    auth_method: iam-role\n"
    "    {resource_type}\n"
    "    configuration: {{region: {region}, role_arn: 'arn:aws:iam::123456789012:role/r',"
    " aws_access_key_id: AKIATEST, aws_secret_access_key: s}}\n"
)


def _file(tmp_path, component: str, region: str = "eu-west-1", resource_type: str = "") -> tuple[Path, dict]:
    names = {key: f"{key}_{uuid.uuid4().hex[:8]}" for key in ("stack", "connector", "component")}
    text = (
        f"name: {names['stack']}\nservice_connectors:\n"
        + CONNECTOR.format(
            connector=names["connector"],
            region=region,
            resource_type=f"resource_type: {resource_type}" if resource_type else "",
        )
        + "components:\n  artifact_store: {name: default, flavor: local}\n"
        + component.format(**names)
    )
    path = tmp_path / f"{names['stack']}.yaml"
    path.write_text(text, encoding="utf-8")
    return path, names


def _register(path: Path) -> None:
    register_stack(path, activate=False, env_file=NO_ENV_FILE)


def _component_exists(component_type: str, name: str) -> bool:
    from zenml.client import Client
    from zenml.enums import StackComponentType

    return bool(Client().list_stack_components(type=StackComponentType(component_type), name=name).items)


def test_a_flavor_that_takes_no_connector_is_refused_before_it_is_created(tmp_path):
    path, names = _file(
        tmp_path,
        "  orchestrator: {{name: default, flavor: local}}\n"
        "  experiment_tracker: {{name: '{component}', flavor: mlflow, connector: '{connector}'}}\n",
    )
    with pytest.raises(ConfigError) as caught:
        _register(path)
    assert str(caught.value) == (
        f"experiment_tracker '{names['component']}': flavor 'mlflow' cannot use a service connector"
    )
    assert not _component_exists("experiment_tracker", names["component"])


def test_a_connector_must_give_the_resource_the_flavor_needs(tmp_path):
    path, names = _file(
        tmp_path,
        "  orchestrator: {{name: '{component}', flavor: kubernetes, connector: '{connector}',"
        " connector_resource_id: c1}}\n",
        resource_type="s3-bucket",
    )
    with pytest.raises(ConfigError) as caught:
        _register(path)
    assert str(caught.value) == (
        f"orchestrator '{names['component']}': connector '{names['connector']}' gives no "
        "'kubernetes-cluster' resource (it gives: s3-bucket)"
    )
    assert not _component_exists("orchestrator", names["component"])


def test_a_cluster_must_be_named_when_the_connector_reaches_several(tmp_path):
    path, names = _file(
        tmp_path, "  orchestrator: {{name: '{component}', flavor: kubernetes, connector: '{connector}'}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        _register(path)
    assert str(caught.value) == (
        f"orchestrator '{names['component']}': set connector_resource_id to the kubernetes-cluster "
        f"it uses (connector '{names['connector']}' can reach several)"
    )


def test_a_changed_connector_is_updated_and_an_unchanged_one_left_alone(tmp_path):
    from zenml.client import Client

    component = (
        "  orchestrator: {{name: '{component}', flavor: kubernetes, connector: '{connector}',"
        " connector_resource_id: c1}}\n"
    )
    path, names = _file(tmp_path, component)
    _register(path)
    client = Client()
    first = client.get_service_connector(names["connector"])
    _register(path)
    assert client.get_service_connector(names["connector"]).updated == first.updated
    path.write_text(path.read_text().replace("region: eu-west-1", "region: us-east-2"))
    _register(path)
    changed = client.get_service_connector(names["connector"], expand_secrets=True)
    assert changed.id == first.id and changed.updated > first.updated
    assert changed.configuration.plain["region"] == "us-east-2"
    assert changed.configuration.plain["aws_secret_access_key"] == "s"
    orchestrator = client.get_stack_component("orchestrator", names["component"])
    assert (orchestrator.connector.id, orchestrator.connector_resource_id) == (first.id, "c1")


def test_a_connector_of_another_type_under_the_same_name_is_refused(tmp_path):
    path, names = _file(
        tmp_path,
        "  orchestrator: {{name: '{component}', flavor: kubernetes, connector: '{connector}',"
        " connector_resource_id: c1}}\n",
    )
    _register(path)
    other = tmp_path / "other.yaml"
    other.write_text(
        f"name: {names['stack']}_2\nservice_connectors:\n"
        f"  - {{name: {names['connector']}, type: kubernetes, auth_method: token,"
        " configuration: {server: 'https://k8s.test', token: t}}\n"
        "components:\n  artifact_store: {name: default, flavor: local}\n"
        "  orchestrator: {name: default, flavor: local}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        _register(other)
    assert str(caught.value) == (
        f"service connector '{names['connector']}' exists with type 'aws', not 'kubernetes': "
        "rename it in the stack file or delete the old connector"
    )


def test_zenml_s_own_connector_checks_are_one_line(tmp_path):
    path, names = _file(tmp_path, "  orchestrator: {{name: default, flavor: local}}\n")
    text = path.read_text()
    prefix = f"service connector '{names['connector']}': connector configuration is not valid: "
    path.write_text(text.replace("auth_method: iam-role", "auth_method: iam-rol"))
    with pytest.raises(ConfigError) as caught:
        _register(path)
    assert str(caught.value).startswith(
        prefix + "\"connector type 'aws' does not support the 'iam-rol' authentication method."
    )
    assert "\n" not in str(caught.value)
    path.write_text(text.replace("aws_access_key_id: AKIATEST, ", ""))
    with pytest.raises(ConfigError) as caught:
        _register(path)
    assert str(caught.value) == prefix + "missing required attribute 'aws_access_key_id'"

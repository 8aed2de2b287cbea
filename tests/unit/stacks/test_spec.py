"""Stack files read into a StackSpec and a RunConfig: components, connectors, run_config (stacks/spec.py)."""

from __future__ import annotations

import pytest

from stacks.spec import ComponentSpec, RunConfig, StackSpec, load_run_config, load_stack_spec
from tabular_ml.configuration.loading import ConfigError
from tests.support.stack_env import NO_ENV_FILE, PLACEHOLDER_VALUES, REMOTE, STACKS, write_stack_file


def test_local_stack_spec():
    spec = load_stack_spec(STACKS / "local.yaml")
    assert isinstance(spec, StackSpec)
    assert spec.name == "local"
    names_and_flavors = {kind: (c.name, c.flavor) for kind, c in spec.components.items()}
    assert names_and_flavors["orchestrator"] == ("default", "local")
    assert names_and_flavors["artifact_store"] == ("default", "local")
    assert names_and_flavors["experiment_tracker"] == ("mlflow_tracker", "mlflow")
    assert names_and_flavors["model_registry"] == ("mlflow_registry", "mlflow")
    assert all(c.configuration == {} for c in spec.components.values() if c.flavor in ("local", "mlflow"))


def test_every_shipped_stack_file_is_valid():
    files = sorted(STACKS.glob("*.yaml"))
    assert files
    for path in files:
        spec = load_stack_spec(path, env_file=NO_ENV_FILE, environ=PLACEHOLDER_VALUES)
        assert "orchestrator" in spec.components and "artifact_store" in spec.components, path


def test_component_configuration(tmp_path):
    path = tmp_path / "remote.yaml"
    path.write_text(
        "name: remote\ncomponents:\n"
        "  orchestrator: {name: default, flavor: local}\n"
        "  artifact_store: {name: s3, flavor: s3, configuration: {path: 's3://bucket/zenml'}}\n"
    )
    spec = load_stack_spec(path)
    assert spec.components["artifact_store"] == ComponentSpec(
        name="s3", flavor="s3", configuration={"path": "s3://bucket/zenml"}
    )


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\ncolour: red\ncomponents:\n"
        "  orchestrator: {name: default, flavor: local}\n"
        "  artifact_store: {name: default, flavor: local}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_stack_spec(path)
    assert str(caught.value) == (
        "stack.colour: unknown key; expected one of: name, service_connectors, components, run_config"
    )


def test_unknown_component_key_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\ncomponents:\n"
        "  orchestrator: {name: default, flavour: local}\n"
        "  artifact_store: {name: default, flavor: local}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_stack_spec(path)
    assert str(caught.value).splitlines() == [
        "stack.components.orchestrator.flavor: required key is missing",
        "stack.components.orchestrator.flavour: unknown key; "
        "expected one of: name, flavor, flavor_source, configuration, connector, connector_resource_id",
    ]


def test_a_stack_needs_two_components(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text("name: small\ncomponents:\n  orchestrator: {name: default, flavor: local}\n")
    with pytest.raises(ConfigError) as caught:
        load_stack_spec(path)
    assert str(caught.value).startswith("stack.components: dictionary should have at least 2 items")


def test_missing_stack_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_stack_spec(tmp_path / "nope.yaml")
    assert str(caught.value) == f"config file not found: {tmp_path / 'nope.yaml'}"


# --------------------------------------------------------------------------- service connectors


CONNECTED = (
    "name: cloud\nservice_connectors:\n"
    "  - {name: aws_connector, type: aws, auth_method: iam-role, configuration: {region: eu-west-1}}\n"
    "components:\n"
    "  orchestrator: {name: eks, flavor: kubernetes, connector: CONNECTOR, connector_resource_id: c1}\n"
    "  artifact_store: {name: s3, flavor: s3, configuration: {path: 's3://b'}, connector: aws_connector}\n"
)


def test_a_component_names_a_connector_of_the_file(tmp_path):
    spec = load_stack_spec(
        write_stack_file(tmp_path, CONNECTED.replace("CONNECTOR", "aws_connector")), env_file=NO_ENV_FILE
    )
    assert [c.name for c in spec.service_connectors] == ["aws_connector"]
    assert spec.service_connectors[0].configuration == {"region": "eu-west-1"}
    assert spec.components["orchestrator"].connector == "aws_connector"
    assert spec.components["orchestrator"].connector_resource_id == "c1"
    assert spec.components["artifact_store"].connector_resource_id is None


def test_an_unknown_connector_and_a_lone_resource_id_are_named(tmp_path):
    text = CONNECTED.replace("CONNECTOR", "aws_conector").replace(
        "connector: aws_connector}", "connector_resource_id: b}"
    )
    with pytest.raises(ConfigError) as caught:
        load_stack_spec(write_stack_file(tmp_path, text), env_file=NO_ENV_FILE)
    assert str(caught.value).splitlines() == [
        "stack.components.orchestrator.connector: 'aws_conector' is not in service_connectors "
        "(aws_connector)",
        "stack.components.artifact_store.connector_resource_id: set without a connector",
    ]


def test_a_connector_defined_twice_is_refused(tmp_path):
    text = CONNECTED.replace("CONNECTOR", "aws_connector").replace(
        "components:", "  - {name: aws_connector, type: aws, auth_method: implicit}\ncomponents:"
    )
    with pytest.raises(ConfigError) as caught:
        load_stack_spec(write_stack_file(tmp_path, text), env_file=NO_ENV_FILE)
    assert str(caught.value) == "stack.service_connectors: 'aws_connector' is defined twice"


def test_a_connector_needs_its_type_and_auth_method(tmp_path):
    text = CONNECTED.replace("CONNECTOR", "aws_connector").replace(", auth_method: iam-role", "")
    with pytest.raises(ConfigError) as caught:
        load_stack_spec(write_stack_file(tmp_path, text), env_file=NO_ENV_FILE)
    assert str(caught.value) == "stack.service_connectors.0.auth_method: required key is missing"


# --------------------------------------------------------------------------- run_config


def test_local_stacks_have_no_run_config():
    for name in ("local", "local-mlflow", "local-alerts"):
        assert load_stack_spec(STACKS / f"{name}.yaml").run_config == RunConfig()
        assert load_run_config(STACKS / f"{name}.yaml") == RunConfig()


def test_a_run_needs_only_the_run_config_variables():
    """Runs read run_config alone: the variables of registration need not be set then."""
    run_config = load_run_config(STACKS / "aws.yaml", env_file=NO_ENV_FILE, environ={})
    assert run_config.settings["docker"]["dockerfile"] == "docker/pipeline.Dockerfile"
    assert "train_model" in run_config.steps


def test_remote_stacks_share_one_pipeline_image_and_the_resources():
    prod = load_run_config(STACKS / "prod.yaml", env_file=NO_ENV_FILE, environ={})
    aws = load_run_config(STACKS / "aws.yaml", env_file=NO_ENV_FILE, environ={})
    assert prod == aws


def test_run_config_unknown_key_is_named(tmp_path):
    path = write_stack_file(tmp_path, REMOTE + "run_config:\n  step:\n    train_model: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_run_config(path, env_file=NO_ENV_FILE, environ={})
    assert str(caught.value) == "run_config.step: unknown key; expected one of: settings, steps"

"""Stack files: reading, ${VAR}s, connectors and run_config (no registration: that needs a store)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from stacks.environment import placeholders, read_env_file
from stacks.run_settings import deep_merge, merge_run_config
from stacks.spec import ComponentSpec, RunConfig, StackSpec, load_run_config, load_stack_spec
from tabular_ml.configuration.loading import ConfigError
from tests.support.paths import PROJECT_ROOT
from tests.support.stack_env import PLACEHOLDER_VALUES

STACKS = PROJECT_ROOT / "configs" / "stacks"
NO_ENV_FILE = PROJECT_ROOT / "tests" / "no-such.env"  # a developer's own .env must not leak in


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


# --------------------------------------------------------------------------- ${VAR}s and .env


def _stack_file(tmp_path, text: str) -> Path:
    path = tmp_path / "remote.yaml"
    path.write_text(text, encoding="utf-8")
    return path


REMOTE = (
    "name: remote\ncomponents:\n"
    "  orchestrator: {name: k8s, flavor: kubernetes, configuration: {kubernetes_context: '${CONTEXT}'}}\n"
    "  artifact_store: {name: s3, flavor: s3, configuration: {path: 's3://${BUCKET}/zenml/${BUCKET}'}}\n"
)


def test_variables_come_from_the_environment(tmp_path):
    spec = load_stack_spec(
        _stack_file(tmp_path, REMOTE), env_file=NO_ENV_FILE, environ={"CONTEXT": "ctx", "BUCKET": "b"}
    )
    assert spec.components["orchestrator"].configuration == {"kubernetes_context": "ctx"}
    assert spec.components["artifact_store"].configuration == {"path": "s3://b/zenml/b"}


def test_variables_come_from_the_env_file_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nexport CONTEXT=from-file\nBUCKET='quoted-bucket'  # trailing\n")
    assert read_env_file(env_file) == {"CONTEXT": "from-file", "BUCKET": "quoted-bucket"}
    spec = load_stack_spec(_stack_file(tmp_path, REMOTE), env_file=env_file, environ={})
    assert spec.components["orchestrator"].configuration == {"kubernetes_context": "from-file"}
    assert spec.components["artifact_store"].configuration == {
        "path": "s3://quoted-bucket/zenml/quoted-bucket"
    }
    spec = load_stack_spec(_stack_file(tmp_path, REMOTE), env_file=env_file, environ={"CONTEXT": "from-env"})
    assert spec.components["orchestrator"].configuration == {"kubernetes_context": "from-env"}


def test_each_missing_variable_is_one_line(tmp_path):
    path = _stack_file(tmp_path, REMOTE)
    env_file = tmp_path / ".env"
    env_file.write_text("BUCKET=\n")  # empty counts as missing
    with pytest.raises(ConfigError) as caught:
        load_stack_spec(path, env_file=env_file, environ={})
    assert str(caught.value).splitlines() == [
        f"{path}: ${{{name}}} is not set; export it or add it to {env_file} (see .env.example)"
        for name in ("CONTEXT", "BUCKET")
    ]


def test_keys_are_never_substituted(tmp_path):
    text = "name: n\ncomponents:\n  orchestrator: {name: o, flavor: local, configuration: {'${KEY}': 1}}\n"
    text += "  artifact_store: {name: a, flavor: local}\n"
    spec = load_stack_spec(_stack_file(tmp_path, text), env_file=NO_ENV_FILE, environ={})
    assert spec.components["orchestrator"].configuration == {"${KEY}": 1}


def test_shipped_remote_stacks_name_every_variable_when_none_is_set():
    for name in ("prod", "aws"):
        path = STACKS / f"{name}.yaml"
        expected = placeholders(yaml.safe_load(path.read_text()))
        assert expected and all(variable.startswith(name.upper() + "_") for variable in expected), expected
        with pytest.raises(ConfigError) as caught:
            load_stack_spec(path, env_file=NO_ENV_FILE, environ={})
        assert [line.split("${")[1].split("}")[0] for line in str(caught.value).splitlines()] == expected


def test_env_example_lists_exactly_the_variables_with_empty_values():
    example = read_env_file(PROJECT_ROOT / ".env.example")
    used = {name for path in STACKS.glob("*.yaml") for name in placeholders(yaml.safe_load(path.read_text()))}
    assert set(example) == used == set(PLACEHOLDER_VALUES)
    assert all(value == "" for value in example.values()), "the example must not hold real values"


def test_env_files_are_never_committed():
    ignored = (PROJECT_ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored
    result = subprocess.run(
        ["git", "check-ignore", "-q", ".env"], cwd=PROJECT_ROOT, capture_output=True, timeout=30
    )
    assert result.returncode == 0, "git must ignore .env"
    assert (
        subprocess.run(["git", "check-ignore", "-q", ".env.example"], cwd=PROJECT_ROOT, timeout=30).returncode
        == 1
    )


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
        _stack_file(tmp_path, CONNECTED.replace("CONNECTOR", "aws_connector")), env_file=NO_ENV_FILE
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
        load_stack_spec(_stack_file(tmp_path, text), env_file=NO_ENV_FILE)
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
        load_stack_spec(_stack_file(tmp_path, text), env_file=NO_ENV_FILE)
    assert str(caught.value) == "stack.service_connectors: 'aws_connector' is defined twice"


def test_a_connector_needs_its_type_and_auth_method(tmp_path):
    text = CONNECTED.replace("CONNECTOR", "aws_connector").replace(", auth_method: iam-role", "")
    with pytest.raises(ConfigError) as caught:
        load_stack_spec(_stack_file(tmp_path, text), env_file=NO_ENV_FILE)
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
    path = _stack_file(tmp_path, REMOTE + "run_config:\n  step:\n    train_model: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_run_config(path, env_file=NO_ENV_FILE, environ={})
    assert str(caught.value) == "run_config.step: unknown key; expected one of: settings, steps"


def test_deep_merge_lays_the_override_over_the_base():
    base = {"a": {"x": 1, "y": {"z": 2}}, "b": [1]}
    override = {"a": {"y": {"w": 3}}, "b": [2]}
    assert deep_merge(base, override) == {"a": {"x": 1, "y": {"z": 2, "w": 3}}, "b": [2]}
    assert base == {"a": {"x": 1, "y": {"z": 2}}, "b": [1]}, "the base is not changed"


def test_merge_run_config_under_the_run_and_only_for_its_steps():
    run_config = RunConfig.model_validate(
        {
            "settings": {"docker": {"dockerfile": "d", "requirements": "r"}},
            "steps": {
                "train_model": {"settings": {"orchestrator.kubernetes": {"pod_settings": {"x": 1, "y": 2}}}},
                "score_batch": {"settings": {"orchestrator.kubernetes": {"pod_settings": {"x": 9}}}},
            },
        }
    )
    config = {
        "parameters": {"p": 1},
        "settings": {"docker": {"requirements": "mine"}},
        "steps": {
            "train_model": {
                "experiment_tracker": "t",
                "settings": {"orchestrator.kubernetes": {"pod_settings": {"y": 5}}},
            }
        },
    }
    merged = merge_run_config(config, run_config, {"ingest_data", "train_model"})
    assert merged == {
        "parameters": {"p": 1},
        "settings": {"docker": {"dockerfile": "d", "requirements": "mine"}},
        "steps": {
            "train_model": {
                "experiment_tracker": "t",
                "settings": {"orchestrator.kubernetes": {"pod_settings": {"x": 1, "y": 5}}},
            }
        },
    }
    assert config["settings"] == {"docker": {"requirements": "mine"}}, "the run's config is not changed"
    assert merge_run_config({"parameters": {}}, RunConfig(), {"train_model"}) == {"parameters": {}}

"""Stack files: reading and validating configs/stacks/*.yaml (no registration: that needs a store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.register import ComponentSpec, StackSpec, load_stack_spec
from tabular_ml.configuration.loading import ConfigError

STACKS = Path(__file__).parents[2] / "configs" / "stacks"


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
        spec = load_stack_spec(path)
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
    assert str(caught.value) == "stack.colour: unknown key; expected one of: name, components"


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
        "expected one of: name, flavor, flavor_source, configuration",
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

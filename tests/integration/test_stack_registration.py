"""Every stack file of configs/stacks/ registered for real in a store of its own, twice, and
switched between with the `zenml stack set` CLI.

prod and aws get the placeholder values of tests/support/stack_env.py from the environment (no cloud
is reached: aws's service connector is registered unverified). The store is a fresh SQLite
one in tmp_path, so this test's active stack never leaks into another test's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stacks.spec import load_stack_spec
from tests.support.paths import PROJECT_ROOT
from tests.support.stack_env import PLACEHOLDER_VALUES, STACK_SECRETS, STACKS, isolated_zenml_env

pytestmark = pytest.mark.integration

NAMES = sorted(path.stem for path in STACKS.glob("*.yaml"))
ZENML_CLI = str(Path(sys.executable).with_name("zenml"))

# The store as registration leaves it: every stack, component and connector with its ID and
# last update time, so a second registration that changed anything would show.
REGISTER_TWICE = """
import json, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from zenml.client import Client
from stacks.register import register_stack

client = Client()
for name, values in {secrets!r}.items():
    client.create_secret(name, values=values)

def state():
    stacks = {{}}
    for stack in client.list_stacks(size=100).items:
        stack = client.get_stack(stack.id)
        stacks[stack.name] = {{
            "id": str(stack.id),
            "updated": str(stack.updated),
            "components": {{
                kind.value: {{
                    "name": c.name,
                    "flavor": c.flavor_name,
                    "id": str(c.id),
                    "updated": str(c.updated),
                    "configuration": c.configuration,
                    "connector": c.connector.name if c.connector else None,
                    "connector_resource_id": c.connector_resource_id,
                }}
                for kind, (c, *_) in stack.components.items()
            }},
        }}
    connectors = {{}}
    for item in client.list_service_connectors(size=100).items:
        c = client.get_service_connector(item.id, expand_secrets=True)
        connectors[c.name] = {{
            "type": getattr(c.connector_type, "connector_type", c.connector_type),
            "auth_method": c.auth_method,
            "resource_types": sorted(c.resource_types),
            "resource_id": c.resource_id,
            "configuration": c.configuration.plain,
            "secret_keys": sorted(c.configuration.secrets),
            "id": str(c.id),
            "updated": str(c.updated),
        }}
    return {{
        "stacks": stacks,
        "connectors": connectors,
        "secrets": sorted(s.name for s in client.list_secrets(size=100).items),
        "flavors": sorted(f.name for f in client.list_flavors(size=1000).items),
        "active": client.active_stack_model.name,
    }}

names = {names!r}
for name in names:
    register_stack(Path({root!r}) / "configs" / "stacks" / f"{{name}}.yaml", activate=False)
first = state()
for name in names:
    register_stack(Path({root!r}) / "configs" / "stacks" / f"{{name}}.yaml", activate=False)
print(json.dumps({{"first": first, "second": state()}}, default=str))
"""


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{argv}:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stacks")
    env = isolated_zenml_env(folder)
    script = folder / "register_twice.py"
    script.write_text(
        textwrap.dedent(REGISTER_TWICE).format(root=str(PROJECT_ROOT), secrets=STACK_SECRETS, names=NAMES)
    )
    result = _run([sys.executable, str(script)], env, PROJECT_ROOT)
    states = json.loads(result.stdout.strip().splitlines()[-1])
    return env, states["first"], states["second"]


@pytest.mark.parametrize("name", NAMES)
def test_each_stack_file_registers_with_its_components_and_flavors(store, name):
    _, state, _ = store
    spec = load_stack_spec(STACKS / f"{name}.yaml", environ=PLACEHOLDER_VALUES)
    registered = state["stacks"][name]["components"]
    assert {kind: (c["name"], c["flavor"]) for kind, c in registered.items()} == {
        kind: (c.name, c.flavor) for kind, c in spec.components.items()
    }
    for kind, component in spec.components.items():
        stored = registered[kind]["configuration"]
        assert {key: stored.get(key) for key in component.configuration} == component.configuration, kind
        assert registered[kind]["connector"] == component.connector, kind


def test_placeholders_reach_the_registered_components(store):
    _, state, _ = store
    prod = state["stacks"]["prod"]["components"]
    assert prod["orchestrator"]["configuration"]["kubernetes_context"] == "test-context"
    assert prod["artifact_store"]["configuration"]["path"] == "s3://test-prod-bucket/zenml"
    assert prod["experiment_tracker"]["configuration"]["tracking_uri"] == "https://prod-mlflow.test"
    aws = state["stacks"]["aws"]["components"]
    assert aws["artifact_store"]["configuration"]["path"] == "s3://test-aws-bucket/zenml"
    assert aws["image_builder"]["configuration"]["code_build_project"] == "test-builds"


def test_aws_components_are_linked_to_the_connector_and_their_resources(store):
    _, state, _ = store
    aws = state["stacks"]["aws"]["components"]
    links = {kind: (c["connector"], c["connector_resource_id"]) for kind, c in aws.items() if c["connector"]}
    assert links == {
        "orchestrator": ("aws_connector", "test-cluster"),
        "model_deployer": ("aws_connector", "test-cluster"),
        "artifact_store": ("aws_connector", "s3://test-aws-bucket/zenml"),  # the store's path
        "container_registry": ("aws_connector", "123456789012.dkr.ecr.eu-west-1.amazonaws.com"),  # uri
        "image_builder": ("aws_connector", None),  # aws-generic: the account itself
    }


def test_the_connector_holds_the_credentials_as_secrets(store):
    _, state, _ = store
    connector = state["connectors"]["aws_connector"]
    assert (connector["type"], connector["auth_method"]) == ("aws", "iam-role")
    assert connector["resource_types"] == [
        "aws-generic",
        "docker-registry",
        "kubernetes-cluster",
        "s3-bucket",
    ]
    assert connector["resource_id"] is None
    assert connector["configuration"] == {
        "region": "eu-west-1",
        "role_arn": "arn:aws:iam::123456789012:role/test-zenml",
        "aws_access_key_id": "AKIATESTTESTTESTTEST",
        "aws_secret_access_key": "test-secret-access-key",
    }
    # ZenML keeps these two in its secret store, not in the connector's plain configuration
    assert connector["secret_keys"] == ["aws_access_key_id", "aws_secret_access_key"]
    assert list(state["connectors"]) == ["aws_connector"]


def test_project_flavors_are_registered_once(store):
    _, state, _ = store
    assert state["flavors"].count("seldon-local") == 1 and state["flavors"].count("webhook") == 1


def test_registering_twice_changes_nothing(store):
    _, first, second = store
    assert first == second
    assert set(first["stacks"]) == {"default", *NAMES}
    assert first["secrets"] == sorted(STACK_SECRETS), "registration creates no secret of its own"
    assert first["active"] == "default", "activate=False leaves the active stack alone"


def test_zenml_stack_set_switches_between_them(store):
    """The cloud stack, the cluster stack, back to the laptop; `zenml stack get` (a new process)
    reads the last back. (Each CLI start costs seconds: the local variants add nothing here.)"""
    env, _, _ = store
    for name in ("aws", "prod", "local"):
        result = _run([ZENML_CLI, "stack", "set", name], env, PROJECT_ROOT)
        assert f"Active global stack set to: '{name}'" in result.stdout + result.stderr
    shown = _run([ZENML_CLI, "stack", "get"], env, PROJECT_ROOT)
    assert "The global active stack is: 'local'" in shown.stdout + shown.stderr


def test_run_py_stack_names_each_missing_variable(tmp_path):
    """Through the real CLI: exit 2, one line per variable; ZenML is not reached."""
    env = isolated_zenml_env(tmp_path, **{name: "" for name in PLACEHOLDER_VALUES if name.startswith("AWS_")})
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run.py"), "stack", "aws"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    path = "configs/stacks/aws.yaml"  # as the project's root shows it
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ")
    assert all(line.removeprefix("error: ").startswith(f"{path}: ${{") for line in lines), lines
    named = [line.split("${")[1].split("}")[0] for line in lines]
    assert sorted(named) == sorted(name for name in PLACEHOLDER_VALUES if name.startswith("AWS_"))
    assert not (tmp_path / "config").exists(), "no store was created: it failed before ZenML"

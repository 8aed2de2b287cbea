"""The ${VAR}s of stack files: from the environment and the .env file, each missing one named
(stacks/environment.py)."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from stacks.environment import placeholders, read_env_file
from stacks.spec import load_stack_spec
from tabular_ml.configuration.loading import ConfigError
from tests.support.paths import PROJECT_ROOT
from tests.support.stack_env import NO_ENV_FILE, PLACEHOLDER_VALUES, REMOTE, STACKS, write_stack_file


def test_variables_come_from_the_environment(tmp_path):
    spec = load_stack_spec(
        write_stack_file(tmp_path, REMOTE), env_file=NO_ENV_FILE, environ={"CONTEXT": "ctx", "BUCKET": "b"}
    )
    assert spec.components["orchestrator"].configuration == {"kubernetes_context": "ctx"}
    assert spec.components["artifact_store"].configuration == {"path": "s3://b/zenml/b"}


def test_variables_come_from_the_env_file_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nexport CONTEXT=from-file\nBUCKET='quoted-bucket'  # trailing\n")
    assert read_env_file(env_file) == {"CONTEXT": "from-file", "BUCKET": "quoted-bucket"}
    spec = load_stack_spec(write_stack_file(tmp_path, REMOTE), env_file=env_file, environ={})
    assert spec.components["orchestrator"].configuration == {"kubernetes_context": "from-file"}
    assert spec.components["artifact_store"].configuration == {
        "path": "s3://quoted-bucket/zenml/quoted-bucket"
    }
    spec = load_stack_spec(
        write_stack_file(tmp_path, REMOTE), env_file=env_file, environ={"CONTEXT": "from-env"}
    )
    assert spec.components["orchestrator"].configuration == {"kubernetes_context": "from-env"}


def test_each_missing_variable_is_one_line(tmp_path):
    path = write_stack_file(tmp_path, REMOTE)
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
    spec = load_stack_spec(write_stack_file(tmp_path, text), env_file=NO_ENV_FILE, environ={})
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

"""The run.py command line's parts, in-process.

``python run.py`` in a subprocess is tested in tests/tools/test_run_cli.py.
"""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import pytest
import yaml

from run import OVERRIDE, OverridesGroup, cli
from tabular_ml.configuration.loading import ConfigError
from tabular_ml.configuration.run_config import (
    PIPELINE_PARAMETERS,
    RUN_CONFIG_KEYS,
    pipeline_for,
    resolve_config,
    retrain_runs,
)
from tabular_ml.configuration.schema import RetrainConfig
from tabular_ml.monitoring.outcome import RetrainOutcome, monitoring_lines, not_retrained
from tabular_ml.monitoring.verdict import MonitoringVerdict

PROJECT_ROOT = Path(__file__).parents[2]
TRAINING_YAML = PROJECT_ROOT / "configs" / "training.yaml"


# --------------------------------------------------------------------------- in-process


def test_resolve_config_applies_overrides_and_fills_defaults():
    config = resolve_config(
        str(TRAINING_YAML), ["parameters.split.test_size=0.3"], "training", no_cache=False
    )
    assert config["parameters"]["split"]["test_size"] == 0.3
    assert config["parameters"]["cleaning"]["drop_columns"] == []
    gates = yaml.safe_load(TRAINING_YAML.read_text())["parameters"]["evaluation"]["gates"]
    assert config["parameters"]["evaluation"]["gates"] == {
        "min": gates.get("min", {}),
        "max": gates.get("max", {}),
        "beat_baseline": gates.get("beat_baseline", {}),
    }
    assert "enable_cache" not in config
    assert set(config) == set(yaml.safe_load(TRAINING_YAML.read_text()))


def test_resolve_config_no_cache():
    config = resolve_config(str(TRAINING_YAML), [], "training", no_cache=True)
    assert config["enable_cache"] is False


def test_resolve_config_unknown_top_level_key():
    with pytest.raises(ConfigError) as caught:
        resolve_config(str(TRAINING_YAML), ["zzz=1", "aaa=2"], "training", no_cache=False)
    assert str(caught.value) == (
        f"aaa: unknown top-level key; expected one of: {', '.join(sorted(RUN_CONFIG_KEYS))}"
    )


def test_resolve_config_invalid_parameter():
    with pytest.raises(ConfigError) as caught:
        resolve_config(str(TRAINING_YAML), ["parameters.search.strategy=bayes"], "training", no_cache=False)
    assert str(caught.value) == (
        "parameters.search.strategy: input should be 'grid', 'random' or 'halving' (got 'bayes')"
    )


def test_resolve_config_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="^config file not found: "):
        resolve_config(str(tmp_path / "training.yaml"), [], "training", no_cache=False)


@pytest.mark.parametrize(
    "arg",
    [
        "a.b=1",
        "a=1",
        "_x=",
        "parameters.features.0.name=x",
        "parameters.split.test_size=0.3",
        "k=http://h/p?a=b",
    ],
)
def test_override_pattern_matches(arg):
    assert OVERRIDE.match(arg)


@pytest.mark.parametrize(
    "arg",
    ["--x=1", "-x=1", "http://h/p?a=b", "configs/training.yaml", "stack", "0a=1", "a-b=1", "=1", "a.b"],
)
def test_override_pattern_rejects(arg):
    assert not OVERRIDE.match(arg)


def test_overrides_group_splits_overrides_from_options():
    assert isinstance(cli, OverridesGroup)
    ctx = cli.make_context(
        "run.py", ["--config", "c.yaml", "a.b=1", "--dry-run", "x.0.y=[1, 2]", "--pipeline=training"]
    )
    assert ctx.meta["overrides"] == ["a.b=1", "x.0.y=[1, 2]"]
    assert ctx.params == {
        "config_path": "c.yaml",
        "pipeline": "training",
        "dry_run": True,
        "check_data": False,
        "dry_run_data": False,
        "no_cache": False,
    }


def test_overrides_group_keeps_subcommands():
    ctx = cli.make_context("run.py", ["stack", "local"])
    assert ctx.meta["overrides"] == []
    assert ctx.protected_args + ctx.args == ["stack", "local"]


def test_cli_in_process_dry_run(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--config", str(TRAINING_YAML), "parameters.split.random_state=7", "--dry-run"], "run.py")
    assert exited.value.code == 0
    assert yaml.safe_load(capsys.readouterr().out)["parameters"]["split"]["random_state"] == 7


def test_pipeline_name_from_file_name(tmp_path, capsys):
    assert pipeline_for(str(TRAINING_YAML), None) == "training"
    other = tmp_path / "other.yaml"
    other.write_text("parameters: {}\n")
    assert pipeline_for(str(other), "training") == "training"
    with pytest.raises(ConfigError) as raised:
        pipeline_for(str(other), None)
    assert str(raised.value) == (
        f"cannot tell which pipeline {other} is for; "
        "pass --pipeline with one of: training, deployment, rollback, serve, monitoring, inference"
    )
    with pytest.raises(SystemExit) as exited:  # the CLI says it in one line, exit 2
        cli.main(["--config", str(other)], "run.py")
    assert exited.value.code == 2
    assert capsys.readouterr().err == f"error: {raised.value}\n"


def test_run_py_is_a_thin_cli():
    """At most 300 lines, no ZenML or pipeline import at module level, one function that runs a pipeline."""
    source = (PROJECT_ROOT / "run.py").read_text()
    assert len(source.splitlines()) <= 300
    tree = ast.parse(source)
    top_level = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top_level |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert {module.split(".")[0] for module in top_level} & {"zenml", "mlflow", "pipelines", "steps"} == set()
    runners = [
        function.name
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef)
        and any(
            isinstance(node, ast.Attribute) and node.attr == "with_options" for node in ast.walk(function)
        )
    ]
    assert runners == ["run_pipeline"]


def test_every_pipeline_with_parameters_is_exported_by_its_name():
    import pipelines

    assert sorted(pipelines.__all__) == sorted(PIPELINE_PARAMETERS)


def test_retrain_runs_train_then_deploy_the_watched_model():
    retrain = RetrainConfig(overrides=["parameters.search.cv=3"], deployment_overrides=["a.b=1"])
    assert retrain_runs(retrain, "watched", PROJECT_ROOT) == [
        (
            "training",
            PROJECT_ROOT / "configs/training.yaml",
            ["model.name=watched", "parameters.search.cv=3"],
        ),
        ("deployment", PROJECT_ROOT / "configs/deployment.yaml", ["model.name=watched", "a.b=1"]),
    ]


def test_monitoring_lines_say_the_verdict_and_what_was_retrained():
    verdict = MonitoringVerdict(
        alert=True, reasons=["2 of 19 feature columns drifted"], model_version="1", current_rows=900
    )
    retrained = RetrainOutcome(
        retrained=True, version=2, decision="rejected", reason="not significantly better"
    )
    assert monitoring_lines(verdict, retrained) == [
        "Monitoring of version 1 on 900 rows: ALERT",
        "  - 2 of 19 feature columns drifted",
        "on_drift: retrain -> training, then deployment (promotion only if significantly better)",
        "Retrained version 2: rejected (not significantly better)",
    ]
    quiet = verdict.model_copy(update={"alert": False, "reasons": [], "note": "only 50 current rows"})
    assert not_retrained(quiet.alert, "retrain") == RetrainOutcome(
        retrained=False, reason="no alert: nothing retrained"
    )
    assert not_retrained(True, "alert").reason == "on_drift: alert: nothing retrained"
    assert not_retrained(True, "retrain") is None
    assert monitoring_lines(quiet, not_retrained(False, "retrain")) == [
        "Monitoring of version 1 on 900 rows: no threshold crossed (only 50 current rows)"
    ]


def test_rollback_target_must_exist_and_have_finished_training(capsys):
    """In-process, on the test session's throwaway store."""
    from zenml import log_metadata
    from zenml.client import Client

    from adapters.model_versions import check_rollback_target

    name = f"rollback_check_{uuid.uuid4().hex[:8]}"
    client = Client()
    client.create_model(name)
    client.create_model_version(name)  # 1: its training never finished (no metrics)
    client.create_model_version(name)  # 2: trained
    log_metadata({"metrics": {"roc_auc": 0.8}}, model_name=name, model_version="2")
    capsys.readouterr()

    for version, line in [
        (999, f"error: --to-version 999: model '{name}' has no version 999 (its newest is 2)"),
        (
            1,
            f"error: --to-version 1: version 1 of model '{name}' never finished training "
            "(it has no metrics), so it cannot be served",
        ),
    ]:
        with pytest.raises(SystemExit) as exited:
            cli.main(["rollback", "--to-version", str(version), f"model.name={name}"], "run.py")
        assert exited.value.code == 2
        assert capsys.readouterr().err.splitlines() == [line]
    assert check_rollback_target(name, 2) is None  # passes: the pipeline would start


# --------------------------------------------------------------------------- models


@pytest.fixture
def default_stack():
    """The session store's `default` stack (no MLflow tracker) while the test runs.

    Integration tests run first and leave the `local` stack active in the same store.
    """
    from zenml.client import Client

    client = Client()
    previous = client.active_stack_model.id
    client.activate_stack("default")
    yield
    client.activate_stack(previous)


def test_models_table_and_registry_disagreement(capsys, monkeypatch, default_stack):
    """In-process, on the test session's throwaway store (its default stack has no MLflow tracker)."""
    from zenml import log_metadata
    from zenml.client import Client
    from zenml.enums import ModelStages

    from adapters import registry_view
    from tabular_ml.model_management.registry_view import MlflowRegistry

    name = f"models_view_{uuid.uuid4().hex[:8]}"
    client = Client()
    client.create_model(name)
    for _ in range(2):
        client.create_model_version(name)
    log_metadata(
        {"metrics": {"roc_auc": 0.84}, "decision": {"status": "promoted"}}, model_name=name, model_version="1"
    )
    first = client.get_model_version(name, 1)
    client.update_model_version(first.model.id, first.id, stage=ModelStages.PRODUCTION)
    capsys.readouterr()

    with pytest.raises(SystemExit) as exited:
        cli.main(["models", "--model", name], "run.py")
    assert exited.value.code == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        "note: the active stack has no MLflow experiment tracker; MLflow aliases are shown as '-'"
    ]
    lines = out.splitlines()
    assert lines[0].split() == [
        "version",
        "ZenML",
        "stage",
        "created",
        "(UTC)",
        "roc_auc",
        "decision",
        "MLflow",
        "aliases",
    ]
    assert lines[1].split()[:2] == ["1", "production"] and lines[1].split()[-3:] == [
        "0.8400",
        "promoted",
        "-",
    ]
    assert lines[2].split()[:2] == ["2", "-"] and lines[2].split()[-3:] == ["-", "-", "-"]

    # MLflow's production alias on the MLflow version registered for ZenML version 2
    registry = MlflowRegistry(aliases={"production": "4"}, zenml_versions={"3": "1", "4": "2"})
    monkeypatch.setattr(registry_view, "mlflow_registry", lambda _name: (registry, None))
    with pytest.raises(SystemExit) as exited:
        cli.main(["models", "--model", name], "run.py")
    assert exited.value.code == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        "registries disagree: ZenML production is version 1, MLflow alias production is on version 2"
    ]
    assert out.splitlines()[2].split()[-1] == "production"


def test_models_of_an_unknown_model_exits_2(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["models", "--model", "no_such_model_anywhere"], "run.py")
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: ZenML has no model 'no_such_model_anywhere'; "
        "train it with `python run.py --config configs/training.yaml`"
    ]

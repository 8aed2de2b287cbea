"""The run.py command line as users run it: ``python run.py`` in a subprocess (most without a ZenML store).

Its parts in-process are tested in tests/unit/test_run.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tabular_ml.configuration.run_config import (
    RUN_CONFIG_KEYS,
)

pytestmark = pytest.mark.tools

PROJECT_ROOT = Path(__file__).parents[2]
TRAINING_YAML = PROJECT_ROOT / "configs" / "training.yaml"

PROMOTE_ONE = "has no production version; promote one with `python run.py --config configs/deployment.yaml`"


@pytest.fixture
def run_cli(tmp_path):
    """Run run.py in a subprocess with a ZenML config path that must stay untouched."""
    store = tmp_path / "zenml-store"

    def invoke(*args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "ZENML_CONFIG_PATH": str(store)}
        result = subprocess.run(
            [sys.executable, str(PROJECT_ROOT / "run.py"), *args],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert not store.exists(), "the command touched a ZenML store"
        return result

    return invoke


# --------------------------------------------------------------------------- subprocess


def test_stack_refuses_a_name_without_a_file(run_cli):
    result = run_cli("stack", "nope")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: no stack file configs/stacks/nope.yaml; "
        "the stacks are: aws, local, local-alerts, local-mlflow, prod"
    ]


def test_dry_run_prints_the_resolved_config(run_cli):
    result = run_cli("--config", "configs/training.yaml", "parameters.split.test_size=0.3", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    config = yaml.safe_load(result.stdout)
    raw = yaml.safe_load(TRAINING_YAML.read_text())
    assert config["parameters"]["split"]["test_size"] == 0.3
    assert config["parameters"]["split"]["random_state"] == raw["parameters"]["split"].get("random_state", 42)
    # defaults are filled in
    assert "scaler" in config["parameters"]["preprocessing"]
    assert config["parameters"]["preprocessing"]["ordinal"] == raw["parameters"]["preprocessing"].get(
        "ordinal", {}
    )
    assert config["parameters"]["source"]["format"] == raw["parameters"]["source"].get("format", "auto")
    tenure = config["parameters"]["contract"]["columns"]["tenure"]
    assert set(tenure) == {"kind", "min", "max", "categories", "max_missing_share"}
    assert tenure["kind"] == "numeric" and tenure["categories"] is None
    assert config["parameters"]["cleaning"]["drop_columns"] == raw["parameters"]["cleaning"].get(
        "drop_columns", []
    )
    # the rest of the run configuration is passed through unchanged
    assert {key: value for key, value in config.items() if key != "parameters"} == {
        key: value for key, value in raw.items() if key != "parameters"
    }
    assert "enable_cache" not in config


def test_typo_in_a_key_exits_2_with_one_line(run_cli):
    result = run_cli("--config", "configs/training.yaml", "parameters.split.tset_size=0.3")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: parameters.split.tset_size: unknown key; "
        "expected one of: test_size, random_state, stratify, id_column"
    ]


def test_unknown_top_level_key_exits_2(run_cli):
    result = run_cli("--config", "configs/training.yaml", "enable_cach=false", "--dry-run")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "error: enable_cach: unknown top-level key; expected one of: build, cache_policy, "
    )


def test_missing_config_file_exits_2(run_cli):
    result = run_cli("--config", "configs/nope.yaml", "--dry-run")
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["error: config file not found: configs/nope.yaml"]


def test_no_cache_sets_enable_cache_false(run_cli):
    result = run_cli("--config", "configs/training.yaml", "--no-cache", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["enable_cache"] is False


def test_help(run_cli):
    result = run_cli("--help")
    assert result.returncode == 0
    assert (
        "training     ingest -> clean -> validate -> split -> search -> evaluate -> register" in result.stdout
    )
    assert "Examples:" in result.stdout
    assert (
        "python run.py --config configs/training.yaml parameters.split.test_size=0.3 --dry-run"
        in result.stdout
    )
    assert "--no-cache" in result.stdout and "--dry-run" in result.stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "parameters.retrain.training_config=configs/nope.yaml",
            f"error: parameters.retrain (training): config file not found: {PROJECT_ROOT}/configs/nope.yaml",
        ),
        (
            "parameters.retrain.deployment_overrides=[zzz=1]",
            "error: parameters.retrain (deployment): zzz: unknown top-level key; expected one of: "
            + ", ".join(sorted(RUN_CONFIG_KEYS)),
        ),
    ],
)
def test_a_bad_retrain_config_exits_2_before_monitoring_runs(run_cli, override, message):
    result = run_cli("--config", "configs/monitoring.yaml", "parameters.on_drift=retrain", override)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [message]


def test_password_in_a_source_url_exits_2_without_echoing_it(run_cli):
    source = "{type: sql, url: 'postgresql://ml:hunter2-s3cret@db/warehouse', table: customers}"
    result = run_cli("--config", "configs/training.yaml", f"parameters.source={source}", "--dry-run")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: parameters.source.url: the URL holds a password; use password_env, url_env or a ZenML "
        "secret (secret: NAME) instead (got 'postgresql://ml:***@db/warehouse')"
    ]
    assert "hunter2" not in result.stdout + result.stderr


def test_dry_run_masks_credentials_outside_the_validated_parameters(run_cli):
    result = run_cli("--config", "configs/training.yaml", "extra.db_password=hunter2-s3cret", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["extra"] == {"db_password": "***"}
    assert "hunter2" not in result.stdout


# --------------------------------------------------------------------------- rollback --to-version


@pytest.mark.parametrize(("value", "shown"), [("0", "0"), ("-1", "-1"), ("abc", "'abc'"), ("1.5", "'1.5'")])
def test_rollback_to_version_below_1_exits_2_before_zenml(run_cli, value, shown):
    for args in (["--to-version", value], [f"--to-version={value}"]):
        result = run_cli("rollback", *args)
        assert result.returncode == 2
        assert result.stdout == ""
        assert result.stderr.splitlines() == [
            f"error: --to-version must be a version number >= 1, got {shown}"
        ]


def run_on_a_fresh_store(tmp_path, *arguments: str) -> subprocess.CompletedProcess:
    """``python run.py ARGUMENTS`` from the project with an empty ZenML store of its own."""
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run.py"), *arguments],
        cwd=PROJECT_ROOT,
        env={**os.environ, "ZENML_CONFIG_PATH": str(tmp_path / "zenml-store")},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_rollback_of_a_model_never_in_production_exits_2_before_the_pipeline(tmp_path):
    result = run_on_a_fresh_store(tmp_path, "rollback", "model.name=nothing_trained")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "error: model 'nothing_trained' has no production version, so no previous one either"
    ]
    assert "Pipeline" not in result.stdout


def test_rollback_to_an_unknown_version_exits_2_before_the_pipeline(tmp_path):
    """A fresh ZenML store of its own: the default model has no version 999 (it has none)."""
    result = run_on_a_fresh_store(tmp_path, "rollback", "--to-version", "999")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "error: --to-version 999: model 'churn_classifier' has no version 999 (it has no versions)"
    ]
    assert "Pipeline" not in result.stdout and "rollback" not in result.stdout


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            ["--config", "configs/deployment.yaml"],
            "has no version yet; train it first (configs/training.yaml)",
        ),
        (["serve"], PROMOTE_ONE),
        (["--config", "configs/monitoring.yaml"], PROMOTE_ONE),
        (["--config", "configs/inference.yaml"], PROMOTE_ONE),
    ],
)
def test_a_pipeline_on_a_model_version_that_does_not_exist_fails_in_one_line(tmp_path, arguments, expected):
    result = run_on_a_fresh_store(tmp_path, *arguments, "model.name=nothing_trained")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [f"error: model 'nothing_trained' {expected}"]
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- --check-data


def test_check_data_on_the_bundled_config_exits_0(run_cli):
    result = run_cli("--config", "configs/training.yaml", "--check-data")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "read 7043 rows x 20 columns (the whole source)"
    assert "data contract passed: 7043 rows, 19 columns" in lines
    assert lines[-1] == "check-data: configs/training.yaml fits its data"


def misspelled_training_config(tmp_path: Path) -> Path:
    """configs/training.yaml with 'tenure' misspelled in the contract and in a derived feature."""
    config = yaml.safe_load(TRAINING_YAML.read_text())
    columns = config["parameters"]["contract"]["columns"]
    config["parameters"]["contract"]["columns"] = {
        ("tenur" if k == "tenure" else k): v for k, v in columns.items()
    }
    config["parameters"]["features"] = [
        {
            "kind": "ratio",
            "name": "avg_monthly_charge",
            "numerator": "total_charges",
            "denominator": "tenure_months",
        }
    ]
    path = tmp_path / "training_typo.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.mark.parametrize("flags", [["--check-data"], ["--dry-run", "--data"]])
def test_check_data_lists_every_problem_and_exits_2(run_cli, tmp_path, flags):
    path = misspelled_training_config(tmp_path)
    result = run_cli("--config", str(path), *flags)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: contract: tenur: required column present (did you mean 'tenure'?) broken by 7043 row(s)",
        "error: feature 'avg_monthly_charge' (ratio) references missing column 'tenure_months' "
        "(did you mean 'tenure'?)",
        f"check-data: 2 problem(s) in {path}",
    ]
    assert "columns in the data the contract leaves out (not used): tenure" in result.stdout.splitlines()


def test_data_without_dry_run_and_check_data_of_another_pipeline_exit_2(run_cli):
    result = run_cli("--config", "configs/training.yaml", "--data")
    assert (result.returncode, result.stderr) == (
        2,
        "error: --data goes with --dry-run (or use --check-data)\n",
    )
    result = run_cli("--config", "configs/deployment.yaml", "--check-data")
    assert result.returncode == 2
    assert result.stderr == (
        "error: --check-data checks a training config; "
        "configs/deployment.yaml is for the deployment pipeline\n"
    )


# --------------------------------------------------------------------------- draft-config


def test_draft_config_writes_a_config_that_passes_check_data(run_cli, tmp_path):
    output = tmp_path / "training_wine.yaml"
    result = run_cli(
        "draft-config", "--input", "data/examples/wine.csv", "--target", "cultivar", "--output", str(output)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "read 178 rows x 14 columns from data/examples/wine.csv",
        "task: multiclass classification of 'cultivar', 3 classes "
        "(inferred from the target's values; set parameters.task to change)",
        "contract: 13 feature column(s) of 13",
        "search: 3 algorithms, 5-fold CV, scoring f1_macro (small data: 178 rows)",
        f"wrote {output}; review it (lines marked REVIEW), then:",
        f"  python run.py --config {output} --check-data",
        f"  python run.py --config {output}",
    ]
    drafted = yaml.safe_load(output.read_text())
    assert drafted["parameters"]["source"] == {"type": "file", "path": "data/examples/wine.csv"}
    assert drafted["model"]["name"] == "wine_classifier"
    checked = run_cli("--config", str(output), "--check-data")
    assert checked.returncode == 0, checked.stderr
    assert "task: multiclass classification of 'cultivar', 3 classes (configured)" in checked.stdout

    again = run_cli(
        "draft-config", "--input", "data/examples/wine.csv", "--target", "cultivar", "--output", str(output)
    )
    assert (again.returncode, again.stderr) == (
        2,
        f"error: --output {output} exists; pass --force to overwrite it\n",
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--input", "data/examples/wine.csv", "--target", "Cultivar"],
            "error: --target 'Cultivar' is not a column of the data (did you mean 'cultivar'?)",
        ),
        (
            ["--target", "cultivar"],
            "error: give the data with exactly one of --input PATH or --source-config FILE",
        ),
        (
            ["--input", "data/examples/wine.csv", "--target", "cultivar", "--task", "binary"],
            "error: a binary target needs exactly 2 classes; 'cultivar' has 3: ['0', '1', '2'] "
            "(set parameters.task: multiclass)",
        ),
        (
            ["--input", "data/examples/nothing.csv", "--target", "y"],
            "error: file source: no file matches 'data/examples/nothing.csv' "
            f"(relative to {PROJECT_ROOT}); expected an existing path or a glob matching at least one file",
        ),
    ],
)
def test_draft_config_bad_input_exits_2_with_one_line(run_cli, tmp_path, arguments, message):
    output = tmp_path / "training_x.yaml"
    result = run_cli("draft-config", *arguments, "--output", str(output))
    assert (result.returncode, result.stderr.splitlines()) == (2, [message])
    assert not output.exists()


def test_draft_config_from_a_sql_source(run_cli, tmp_path):
    import sqlalchemy as sa

    database = tmp_path / "shop.db"
    frame = pd.DataFrame(
        {
            "order_id": range(1, 61),
            "amount": [10 + i * 37 % 53 * 1.5 for i in range(60)],
            "late": ["y", "n", "n"] * 20,
        }
    )
    frame.to_sql("orders", sa.create_engine(f"sqlite:///{database}"), index=False)
    source_file = tmp_path / "source.yaml"
    source_file.write_text(
        yaml.safe_dump({"source": {"type": "sql", "url": f"sqlite:///{database}", "table": "orders"}})
    )
    output = tmp_path / "late_orders.yaml"  # not training_*: the printed commands name the pipeline
    result = run_cli(
        "draft-config", "--source-config", str(source_file), "--target", "late", "--output", str(output)
    )
    assert result.returncode == 0, result.stderr
    assert f"  python run.py --config {output} --pipeline training --check-data" in result.stdout.splitlines()
    drafted = yaml.safe_load(output.read_text())
    parameters = drafted["parameters"]
    assert parameters["source"] == {"type": "sql", "url": f"sqlite:///{database}", "table": "orders"}
    assert parameters["contract"]["classes"] == ["n", "y"] and parameters["contract"]["positive_class"] == "y"
    assert parameters["contract"]["columns"] == {
        "amount": {"kind": "numeric", "min": 2, "max": 96}
    }  # 10 .. 88 widened
    assert parameters["split"]["id_column"] == "order_id"
    checked = run_cli("--config", str(output), "--pipeline", "training", "--check-data")
    assert checked.returncode == 0, checked.stderr


def test_draft_config_source_config_errors_name_the_key(run_cli, tmp_path):
    source_file = tmp_path / "source.yaml"
    source_file.write_text(yaml.safe_dump({"parameters": {"source": {"type": "sql", "tabel": "orders"}}}))
    result = run_cli(
        "draft-config",
        "--source-config",
        str(source_file),
        "--target",
        "y",
        "--output",
        str(tmp_path / "t.yaml"),
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        "error: parameters.source.tabel: unknown key; expected one of: "
        "type, url, url_env, password_env, secret, table, query"
    )

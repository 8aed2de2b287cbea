"""Monitoring for real: a clean slice raises nothing, a drifted batch exits 3 naming its columns,
and ``on_drift: retrain`` runs training and deployment once, through run.py or as the pipeline alone.

run.py runs in subprocesses against the throwaway store with the `local` stack (the
Evidently data validator, the MLflow tracker, the local Seldon deployer).
"""

from __future__ import annotations

import json
import tempfile

import pandas as pd
import pytest
from zenml.client import Client
from zenml.enums import ModelStages

import run
from tabular_ml.configuration.run_config import resolve_config
from tabular_ml.monitoring.drift_simulation import simulate_drift
from tabular_ml.monitoring.label_simulation import delay_labels, simulate_concept_drift
from tests.integration.cli import activate_local_stack, ok, run_cli, small_training_args
from tests.support.paths import PROJECT_ROOT
from tests.support.processes import free_port

pytestmark = pytest.mark.integration

MODEL = "churn_monitor"
LR = (
    "parameters.search.algorithms=[{name: lr, estimator: sklearn.linear_model.LogisticRegression, "
    "params: {max_iter: 500}, search_space: {C: [0.1]}}]"
)


def drifted_copy(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The drift simulator: monthly charges x1.3, 80 % month-to-month, 20 % of total charges missing."""
    return simulate_drift(
        frame,
        numeric_shift={"monthly_charges": "x1.3"},
        category_mix={"contract": {"Month-to-month": 0.8}},
        missing={"total_charges": 0.2},
        seed=7,
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A production version trained on 3,000 rows; 1,000 other rows as the clean slice."""
    folder = tmp_path_factory.mktemp("monitoring")
    data = pd.read_csv(PROJECT_ROOT / "data/raw/telco_churn.csv").sample(frac=1.0, random_state=5)
    data.iloc[:3000].to_csv(folder / "sample.csv", index=False)
    data.iloc[3000:4000].to_csv(folder / "clean.csv", index=False)
    drifted, manifest = drifted_copy(data.iloc[4000:5000])
    drifted.to_csv(folder / "drifted.csv", index=False)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    activate_local_stack()
    ok(run_cli(folder, *small_training_args(folder, MODEL, LR, "parameters.evaluation.gates.min={}")))
    version = Client().get_model_version(MODEL, 1)
    Client().update_model_version(version.model.id, version.id, stage=ModelStages.PRODUCTION, force=True)
    yield folder
    deployer = Client().active_stack.model_deployer
    for service in deployer.find_model_server():
        if service.config.model_name == MODEL:
            deployer.delete_model_server(service.uuid, timeout=60)


def monitor(folder, current: str, *overrides: str):
    return run_cli(
        folder,
        "--config",
        str(PROJECT_ROOT / "configs/monitoring.yaml"),
        f"model.name={MODEL}",
        f"parameters.current.path={folder / current}",
        *overrides,
    )


def last_verdict() -> dict:
    return Client().get_model_version(MODEL, 1).run_metadata["last_monitoring"]


def last_monitoring_run():
    return Client().list_pipeline_runs(sort_by="desc:created", size=1, pipeline_name="monitoring").items[0]


def retrain_overrides(folder) -> list[str]:
    """``on_drift: retrain`` with a fast training run on ``sample.csv`` and a free serving port."""
    return [
        "parameters.on_drift=retrain",
        f"parameters.retrain.overrides=[parameters.source.path={folder / 'sample.csv'}, "
        "parameters.search.cv=3, parameters.search.n_jobs=1, 'parameters.evaluation.gates.min={}', "
        "'parameters.search.algorithms=[{name: lr, estimator: sklearn.linear_model.LogisticRegression, "
        "params: {max_iter: 500}, search_space: {C: [0.3]}}]']",
        f"parameters.retrain.deployment_overrides=[parameters.serving.port={free_port()}]",
    ]


def test_a_clean_slice_raises_no_alert(env):
    result = ok(monitor(env, "clean.csv"))
    assert "Monitoring of version 1 on 1000 rows: no threshold crossed" in result.stdout
    verdict = last_verdict()
    assert verdict["alert"] is False and verdict["drifted_columns"] == [] and verdict["current_rows"] == 1000
    assert verdict["metrics"]["roc_auc"] > 0.75  # the slice carries labels: performance is checked too
    outcome = last_monitoring_run().steps["retrain_on_drift"].outputs["retrain_outcome"][0].load()
    assert (outcome.retrained, outcome.reason) == (False, "no alert: nothing retrained")


def test_a_simulated_drift_exits_3_naming_the_shifted_columns(env):
    manifest = json.loads((env / "manifest.json").read_text())
    assert manifest["changed_columns"] == ["contract", "monthly_charges", "total_charges"]
    result = monitor(env, "drifted.csv")
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Monitoring of version 1 on 1000 rows: ALERT" in result.stdout
    # the two distributions that moved drift; the blanked cells show as missing values
    assert sorted(last_verdict()["drifted_columns"]) == ["contract", "monthly_charges"]
    assert "2 of 19 feature columns drifted" in result.stdout
    assert "total_charges: missing share 0.200 vs 0.00" in result.stdout
    report = last_monitoring_run().steps["check_drift"].outputs["drift_report"][0]
    html = report.load()
    assert "<!DOCTYPE html>" in html[:200] and "monthly_charges" in html  # Evidently's, for the dashboard


def test_too_few_rows_check_quality_but_judge_no_drift(env):
    pd.read_csv(env / "clean.csv").head(50).to_csv(env / "few.csv", index=False)
    result = ok(monitor(env, "few.csv"))
    assert "only 50 current rows (at least 200 are needed to judge drift)" in result.stdout


def monitor_with_late_labels(folder, name: str, rows: pd.DataFrame):
    """Monitor ``rows`` scored without their target, the labels joined later on ``row_id``."""
    current, labels, _ = delay_labels(rows, "churn", "row_id", 1.0, seed=3)
    current.to_csv(folder / f"{name}.csv", index=False)
    labels.to_csv(folder / f"{name}_labels.csv", index=False)
    result = monitor(
        folder,
        f"{name}.csv",
        f"parameters.labels={{type: file, path: {folder / f'{name}_labels.csv'}}}",
        "parameters.key_column=row_id",
    )
    numbers = last_monitoring_run().steps["decide_alert"].run_metadata["monitoring"]
    return result, numbers


def test_a_concept_change_alerts_on_the_realized_metric_and_a_clean_batch_stays_silent(env):
    """The same 1,000 inputs twice: labels as they were, then with half the long-tenure customers'
    labels flipped (concept drift: no input moves). The estimate, blind to labels, stays near the
    holdout both times; the realized ROC AUC on the late labels falls, and the alert says so."""
    rows = pd.read_csv(PROJECT_ROOT / "data/raw/telco_churn.csv").sample(frac=1.0, random_state=5)
    rows = rows.iloc[5000:6000].reset_index(drop=True)
    holdout_auc = Client().get_model_version(MODEL, 1).run_metadata["metrics"]["roc_auc"]

    result, clean = monitor_with_late_labels(env, "labelled_clean", rows)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "no threshold crossed" in result.stdout and clean["drifted_columns"] == []
    estimate = clean["estimated"]["roc_auc"]
    assert set(clean["estimated"]) == {"roc_auc", "f1", "accuracy"}
    assert estimate["low"] < estimate["value"] < estimate["high"]
    assert abs(estimate["value"] - holdout_auc) < 0.05
    assert clean["realized"]["labelled_rows"] == 1000 and clean["realized"]["roc_auc"] > holdout_auc - 0.05
    assert (
        Client().get_model_version(MODEL, 1).run_metadata["last_monitoring"]["estimated"]
        == clean["estimated"]
    )

    drifted, entry = simulate_concept_drift(rows, "churn", "tenure", 0.5, seed=7)
    assert entry["labels_changed"] > 200
    result, concept = monitor_with_late_labels(env, "concept", drifted)
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-3000:]
    assert concept["alert"] is True and concept["drifted_columns"] == []  # no input drifted
    assert concept["estimated"] == clean["estimated"]  # the same inputs, the same estimate
    assert concept["realized"]["roc_auc"] < holdout_auc - 0.05
    reasons = [line for line in result.stdout.splitlines() if line.startswith("  - ")]
    assert reasons == [
        f"  - roc_auc {concept['realized']['roc_auc']:.4f} realized on the labelled current rows vs "
        f"{holdout_auc:.4f} on the holdout (a drop of {holdout_auc - concept['realized']['roc_auc']:.4f}, "
        "allowed 0.05)"
    ]


def test_on_drift_retrain_trains_and_deploys_once(env):
    before = len(Client().list_model_versions(MODEL, size=100).items)
    result = monitor(env, "drifted.csv", *retrain_overrides(env))
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-3000:]
    versions = Client().list_model_versions(MODEL, sort_by="desc:number", size=100).items
    assert len(versions) == before + 1
    decision = versions[0].run_metadata["decision"]
    assert decision["status"] in ("promoted", "rejected")
    assert f"Retrained version {versions[0].number}: {decision['status']}" in result.stdout


def test_the_monitoring_pipeline_alone_retrains_as_a_scheduled_run_would(env):
    """No run.py after the run: the pipeline object runs (as an orchestrator's schedule runs it),
    and its retrain step trains a new version and records the deployment's decision on it."""
    before = Client().list_model_versions(MODEL, sort_by="desc:number", size=1).items[0].number
    config = resolve_config(
        PROJECT_ROOT / "configs/monitoring.yaml",
        [f"model.name={MODEL}", f"parameters.current.path={env / 'drifted.csv'}", *retrain_overrides(env)],
        "monitoring",
        no_cache=False,
    )
    pipeline_object, config = run.prepare_for_active_stack("monitoring", config)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as handle:
        json.dump(config, handle)  # JSON is YAML
        handle.flush()
        monitoring_run = pipeline_object.with_options(config_path=handle.name)()

    retrain_step = monitoring_run.steps["retrain_on_drift"]
    outcome = retrain_step.outputs["retrain_outcome"][0].load()
    newest = Client().list_model_versions(MODEL, sort_by="desc:number", size=1).items[0]
    decision = newest.run_metadata["decision"]
    assert newest.number == before + 1
    assert (outcome.retrained, outcome.version) == (True, newest.number)
    assert decision["status"] in ("promoted", "rejected")
    assert (outcome.decision, outcome.reason) == (decision["status"], decision["reason"])
    assert retrain_step.run_metadata["retrain"]["version"] == newest.number
    # training and deployment ran as runs of their own, after the monitoring run started
    for name in ("training", "deployment"):
        latest = Client().list_pipeline_runs(sort_by="desc:created", size=1, pipeline_name=name).items[0]
        assert latest.status.value == "completed" and latest.created > monitoring_run.created

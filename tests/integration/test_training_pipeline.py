"""The training pipeline, run for real through run.py against the throwaway ZenML store.

One small data sample, a tiny search space, three runs: a first run, an identical
rerun (cache), and a run with a changed search parameter and an impossible quality
gate (reruns from the search on, then fails at the gate).
"""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from zenml.client import Client
from zenml.enums import ExecutionStatus

from tabular_ml.data.splitting import fingerprint
from tests.integration.cli import activate_local_stack, run_cli, small_training_args, write_sample
from tests.support.paths import PROJECT_ROOT

pytestmark = pytest.mark.integration

MODEL = "churn_it"
# ingest_data always runs (it cannot know whether the source changed); these follow its content
DATA_STEPS = ["clean_data", "validate_data", "split_data"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("training")
    write_sample(folder, seed=7)
    activate_local_stack()
    return folder


def training_args(folder, *extra: str) -> list[str]:
    return small_training_args(
        folder,
        MODEL,
        # a 1,200-row sample: this tests mechanics, not model quality
        "parameters.evaluation.gates.min={roc_auc: 0.6, f1: 0.3}",
        "parameters.search.algorithms=[{name: lr, estimator: sklearn.linear_model.LogisticRegression, "
        "params: {class_weight: balanced, max_iter: 500}, search_space: {C: [0.1, 1.0]}}, "
        "{name: hgb, estimator: sklearn.ensemble.HistGradientBoostingClassifier, "
        "params: {max_iter: 30}, search_space: {learning_rate: [0.1]}}]",
        *extra,
    )


@pytest.fixture(scope="module")
def first_run(workdir):
    result = run_cli(workdir, *training_args(workdir))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return Client().get_pipeline("training").runs[0]


def test_data_artifacts_have_rows_columns_and_metadata(first_run):
    raw = first_run.steps["ingest_data"].outputs["raw_data"][0]
    assert raw.load().shape == (1200, 20)
    assert raw.run_metadata["rows"] == 1200
    clean = first_run.steps["clean_data"].outputs["clean_data"][0]
    assert clean.run_metadata["cleaning"]["rows_in"] == 1200
    train = first_run.steps["split_data"].outputs["train_data"][0].load()
    test = first_run.steps["split_data"].outputs["test_data"][0].load()
    assert len(train) + len(test) == 1200 and 0.15 < len(test) / 1200 < 0.25  # a row's side: its hash
    assert list(train.columns) == list(raw.load().columns)
    report = first_run.steps["validate_data"].outputs["contract_report"][0].load()
    assert report.passed and report.rows == 1200


def test_model_version_has_metrics_and_provenance(first_run):
    version = Client().get_model_version(MODEL, first_run.model_version.number)
    metadata = version.run_metadata
    metrics = metadata["metrics"]
    assert set(metrics) >= {"accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss"}
    assert 0.7 < metrics["roc_auc"] <= 1.0
    train = version.get_artifact("train_data").load()
    assert metadata["train_fingerprint"] == fingerprint(train)
    assert metadata["parameters"]["split"]["test_size"] == 0.2
    assert len(metadata["git_revision"]) >= 7
    report = version.get_artifact("evaluation_report").load()
    assert report.metrics["roc_auc"] == pytest.approx(metrics["roc_auc"])
    assert set(report.cv_metrics) >= {"roc_auc", "f1"}
    assert report.algorithm in {"lr", "hgb"}


def test_served_pipeline_predicts_on_raw_rows(first_run):
    version = Client().get_model_version(MODEL, first_run.model_version.number)
    model = version.get_artifact("model").load()
    rows = pd.read_csv(PROJECT_ROOT / "data/raw/telco_churn.csv").head(3).drop(columns="churn")
    rows.loc[0, "total_charges"] = np.nan
    rows.loc[1, "payment_method"] = "Bitcoin"  # never seen in training
    proba = model.predict_proba(rows)
    assert proba.shape == (3, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_mlflow_has_every_candidate(first_run):
    tracker = Client().active_stack.experiment_tracker
    mlflow.set_tracking_uri(tracker.get_tracking_uri())
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    # ZenML's MLflow tracker names the MLflow run after the pipeline run; other tests share the store.
    (parent,) = [r for r in runs if r.info.run_name == first_run.name]
    candidates = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(candidates) == 3
    assert {r.data.params["algorithm"] for r in candidates} == {"lr", "hgb"}
    lr_values = {r.data.params.get("C") for r in candidates if r.data.params["algorithm"] == "lr"}
    assert lr_values == {"0.1", "1.0"}
    assert parent.data.params["algorithm"] in {"lr", "hgb"}
    assert "holdout_roc_auc" in parent.data.metrics and "best_mean_score" in parent.data.metrics


def test_selected_candidate_is_the_best_by_cv_score(first_run):
    table = first_run.steps["train_model"].outputs["search_results"][0].load()
    assert len(table) == 3
    assert table.loc[table["selected"], "mean_score"].item() == table["mean_score"].max()
    params = json.loads(table.loc[table["selected"], "params"].item())
    assert isinstance(params, dict)


def test_identical_rerun_is_cached_and_registers_a_new_version(workdir, first_run):
    result = run_cli(workdir, *training_args(workdir))
    assert result.returncode == 0, result.stderr[-3000:]
    rerun = Client().get_pipeline("training").runs[0]
    assert rerun.id != first_run.id
    assert rerun.steps["ingest_data"].status == ExecutionStatus.COMPLETED
    for name in [*DATA_STEPS, "search_lr", "search_hgb", "train_model", "evaluate_model"]:
        assert rerun.steps[name].status == ExecutionStatus.CACHED, name
    assert rerun.model_version.number == first_run.model_version.number + 1
    assert "metrics" in Client().get_model_version(MODEL, rerun.model_version.number).run_metadata


def test_changed_search_reruns_from_search_and_gate_stops_it(workdir, first_run):
    result = run_cli(
        workdir,
        *training_args(workdir, "parameters.evaluation.gates.min.roc_auc=0.999"),
        "parameters.search.algorithms.0.search_space.C=[0.5]",
    )
    assert result.returncode != 0
    assert (
        "roc_auc" in result.stderr + result.stdout
        and "below the minimum 0.999" in result.stderr + result.stdout
    )
    failed = Client().get_pipeline("training").runs[0]
    for name in [*DATA_STEPS, "search_hgb"]:  # the unchanged algorithm's branch too
        assert failed.steps[name].status == ExecutionStatus.CACHED, name
    assert failed.steps["search_lr"].status == ExecutionStatus.COMPLETED
    assert failed.steps["train_model"].status == ExecutionStatus.COMPLETED
    assert failed.steps["evaluate_model"].status == ExecutionStatus.FAILED
    assert "record_model_version" not in failed.steps


def test_contract_violation_stops_before_training(workdir, first_run):
    data = pd.read_csv(workdir / "sample.csv")
    data.loc[[3, 10, 20], "tenure"] = [-1, -5, -1]
    data.loc[100:111, "contract"] = "Monthly"
    data.to_csv(workdir / "broken.csv", index=False)
    versions_with_metrics = [
        v.number for v in Client().list_model_versions(MODEL, size=100) if "metrics" in v.run_metadata
    ]
    result = run_cli(workdir, *training_args(workdir), f"parameters.source.path={workdir / 'broken.csv'}")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "tenure: minimum 0 broken by 3 row(s) (e.g. -1, -5)" in output
    assert "contract: allowed categories broken by 12 row(s) (e.g. Monthly)" in output
    assert result.stderr.strip().splitlines()[-1] == (
        "error: the training pipeline failed: "
        "Pipeline run has failed due to failure in step(s): validate_data"
    )
    failed = Client().get_pipeline("training").runs[0]
    assert failed.steps["validate_data"].status == ExecutionStatus.FAILED
    assert (
        "train_model" not in failed.steps or failed.steps["train_model"].status != ExecutionStatus.COMPLETED
    )
    assert [
        v.number for v in Client().list_model_versions(MODEL, size=100) if "metrics" in v.run_metadata
    ] == versions_with_metrics


def test_halving_records_its_budgets_and_bounds_the_threshold_sample(workdir, first_run):
    result = run_cli(
        workdir,
        *small_training_args(
            workdir,
            MODEL,
            "parameters.search.strategy=halving",
            "parameters.evaluation.threshold_max_rows=500",
            "parameters.search.algorithms=[{name: lr, estimator: sklearn.linear_model.LogisticRegression, "
            "params: {max_iter: 500}, search_space: {C: [0.01, 0.1, 1.0]}}]",
        ),
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "lr: halving budget 2 of ~2 done (1 candidates)" in output
    assert "lr: 3 candidates on row budgets 3 x " in output
    assert "on out-of-fold probabilities of 500 training rows" in output
    run = Client().get_pipeline("training").runs[0]
    train_rows = len(run.steps["split_data"].outputs["train_data"][0].load())
    model = run.steps["train_model"].outputs["model"][0]
    budgets = model.run_metadata["search_budgets"]["lr"]
    assert [b["candidates"] for b in budgets] == [3, 1]
    assert budgets[-1]["rows"] <= train_rows and budgets[0]["rows"] == budgets[-1]["rows"] // 3
    table = run.steps["train_model"].outputs["search_results"][0].load()
    assert len(table) == 3


def test_the_fanned_out_search_picks_what_one_search_in_one_process_picks(first_run):
    """Each algorithm a step of its own (search_lr, search_hgb), merged by train_model: the same
    winner, params, CV score and predictions as run_search on the run's own training rows."""
    from pydantic import TypeAdapter

    from tabular_ml.configuration.schema import DataContract, FeatureSpec, PreprocessingConfig, SearchConfig
    from tabular_ml.modelling.search import run_search

    train_step = first_run.steps["train_model"]
    assert {"search_lr", "search_hgb"} <= set(first_run.steps)
    for branch, algorithm in (("search_lr", "lr"), ("search_hgb", "hgb")):
        found = first_run.steps[branch].outputs["algorithm_search"][0].load()
        (searched,) = first_run.steps[branch].config.parameters["search"]["algorithms"]
        assert found.algorithm == searched["name"] == algorithm
    config = train_step.config.parameters
    contract = DataContract.model_validate(config["contract"])
    train = first_run.steps["split_data"].outputs["train_data"][0].load()
    target = first_run.steps["validate_data"].outputs["target"][0].load()
    single = run_search(
        train[contract.feature_names],
        target.encode(train[contract.target]),
        contract,
        PreprocessingConfig.model_validate(config["preprocessing"]),
        TypeAdapter(list[FeatureSpec]).validate_python(config["features"]),
        SearchConfig.model_validate(config["search"]),
        target.task,
    )
    model = train_step.outputs["model"][0]
    metadata = model.run_metadata
    assert (metadata["algorithm"], metadata["params"]) == (single.best.algorithm, single.best.params)
    assert metadata["cv_roc_auc"] == single.best.mean_score
    rows = train[contract.feature_names].head(50)
    np.testing.assert_array_equal(model.load().predict_proba(rows), single.best_pipeline.predict_proba(rows))

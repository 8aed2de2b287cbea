"""notebooks/training_artifacts.ipynb executed against a real training run in the throwaway store.

The kernel inherits this process's environment (tests/conftest.py's ZENML_CONFIG_PATH and
ZENML_REPOSITORY_PATH), so the notebook's ``Client()`` reads the store the run was written to.
"""

from __future__ import annotations

import pytest
from zenml.client import Client

from notebooks.execute import execute
from tests.integration.cli import activate_local_stack, ok, run_cli, small_training_args, write_sample
from tests.support.notebook_outputs import cell, cells_with_images, stdout, summary
from tests.support.paths import PROJECT_ROOT

pytestmark = pytest.mark.integration

MODEL = "churn_notebook"
# docs/guides/training.md "Artifacts (a public contract ...)": the names the notebook loads and lists
CONTRACT_ARTIFACTS = {
    "raw_data",
    "clean_data",
    "contract_report",
    "train_data",
    "test_data",
    "model",
    "search_results",
    "evaluation_report",
    "model_version",
}


@pytest.fixture(scope="module")
def training_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("notebook")
    write_sample(folder, seed=11)
    activate_local_stack()
    ok(
        run_cli(
            folder,
            *small_training_args(
                folder,
                MODEL,
                # a 1,200-row sample and one small grid: the notebook is tested, not the model
                "parameters.evaluation.gates.min={roc_auc: 0.6, f1: 0.3}",
                "parameters.search.algorithms=[{name: lr, "
                "estimator: sklearn.linear_model.LogisticRegression, "
                "params: {max_iter: 500}, search_space: {C: [0.1, 1.0]}}]",
            ),
        )
    )
    run = Client().get_pipeline("training").last_successful_run
    assert run.model_version.model.name == MODEL
    return run


@pytest.fixture(scope="module")
def executed(training_run):
    return execute(PROJECT_ROOT / "notebooks" / "training_artifacts.ipynb", timeout_s=300)


def test_it_reads_the_latest_training_run_and_its_model_version(training_run, executed):
    values = summary(executed)
    assert values["run_id"] == str(training_run.id) and values["run_name"] == training_run.name
    assert f"run id: {training_run.id}" in stdout(cell(executed, "run"))
    version = Client().get_model_version(MODEL, training_run.model_version.number)
    assert (values["model"], values["model_version"]) == (MODEL, version.number)
    assert values["roc_auc"] == pytest.approx(version.run_metadata["metrics"]["roc_auc"], abs=1e-12)
    assert values["holdout_rows"] == len(version.get_artifact("test_data").load())


def test_it_lists_the_runs_artifacts_by_name(training_run, executed):
    expected = {
        name: str(artifact.id)
        for step in training_run.steps.values()
        for name, versions in step.outputs.items()
        for artifact in versions
    }
    assert summary(executed)["artifact_ids"] == expected
    assert set(expected) >= CONTRACT_ARTIFACTS


def test_the_stored_model_reproduces_the_reports_roc_auc_on_the_stored_holdout(executed):
    values = summary(executed)
    assert values["rescored_roc_auc"] == pytest.approx(values["roc_auc"], abs=1e-9)
    assert 0.7 < values["roc_auc"] <= 1.0


def test_it_plots_the_evaluation_report(executed):
    assert cells_with_images(executed) == {"report-plots"}
    assert "linked artifact 'model' is the run's: True" in stdout(cell(executed, "version"))

"""The data's life through training, run for real through run.py against the throwaway store.

One CSV path whose content changes under the pipeline: trained as is, retrained unchanged
(every step after ingest_data is a cache hit), overwritten with other rows (nothing is
reused, the new version records the new data), appended to (no earlier row changes side),
and trained with a failing contract or quality gate (no model version is left behind).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from zenml.client import Client
from zenml.enums import ExecutionStatus

from tabular_ml.configuration.schema import DataContract, SplitConfig
from tabular_ml.data.splitting import fingerprint, in_holdout, row_keys
from tests.integration.cli import activate_local_stack, ok, run_cli, small_training_args, write_sample
from tests.support.paths import PROJECT_ROOT

pytestmark = pytest.mark.integration

MODEL = "churn_lifecycle"
AFTER_INGEST = ["clean_data", "validate_data", "split_data", "train_model", "evaluate_model"]
FIRST_ROWS, OVERWRITTEN_ROWS, APPENDED_ROWS = 1200, 1150, 300


def training_args(folder, *extra: str) -> list[str]:
    return small_training_args(
        folder,
        MODEL,
        # mechanics, not model quality: one logistic regression, floors a 1,200-row sample passes
        "parameters.search.algorithms=[{name: lr, estimator: sklearn.linear_model.LogisticRegression, "
        "params: {class_weight: balanced, max_iter: 500}, search_space: {C: [0.1]}}]",
        "parameters.evaluation.gates.min={roc_auc: 0.6, f1: 0.3}",
        *extra,
    )


def train(folder, *extra: str):
    """Run training; return (the run, its model version)."""
    ok(run_cli(folder, *training_args(folder, *extra)))
    run = Client().get_pipeline("training").runs[0]
    return run, Client().get_model_version(MODEL, run.model_version.number)


def output(run, step: str, name: str) -> pd.DataFrame:
    return run.steps[step].outputs[name][0].load()


def contract() -> DataContract:
    return DataContract.model_validate(
        Client().get_pipeline("training").runs[0].config.parameters["contract"]
    )


def version_numbers() -> list[int]:
    return sorted(v.number for v in Client().list_model_versions(MODEL, size=100))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lifecycle")
    activate_local_stack()
    return folder


@pytest.fixture(scope="module")
def first(workdir):
    write_sample(workdir, seed=19, rows=FIRST_ROWS)
    return train(workdir)


@pytest.fixture(scope="module")
def overwritten(workdir, first):
    write_sample(workdir, seed=21, rows=OVERWRITTEN_ROWS)  # the same path, other rows
    return train(workdir)


@pytest.fixture(scope="module")
def appended(workdir, overwritten):
    full = pd.read_csv(PROJECT_ROOT / "data/raw/telco_churn.csv")
    present = full.sample(OVERWRITTEN_ROWS, random_state=21).index
    new_rows = full.drop(index=present).sample(APPENDED_ROWS, random_state=23)
    new_rows.to_csv(workdir / "sample.csv", mode="a", header=False, index=False)
    run, version = train(workdir)
    return run, version, new_rows


def test_first_version_records_the_data_it_was_trained_on(first):
    run, version = first
    metadata = version.run_metadata
    clean = output(run, "clean_data", "clean_data")
    assert metadata["data_rows"] == FIRST_ROWS == len(clean)
    assert metadata["data_fingerprint"] == fingerprint(clean)
    assert metadata["train_rows"] + metadata["test_rows"] == FIRST_ROWS
    assert 0.15 < metadata["test_rows"] / FIRST_ROWS < 0.25
    test = output(run, "split_data", "test_data")
    assert len(test) == metadata["test_rows"]
    artifact = run.steps["split_data"].outputs["test_data"][0]
    assert artifact.run_metadata["split_key"] == "feature hash"
    assert set(artifact.run_metadata["class_holdout_shares"]) == {"No", "Yes"}
    raw = run.steps["ingest_data"].outputs["raw_data"][0]
    assert raw.content_hash and len(raw.content_hash) == 64


def test_unchanged_data_reuses_every_step_after_ingest(workdir, first):
    first_run, first_version = first
    rerun, version = train(workdir)
    assert rerun.steps["ingest_data"].status == ExecutionStatus.COMPLETED  # always reads the source
    for name in AFTER_INGEST:
        assert rerun.steps[name].status == ExecutionStatus.CACHED, name
    assert rerun.steps["train_model"].original_step_run_id == first_run.steps["train_model"].id
    assert rerun.steps["record_model_version"].status == ExecutionStatus.COMPLETED
    assert version.number == first_version.number + 1
    assert version.run_metadata["data_fingerprint"] == first_version.run_metadata["data_fingerprint"]
    assert version.run_metadata["data_rows"] == FIRST_ROWS


def test_overwritten_file_reuses_nothing(first, overwritten):
    _, first_version = first
    run, version = overwritten
    for name in ["ingest_data", *AFTER_INGEST, "record_model_version"]:
        assert run.steps[name].status == ExecutionStatus.COMPLETED, name
    assert version.number > first_version.number
    metadata = version.run_metadata
    assert metadata["data_fingerprint"] != first_version.run_metadata["data_fingerprint"]
    assert metadata["data_rows"] == OVERWRITTEN_ROWS
    assert metadata["data_fingerprint"] == fingerprint(output(run, "clean_data", "clean_data"))
    assert metadata["train_rows"] + metadata["test_rows"] == OVERWRITTEN_ROWS


def test_appended_rows_leave_every_earlier_row_on_its_side(overwritten, appended):
    before_run, _ = overwritten
    after_run, version, new_rows = appended
    features = contract().feature_names
    keys = {
        (when, side): row_keys(output(run, "split_data", f"{side}_data"), features)
        for when, run in (("before", before_run), ("after", after_run))
        for side in ("train", "test")
    }
    # every holdout row of the first version is a holdout row of the second, every train row a train row
    assert np.isin(keys["before", "test"], keys["after", "test"]).all()
    assert np.isin(keys["before", "train"], keys["after", "train"]).all()
    assert not np.isin(keys["before", "test"], keys["after", "train"]).any()
    # the appended rows are split by the same rule, and the ones on the train side are trained on
    new_keys = row_keys(new_rows, features)
    new_in_test = in_holdout(new_keys, SplitConfig.model_validate(after_run.config.parameters["split"]))
    assert 0 < new_in_test.sum() < APPENDED_ROWS
    assert np.isin(new_keys[~new_in_test], keys["after", "train"]).all()
    assert not np.isin(new_keys[~new_in_test], keys["after", "test"]).any()
    assert np.isin(new_keys[new_in_test], keys["after", "test"]).all()
    assert len(keys["after", "train"]) == len(keys["before", "train"]) + (~new_in_test).sum()
    assert version.run_metadata["data_rows"] == OVERWRITTEN_ROWS + APPENDED_ROWS
    assert version.run_metadata["train_rows"] == len(keys["after", "train"])


@pytest.mark.parametrize(
    ("override", "failing_step"),
    [
        ("parameters.contract.columns.tenure.max=1", "validate_data"),
        ("parameters.evaluation.gates.min.roc_auc=0.999", "evaluate_model"),
    ],
)
def test_a_failed_run_leaves_no_model_version(workdir, appended, override, failing_step):
    before = version_numbers()
    result = run_cli(workdir, *training_args(workdir, override))
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "error: the training pipeline failed: "
        f"Pipeline run has failed due to failure in step(s): {failing_step}"
    )
    assert "deleted model version" in result.stdout + result.stderr
    run = Client().get_pipeline("training").runs[0]
    assert run.status == ExecutionStatus.FAILED
    assert run.steps[failing_step].status == ExecutionStatus.FAILED
    assert run.model_version is None
    assert version_numbers() == before

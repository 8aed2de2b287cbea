"""Partitioned batch scoring through run.py on the local stack: plan, parallel branches, merge.

One version is trained on a 1,000-row sample and promoted; the same input is then scored with
``partitions: 1`` and ``partitions: 3`` (with explanations), and the two
outputs must be the same rows in the same order with the same columns and batch key.
"""

from __future__ import annotations

import pandas as pd
import pytest
from zenml.client import Client
from zenml.enums import ModelStages

from tests.integration.cli import ok, output, run_cli, small_training_args, write_sample
from tests.support.paths import PROJECT_ROOT

pytestmark = pytest.mark.integration

MODEL = "churn_partitions"
ROWS = 1000


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("partitions")
    write_sample(folder, seed=33, rows=ROWS)
    ok(run_cli(folder, "stack", "local"))
    lr = (
        "{name: lr, estimator: sklearn.linear_model.LogisticRegression, "
        "params: {max_iter: 500}, search_space: {C: [1.0]}}"
    )
    ok(
        run_cli(
            folder,
            *small_training_args(
                folder, MODEL, f"parameters.search.algorithms=[{lr}]", "parameters.evaluation.gates.min={}"
            ),
        )
    )
    version = Client().get_model_version(MODEL, 1)
    Client().update_model_version(version.model.id, version.id, stage=ModelStages.PRODUCTION, force=True)
    return folder


def score(folder, *overrides: str):
    return run_cli(
        folder,
        "--config",
        str(PROJECT_ROOT / "configs/inference.yaml"),
        f"model.name={MODEL}",
        f"parameters.source.path={folder / 'sample.csv'}",
        "parameters.chunk_rows=150",
        "parameters.explain={top_k: 2}",
        *overrides,
    )


@pytest.fixture(scope="module")
def runs(workdir):
    ok(score(workdir, f"parameters.sink.path={workdir / 'single.csv'}"))
    single = Client().get_pipeline("inference").runs[0]
    ok(score(workdir, f"parameters.sink.path={workdir / 'partitioned.csv'}", "parameters.partitions=3"))
    return single, Client().get_pipeline("inference").runs[0]


def test_three_partitions_write_the_single_steps_output_row_for_row(workdir, runs) -> None:
    single_run, partitioned_run = runs
    single, partitioned = (pd.read_csv(workdir / name) for name in ("single.csv", "partitioned.csv"))
    assert list(partitioned.columns) == list(single.columns)
    assert "reason_2" in partitioned.columns and "contribution_2" in partitioned.columns
    assert len(partitioned) == ROWS
    assert partitioned["input_row"].tolist() == list(range(ROWS))
    # every column but the run's own timestamp; the batch key is the same input's and version's
    pd.testing.assert_frame_equal(partitioned.drop(columns="scored_at"), single.drop(columns="scored_at"))
    assert partitioned["scored_at"].nunique() == 1
    merged = partitioned_run.steps["merge_partitions"].outputs["predictions"][0]
    alone = single_run.steps["score_batch"].outputs["predictions"][0]
    assert merged.load().batch_key == alone.load().batch_key
    assert (merged.load().rows, merged.run_metadata["rows"]) == (ROWS, ROWS)
    linked = Client().get_model_version(MODEL, 1).get_artifact("predictions", version=merged.version)
    assert linked is not None and linked.id == merged.id
    versioned = pd.read_parquet(merged.load().parts_uri)
    pd.testing.assert_frame_equal(
        versioned, pd.read_parquet(alone.load().parts_uri).assign(scored_at=versioned["scored_at"])
    )


def test_the_partitioned_run_is_a_plan_three_branches_and_a_merge(runs) -> None:
    single_run, partitioned_run = runs
    assert set(single_run.steps) == {"score_batch"}
    branches = {f"score_partition_{i}" for i in range(3)}
    assert set(partitioned_run.steps) == {"plan_partitions", "merge_partitions", *branches}
    plan = partitioned_run.steps["plan_partitions"].outputs["partition_plan"][0].load()
    assert [(p.first_row, p.rows) for p in plan.partitions] == [(0, 333), (333, 333), (666, 334)]
    for index in range(3):
        scores = partitioned_run.steps[f"score_partition_{index}"].outputs["partition_scores"][0].load()
        assert (scores.first_row, scores.rows) == (
            plan.partitions[index].first_row,
            plan.partitions[index].rows,
        )
        assert scores.chunks == 3  # 150-row chunks of ~333 rows


def test_partitions_of_a_source_that_cannot_be_cut_are_a_one_line_config_error(workdir) -> None:
    api = score(
        workdir, "parameters.partitions=2", "parameters.source={type: api, url: 'http://127.0.0.1:9/rows'}"
    )
    assert api.returncode == 2
    lines = [line for line in output(api).splitlines() if line.strip()]
    assert lines[-1] == (
        "error: parameters.partitions: value error, an api source cannot be partitioned "
        "(its answer has no row ranges); use partitions: 1 (got 2)"
    )
    zero = score(workdir, "parameters.partitions=0")
    assert zero.returncode == 2
    assert output(zero).strip().splitlines()[-1] == (
        "error: parameters.partitions: input should be greater than or equal to 1 (got 0)"
    )

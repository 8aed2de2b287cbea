"""Batch scoring through run.py against the throwaway ZenML store.

Two versions are trained on a 1,000-row sample (version 2 with another C, so the versions
disagree); only version 1 is promoted (directly: the deployment pipeline would also start a
server). Scoring must use version 1 although version 2 is newer.
"""

from __future__ import annotations

import os
import uuid

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from zenml.client import Client
from zenml.enums import ModelStages

from tabular_ml.configuration.schema import CleaningConfig, DataContract
from tabular_ml.data.cleaning import clean_frame
from tests.integration.cli import activate_local_stack, ok, run_cli, small_training_args, write_sample
from tests.support.paths import PROJECT_ROOT
from tests.support.services import database_url_or_skip

pytestmark = pytest.mark.integration

MODEL = "churn_infer"
ROWS = 1000
LR = (
    "{{name: lr, estimator: sklearn.linear_model.LogisticRegression, "
    "params: {{max_iter: 500}}, search_space: {{C: [{C}]}}}}"
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inference")
    write_sample(folder, seed=21, rows=ROWS)
    activate_local_stack()
    for c in (0.1, 3.0):
        overrides = [f"parameters.search.algorithms=[{LR.format(C=c)}]", "parameters.evaluation.gates.min={}"]
        ok(run_cli(folder, *small_training_args(folder, MODEL, *overrides)))
    client = Client()
    first = client.get_model_version(MODEL, 1)
    client.update_model_version(first.model.id, first.id, stage=ModelStages.PRODUCTION, force=True)
    return folder


def score(folder, *overrides: str):
    return run_cli(
        folder,
        "--config",
        str(PROJECT_ROOT / "configs/inference.yaml"),
        f"model.name={MODEL}",
        f"parameters.source.path={folder / 'sample.csv'}",
        *overrides,
    )


def newest_run():
    return Client().get_pipeline("inference").runs[0]


def positive_proba(version: int, frame: pd.DataFrame) -> np.ndarray:
    """What the given version's fitted Pipeline says, on the rows cleaned as in training."""
    model_version = Client().get_model_version(MODEL, version)
    parameters = model_version.run_metadata["parameters"]
    contract = DataContract(**parameters["contract"])
    cleaned, _ = clean_frame(frame, CleaningConfig(**parameters["cleaning"]), contract)
    return model_version.get_artifact("model").load().predict_proba(cleaned[contract.feature_names])[:, 1]


@pytest.fixture(scope="module")
def csv_runs(workdir):
    """The same sample scored twice into one CSV file: in 300-row chunks, then in one chunk (a
    rerun of the same batch: its rows replace the first run's)."""
    sink = workdir / "out" / "predictions.csv"
    ok(score(workdir, f"parameters.sink.path={sink}", "parameters.chunk_rows=300"))
    chunked = newest_run()
    ok(score(workdir, f"parameters.sink.path={sink}"))
    return sink, chunked, newest_run()


def test_one_prediction_per_row_from_the_production_version(workdir, csv_runs) -> None:
    sink, chunked, _ = csv_runs
    sample = pd.read_csv(workdir / "sample.csv")
    first = pd.read_csv(sink).iloc[:ROWS]
    assert first["input_row"].tolist() == list(range(ROWS))
    assert set(first["model_version"]) == {1}  # although version 2 is newer
    production, newer = positive_proba(1, sample), positive_proba(2, sample)
    np.testing.assert_allclose(first["probability"], production, rtol=0, atol=1e-9)
    assert np.abs(newer - production).max() > 1e-4  # the versions do disagree
    threshold = Client().get_model_version(MODEL, 1).run_metadata["decision_threshold"]
    assert 0.1 < threshold < 0.6  # chosen on the CV folds (evaluation.threshold: auto)
    assert first["prediction"].tolist() == np.where(production >= threshold, "Yes", "No").tolist()
    predictions = chunked.steps["score_batch"].outputs["predictions"][0]
    summary = predictions.load()
    assert (summary.rows, summary.chunks, summary.model_version) == (ROWS, 4, "1")
    assert summary.threshold == pytest.approx(threshold)
    assert summary.positive_share == pytest.approx((production >= threshold).mean())
    assert predictions.run_metadata["rows"] == ROWS and predictions.run_metadata["model_version"] == "1"
    versioned = pd.read_parquet(summary.parts_uri)
    assert versioned["input_row"].tolist() == list(range(ROWS))
    np.testing.assert_allclose(versioned["probability"], production, rtol=0, atol=1e-12)
    assert chunked.model_version.number == 1
    linked = Client().get_model_version(MODEL, 1).get_artifact("predictions", version=predictions.version)
    assert linked is not None and linked.id == predictions.id
    assert Client().get_model_version(MODEL, 2).get_artifact("predictions") is None


def test_a_rerun_of_the_same_input_and_version_replaces_its_rows_in_the_csv(csv_runs) -> None:
    sink, chunked, single = csv_runs
    lines = sink.read_text().splitlines()
    assert lines[0] == "input_row,prediction,probability,model_version,scored_at,batch_key"
    assert len(lines) == 1 + ROWS
    written = pd.read_csv(sink)
    first, second = (run.steps["score_batch"].outputs["predictions"][0] for run in (chunked, single))
    assert first.load().batch_key == second.load().batch_key  # chunking does not change the batch
    assert second.run_metadata["batch_key"] == second.load().batch_key
    assert set(written["batch_key"]) == {second.load().batch_key}
    assert [pd.Timestamp(value) for value in written["scored_at"].unique()] == [second.load().scored_at]


def test_chunking_does_not_change_a_prediction(csv_runs) -> None:
    _, chunked, single = csv_runs
    in_chunks, whole = (
        pd.read_parquet(run.steps["score_batch"].outputs["predictions"][0].load().parts_uri)
        for run in (chunked, single)
    )
    assert single.steps["score_batch"].outputs["predictions"][0].load().chunks == 1
    np.testing.assert_allclose(in_chunks["probability"], whole["probability"], rtol=0, atol=1e-12)
    assert in_chunks[["input_row", "prediction"]].equals(whole[["input_row", "prediction"]])


@pytest.fixture
def postgres_table():
    url = database_url_or_skip("TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
    table = f"predictions_{uuid.uuid4().hex[:8]}"
    os.environ["INFERENCE_TEST_DB_URL"] = url  # run.py's subprocess reads it (url_env)
    yield url, table
    del os.environ["INFERENCE_TEST_DB_URL"]
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()


def test_a_postgres_sink_replaces_a_rerun_of_the_same_batch(workdir, postgres_table) -> None:
    url, table = postgres_table
    for chunk_rows in (400, 100_000):
        ok(
            score(
                workdir,
                f"parameters.sink={{type: sql, url_env: INFERENCE_TEST_DB_URL, table: {table}}}",
                f"parameters.chunk_rows={chunk_rows}",
            )
        )
        assert (
            newest_run()
            .steps["score_batch"]
            .outputs["predictions"][0]
            .load()
            .sink.startswith(f"sql sink table '{table}' at postgresql")
        )
    engine = sa.create_engine(url)
    written = pd.read_sql(f"SELECT * FROM {table}", engine)
    engine.dispose()
    last = newest_run().steps["score_batch"].outputs["predictions"][0].load()
    assert len(written) == ROWS and written["scored_at"].nunique() == 1  # the second run's rows only
    assert pd.Timestamp(written["scored_at"].iloc[0]) == pd.Timestamp(last.scored_at)
    assert set(written["batch_key"]) == {last.batch_key} and last.batch_key.startswith(f"{MODEL}:1:")
    assert sorted(written["input_row"].value_counts().unique()) == [1]  # each row once
    assert set(written["model_version"]) == {"1"}
    production = positive_proba(1, pd.read_csv(workdir / "sample.csv"))
    np.testing.assert_allclose(written.sort_values("input_row")["probability"], production, rtol=0, atol=1e-9)


def test_a_contract_violation_in_chunk_2_names_its_rows(workdir) -> None:
    sample = pd.read_csv(workdir / "sample.csv")
    sample.loc[450, "tenure"] = -7
    sample.to_csv(workdir / "broken.csv", index=False)
    sink = workdir / "broken_predictions.csv"
    sink.write_text("input_row,prediction,probability,model_version,scored_at\n")
    result = score(
        workdir,
        f"parameters.source.path={workdir / 'broken.csv'}",
        f"parameters.sink.path={sink}",
        "parameters.chunk_rows=300",
    )
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "data contract failed in chunk 2 (input rows 300-599): 1 violation(s) in 300 rows" in output
    assert "tenure: minimum 0 broken by 1 row(s) (e.g. -7)" in output
    assert result.stderr.strip().splitlines()[-1].startswith("error: the inference pipeline failed: ")
    # chunk 1 never reached the file (written before batch keys: kept as it is)
    assert sink.read_text() == "input_row,prediction,probability,model_version,scored_at\n"


def test_no_production_version_is_a_one_line_error(workdir) -> None:
    result = run_cli(
        workdir, "--config", str(PROJECT_ROOT / "configs/inference.yaml"), "model.name=churn_never_promoted"
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: model 'churn_never_promoted' has no production version; "
        "promote one with `python run.py --config configs/deployment.yaml`"
    ]


def test_a_sink_path_without_a_known_suffix_is_a_one_line_error(workdir) -> None:
    result = score(workdir, "parameters.sink.path=out/predictions.txt")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: parameters.sink: value error, cannot tell the format of 'out/predictions.txt' from its "
        "suffix; expected one of .csv, .csv.gz, .parquet, .pq or format: csv|parquet"
    ]


def test_explain_adds_each_rows_top_reasons_as_the_in_process_explanation_gives_them(workdir) -> None:
    from tabular_ml.modelling.explanations import Explainer
    from tabular_ml.modelling.trained_model import TrainedModel

    sink = workdir / "out" / "explained.csv"
    ok(score(workdir, f"parameters.sink.path={sink}", "parameters.explain={top_k: 2}"))
    written = pd.read_csv(sink)
    assert list(written.columns[3:7]) == ["reason_1", "contribution_1", "reason_2", "contribution_2"]
    version = Client().get_model_version(MODEL, 1)
    production = TrainedModel.of_version(version)
    background = version.get_artifact("test_data").load().head(500)
    explainer = Explainer(
        production.pipeline, production.target, production.contract.feature_names, background
    )
    sample = pd.read_csv(workdir / "sample.csv")
    cleaned, _ = clean_frame(sample, production.cleaning, production.contract)
    names, values = explainer.top_reasons(explainer.attribute_frame(cleaned), 2)
    assert written[["reason_1", "reason_2"]].values.tolist() == names.tolist()
    np.testing.assert_allclose(written[["contribution_1", "contribution_2"]], values, rtol=0, atol=1e-9)

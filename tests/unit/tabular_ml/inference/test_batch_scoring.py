"""Batch scoring on tiny frames: one prediction per row, equal to predict_proba in any chunking."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import platform
import re
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from tabular_ml.configuration.schema import (
    CleaningConfig,
    FileSink,
    FileSource,
    PreprocessingConfig,
    SqlSource,
)
from tabular_ml.data.cleaning import clean_frame
from tabular_ml.data.contract import validate_frame
from tabular_ml.data.prefetch import prefetched
from tabular_ml.data.sinks import LocalFiles, ParquetPartsSink
from tabular_ml.data.sources import iter_chunks
from tabular_ml.inference.batch_scoring import (
    BatchExplainer,
    ChunkContractError,
    ChunkValidator,
    SourceFingerprint,
    Totals,
    describe_config,
    run_batch_scoring,
    score_in_chunks,
)
from tabular_ml.modelling.explanations import Explainer
from tabular_ml.modelling.model import build_model, encode_target
from tabular_ml.modelling.trained_model import TrainedModel
from tabular_ml.tasks.target import TargetSpec
from tests.support.factories import tiny_contract, tiny_frame

SCORED_AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
BINARY = TargetSpec(column="churn", task="binary", classes=["No", "Yes"])


def score(production, tmp_path: Path, frame: pd.DataFrame, sink: str = "out.csv", **options):
    frame.to_csv(tmp_path / "input.csv", index=False)
    options = {"chunk_rows": 1000, "key_column": None, "prefetch": "thread", **options}
    result = run_batch_scoring(
        production,
        FileSource(path=str(tmp_path / "input.csv")),
        FileSink(path=str(tmp_path / sink)),
        run_tag="run",
        store_dir=str(tmp_path / "store" / options.pop("store", "run")),
        scored_at=SCORED_AT,
        progress=False,
        **options,
    )
    return result


def expected_proba(production: TrainedModel, frame: pd.DataFrame) -> np.ndarray:
    cleaned, _ = clean_frame(frame, production.cleaning, production.contract)
    return production.pipeline.predict_proba(cleaned[production.contract.feature_names])[:, 1]


@pytest.mark.parametrize("prefetch", ["thread", "process"])
@pytest.mark.parametrize("chunk_rows", [7, 1000])
def test_one_prediction_per_row_equal_to_predict_proba(production, tmp_path, prefetch, chunk_rows) -> None:
    frame = tiny_frame(60, seed=2)
    frame.loc[5, "contract"] = " One year "  # cleaned as in training
    result = score(production, tmp_path, frame, chunk_rows=chunk_rows, prefetch=prefetch)
    written = pd.read_csv(tmp_path / "out.csv")
    proba = expected_proba(production, frame)
    assert written["input_row"].tolist() == list(range(60))
    np.testing.assert_allclose(written["probability"], proba, rtol=0, atol=1e-12)
    assert written["prediction"].tolist() == np.where(proba >= 0.5, "Yes", "No").tolist()
    assert set(written["model_version"]) == {3} and set(written["scored_at"]) == {"2026-05-01 12:00:00+00:00"}
    parts = pd.read_parquet(result.parts_uri)
    np.testing.assert_array_equal(parts["input_row"], written["input_row"])
    np.testing.assert_allclose(parts["probability"], proba, rtol=0, atol=1e-12)
    assert result.rows == 60 and result.chunks == -(-60 // chunk_rows)
    assert result.positive_share == pytest.approx((proba >= 0.5).mean())
    assert result.mean_probability == pytest.approx(proba.mean())
    assert result.columns == [
        "input_row",
        "prediction",
        "probability",
        "model_version",
        "scored_at",
        "batch_key",
    ]
    assert set(written["batch_key"]) == {result.batch_key}


@pytest.mark.parametrize("prefetch", ["thread", "process"])
def test_explain_adds_each_rows_top_reasons_and_their_contributions(production, tmp_path, prefetch) -> None:
    frame = tiny_frame(40, seed=3)
    explainer = Explainer(
        production.pipeline, BINARY, production.contract.feature_names, tiny_frame(200, seed=1)
    )
    result = score(
        production, tmp_path, frame, chunk_rows=15, prefetch=prefetch, explain=BatchExplainer(explainer, 2)
    )
    written = pd.read_csv(tmp_path / "out.csv")
    assert result.columns == [
        "input_row",
        "prediction",
        "probability",
        "reason_1",
        "contribution_1",
        "reason_2",
        "contribution_2",
        "model_version",
        "scored_at",
        "batch_key",
    ]
    assert list(written.columns) == result.columns
    expected = explainer.explain(frame, top_k=2)
    assert written[["reason_1", "reason_2"]].values.tolist() == [[c for c, _ in row.top] for row in expected]
    np.testing.assert_allclose(
        written[["contribution_1", "contribution_2"]],
        [[v for _, v in row.top] for row in expected],
        atol=1e-12,
    )


def test_the_key_column_is_written_with_each_prediction(production, tmp_path) -> None:
    frame = tiny_frame(20, seed=3).assign(customer=[f"c-{i:03d}" for i in range(20)])
    result = score(production, tmp_path, frame, chunk_rows=6, key_column="customer")
    written = pd.read_csv(tmp_path / "out.csv")
    assert written["customer"].tolist() == frame["customer"].tolist()
    assert result.columns[0] == "customer"


def test_the_batch_key_names_the_version_and_the_input_in_any_chunking(production, tmp_path) -> None:
    frame = tiny_frame(60, seed=2)
    keys = {
        score(production, tmp_path, frame, chunk_rows=rows, store=f"s{rows}").batch_key
        for rows in (7, 60, 1000)
    }
    assert len(keys) == 1
    key = keys.pop()
    assert re.fullmatch(r"churn_tiny:3:[0-9a-f]{32}", key)
    written = pd.read_csv(tmp_path / "out.csv")
    assert written["input_row"].tolist() == list(range(60)) and set(written["batch_key"]) == {
        key
    }  # rows once
    changed = frame.copy()
    changed.loc[59, "total"] += 0.01
    other = score(production, tmp_path, changed, store="changed").batch_key
    newer = score(dataclasses.replace(production, version="4"), tmp_path, frame, store="newer").batch_key
    assert len({key, other, newer}) == 3 and newer.startswith("churn_tiny:4:") and newer[-32:] == key[-32:]
    assert pd.read_csv(tmp_path / "out.csv")["batch_key"].value_counts().to_dict() == {
        key: 60,
        other: 60,
        newer: 60,
    }


def test_the_fingerprint_follows_the_rows_not_where_chunks_end() -> None:
    rows = pd.DataFrame({"a": [1, 2, 3, 4], "b": ["x", None, "z", "w"], "c": [[1], {"k": 2}, [3], [4]]})

    def fingerprint(*chunks: pd.DataFrame) -> str:
        digest = SourceFingerprint()
        for chunk in chunks:
            digest.add(chunk.reset_index(drop=True))
        return digest.hexdigest()

    whole = fingerprint(rows)
    assert fingerprint(rows.iloc[:1], rows.iloc[1:3], rows.iloc[3:]) == whole
    assert fingerprint(rows.iloc[::-1]) != whole  # the order is part of the input (input_row)
    assert fingerprint(rows.rename(columns={"a": "A"})) != whole
    assert fingerprint(rows.assign(b=["x", None, "z", "W"])) != whole
    assert fingerprint() == Totals().fingerprint


def test_a_missing_key_column_is_a_one_line_error(production, tmp_path) -> None:
    with pytest.raises(
        ValueError, match=r"^key_column 'customer' is not a column of the input; it has: tenure, "
    ):
        score(production, tmp_path, tiny_frame(4), key_column="customer")


@pytest.mark.parametrize("prefetch", ["thread", "process"])
def test_a_violation_in_chunk_2_names_its_rows_and_leaves_the_sinks_alone(
    production, tmp_path, prefetch
) -> None:
    score(production, tmp_path, tiny_frame(10), store="earlier")
    before = (tmp_path / "out.csv").read_bytes()
    frame = tiny_frame(120, seed=4)
    frame.loc[57, "contract"] = "Weekly"
    with pytest.raises(ChunkContractError) as error:
        score(production, tmp_path, frame, chunk_rows=50, prefetch=prefetch)
    assert str(error.value).splitlines() == [
        "data contract failed in chunk 2 (input rows 50-99): 1 violation(s) in 50 rows",
        "  - contract: allowed categories broken by 1 row(s) (e.g. Weekly)",
    ]
    assert (error.value.chunk, error.value.first_row) == (2, 50)
    assert (tmp_path / "out.csv").read_bytes() == before  # chunk 1's rows were taken back
    assert list((tmp_path / "store" / "run").iterdir()) == []


def test_missing_shares_count_every_row_read_so_far(tmp_path) -> None:
    contract = tiny_contract().model_copy(update={"max_missing_share": 0.05})
    validator = ChunkValidator(contract)
    frame = tiny_frame(100, seed=5)
    frame.loc[[91, 95], "total"] = np.nan  # 2 of the last 10 rows: 20 % of that chunk, 2 % overall
    for number, start in enumerate(range(0, 100, 45), start=1):
        validator.check(frame.iloc[start : start + 45].reset_index(drop=True), number, start)
    early = tiny_frame(100, seed=5)
    early.loc[:4, "total"] = np.nan  # 5 of the first 45 rows
    with pytest.raises(ChunkContractError) as error:
        ChunkValidator(contract).check(early.iloc[:45], 1, 0)
    assert (
        str(error.value).splitlines()[1]
        == "  - total: missing share <= 0.05 (over input rows 0-44) broken by 5 row(s)"
    )


def broken_frames() -> dict[str, pd.DataFrame]:
    frames = {}
    for name, column, value in [
        ("below minimum", "tenure", -1),
        ("above maximum", "tenure", 500),
        ("not binary", "senior", 2),
        ("unknown category", "security", "Maybe"),
        ("text in a numeric column", "total", "12,5"),
    ]:
        frame = tiny_frame(10)
        frame[column] = frame[column].astype(object)
        frame.loc[3, column] = value
        frames[name] = frame.infer_objects()
    frames["missing column"] = tiny_frame(10).drop(columns="backup")
    frames["bool binary"] = tiny_frame(10).assign(senior=lambda f: f["senior"].astype(bool))
    return frames


def test_the_quick_scan_passes_only_what_pandera_passes() -> None:
    contract = tiny_contract()
    contract = contract.model_copy(
        update={
            "columns": {
                **contract.columns,
                "tenure": contract.columns["tenure"].model_copy(update={"min": 0, "max": 120}),
            }
        }
    )
    validator = ChunkValidator(contract)
    good = tiny_frame(40, seed=6)
    good.loc[[1, 2], "backup"] = np.nan
    good.loc[3, "total"] = np.nan
    assert validator.quick_scan(good) == {name: int(good[name].isna().sum()) for name in contract.columns}
    assert validate_frame(good, validator.contract, with_target=False).passed
    for name, frame in broken_frames().items():
        passed = validate_frame(frame, validator.contract, with_target=False).passed
        assert validator.quick_scan(frame) is None, name  # pandera decides
        if name != "bool binary":
            assert not passed, name


def test_the_quick_scan_reaches_the_same_verdict_with_the_cleanings_text_values() -> None:
    contract = tiny_contract()
    validator = ChunkValidator(contract)
    good = tiny_frame(40, seed=8)
    good.loc[[1, 2], "backup"] = np.nan
    good.loc[4, "security"] = "  "  # blank: missing after cleaning
    good.loc[5, "contract"] = " One year "
    frames = {"good": good, **broken_frames()}
    frames["unknown category after cleaning"] = good.assign(
        contract=good["contract"].replace("Two year", "Weekly")
    )
    for name, frame in frames.items():
        text_values: dict = {}
        cleaned, _ = clean_frame(frame, CleaningConfig(), contract, text_values)
        assert "contract" in text_values or "contract" not in cleaned.columns, name
        assert validator.quick_scan(cleaned, text_values) == validator.quick_scan(cleaned), name
    assert validator.quick_scan(clean_frame(good, CleaningConfig(), contract)[0], {})["security"] == 1


def test_an_empty_input_scores_nothing(production, tmp_path) -> None:
    result = score(production, tmp_path, tiny_frame(4).iloc[:0])
    assert (result.rows, result.chunks, result.positive_share, result.mean_probability) == (0, 0, None, None)
    assert "nothing scored" in result.summary()


class SlowParquetParts(ParquetPartsSink):
    """Real part files, written slowly: the worker is ahead of the writing."""

    def write(self, frame: pd.DataFrame) -> None:
        time.sleep(0.02)
        super().write(frame)


@pytest.mark.parametrize("prefetch", ["thread", "process"])
def test_chunks_come_back_from_the_worker_once_each_in_order_with_their_predictions(
    production, tmp_path, prefetch
) -> None:
    frame = tiny_frame(300, seed=7)
    frame.to_csv(tmp_path / "input.csv", index=False)
    chunks = iter_chunks(FileSource(path=str(tmp_path / "input.csv")), 11)
    with SlowParquetParts(str(tmp_path / "parts"), "part", LocalFiles()) as sink:
        totals = score_in_chunks(production, chunks, [sink], SCORED_AT, progress=False, prefetch=prefetch)
    written = pd.read_parquet(tmp_path / "parts")
    assert written["input_row"].tolist() == list(range(300))  # none lost, none twice, in order
    assert len(list((tmp_path / "parts").iterdir())) == 28  # a part file per chunk
    per_chunk = [expected_proba(production, frame.iloc[start : start + 11]) for start in range(0, 300, 11)]
    # bit for bit what predict_proba gives on the same chunk in this process
    np.testing.assert_array_equal(written["probability"], np.concatenate(per_chunk))
    assert (totals.rows, totals.chunks) == (300, 28)


def test_a_scoring_error_in_the_worker_reaches_the_caller_and_leaves_the_sinks_alone(tmp_path) -> None:
    contract = tiny_contract()
    train = tiny_frame(200, seed=1)
    train = train[train["contract"] != "Two year"]  # allowed by the contract, unseen by the model
    encoder = ColumnTransformer([("contract", OneHotEncoder(handle_unknown="error"), ["contract"])])
    pipeline = make_pipeline(encoder, LogisticRegression()).fit(
        train[contract.feature_names], encode_target(train[contract.target], contract)
    )
    strict = TrainedModel(pipeline, contract, CleaningConfig(), BINARY, 0.5, "churn_tiny", "4")
    frame = tiny_frame(60, seed=9)
    frame["contract"] = "One year"
    frame.loc[45, "contract"] = "Two year"  # in the second chunk
    with pytest.raises(ValueError, match=r"Found unknown categories \['Two year'\] in column 0"):
        score(strict, tmp_path, frame, chunk_rows=30, prefetch="process")
    assert not (tmp_path / "out.csv").exists()  # the first chunk's rows were taken back
    assert list((tmp_path / "store" / "run").iterdir()) == []
    assert multiprocessing.active_children() == []


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc's malloc")
def test_the_worker_keeps_freed_memory_for_the_next_chunk() -> None:
    def freed_and_allocated_again():
        for _ in range(3):  # 3 arrays of 8 MB, each freed before the next
            yield int(np.ones(1 << 20).sum())

    pid = os.getpid()
    faults = []

    def items():
        for value in freed_and_allocated_again():
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)
            yield value, os.getpid() != pid, faults[-1] - faults[0]

    received = list(prefetched(items, "process"))
    assert [value for value, _, _ in received] == [1 << 20] * 3
    assert all(in_worker for _, in_worker, _ in received)
    assert received[-1][2] < 500  # the third 8 MB array reused the first's pages (2,048 pages each)


def test_configs_are_described_without_credentials() -> None:
    assert describe_config(SqlSource(url_env="WAREHOUSE_URL", table="customers")) == (
        "type: sql, url_env: WAREHOUSE_URL, table: customers"
    )
    assert describe_config(FileSink(path="out/p.parquet")) == "type: file, path: out/p.parquet"


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_multiclass_and_regression_models_write_their_own_predictions(tmp_path, task):
    from sklearn.linear_model import LinearRegression

    contract = tiny_contract().model_copy(update={"classes": None, "positive_class": None})
    train = tiny_frame(300, seed=2)
    if task == "multiclass":
        target = TargetSpec(column="churn", task="multiclass", classes=["long", "mid", "short"])
        labels = pd.Series(np.select([train["tenure"] > 48, train["tenure"] > 24], ["long", "mid"], "short"))
        estimator, y = LogisticRegression(max_iter=2000), target.encode(labels)
    else:
        target = TargetSpec(column="churn", task="regression")
        estimator, y = LinearRegression(), 2.0 * train["tenure"] + 1.0
    pipeline = build_model(contract, PreprocessingConfig(), [], estimator).fit(
        train[contract.feature_names], y
    )
    model = TrainedModel(pipeline, contract, CleaningConfig(), target, 0.5, "m", "7")
    rows = tiny_frame(250, seed=3).drop(columns="churn")
    result = score(model, tmp_path, rows, chunk_rows=100)
    written = pd.read_csv(tmp_path / "out.csv")
    assert (result.task, result.rows, result.chunks, len(written)) == (task, 250, 3, 250)
    if task == "regression":
        assert result.columns == ["input_row", "prediction", "model_version", "scored_at", "batch_key"]
        np.testing.assert_allclose(written["prediction"], 2.0 * rows["tenure"] + 1.0, atol=1e-6)
        assert result.mean_prediction == pytest.approx((2.0 * rows["tenure"] + 1.0).mean())
        assert result.class_shares is None and result.threshold is None
    else:
        proba = pipeline.predict_proba(rows[contract.feature_names])
        assert written["prediction"].tolist() == [target.classes[i] for i in proba.argmax(axis=1)]
        np.testing.assert_allclose(written["probability"], proba.max(axis=1), atol=1e-9)
        shares = written["prediction"].value_counts(normalize=True).to_dict()
        assert result.class_shares == pytest.approx(
            {label: shares.get(label, 0.0) for label in target.classes}
        )
        assert result.positive_share is None and "class shares long" in result.summary()

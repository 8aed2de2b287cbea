"""Partitioned batch scoring: planned, scored part by part, merged into the single run's output."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tabular_ml.configuration.schema import (
    ApiSource,
    FileSink,
    FileSource,
    SqlSource,
)
from tabular_ml.data.contract import DataContractError
from tabular_ml.inference.batch_scoring import BatchExplainer, run_batch_scoring
from tabular_ml.inference.partitions import (
    PartitionError,
    merge_partitions,
    partition_chunks,
    plan_partitions,
    score_partition,
)
from tabular_ml.modelling.explanations import Explainer
from tests.support.factories import tiny_frame
from tests.support.services import database_url_or_skip

SCORED_AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def single(production, source, folder: Path, sink: str, **options):
    return run_batch_scoring(
        production,
        source,
        FileSink(path=str(folder / sink)),
        chunk_rows=options.pop("chunk_rows", 7),
        key_column=options.pop("key_column", None),
        run_tag="single",
        store_dir=str(folder / "single-store"),
        scored_at=SCORED_AT,
        progress=False,
        prefetch="thread",
        **options,
    )


def partitioned(production, source, folder: Path, sink: str, partitions: int, **options):
    plan = plan_partitions(source, partitions, options.pop("secrets", None))
    chunk_rows, key_column = options.pop("chunk_rows", 7), options.pop("key_column", None)
    explain = options.pop("explain", None)
    scores = [
        score_partition(
            production,
            source,
            part,
            chunk_rows=chunk_rows,
            key_column=key_column,
            scored_at=SCORED_AT,
            store_dir=str(folder / "partitions" / str(part.index)),
            progress=False,
            prefetch="thread",
            explain=explain,
            **options,
        )
        for part in plan.partitions
    ]
    merged = merge_partitions(
        production,
        list(reversed(scores)),  # the merge orders them by index
        FileSink(path=str(folder / sink)),
        source="input",
        key_column=key_column,
        top_k=explain.top_k if explain else 0,
        scored_at=SCORED_AT,
        run_tag="merged",
        store_dir=str(folder / "merged-store"),
    )
    return plan, scores, merged


def test_the_plan_cuts_files_into_contiguous_near_equal_ranges(tmp_path) -> None:
    for name, rows in (("a", 10), ("b", 3), ("c", 8)):
        tiny_frame(rows * 2, seed=rows).head(rows).to_csv(tmp_path / f"{name}.csv", index=False)
    plan = plan_partitions(FileSource(path=str(tmp_path / "*.csv")), 3)
    assert plan.total_rows == 21
    assert [(p.first_row, p.rows) for p in plan.partitions] == [(0, 7), (7, 7), (14, 7)]
    files = [[(Path(f.path).name, f.start, f.stop) for f in p.files] for p in plan.partitions]
    assert files == [
        [("a.csv", 0, 7)],
        [("a.csv", 7, 10), ("b.csv", 0, 3), ("c.csv", 0, 1)],
        [("c.csv", 1, 8)],
    ]


def test_a_parquet_partition_reads_only_its_row_groups(tmp_path) -> None:
    frame = tiny_frame(100, seed=4)
    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "in.parquet", row_group_size=10
    )
    source = FileSource(path=str(tmp_path / "in.parquet"))
    plan = plan_partitions(source, 3)
    assert [(p.first_row, p.rows) for p in plan.partitions] == [(0, 33), (33, 33), (66, 34)]
    middle = pd.concat(partition_chunks(source, plan.partitions[1], chunk_rows=4), ignore_index=True)
    pd.testing.assert_frame_equal(middle, frame.iloc[33:66].reset_index(drop=True))
    csv_source = FileSource(path=str(tmp_path / "in.csv"))
    frame.to_csv(tmp_path / "in.csv", index=False)
    csv_part = pd.concat(partition_chunks(csv_source, plan.partitions[2], chunk_rows=5), ignore_index=True)
    pd.testing.assert_frame_equal(csv_part, frame.iloc[66:].reset_index(drop=True))


@pytest.mark.parametrize("partitions", [1, 3, 7])
def test_merged_partitions_equal_the_single_run_row_for_row(production, tmp_path, partitions) -> None:
    frame = tiny_frame(50, seed=5)
    frame.loc[3, "contract"] = " One year "  # cleaned as in training
    frame.loc[45, "total"] = np.nan  # 1 of 50 rows, within the 5 % rule at every chunk
    frame.to_csv(tmp_path / "in.csv", index=False)
    source = FileSource(path=str(tmp_path / "in.csv"))
    alone = single(production, source, tmp_path, "single.csv")
    plan, scores, merged = partitioned(production, source, tmp_path, "merged.csv", partitions)
    assert [s.rows for s in scores] == [p.rows for p in plan.partitions] and sum(s.rows for s in scores) == 50
    expected, got = pd.read_csv(tmp_path / "single.csv"), pd.read_csv(tmp_path / "merged.csv")
    pd.testing.assert_frame_equal(got, expected)
    assert got["input_row"].tolist() == list(range(50))
    assert merged.batch_key == alone.batch_key and merged.rows == alone.rows == 50
    assert merged.columns == alone.columns
    assert merged.positive_share == pytest.approx(alone.positive_share)
    assert merged.mean_probability == pytest.approx(alone.mean_probability)
    pd.testing.assert_frame_equal(pd.read_parquet(merged.parts_uri), pd.read_parquet(alone.parts_uri))
    assert not list((tmp_path / "partitions").rglob("*.parquet")), "the partitions' parts are removed"


def test_explained_partitions_into_a_parquet_sink_equal_the_single_run(production, tmp_path) -> None:
    frame = tiny_frame(40, seed=6).assign(customer=[f"c{i:03d}" for i in range(40)])
    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "in.parquet", row_group_size=8
    )
    source = FileSource(path=str(tmp_path / "in.parquet"))
    explainer = Explainer(
        production.pipeline, production.target, production.contract.feature_names, tiny_frame(200, seed=1)
    )
    options = {"explain": BatchExplainer(explainer, 2), "key_column": "customer", "chunk_rows": 6}
    alone = single(production, source, tmp_path, "single.parquet", **options)
    _, _, merged = partitioned(production, source, tmp_path, "merged.parquet", 3, **options)
    expected, got = pd.read_parquet(tmp_path / "single.parquet"), pd.read_parquet(tmp_path / "merged.parquet")
    assert list(got.columns) == alone.columns and "reason_2" in got.columns
    pd.testing.assert_frame_equal(got, expected)
    assert got["customer"].tolist() == frame["customer"].tolist()
    assert merged.batch_key == alone.batch_key


def test_missing_shares_are_checked_over_all_partitions(production, tmp_path) -> None:
    frame = tiny_frame(40, seed=7)
    frame.loc[30:33, "tenure"] = np.nan  # 4 of 40 rows: 10 %, all in the last partition
    frame.to_csv(tmp_path / "in.csv", index=False)
    source = FileSource(path=str(tmp_path / "in.csv"))
    strict = production.contract.model_copy(update={"max_missing_share": 0.05})
    loose = production.contract.model_copy(update={"max_missing_share": 0.2})
    (tmp_path / "strict").mkdir()
    with pytest.raises(DataContractError) as failed:
        partitioned(
            dataclasses.replace(production, contract=strict), source, tmp_path / "strict", "out.csv", 4
        )
    assert "tenure" in str(failed.value) and "input rows 0-39" in str(failed.value)
    assert not (tmp_path / "strict" / "out.csv").exists()
    # 25 % of the last partition's rows but 10 % of all: passes where the whole input is allowed 20 %
    partitioned(dataclasses.replace(production, contract=loose), source, tmp_path, "loose.csv", 4)
    assert len(pd.read_csv(tmp_path / "loose.csv")) == 40


def test_unpartitionable_sources_and_a_changed_source_are_one_line_errors(production, tmp_path) -> None:
    with pytest.raises(PartitionError, match="^an api source cannot be partitioned"):
        plan_partitions(ApiSource(url="http://127.0.0.1:9/rows"), 2)
    with pytest.raises(PartitionError, match="^a sql table has no row order"):
        plan_partitions(SqlSource(url="sqlite:///x.db", table="rows"), 2)
    with pytest.raises(PartitionError, match="needs ORDER BY"):
        plan_partitions(SqlSource(url="sqlite:///x.db", query="SELECT * FROM rows"), 2)
    tiny_frame(20).to_csv(tmp_path / "in.csv", index=False)
    source = FileSource(path=str(tmp_path / "in.csv"))
    plan = plan_partitions(source, 2)
    tiny_frame(16).to_csv(tmp_path / "in.csv", index=False)  # shorter since it was planned
    with pytest.raises(PartitionError) as changed:
        score_partition(
            production,
            source,
            plan.partitions[1],
            chunk_rows=5,
            key_column=None,
            scored_at=SCORED_AT,
            store_dir=str(tmp_path / "p1"),
            progress=False,
            prefetch="thread",
        )
    assert str(changed.value) == (
        "partition 1 read 6 rows where the plan counted 10: "
        "the source changed since it was planned; run again"
    )


@pytest.mark.services
@pytest.mark.parametrize(
    "env, default",
    [
        ("TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"),
        ("TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
    ],
)
def test_a_sql_query_is_partitioned_with_limit_and_offset(production, tmp_path, env, default) -> None:
    url = database_url_or_skip(env, default)
    table = f"rows_{uuid.uuid4().hex[:8]}"
    frame = tiny_frame(60, seed=8).assign(id=np.arange(60)[::-1])  # the key orders rows backwards
    engine = sa.create_engine(url)
    frame.to_sql(table, engine, index=False)
    try:
        source = SqlSource(url=url, query=f"SELECT * FROM {table} ORDER BY id;")
        alone = single(production, source, tmp_path, "single.csv", key_column="id")
        plan, _, merged = partitioned(production, source, tmp_path, "merged.csv", 4, key_column="id")
        assert plan.total_rows == 60 and [p.rows for p in plan.partitions] == [15, 15, 15, 15]
        got = pd.read_csv(tmp_path / "merged.csv")
        pd.testing.assert_frame_equal(got, pd.read_csv(tmp_path / "single.csv"))
        assert got["id"].tolist() == list(range(60)) and merged.batch_key == alone.batch_key
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE {table}"))
        engine.dispose()

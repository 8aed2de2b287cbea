"""Batch scoring split into partitions: planned once, each scored on its own, merged into one output.

A large input is cut into ``n`` contiguous row ranges (:func:`plan_partitions`), each scored by
:func:`score_partition` (in a step of its own, so an orchestrator can run them side by side),
and :func:`merge_partitions` writes them in input order to the sink and the artifact store.
The output equals the single-step run's (:func:`tabular_ml.inference.batch_scoring.run_batch_scoring`)
row for row: the same keys (row numbers count from the input's first row), the same columns,
the same batch key (each partition keeps its rows' hashes, which the merge digests in order).

What each source type supports, each partition reading only its own rows:

- **Parquet files**: the row groups holding the range (from the files' metadata).
- **CSV files**: the lines before the range are skipped by the parser, not turned into values;
  the plan parses the files once (one column) to count their rows.
- **SQL**: a ``query`` ending in ``ORDER BY`` (a total order, such as a unique key): the plan
  runs ``SELECT COUNT(*)`` over it, each partition appends ``LIMIT n OFFSET m``. A ``table``
  has no row order, so its rows cannot be cut the same way twice: refused.
- **API**: refused (an answer has no row ranges to ask for).

The contract's missing-share rules are checked once over all rows, by the merge (the single
step checks them on the rows read so far, chunk by chunk).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

import pandas as pd
import pyarrow.parquet as pq
from pydantic import BaseModel

from tabular_ml.configuration.schema import (
    FileSource,
    SinkConfig,
    SourceConfig,
    SqlSource,
    partitioning_problem,
)
from tabular_ml.data.contract import ContractReport, DataContractError
from tabular_ml.data.prefetch import Mode
from tabular_ml.data.sinks import Files, LocalFiles, ParquetPartsSink, open_sink
from tabular_ml.data.sources import file_range_chunks, file_row_counts, sql_range_chunks, sql_row_count
from tabular_ml.inference.batch_scoring import (
    ROW_HASH,
    BatchExplainer,
    BatchPredictions,
    ScoredChunk,
    SourceFingerprint,
    Totals,
    batch_key,
    batch_predictions,
    missing_share_limits,
    missing_share_violations,
    score_in_chunks,
)
from tabular_ml.modelling.trained_model import TrainedModel

logger = logging.getLogger(__name__)


class PartitionError(ValueError):
    """An input that cannot be partitioned, or partitions that do not add up; one line."""


class FileRows(BaseModel):
    """The rows ``start`` to ``stop`` (exclusive) of one file."""

    path: str
    start: int
    stop: int


class SourcePartition(BaseModel):
    """One partition: ``rows`` input rows from input row ``first_row`` on (files: where they are)."""

    index: int
    first_row: int
    rows: int
    files: list[FileRows] = []


class PartitionPlan(BaseModel):
    """The input cut into contiguous partitions of near-equal size (the ``partition_plan`` artifact)."""

    total_rows: int
    partitions: list[SourcePartition]


class PartitionScores(BaseModel):
    """What one partition wrote: its prediction parts (with row hashes) and its counts."""

    index: int
    first_row: int
    rows: int
    chunks: int
    columns: list[str] | None  # the input's columns (the fingerprint's header); None: no rows
    missing: dict[str, int]  # missing values per contract column
    parts: list[str]  # Parquet files in order


def plan_partitions(
    source: SourceConfig, partitions: int, secrets: Mapping[str, str] | None = None
) -> PartitionPlan:
    """Count the source's rows and cut them into ``partitions`` contiguous ranges.

    Raises:
        PartitionError: The source cannot be partitioned (:func:`partitioning_problem`).
        DataSourceError: The source cannot be read.
    """
    if partitions < 1:
        raise PartitionError(f"partitions must be >= 1, got {partitions}")
    problem = partitioning_problem(source)
    if problem is not None:
        raise PartitionError(problem)
    if isinstance(source, FileSource):
        counts = file_row_counts(source)
    else:
        counts = [("", sql_row_count(source, secrets))]
    total = sum(rows for _, rows in counts)
    bounds = [total * i // partitions for i in range(partitions + 1)]
    planned = []
    for index, (start, stop) in enumerate(zip(bounds, bounds[1:], strict=False)):
        files = _file_rows(counts, start, stop) if isinstance(source, FileSource) else []
        planned.append(SourcePartition(index=index, first_row=start, rows=stop - start, files=files))
    logger.info(
        "Planned %d partitions of %d rows in all: %s",
        partitions,
        total,
        ", ".join(f"{p.first_row}-{p.first_row + p.rows - 1}" for p in planned),
    )
    return PartitionPlan(total_rows=total, partitions=planned)


def _file_rows(counts: Sequence[tuple[str, int]], start: int, stop: int) -> list[FileRows]:
    """Which rows of which files the input rows ``start`` to ``stop`` are."""
    found, offset = [], 0
    for path, rows in counts:
        low, high = max(start - offset, 0), min(stop - offset, rows)
        if low < high:
            found.append(FileRows(path=path, start=low, stop=high))
        offset += rows
    return found


def partition_chunks(
    source: SourceConfig,
    partition: SourcePartition,
    chunk_rows: int,
    secrets: Mapping[str, str] | None = None,
) -> Iterator[pd.DataFrame]:
    """The partition's rows, ``chunk_rows`` at a time, normalised as :func:`iter_chunks` does."""
    if not partition.rows:
        return iter(())
    if isinstance(source, FileSource):
        files = [(rows.path, rows.start, rows.stop) for rows in partition.files]
        return file_range_chunks(source, files, chunk_rows)
    if isinstance(source, SqlSource):
        return sql_range_chunks(source, partition.first_row, partition.rows, chunk_rows, secrets)
    raise PartitionError(partitioning_problem(source) or f"cannot partition a {source.type} source")


def score_partition(
    model: TrainedModel,
    source: SourceConfig,
    partition: SourcePartition,
    *,
    chunk_rows: int,
    key_column: str | None,
    scored_at: datetime,
    store_dir: str,
    store_files: Files | None = None,
    source_secrets: Mapping[str, str] | None = None,
    progress: bool = True,
    prefetch: Mode = "auto",
    explain: BatchExplainer | None = None,
) -> PartitionScores:
    """Score one partition into Parquet parts under ``store_dir`` (predictions plus ``row_hash``).

    Raises:
        PartitionError: The partition held another number of rows than planned (the source changed).
        ChunkContractError, DataSourceError, ValueError: as for batch scoring.
    """
    chunks = partition_chunks(source, partition, chunk_rows, source_secrets)
    files = store_files or LocalFiles()
    with ParquetPartsSink(store_dir, "part", files, label=f"partition {partition.index}") as store:
        totals = score_in_chunks(
            model,
            chunks,
            [store],
            scored_at,
            key_column,
            progress,
            prefetch,
            explain,
            partition.first_row,
            True,
        )
        if totals.rows != partition.rows:
            raise PartitionError(
                f"partition {partition.index} read {totals.rows} rows where the plan counted "
                f"{partition.rows}: the source changed since it was planned; run again"
            )
    return PartitionScores(
        index=partition.index,
        first_row=partition.first_row,
        rows=totals.rows,
        chunks=totals.chunks,
        columns=totals.columns,
        missing=totals.missing or {},
        parts=store.parts,
    )


def merge_partitions(
    model: TrainedModel,
    scores: Sequence[PartitionScores],
    sink: SinkConfig,
    *,
    source: str,
    key_column: str | None,
    top_k: int,
    scored_at: datetime,
    run_tag: str,
    store_dir: str,
    store_files: Files | None = None,
    sink_secrets: Mapping[str, str] | None = None,
) -> BatchPredictions:
    """Write the partitions' predictions, in input order, to ``sink`` and to parts under ``store_dir``.

    The batch key is the single-step run's: the partitions' row hashes digested in order. The
    partitions' parts are removed once the sink has committed.

    Raises:
        PartitionError: The partitions do not follow each other.
        DataContractError: A column's missing share over all rows breaks its rule (nothing written).
        SinkError: as for batch scoring.
    """
    scores = sorted(scores, key=lambda part: part.index)
    expected = 0
    for part in scores:
        if part.first_row != expected:
            raise PartitionError(
                f"partition {part.index} starts at row {part.first_row}, expected {expected}: "
                "the partitions do not cover the input once"
            )
        expected += part.rows
    _check_missing_shares(model, scores, expected)
    files = store_files or LocalFiles()
    fingerprint, totals = SourceFingerprint(), Totals()
    with (
        open_sink(sink, run_tag, sink_secrets) as target,
        ParquetPartsSink(store_dir, "part", files, label="artifact store") as store,
    ):
        for part in scores:
            for uri in part.parts:
                with files.open(uri, "rb") as handle:
                    frame = pq.read_table(handle).to_pandas()
                digest = fingerprint.add_hashes(part.columns or [], frame.pop(ROW_HASH).to_numpy())
                target.write(frame)
                store.write(frame)
                totals.add(_as_scored(model, frame, totals.chunks + 1, digest))
        key = batch_key(model, totals.fingerprint)
        target.commit(key)
    for uri in (uri for part in scores for uri in part.parts):
        files.remove(uri)
    logger.info("Merged %d partitions: %d rows in %d parts", len(scores), totals.rows, totals.chunks)
    return batch_predictions(
        model, totals, scored_at, source, target.description, key_column, top_k, store_dir, key
    )


def _check_missing_shares(model: TrainedModel, scores: Sequence[PartitionScores], rows: int) -> None:
    missing: Counter[str] = Counter()
    for part in scores:
        missing.update(part.missing)
    limits = missing_share_limits(model.contract)
    violations = missing_share_violations(missing, rows, limits, rows - 1)
    if violations:
        report = ContractReport(rows=rows, columns_checked=len(model.contract.columns), violations=violations)
        raise DataContractError(report)


def _as_scored(model: TrainedModel, frame: pd.DataFrame, number: int, fingerprint: str) -> ScoredChunk:
    """A merged frame's values as the running totals take them."""
    keys = frame.iloc[:, 0].to_numpy()
    if model.target.task == "regression":
        return ScoredChunk(number, 0, keys, frame["prediction"].to_numpy(), None, fingerprint)
    codes = pd.Categorical(frame["prediction"], categories=model.target.classes).codes
    return ScoredChunk(number, 0, keys, codes, frame["probability"].to_numpy(), fingerprint)

"""Batch scoring: a source read chunk by chunk, cleaned, checked, scored, written to sinks.

Memory is bounded by the chunk size: each chunk is read, cleaned as in training
(:func:`tabular_ml.data.cleaning.clean_frame`), checked against the training contract without the
target, scored with the fitted Pipeline and written to every sink; a worker process is at
most a few chunks ahead of the writing, and only running totals are kept.

Per chunk the contract is the training contract with three changes, so that a result does not
depend on where chunks happen to end: no minimum row count, duplicates are kept (each input
row gets its prediction) and the missing-share rules are checked on all rows read so far
instead of on the chunk alone (a short last chunk with one missing value would break a 1 %
rule by itself).

Each run's rows carry a batch key (:func:`batch_key`): the model, its version and a fingerprint
of the rows read (:class:`SourceFingerprint`), so that a sink replaces the rows of an earlier run
of the same input with the same version, and keeps other inputs' and versions' rows apart
(see :mod:`tabular_ml.data.sinks`).

With ``explain`` (:class:`BatchExplainer`), each row also gets its ``top_k`` reasons:
``reason_1..k`` (the input columns with the largest contributions by size) and
``contribution_1..k`` (their contributions, in the space of :mod:`tabular_ml.modelling.explanations`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from pydantic import BaseModel
from tqdm.auto import tqdm

from tabular_ml.configuration.redaction import redact
from tabular_ml.configuration.schema import DataContract, SinkConfig, SourceConfig
from tabular_ml.data.cleaning import clean_frame
from tabular_ml.data.contract import ContractReport, DataContractError, Violation, validate_frame
from tabular_ml.data.prefetch import Mode, prefetched
from tabular_ml.data.sinks import BATCH_KEY, Files, LocalFiles, ParquetPartsSink, Sink, open_sink
from tabular_ml.data.sources import iter_chunks
from tabular_ml.modelling.explanations import Explainer
from tabular_ml.modelling.trained_model import TrainedModel
from tabular_ml.tasks.target import Task

logger = logging.getLogger(__name__)

#: The key column's name when ``key_column`` is not configured: the 0-based row number.
ROW_NUMBER = "input_row"
#: A partition's column of each row's hash (:func:`row_hashes`), which its merge digests and drops.
ROW_HASH = "row_hash"
PREDICTION_COLUMNS = ["prediction", "probability", "model_version", "scored_at"]  # no probability: regression


def prediction_columns(task: Task, top_k: int = 0) -> list[str]:
    """The columns written per row after the key, for a model of ``task`` (``top_k`` reasons)."""
    columns = [name for name in PREDICTION_COLUMNS if task != "regression" or name != "probability"]
    return columns[:-2] + reason_columns(top_k) + columns[-2:]


def reason_columns(top_k: int) -> list[str]:
    """``reason_1, contribution_1, ..., reason_k, contribution_k``."""
    return [name for i in range(1, top_k + 1) for name in (f"reason_{i}", f"contribution_{i}")]


@dataclass(frozen=True)
class BatchExplainer:
    """What explains each scored row: the model's explainer and how many reasons a row gets."""

    explainer: Explainer
    top_k: int


class BatchPredictions(BaseModel):
    """What one batch-scoring run wrote (the ``predictions`` artifact; the rows are in files).

    Per task: ``class_shares`` (classification: the share of rows predicted as each class),
    ``positive_share`` (binary), ``mean_probability`` (binary: of the positive class;
    multiclass: of the predicted class), ``mean_prediction`` (regression).
    """

    model_name: str
    model_version: str
    scored_at: datetime
    task: Task = "binary"
    threshold: float | None = None
    source: str
    sink: str
    columns: list[str]
    rows: int
    chunks: int
    class_shares: dict[str, float] | None = None
    positive_share: float | None = None
    mean_probability: float | None = None
    mean_prediction: float | None = None
    parts_uri: str
    batch_key: str | None = None  # None: written before batch keys

    def summary(self) -> str:
        if not self.rows:
            shares = "nothing scored"
        elif self.task == "regression":
            shares = f"mean prediction {self.mean_prediction:.6g}"
        elif self.task == "binary":
            shares = f"positive share {self.positive_share:.4f}, mean probability {self.mean_probability:.4f}"
        else:
            shares = "class shares " + ", ".join(f"{k} {v:.4f}" for k, v in (self.class_shares or {}).items())
        return (
            f"Scored {self.rows} rows in {self.chunks} chunk(s) with {self.model_name} version "
            f"{self.model_version}: {shares}; written to {self.sink} and {self.parts_uri}"
        )


class ChunkContractError(DataContractError):
    """A chunk broke the contract; the first line names the chunk and its input rows."""

    def __init__(self, report: ContractReport, chunk: int, first_row: int):
        super().__init__(report)
        self.chunk, self.first_row = chunk, first_row
        lines = report.summary().splitlines()
        where = f"in chunk {chunk} (input rows {first_row}-{first_row + report.rows - 1})"
        lines[0] = lines[0].replace("data contract failed:", f"data contract failed {where}:", 1)
        self.args = ("\n".join(lines),)

    def __reduce__(self):  # raised in the prefetch worker process, re-raised in the parent
        return type(self), (self.report, self.chunk, self.first_row)


class ChunkValidator:
    """The training contract without the target, checked chunk by chunk (see the module doc).

    pandera (:func:`tabular_ml.data.contract.validate_frame`) remains the judge and writes the report;
    a vectorised scan of the same rules (:meth:`quick_scan`) lets a chunk that surely passes
    skip it, which matters at millions of rows. Any doubt (an unusual dtype, a rule the scan
    does not know) sends the chunk to pandera.
    """

    def __init__(self, contract: DataContract, missing_shares: bool = True):
        """``missing_shares=False``: missing values are counted, their shares checked elsewhere
        (a partition of the input: :mod:`tabular_ml.inference.partitions`)."""
        self.missing_shares = missing_shares
        unlimited = {
            name: spec.model_copy(update={"max_missing_share": 1.0})
            for name, spec in contract.columns.items()
        }
        self.contract = contract.model_copy(
            update={"columns": unlimited, "max_missing_share": 1.0, "min_rows": 1, "duplicates": "keep"}
        )
        self.limits = missing_share_limits(contract)
        self.missing: Counter[str] = Counter()
        self.rows_seen = 0

    def quick_scan(
        self, chunk: pd.DataFrame, text_values: Mapping[str, tuple[set, int]] | None = None
    ) -> dict[str, int] | None:
        """Missing values per contract column if every per-row rule surely holds, else None.

        The rules of :func:`tabular_ml.data.contract.build_schema` for one chunk: each column present;
        numeric and binary columns of a numeric dtype; binary values 0 or 1; values within
        min/max; categories among the allowed ones (missing values pass: columns are nullable).
        ``text_values`` (from :func:`tabular_ml.data.cleaning.clean_frame`) gives text columns'
        distinct values and missing counts, saving a pass over their values.
        """
        text_values = text_values or {}
        missing = {}
        for name, spec in self.contract.columns.items():
            if name not in chunk.columns:
                return None
            column = chunk[name]
            if spec.kind in ("numeric", "binary") or spec.min is not None or spec.max is not None:
                if column.dtype.kind not in "iuf" or spec.categories is not None:
                    return None
                values = column.to_numpy()
                present = values[~np.isnan(values)] if values.dtype.kind == "f" else values
                missing[name] = len(values) - len(present)
                if spec.kind == "binary" and not np.isin(present, (0, 1)).all():
                    return None
                if spec.min is not None and not (present >= spec.min).all():
                    return None
                if spec.max is not None and not (present <= spec.max).all():
                    return None
            else:
                if name in text_values:
                    distinct, missing[name] = text_values[name]
                else:
                    try:
                        codes, distinct = pd.factorize(column, use_na_sentinel=True)
                    except TypeError:  # unhashable values
                        return None
                    missing[name] = int((codes < 0).sum())
                if spec.categories is not None and not set(distinct) <= set(spec.categories):
                    return None
        return missing

    def check(
        self,
        chunk: pd.DataFrame,
        number: int,
        first_row: int,
        text_values: Mapping[str, tuple[set, int]] | None = None,
    ) -> None:
        """Raise :class:`ChunkContractError` when the chunk (or the rows so far) break a rule."""
        missing = self.quick_scan(chunk, text_values)
        if missing is None:
            report = validate_frame(chunk, self.contract, with_target=False)
            missing = {name: int(chunk[name].isna().sum()) for name in self.limits if name in chunk.columns}
        else:
            report = ContractReport(rows=len(chunk), columns_checked=len(self.contract.columns))
        self.rows_seen += len(chunk)
        last_row = first_row + len(chunk) - 1
        self.missing.update(missing)
        violations = list(report.violations)
        if self.missing_shares:
            violations += missing_share_violations(self.missing, self.rows_seen, self.limits, last_row)
        if violations:
            report.violations = violations
            raise ChunkContractError(report, number, first_row)


def missing_share_limits(contract: DataContract) -> dict[str, float]:
    """Each contract column's largest missing share (its own, else the contract's)."""
    return {
        name: spec.max_missing_share if spec.max_missing_share is not None else contract.max_missing_share
        for name, spec in contract.columns.items()
    }


def missing_share_violations(
    missing: Mapping[str, int], rows: int, limits: Mapping[str, float], last_row: int
) -> list[Violation]:
    """The columns whose missing values among the input rows 0 to ``last_row`` break their limit."""
    return [
        Violation(
            column=name,
            rule=f"missing share <= {limits[name]:g} (over input rows 0-{last_row})",
            failing_rows=count,
        )
        for name, count in missing.items()
        if rows and count / rows > limits[name]
    ]


def row_hashes(chunk: pd.DataFrame) -> np.ndarray:
    """Each row's values hashed into one 64-bit number (what :class:`SourceFingerprint` digests)."""
    try:
        hashes = pd.util.hash_pandas_object(chunk, index=False)
    except TypeError:  # unhashable values (lists, dicts) in a text column
        text = {name: chunk[name].map(repr) for name in chunk.columns if chunk[name].dtype == object}
        hashes = pd.util.hash_pandas_object(chunk.assign(**text), index=False)
    return hashes.to_numpy()


class SourceFingerprint:
    """A SHA-256 of the rows as read, in order: the column names, then each row's values.

    Fed chunk by chunk, it does not depend on where chunks end (as long as each column is
    read with the same dtype): each row's values are hashed into one 64-bit number
    (``pandas.util.hash_pandas_object``; values it cannot hash, such as an API's nested
    records, by their text) and the numbers, row after row, into the SHA-256. ``hexdigest``
    after the last chunk identifies the input (about 0.4 s of the reader's CPU per million
    rows of 20 columns).
    """

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._columns: list[str] | None = None

    def add(self, chunk: pd.DataFrame) -> str:
        """Take in a chunk; the fingerprint of the rows so far."""
        return self.add_hashes(list(chunk.columns), row_hashes(chunk))

    def add_hashes(self, columns: Sequence[Any], hashes: np.ndarray) -> str:
        """Take in the :func:`row_hashes` of a chunk with these columns; the fingerprint so far."""
        names = [str(name) for name in columns]
        if names != self._columns:
            self._digest.update(("\x1f".join(names) + "\n").encode())
            self._columns = names
        self._digest.update(np.ascontiguousarray(hashes, dtype=np.uint64).tobytes())
        return self.hexdigest()

    def hexdigest(self) -> str:
        return self._digest.copy().hexdigest()


def batch_key(model: TrainedModel, fingerprint: str) -> str:
    """Which batch a run's rows are: ``<model name>:<version>:<first 32 hex of the fingerprint>``."""
    return f"{model.name}:{model.version}:{fingerprint[:32]}"


@dataclass
class Totals:
    rows: int = 0
    chunks: int = 0
    fingerprint: str = SourceFingerprint().hexdigest()  # of the rows scored so far (none: of nothing)
    class_counts: np.ndarray | None = None  # classification: rows predicted as each class
    score_sum: float = 0.0  # of the probability column, or of the predicted values (regression)
    missing: dict[str, int] | None = None  # a partition's missing values per contract column
    columns: list[str] | None = None  # a partition's input columns

    def add(self, chunk: ScoredChunk) -> None:
        self.rows += len(chunk.keys)
        self.chunks = chunk.number
        self.fingerprint = chunk.fingerprint
        if chunk.missing is not None:
            self.missing = chunk.missing
        if chunk.row_hashes is not None:
            if self.columns is not None and chunk.row_hashes.columns != self.columns:
                raise ValueError(
                    f"chunk {chunk.number} has other columns than the partition's first; "
                    "partitions need the same columns in every file"
                )
            self.columns = chunk.row_hashes.columns
        self.score_sum += float((chunk.values if chunk.probability is None else chunk.probability).sum())
        if chunk.probability is not None:
            counts = np.bincount(chunk.values)
            if self.class_counts is None:
                self.class_counts = counts
            else:
                size = max(len(counts), len(self.class_counts))
                self.class_counts = np.pad(self.class_counts, (0, size - len(self.class_counts))) + np.pad(
                    counts, (0, size - len(counts))
                )


def _predictions(
    model: TrainedModel, chunk: ScoredChunk, key_column: str | None, scored_at: datetime
) -> pd.DataFrame:
    """One chunk's output rows: the key, prediction, probability (classification), model_version,
    scored_at."""
    columns: dict[str, Any] = {key_column or ROW_NUMBER: chunk.keys}
    if chunk.probability is None:
        columns["prediction"] = chunk.values
    else:
        # categoricals from codes: no Python string per row (Parquet stores them as dictionaries)
        columns["prediction"] = pd.Categorical.from_codes(chunk.values, model.target.classes)
        columns["probability"] = chunk.probability
    if chunk.reasons is not None and chunk.contributions is not None:
        for i in range(chunk.reasons.shape[1]):
            columns[f"reason_{i + 1}"] = pd.Categorical(
                chunk.reasons[:, i], categories=model.contract.feature_names
            )
            columns[f"contribution_{i + 1}"] = chunk.contributions[:, i]
    columns["model_version"] = pd.Categorical.from_codes(np.zeros(len(chunk.keys), np.int8), [model.version])
    columns["scored_at"] = pd.Timestamp(scored_at)
    return pd.DataFrame(columns)


class PreparedChunk(NamedTuple):
    number: int
    first_row: int
    keys: np.ndarray
    features: pd.DataFrame
    fingerprint: str  # of the input rows up to this chunk's last (SourceFingerprint)
    row_hashes: RowHashes | None = None  # kept for a partition's merge
    missing: dict[str, int] | None = None  # missing values per contract column so far


class RowHashes(NamedTuple):
    """A chunk's :func:`row_hashes` and its input columns: what the fingerprint digests."""

    columns: list[str]
    values: np.ndarray


def _prepared(
    model: TrainedModel,
    chunks: Iterable[pd.DataFrame],
    key_column: str | None,
    first_row: int = 0,
    partition: bool = False,
) -> Iterator[PreparedChunk]:
    """Each chunk cleaned and checked, with its keys and the fingerprint so far.

    ``partition``: the chunks are a part of the input starting at row ``first_row``; their row
    hashes and missing counts are kept, the missing shares are checked when the parts are merged.
    """
    validator = ChunkValidator(model.contract, missing_shares=not partition)
    fingerprint = SourceFingerprint()
    cleaning_contract = model.contract.model_copy(update={"duplicates": "keep"})  # a row in, a row out
    number = 0
    for raw in chunks:
        number += 1
        if key_column and key_column not in raw.columns:
            raise ValueError(
                f"key_column {key_column!r} is not a column of the input; "
                f"it has: {', '.join(map(str, raw.columns))}"
            )
        keys = raw[key_column].to_numpy() if key_column else np.arange(first_row, first_row + len(raw))
        # Only the features are cleaned and checked: other columns (an id, the target) are never
        # used, and cleaning a text column costs a pass over every value.
        features = raw[[name for name in model.contract.feature_names if name in raw.columns]]
        text_values: dict[str, tuple[set, int]] = {}
        features, _ = clean_frame(features, model.cleaning, cleaning_contract, text_values)
        validator.check(features, number, first_row, text_values)  # so no feature is missing
        hashes = RowHashes([str(name) for name in raw.columns], row_hashes(raw))
        prepared = PreparedChunk(number, first_row, keys, features, fingerprint.add_hashes(*hashes))
        if partition:
            prepared = prepared._replace(row_hashes=hashes, missing=dict(validator.missing))
        yield prepared
        first_row += len(raw)


class ScoredChunk(NamedTuple):
    number: int
    first_row: int
    keys: np.ndarray
    values: np.ndarray  # class codes (classification) or predicted values (regression)
    probability: np.ndarray | None  # of the positive class (binary), of the predicted class (multiclass)
    fingerprint: str = ""  # of the input rows up to this chunk's last (SourceFingerprint)
    reasons: np.ndarray | None = None  # (rows, top_k) column names, with explain
    contributions: np.ndarray | None = None  # (rows, top_k) their contributions
    row_hashes: RowHashes | None = None  # a partition's (PreparedChunk)
    missing: dict[str, int] | None = None  # a partition's (PreparedChunk)


def scored_chunk(
    model: TrainedModel,
    number: int,
    first_row: int,
    keys: np.ndarray,
    features,
    fingerprint: str = "",
    explain: BatchExplainer | None = None,
) -> ScoredChunk:
    """A chunk's predictions as the model's task gives them (small arrays: they cross processes)."""
    scores = model.scores(features)
    reasons = contributions = None
    if explain is not None:
        found = explain.explainer.attribute_frame(features)
        reasons, contributions = explain.explainer.top_reasons(found, explain.top_k)
    if model.target.task == "regression":
        return ScoredChunk(number, first_row, keys, scores, None, fingerprint, reasons, contributions)
    if model.target.task == "binary":
        values = (scores >= model.threshold).astype(np.int8)
        return ScoredChunk(number, first_row, keys, values, scores, fingerprint, reasons, contributions)
    codes = scores.argmax(axis=1)
    probability = scores[np.arange(len(codes)), codes]
    return ScoredChunk(
        number, first_row, keys, codes.astype(np.int16), probability, fingerprint, reasons, contributions
    )


def _scored(
    model: TrainedModel, prepared: Iterable[PreparedChunk], explain: BatchExplainer | None = None
) -> Iterator[ScoredChunk]:
    """Each prepared chunk scored."""
    for chunk in prepared:
        scored = scored_chunk(
            model, chunk.number, chunk.first_row, chunk.keys, chunk.features, chunk.fingerprint, explain
        )
        yield scored._replace(row_hashes=chunk.row_hashes, missing=chunk.missing)


def score_in_chunks(
    model: TrainedModel,
    chunks: Iterator[pd.DataFrame],
    sinks: Sequence[Sink],
    scored_at: datetime,
    key_column: str | None = None,
    progress: bool = True,
    prefetch: Mode = "auto",
    explain: BatchExplainer | None = None,
    first_row: int = 0,
    partition: bool = False,
) -> Totals:
    """Clean, check, score each chunk and write its predictions to every sink.

    Three stages overlap, each a chunk or two ahead of the next: a reader process reads,
    cleans and checks chunks, a scorer process scores them, and this process writes the
    predictions (the two workers, or threads, from :func:`tabular_ml.data.prefetch.prefetched`).
    On two cores, reading and scoring run side by side; on a busy machine the same work still
    costs little more CPU time than scoring alone. A few chunks at most are in memory at once.

    Args:
        model: The fitted Pipeline with its contract, cleaning and threshold.
        chunks: Raw chunks in input order (e.g. from :func:`tabular_ml.data.sources.iter_chunks`).
        sinks: Where each chunk's predictions are written, in order.
        scored_at: The run's timestamp, written on every row.
        key_column: An input column written as each row's key; default: the 0-based row number.
        progress: Show a progress bar (on a terminal; log lines per chunk are always written).
        prefetch: Where the chunks are read, checked and scored: ``process``, ``thread`` or
            ``auto``.
        explain: Adds each row's top reasons (None: predictions only).
        first_row: The input row number of the chunks' first row (a partition's start).
        partition: The chunks are a part of the input: each row's hash is written with its
            prediction (column ``row_hash``) and the missing shares are left to the merge
            (:mod:`tabular_ml.inference.partitions`).

    Returns:
        Running totals: rows, chunks, predictions per class, the sum of the scores and the
        input's fingerprint.

    Raises:
        ChunkContractError: A chunk broke the contract (nothing of it was written).
        ValueError: ``key_column`` is not a column of the input.
    """
    totals = Totals()
    started = time.perf_counter()

    def read() -> Iterator[PreparedChunk]:
        return prefetched(lambda: _prepared(model, chunks, key_column, first_row, partition), prefetch)

    scored = prefetched(lambda: _scored(model, read(), explain), prefetch)  # the reader is the scorer's child
    with (
        closing(scored),  # stops the worker at once if this loop fails
        tqdm(unit="rows", unit_scale=True, desc="scoring", disable=None if progress else True) as bar,
    ):
        for chunk in scored:
            frame = _predictions(model, chunk, key_column, scored_at)
            if chunk.row_hashes is not None:  # for the merge's fingerprint, dropped there
                frame[ROW_HASH] = chunk.row_hashes.values
            for sink in sinks:
                sink.write(frame)
            totals.add(chunk)
            bar.update(len(frame))
            logger.info(
                "Chunk %d: input rows %d-%d scored (%d so far, %.0f rows/s)",
                chunk.number,
                chunk.first_row,
                chunk.first_row + len(chunk.keys) - 1,
                totals.rows,
                totals.rows / max(time.perf_counter() - started, 1e-9),
            )
    return totals


def describe_config(config: SourceConfig | SinkConfig) -> str:
    """A source or sink config as one line, anything credential-like masked."""
    values = redact(config.model_dump(mode="json", exclude_defaults=True))
    return ", ".join(f"{key}: {value}" for key, value in {"type": config.type, **values}.items())


def run_batch_scoring(
    model: TrainedModel,
    source: SourceConfig,
    sink: SinkConfig,
    *,
    chunk_rows: int,
    key_column: str | None,
    run_tag: str,
    store_dir: str,
    store_files: Files | None = None,
    source_secrets: Mapping[str, str] | None = None,
    sink_secrets: Mapping[str, str] | None = None,
    scored_at: datetime | None = None,
    progress: bool = True,
    prefetch: Mode = "auto",
    explain: BatchExplainer | None = None,
) -> BatchPredictions:
    """Score ``source`` chunk by chunk into ``sink`` and into Parquet parts under ``store_dir``.

    Args:
        model: The production model.
        source: Where the rows to score are.
        sink: Where the predictions are written: all at once when the run completes, replacing
            an earlier run's rows of the same batch key (:func:`batch_key`).
        chunk_rows: Rows read, checked and scored at a time.
        key_column: An input column written as each row's key; default: the row number.
        run_tag: Names this run's temporary files next to a file sink.
        store_dir: A directory (e.g. in the artifact store) that receives ``part-<n>.parquet``
            files with the same predictions, so they are versioned with the run.
        store_files: File operations for ``store_dir`` (default: the local disk).
        source_secrets: Secret values of a SQL source (``url``/``password``).
        sink_secrets: Secret values of a SQL sink.
        scored_at: The run's timestamp (default: now, UTC).
        progress: Show a progress bar on a terminal.
        prefetch: Where the chunks are read, checked and scored: ``process``, ``thread`` or
            ``auto``.
        explain: Adds each row's top reasons as ``reason_i``/``contribution_i`` (None: predictions only).

    Returns:
        What was written, with totals.

    Raises:
        DataSourceError, SinkError, ChunkContractError, ValueError: one line each (the contract
            report adds a line per violation); the sinks are left as they were. A second run
            into the same sink while this one writes is refused (``SinkError``).
    """
    scored_at = scored_at or datetime.now(UTC)
    task = model.target.task
    logger.info(
        "Scoring {%s} in chunks of %d rows with %s version %s (%s%s)",
        describe_config(source),
        chunk_rows,
        model.name,
        model.version,
        task,
        f", threshold {model.threshold:g}" if task == "binary" else "",
    )
    chunks = iter_chunks(source, chunk_rows, source_secrets)
    with (
        open_sink(sink, run_tag, sink_secrets) as target,
        ParquetPartsSink(store_dir, "part", store_files or LocalFiles(), label="artifact store") as store,
    ):
        totals = score_in_chunks(
            model, chunks, [target, store], scored_at, key_column, progress, prefetch, explain
        )
        key = batch_key(model, totals.fingerprint)
        target.commit(key)  # all at once, replacing an earlier run's rows of the same key
    if not totals.rows:
        logger.warning("The source held no rows: nothing was scored")
    return batch_predictions(
        model,
        totals,
        scored_at,
        describe_config(source),
        target.description,
        key_column,
        explain,
        store_dir,
        key,
    )


def batch_predictions(
    model: TrainedModel,
    totals: Totals,
    scored_at: datetime,
    source: str,
    sink: str,
    key_column: str | None,
    explain: BatchExplainer | int | None,
    parts_uri: str,
    key: str,
) -> BatchPredictions:
    """What a run wrote, from its totals (``explain``: its explainer or its ``top_k``)."""
    task = model.target.task
    shares = None
    if totals.rows and totals.class_counts is not None:
        counts = np.pad(totals.class_counts, (0, len(model.target.classes) - len(totals.class_counts)))
        shares = {
            label: float(n) / totals.rows for label, n in zip(model.target.classes, counts, strict=True)
        }
    mean = totals.score_sum / totals.rows if totals.rows else None
    top_k = explain.top_k if isinstance(explain, BatchExplainer) else explain or 0
    return BatchPredictions(
        model_name=model.name,
        model_version=model.version,
        scored_at=scored_at,
        task=task,
        threshold=model.threshold if task == "binary" else None,
        source=source,
        sink=sink,
        columns=[key_column or ROW_NUMBER, *prediction_columns(task, top_k), BATCH_KEY],
        rows=totals.rows,
        chunks=totals.chunks,
        class_shares=shares,
        positive_share=shares[model.target.classes[1]] if shares and task == "binary" else None,
        mean_probability=mean if task != "regression" else None,
        mean_prediction=mean if task == "regression" else None,
        parts_uri=parts_uri,
        batch_key=key,
    )

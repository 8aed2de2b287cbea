"""The serving request log: every answered row, written to Parquet off the request path.

A server with a request log directory records, for each successful prediction request,
each row's features (as the request schema parsed them: numeric and binary columns as
float64, categorical ones as text), ``prediction``, ``probability``, ``model_version``,
``logged_at`` (UTC) and the request's ``request_id``; then what a shadow (a challenger never
answered: :mod:`serving.shadow`) predicts for the same row: ``shadow_prediction``,
``shadow_probability`` and ``shadow_model_version``, missing on rows served without one. The server's settings
(``serving/settings.py``) give :class:`RequestLogWriter` its keyword arguments.

The request thread only appends references to the arrays it already has to an in-memory
queue (O(1) per request, no I/O, no pandas). A background thread turns the queue into
Parquet files in the directory:

- a new file every ``flush_s`` seconds holding what arrived since the last one, and as soon
  as ``max_rows`` rows (the most a file holds) are waiting;
- each file is written under a temporary name (``.requests-....parquet.tmp``), synced,
  renamed, and the directory synced, so a reader (or a crash) never sees half a file;
  files are mode 0o640, and a directory the writer creates 0o750 (an existing one is left
  as it is);
- names are ``requests-<UTC time written>-<pid>-<random token>-<sequence>.parquet``:
  gunicorn workers, and the old and new servers of a blue/green swap, write to one
  directory without colliding (the token tells apart processes that reuse a pid);
- text that cannot be encoded as UTF-8 (a lone surrogate such as ``"\\ud800"``, which JSON
  allows) is written with the offending characters backslash-escaped (``"\\\\ud800"``, Python's
  ``backslashreplace``), in that value only; a value of another type in a text column is
  written as its ``str``. Should a row (or a request's arrays) still not convert, only it is
  dropped;
- a shadow is scored here, in the writer thread, on each batch of rows taken from the queue
  (``shadow``: a function of the batch's numeric and text blocks, called on at most
  :data:`SHADOW_CHUNK_ROWS` rows at a time, the GIL let go between calls), not on the request
  path: many rows at once cost little more than one, and the answer waits for none of it. A
  shadow that raises or answers wrongly leaves its rows' shadow columns missing, counted in
  ``shadow_failed_rows``;
- memory is bounded: beyond ``max_buffer_rows`` queued rows the oldest are dropped, counted,
  and reported in a warning and in the ``request_log_dropped_rows_total`` metric; rows that
  cannot be converted, and those of a file that cannot be written, are counted the same way;
- retention: at most every ``retention_check_s`` seconds the thread deletes the directory's
  ``requests-*.parquet`` files modified more than ``max_age_s`` ago and then, while those left
  exceed ``max_total_bytes`` together, the oldest of them (by modification time). Any writer
  prunes every writer's complete files; temporary files are never touched, and a file
  another process deleted first is simply skipped;
- personal data: ``omitted_columns`` are not written at all; ``hashed_columns``
  (categorical only) are written as HMAC-SHA256(``hash_key``, UTF-8 text) in hex, so equal
  values stay equal (monitoring can still count them) while nobody without the key can
  recover them by hashing guesses; missing values stay missing. Without a key, or asked to
  hash a numeric column (omit it instead), the writer refuses to start. Each file records
  both lists in its Parquet metadata;
- :meth:`RequestLogWriter.close` writes what is queued; it runs at interpreter exit
  (``atexit``), which is how a gunicorn worker ends on a graceful stop (SIGTERM).

:func:`read_request_log` reads the complete files back into one DataFrame, whose ``attrs``
name the columns some file hashed or left out (the monitoring step does not compare those).
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import logging
import math
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tabular_ml.data.atomic_files import replace_durably

__all__ = [
    "DEFAULT_FLUSH_S",
    "DEFAULT_MAX_BUFFER_ROWS",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_RETENTION_CHECK_S",
    "DIRECTORY_MODE",
    "FILE_MODE",
    "FILE_PREFIX",
    "HASHED_COLUMNS_ATTR",
    "LOG_COLUMNS",
    "MIN_HASH_KEY_BYTES",
    "OMITTED_COLUMNS_ATTR",
    "SHADOW_COLUMNS",
    "RequestLogWriter",
    "read_request_log",
]

logger = logging.getLogger(__name__)

DEFAULT_FLUSH_S = 5.0
DEFAULT_MAX_ROWS = 50_000
DEFAULT_MAX_BUFFER_ROWS = 100_000
DEFAULT_RETENTION_CHECK_S = 60.0
MIN_HASH_KEY_BYTES = 16
FILE_MODE = 0o640
DIRECTORY_MODE = 0o750
FILE_PREFIX = "requests-"
FILE_SUFFIX = ".parquet"
#: The columns after the features, in this order.
LOG_COLUMNS = ["prediction", "probability", "model_version", "logged_at", "request_id"]
#: After the log columns: the shadow's output on the same rows (missing without a shadow).
SHADOW_COLUMNS = ["shadow_prediction", "shadow_probability", "shadow_model_version"]
#: The most rows a shadow scores in one call: a call holds the GIL for about 2 ms at most, and the
#: writer lets it go between calls, so the event loop answering requests is never kept waiting long.
SHADOW_CHUNK_ROWS = 512
#: ``read_request_log(...).attrs`` keys: the feature columns some file read hashed, or left out.
HASHED_COLUMNS_ATTR = "hashed_columns"
OMITTED_COLUMNS_ATTR = "omitted_columns"
_METADATA_KEY = b"serving.request_log"
_TIMESTAMP = pa.timestamp("us", tz="UTC")
_NAME_TIME = "%Y%m%dT%H%M%S%fZ"
# A file's name holds the time it was written, after every row in it was logged; files named
# this long before ``since`` are skipped unread (the margin covers small clock steps).
_NAME_TIME_MARGIN = timedelta(minutes=10)
_NUMERIC_KINDS = ("numeric", "binary")
# What pyarrow (and numpy) raise for values they cannot convert (UnicodeEncodeError is a ValueError).
_DATA_ERRORS = (ValueError, TypeError, pa.ArrowException)


class ShadowLike(Protocol):
    """A shadow's predictions of some rows (``serving.shadow.ShadowOutput`` fits)."""

    labels: Sequence[str]
    score: np.ndarray
    model_version: str


class ColumnLike(Protocol):
    """A feature column (``serving.bundle.FeatureColumn`` fits)."""

    name: str
    kind: str


# ---------------------------------------------------------------------- arguments


def _number(name: str, value: Any, kind: type, optional: bool = False) -> Any:
    """``value`` as a positive finite ``kind`` (None when ``optional``); else a ValueError naming it."""
    if value is None and optional:
        return None
    wanted = "a positive integer" if kind is int else "a positive number"
    fits = isinstance(value, (int, np.integer)) if kind is int else isinstance(value, (int, float, np.number))
    if isinstance(value, bool) or not fits or not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name}={value!r} must be {wanted}{' or None' if optional else ''}")
    return kind(value)


def _names(argument: str, value: Sequence[str], kinds: dict[str, str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ValueError(f"{argument} must be a list of column names, not the string {value!r}")
    names = tuple(dict.fromkeys(value))
    unknown = [name for name in names if name not in kinds]
    if unknown:
        raise ValueError(f"{argument} names {unknown}, which the model's features {list(kinds)} do not hold")
    return names


def _hash_key(key: Any, hashed: Sequence[str]) -> bytes | None:
    if not hashed:
        return None
    if key is None or key == b"":
        raise ValueError(
            f"hashed_columns {list(hashed)} need a hash_key (at least {MIN_HASH_KEY_BYTES} secret bytes, the "
            "same for every server writing the log): without one the writer does not start"
        )
    if not isinstance(key, (bytes, bytearray)):
        raise ValueError(f"hash_key must be bytes, not {type(key).__name__}")
    if len(key) < MIN_HASH_KEY_BYTES:
        raise ValueError(f"hash_key has {len(key)} bytes; at least {MIN_HASH_KEY_BYTES} are needed")
    return bytes(key)


def _make_directory(directory: Path) -> None:
    """Create ``directory`` and its missing parents with :data:`DIRECTORY_MODE`; leave existing ones be."""
    missing = []
    folder = directory
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIRECTORY_MODE)
        except FileExistsError:  # another worker made it first
            continue
        os.chmod(folder, DIRECTORY_MODE)  # mkdir's mode is filtered by the umask
    if not directory.is_dir():
        raise NotADirectoryError(f"request log directory {directory} is not a directory")


# ---------------------------------------------------------------------- values


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # an array-like value: not a missing one
        return False


def _text(value: Any) -> str | None:
    """``value`` as text that encodes as UTF-8 (see the module docstring); None when missing."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "backslashreplace")
    if not isinstance(value, str):
        if _is_missing(value):
            return None
        value = str(value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _strings(values: np.ndarray) -> pa.Array:
    """A string array; values that do not convert as they are go through :func:`_text`."""
    try:
        return pa.array(values, type=pa.string(), from_pandas=True)
    except _DATA_ERRORS:
        return pa.array([_text(value) for value in values], type=pa.string())


# ---------------------------------------------------------------------- batches


@dataclass
class _Batch:
    """Rows in columnar form: the features by kind, then the log columns."""

    numeric: np.ndarray  # float64, (numeric columns, rows)
    text: np.ndarray  # object, (text columns, rows)
    prediction: np.ndarray  # object
    probability: np.ndarray  # float64
    model_version: np.ndarray  # object
    logged_at: np.ndarray  # int64, microseconds since the epoch, UTC
    request_id: np.ndarray  # object
    shadow_prediction: np.ndarray  # object, None without a shadow
    shadow_probability: np.ndarray  # float64, NaN without a shadow
    shadow_model_version: np.ndarray  # object, None without a shadow

    def __len__(self) -> int:
        return len(self.probability)

    def slice(self, start: int, stop: int | None = None) -> _Batch:
        cut = slice(start, stop)
        return _Batch(
            self.numeric[:, cut],
            self.text[:, cut],
            self.prediction[cut],
            self.probability[cut],
            self.model_version[cut],
            self.logged_at[cut],
            self.request_id[cut],
            self.shadow_prediction[cut],
            self.shadow_probability[cut],
            self.shadow_model_version[cut],
        )

    def check(self, n_numeric: int, n_text: int) -> _Batch:
        """This batch, when every column has one value a row; else a ValueError."""
        rows = len(self)
        if self.numeric.shape != (n_numeric, rows) or self.text.shape != (n_text, rows):
            raise ValueError(
                f"feature blocks of shape {self.numeric.shape} and {self.text.shape} for {rows} rows"
            )
        lengths = {
            len(getattr(self, name))
            for name in ("prediction", "model_version", "logged_at", "request_id", *SHADOW_COLUMNS)
        }
        if lengths != {rows}:
            raise ValueError(f"log columns of unequal lengths for {rows} rows")
        return self

    @staticmethod
    def empty(n_numeric: int, n_text: int) -> _Batch:
        text, nothing = np.empty((n_text, 0), dtype=object), np.empty(0, dtype=object)
        return _Batch(
            np.empty((n_numeric, 0)),
            text,
            nothing,
            np.empty(0),
            nothing,
            np.empty(0, np.int64),
            nothing,
            nothing,
            np.empty(0),
            nothing,
        )

    @staticmethod
    def concat(batches: list[_Batch]) -> _Batch:
        if len(batches) == 1:
            return batches[0]
        return _Batch(
            *(
                np.concatenate([getattr(b, name) for b in batches], axis=-1)
                for name in ("numeric", "text", "prediction", "probability", "model_version")
            ),
            *(
                np.concatenate([getattr(b, name) for b in batches])
                for name in ("logged_at", "request_id", *SHADOW_COLUMNS)
            ),
        )


# One queued request: numeric block, text block, labels, probabilities, version, time (us), id, rows.
_Entry = tuple[np.ndarray, np.ndarray, Sequence[str], np.ndarray, str, int, str, int]


def _trim(entry: _Entry, drop: int) -> _Entry:
    numeric, text, labels, probabilities, version, logged_at, request_id, rows = entry
    return (
        numeric[:, drop:],
        text[:, drop:],
        labels[drop:],
        probabilities[drop:],
        version,
        logged_at,
        request_id,
        rows - drop,
    )


def _batch_of(entries: list[_Entry], n_numeric: int, n_text: int) -> _Batch:
    counts = np.fromiter((e[7] for e in entries), dtype=np.int64, count=len(entries))
    total = int(counts.sum())
    prediction = np.empty(total, dtype=object)
    prediction[:] = [label for e in entries for label in e[2]]

    def repeated(position: int, dtype: Any) -> np.ndarray:
        values = np.empty(len(entries), dtype=dtype)
        values[:] = [e[position] for e in entries]
        return np.repeat(values, counts)

    return _Batch(
        np.concatenate([e[0] for e in entries], axis=1) if n_numeric else np.empty((0, total)),
        np.concatenate([e[1] for e in entries], axis=1) if n_text else np.empty((0, total), dtype=object),
        prediction,
        np.concatenate([np.asarray(e[3], dtype=np.float64) for e in entries]),
        repeated(4, object),
        repeated(5, np.int64),
        repeated(6, object),
        np.full(total, None, dtype=object),  # the shadow's columns: filled by _score_shadow
        np.full(total, np.nan),
        np.full(total, None, dtype=object),
    ).check(n_numeric, n_text)


# ---------------------------------------------------------------------- the writer


class RequestLogWriter:
    """Queues answered rows and writes them to rotated Parquet files from a background thread.

    Create it in the process that serves (Seldon calls ``load()`` in each gunicorn worker,
    after the fork): the thread starts here and ``close`` is registered with ``atexit``.

    Args:
        directory: Where the files go (created, mode 0o750, if missing).
        features: The model's feature columns in model order (``name`` and ``kind``:
            numeric, binary or categorical), e.g. ``bundle.meta.features``.
        flush_s: Seconds between files (a file is written only when rows are waiting).
        max_rows: The most rows a file holds; this many waiting rows are written at once.
        max_buffer_rows: The most rows queued; beyond it the oldest are dropped and counted.
        max_age_s: Delete log files modified longer ago than this; None keeps them.
        max_total_bytes: Delete the oldest log files while all of them together are larger;
            None: no limit.
        retention_check_s: The least time between two retention checks.
        hashed_columns: Categorical features written as HMAC-SHA256(``hash_key``, value) in hex.
        omitted_columns: Features not written at all.
        hash_key: The HMAC key (at least :data:`MIN_HASH_KEY_BYTES` secret bytes); required
            with ``hashed_columns``. Servers writing one log need the same key for their
            hashes to match.
        start: Start the writer thread (False: only :meth:`flush`, :meth:`prune` and
            :meth:`close` write, in the calling thread; for tests).
        shadow: A challenger's predictions of rows given as (numeric block, text block) in
            the features' order by kind, as queued (see the module doc); None: no shadow.

    Raises:
        ValueError: A one-line message naming the argument: a feature named like a log
            column, a non-positive number, an unknown, numeric (to hash) or doubly listed
            column, a missing or short ``hash_key``.
        OSError: When the directory cannot be created.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        features: Sequence[ColumnLike],
        *,
        flush_s: float = DEFAULT_FLUSH_S,
        max_rows: int = DEFAULT_MAX_ROWS,
        max_buffer_rows: int = DEFAULT_MAX_BUFFER_ROWS,
        max_age_s: float | None = None,
        max_total_bytes: int | None = None,
        retention_check_s: float = DEFAULT_RETENTION_CHECK_S,
        hashed_columns: Sequence[str] = (),
        omitted_columns: Sequence[str] = (),
        hash_key: bytes | None = None,
        start: bool = True,
        shadow: Callable[[np.ndarray, np.ndarray], ShadowLike] | None = None,
    ) -> None:
        clash = sorted({c.name for c in features} & set(LOG_COLUMNS + SHADOW_COLUMNS))
        if clash:
            raise ValueError(f"feature column(s) {clash} clash with the request log's own columns")
        self.flush_s = _number("flush_s", flush_s, float)
        self.max_rows = _number("max_rows", max_rows, int)
        self.max_buffer_rows = _number("max_buffer_rows", max_buffer_rows, int)
        self.max_age_s = _number("max_age_s", max_age_s, float, optional=True)
        self.max_total_bytes = _number("max_total_bytes", max_total_bytes, int, optional=True)
        self.retention_check_s = _number("retention_check_s", retention_check_s, float)
        kinds = {c.name: c.kind for c in features}
        self.hashed_columns = _names("hashed_columns", hashed_columns, kinds)
        self.omitted_columns = _names("omitted_columns", omitted_columns, kinds)
        both = [name for name in self.hashed_columns if name in self.omitted_columns]
        if both:
            raise ValueError(f"hashed_columns and omitted_columns both name {both}: hash or omit each column")
        numeric = [name for name in self.hashed_columns if kinds[name] in _NUMERIC_KINDS]
        if numeric:
            raise ValueError(
                f"hashed_columns names numeric or binary column(s) {numeric}: only categorical columns "
                "are hashed (list them in omitted_columns to keep them out of the log)"
            )
        self._hash_key = _hash_key(hash_key, self.hashed_columns)
        self.directory = Path(directory)
        _make_directory(self.directory)
        self.numeric_names = [c.name for c in features if c.kind in _NUMERIC_KINDS]
        self.text_names = [c.name for c in features if c.kind not in _NUMERIC_KINDS]
        self._order = [c.name for c in features if c.name not in self.omitted_columns]
        described = {
            HASHED_COLUMNS_ATTR: list(self.hashed_columns),
            OMITTED_COLUMNS_ATTR: list(self.omitted_columns),
        }
        self.schema = pa.schema(
            [
                pa.field(c.name, pa.float64() if c.kind in _NUMERIC_KINDS else pa.string())
                for c in features
                if c.name not in self.omitted_columns
            ]
            + [
                pa.field("prediction", pa.string()),
                pa.field("probability", pa.float64()),
                pa.field("model_version", pa.string()),
                pa.field("logged_at", _TIMESTAMP),
                pa.field("request_id", pa.string()),
                pa.field("shadow_prediction", pa.string()),
                pa.field("shadow_probability", pa.float64()),
                pa.field("shadow_model_version", pa.string()),
            ],
            metadata={_METADATA_KEY: json.dumps({**described, "hash": "hmac-sha256"}).encode()},
        )

        self._lock = threading.Lock()
        self._queue: deque[_Entry] = deque()
        self._queued_rows = 0
        self._unreported_drops = 0
        self._wake = threading.Event()
        self._write_lock = threading.Lock()  # one writer at a time (thread, flush(), close())
        self._prune_lock = threading.Lock()
        self._pending: _Batch | None = None  # fewer than max_rows rows, waiting for the next file
        self._closed = False
        self._pid = os.getpid()
        self._token = secrets.token_hex(4)
        self._sequence = 0
        self._drops_logged = 0
        # counters (read them for tests and log lines)
        self.rows_appended = 0
        self.rows_written = 0
        self.rows_dropped = 0
        self.files_written = 0
        self.files_pruned = 0
        self.shadow = shadow
        self.shadow_failed_rows = 0

        # pyarrow imports parts of itself on first use, and one of them registers a threading
        # exit hook, which Python refuses once it is shutting down: the last flush, at exit,
        # would fail if it were the first. So write one empty file to memory now.
        empty = _Batch.empty(len(self.numeric_names), len(self.text_names))
        pq.write_table(self._table(empty), pa.BufferOutputStream())

        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(target=self._run, name="request-log-writer", daemon=True)
            self._thread.start()
        atexit.register(self.close)

    # ------------------------------------------------------------------ request path

    def append(
        self,
        features: Any,
        predictions: Sequence[str],
        probabilities: Any,
        model_version: str,
        request_id: str,
        logged_at: datetime | None = None,
    ) -> int:
        """Queue one request's rows; cheap, no I/O. Returns rows dropped since the last report.

        Args:
            features: A ``ParsedRequest`` (its arrays are queued as they are) or a DataFrame
                with the feature columns (copied into arrays: slower).
            predictions: The label per row.
            probabilities: The positive-class probability per row.
            model_version: The served version.
            request_id: The request's id (one per request, repeated on its rows).
            logged_at: When it was answered; now by default.

        Returns:
            How many rows were dropped (the oldest, on overflow, or rows that could not be
            converted or written) since the previous call returned them: add it to a counter.
        """
        numeric = getattr(features, "numeric", None)
        text = getattr(features, "text", None)
        if numeric is None or text is None:
            frame = getattr(features, "frame", features)
            numeric = frame[self.numeric_names].to_numpy(dtype=np.float64).T
            text = frame[self.text_names].to_numpy(dtype=object).T
        n_rows = len(probabilities)
        micros = time.time_ns() // 1000 if logged_at is None else _micros(logged_at)
        entry = (numeric, text, predictions, probabilities, model_version, micros, request_id, n_rows)
        with self._lock:
            if self._closed:
                self._unreported_drops += n_rows
                self.rows_dropped += n_rows
            else:
                self._queue.append(entry)
                self._queued_rows += n_rows
                self.rows_appended += n_rows
                if self._queued_rows > self.max_buffer_rows:
                    self._drop_oldest()
                if self._queued_rows >= self.max_rows:
                    self._wake.set()
            dropped, self._unreported_drops = self._unreported_drops, 0
        return dropped

    def _drop_oldest(self) -> None:
        """Drop the oldest queued rows down to the cap (the lock is held)."""
        excess = self._queued_rows - self.max_buffer_rows
        dropped = 0
        while excess > 0:
            oldest = self._queue[0]
            rows = oldest[7]
            if rows <= excess:
                self._queue.popleft()
                cut = rows
            else:
                self._queue[0] = _trim(oldest, excess)
                cut = excess
            excess -= cut
            dropped += cut
        self._queued_rows -= dropped
        self._unreported_drops += dropped
        self.rows_dropped += dropped

    # ------------------------------------------------------------------ writing

    def _take(self) -> list[_Entry]:
        with self._lock:
            entries = list(self._queue)
            self._queue.clear()
            self._queued_rows = 0
        return entries

    def _count_dropped(self, rows: int) -> None:
        with self._lock:
            self._unreported_drops += rows
            self.rows_dropped += rows

    def flush(self, everything: bool = True) -> int:
        """Write the queued rows now; returns how many rows were written.

        With ``everything=False`` only full files (``max_rows`` rows) are written and the
        rest waits for the next flush.
        """
        with self._write_lock:
            entries = self._take()
            batches = [self._pending] if self._pending is not None else []
            if entries:
                batches += [self._score_shadow(batch) for batch in self._batches(entries)]
            self._pending = None
            if not batches:
                return 0
            batch = _Batch.concat(batches)
            written = 0
            start = 0
            while len(batch) - start >= self.max_rows or (everything and start < len(batch)):
                stop = min(start + self.max_rows, len(batch))
                written += self._write_file(batch.slice(start, stop))
                start = stop
            if start < len(batch):
                self._pending = batch.slice(start)
            return written

    def _score_shadow(self, batch: _Batch) -> _Batch:
        """``batch`` with the shadow's columns filled (left missing where the shadow fails)."""
        if self.shadow is None:
            return batch
        for start in range(0, len(batch), SHADOW_CHUNK_ROWS):
            cut = slice(start, start + SHADOW_CHUNK_ROWS)
            rows = len(batch.probability[cut])
            try:
                output = self.shadow(batch.numeric[:, cut], batch.text[:, cut])
                labels, score = list(output.labels), np.asarray(output.score, dtype=np.float64)
                if len(labels) != rows or score.shape != (rows,):
                    raise ValueError(
                        f"{len(labels)} labels and scores of shape {score.shape} for {rows} rows"
                    )
            except Exception as exc:  # whatever the shadow does, production's rows are written
                self.shadow_failed_rows += rows
                logger.warning(
                    "Request log: the shadow failed on %d rows (%d so far): %s: %s",
                    rows,
                    self.shadow_failed_rows,
                    type(exc).__name__,
                    exc,
                )
                continue
            batch.shadow_prediction[cut] = labels
            batch.shadow_probability[cut] = score
            batch.shadow_model_version[cut] = output.model_version
            time.sleep(0)  # lets the GIL go: a request waiting for it is answered before the next chunk
        return batch

    def _batches(self, entries: list[_Entry]) -> list[_Batch]:
        """The queued requests in columnar form; a request whose arrays do not fit the others
        (a wrong shape, a probability that is not a number) is dropped alone."""
        n_numeric, n_text = len(self.numeric_names), len(self.text_names)
        try:
            return [_batch_of(entries, n_numeric, n_text)]
        except Exception:  # find the request(s) at fault below
            pass
        batches, lost, error = [], 0, None
        for entry in entries:
            try:
                batches.append(_batch_of([entry], n_numeric, n_text))
            except Exception as exc:  # whatever a caller passed: drop that request alone
                lost += entry[7]
                error = exc
        self._count_dropped(lost)
        logger.error("Request log: dropped %d rows of requests whose arrays do not convert: %s", lost, error)
        return batches

    def _write_file(self, batch: _Batch) -> int:
        """Write one file atomically; returns the rows written (0 when it failed)."""
        tables, error = self._tables(batch)
        converted = sum(table.num_rows for table in tables)
        if converted < len(batch):
            self._count_dropped(len(batch) - converted)
            logger.error(
                "Request log: dropped %d of %d rows whose values do not convert: %s",
                len(batch) - converted,
                len(batch),
                error,
            )
        if not converted:
            return 0
        self._sequence += 1
        written_at = datetime.now(UTC)
        stamp = f"{written_at:{_NAME_TIME}}"
        name = f"{FILE_PREFIX}{stamp}-{self._pid}-{self._token}-{self._sequence:06d}{FILE_SUFFIX}"
        path = self.directory / name
        temporary = self.directory / f".{name}.tmp"
        try:
            table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
            with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb") as handle:
                os.fchmod(handle.fileno(), FILE_MODE)  # os.open's mode is filtered by the umask
                pq.write_table(table, handle)
                handle.flush()
                os.fsync(handle.fileno())
            replace_durably(temporary, path)  # and the directory synced: the new name survives a crash
        except Exception as exc:  # a full disk, a removed directory: count the rows, keep serving
            temporary.unlink(missing_ok=True)
            self._count_dropped(converted)
            logger.error("Request log: dropped %d rows, cannot write %s: %s", converted, path, exc)
            return 0
        self.rows_written += converted
        self.files_written += 1
        logger.debug("Request log: wrote %d rows to %s", converted, path)
        return converted

    def _tables(self, batch: _Batch) -> tuple[list[pa.Table], Exception | None]:
        """``batch`` as one table or, when some rows do not convert, tables of the rows that do
        (found by halving); and the first error met."""
        try:
            return [self._table(batch)], None
        except _DATA_ERRORS as exc:
            if len(batch) == 1:
                return [], exc
            error = exc
        middle = len(batch) // 2
        first, first_error = self._tables(batch.slice(0, middle))
        second, second_error = self._tables(batch.slice(middle))
        return first + second, first_error or second_error or error

    def _table(self, batch: _Batch) -> pa.Table:
        columns: dict[str, pa.Array] = {}
        for i, name in enumerate(self.numeric_names):
            if name not in self.omitted_columns:
                columns[name] = pa.array(batch.numeric[i], type=pa.float64(), from_pandas=True)
        for i, name in enumerate(self.text_names):
            if name in self.hashed_columns:
                columns[name] = self._hashed(batch.text[i])
            elif name not in self.omitted_columns:
                columns[name] = _strings(batch.text[i])
        arrays = [columns[name] for name in self._order] + [
            _strings(batch.prediction),
            pa.array(batch.probability, type=pa.float64()),
            _strings(batch.model_version),
            pa.array(batch.logged_at, type=pa.int64()).cast(_TIMESTAMP),
            _strings(batch.request_id),
            _strings(batch.shadow_prediction),
            pa.array(batch.shadow_probability, type=pa.float64(), from_pandas=True),
            _strings(batch.shadow_model_version),
        ]
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def _hashed(self, values: np.ndarray) -> pa.Array:
        """HMAC-SHA256 of each value's text in hex (once per distinct value); missing stays missing."""
        digests: dict[str, str] = {}
        hashed: list[str | None] = []
        for value in values:
            text = _text(value)
            if text is not None:
                digest = digests.get(text)
                if digest is None:
                    digest = hmac.new(self._hash_key, text.encode(), hashlib.sha256).hexdigest()
                    digests[text] = digest
                text = digest
            hashed.append(text)
        return pa.array(hashed, type=pa.string())

    def _report_drops(self) -> None:
        with self._lock:
            dropped = self.rows_dropped
        if dropped > self._drops_logged:
            logger.warning(
                "Request log: %d rows dropped so far (the writer fell behind: more than "
                "max_buffer_rows=%d rows queued; or rows could not be converted or written)",
                dropped,
                self.max_buffer_rows,
            )
            self._drops_logged = dropped

    # ------------------------------------------------------------------ retention

    def prune(self) -> int:
        """Apply ``max_age_s`` and ``max_total_bytes`` to the directory's log files now.

        Deletes ``requests-*.parquet`` files (any writer's; never temporary ones) modified
        more than ``max_age_s`` ago, then the oldest of the rest while they exceed
        ``max_total_bytes``. A file another process deleted meanwhile is skipped.

        Returns:
            How many files this call deleted.
        """
        if self.max_age_s is None and self.max_total_bytes is None:
            return 0
        with self._prune_lock:
            files = self._log_files()
            cutoff = -math.inf if self.max_age_s is None else time.time() - self.max_age_s
            doomed = [(mtime, name, size) for mtime, name, size in files if mtime < cutoff]
            kept = files[len(doomed) :]  # files are sorted oldest first
            if self.max_total_bytes is not None:
                total = sum(size for _, _, size in kept)
                for file in kept:
                    if total <= self.max_total_bytes:
                        break
                    doomed.append(file)
                    total -= file[2]
            deleted = freed = 0
            for _, name, size in doomed:
                try:
                    (self.directory / name).unlink()
                except FileNotFoundError:  # another writer pruned it first
                    continue
                except OSError as exc:
                    logger.warning("Request log: cannot delete %s: %s", self.directory / name, exc)
                    continue
                deleted += 1
                freed += size
            self.files_pruned += deleted
        if deleted:
            logger.info(
                "Request log: deleted %d old files (%d bytes) from %s (max_age_s=%s, max_total_bytes=%s)",
                deleted,
                freed,
                self.directory,
                self.max_age_s,
                self.max_total_bytes,
            )
        return deleted

    def _log_files(self) -> list[tuple[float, str, int]]:
        """The directory's complete log files as (mtime, name, size), oldest first."""
        files = []
        try:
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    if not (entry.name.startswith(FILE_PREFIX) and entry.name.endswith(FILE_SUFFIX)):
                        continue
                    try:
                        if not entry.is_file(follow_symlinks=False):
                            continue
                        stat = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:  # deleted since it was listed
                        continue
                    files.append((stat.st_mtime, entry.name, stat.st_size))
        except OSError as exc:
            logger.warning("Request log: cannot list %s to apply retention: %s", self.directory, exc)
            return []
        return sorted(files)

    def _run(self) -> None:
        next_file = time.monotonic() + self.flush_s
        retains = self.max_age_s is not None or self.max_total_bytes is not None
        next_prune = time.monotonic() if retains else math.inf
        while not self._closed:
            self._wake.wait(max(0.0, min(next_file, next_prune) - time.monotonic()))
            self._wake.clear()
            if self._closed:
                break
            due = time.monotonic() >= next_file
            try:
                self.flush(everything=due)
            except Exception:  # never let the thread die: the next round retries
                logger.exception("Request log: flush failed")
            self._report_drops()
            if due:
                next_file = time.monotonic() + self.flush_s
            if time.monotonic() >= next_prune:
                try:
                    self.prune()
                except Exception:  # as above
                    logger.exception("Request log: retention failed")
                next_prune = time.monotonic() + self.retention_check_s

    # ------------------------------------------------------------------ shutdown

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the thread and write everything queued (idempotent; runs at exit)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        try:
            written = self.flush(everything=True)
        except Exception:
            logger.exception("Request log: the last flush failed")
            written = 0
        self._report_drops()
        atexit.unregister(self.close)
        logger.info(
            "Request log closed: %d rows written in %d files to %s (%d at close), %d dropped",
            self.rows_written,
            self.files_written,
            self.directory,
            written,
            self.rows_dropped,
        )


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"logged_at {moment} has no time zone: give an aware datetime (UTC)")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# ---------------------------------------------------------------------- reading


def _name_time(path: Path) -> datetime | None:
    try:
        stamp = path.name[len(FILE_PREFIX) :].split("-", 1)[0]
        return datetime.strptime(stamp, _NAME_TIME).replace(tzinfo=UTC)
    except ValueError:
        return None


def _since(since: datetime | timedelta | None) -> datetime | None:
    if since is None:
        return None
    if isinstance(since, timedelta):
        return datetime.now(UTC) - since
    if isinstance(since, datetime):
        if since.tzinfo is None:
            raise ValueError(f"since={since} has no time zone: give an aware datetime (UTC) or a timedelta")
        return since.astimezone(UTC)
    raise TypeError(f"since must be a datetime, a timedelta or None, not {type(since).__name__}")


def _described(table: pa.Table) -> dict[str, list[str]]:
    """The hashed and omitted columns a file records (none in files written before they existed)."""
    raw = (table.schema.metadata or {}).get(_METADATA_KEY)
    try:
        described = json.loads(raw) if raw else {}
    except ValueError:
        described = {}
    return {key: list(described.get(key, [])) for key in (HASHED_COLUMNS_ATTR, OMITTED_COLUMNS_ATTR)}


def empty_request_log() -> pd.DataFrame:
    """An empty frame with the log's own columns and their dtypes."""
    frame = pd.DataFrame(
        {
            "prediction": pd.Series(dtype=object),
            "probability": pd.Series(dtype="float64"),
            "model_version": pd.Series(dtype=object),
            "logged_at": pd.Series(dtype="datetime64[us, UTC]"),
            "request_id": pd.Series(dtype=object),
            **{
                name: pd.Series(dtype="float64" if name == "shadow_probability" else object)
                for name in SHADOW_COLUMNS
            },
        }
    )
    frame.attrs.update({HASHED_COLUMNS_ATTR: [], OMITTED_COLUMNS_ATTR: []})
    return frame


def read_request_log(directory: str | os.PathLike, since: datetime | timedelta | None = None) -> pd.DataFrame:
    """Every logged row in ``directory`` (complete files only), oldest first.

    Args:
        directory: A request log folder (the servers' request log directory).
        since: Only rows with ``logged_at >= since``: an aware datetime, or a timedelta
            back from now; None reads everything.

    Returns:
        The feature columns (as the servers parsed them: float64 for numeric and binary,
        text or NaN for categorical; the union when versions differ; hashed columns as
        hex digests, omitted ones absent, or NaN on the rows of the files that left them
        out), then ``prediction``, ``probability``, ``model_version``, ``logged_at``
        (``datetime64[us, UTC]``) and ``request_id``, then :data:`SHADOW_COLUMNS` (missing on
        rows logged without a shadow, and in files written before shadows were logged). Empty,
        with those eight columns, when nothing is logged. ``attrs[HASHED_COLUMNS_ATTR]`` and
        ``attrs[OMITTED_COLUMNS_ATTR]`` list (sorted) the columns any file read hashed or left
        out: their values are not comparable with raw data.

    Raises:
        FileNotFoundError: When ``directory`` does not exist.
        ValueError: For a naive ``since``.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise FileNotFoundError(f"request log directory {folder} does not exist (is the server's log on?)")
    start = _since(since)
    tables: list[pa.Table] = []
    hashed: set[str] = set()
    omitted: set[str] = set()
    for path in sorted(folder.glob(f"{FILE_PREFIX}*{FILE_SUFFIX}")):
        written = _name_time(path)
        if start is not None and written is not None and written < start - _NAME_TIME_MARGIN:
            continue  # written before ``since``: every row in it is older
        try:
            table = pq.read_table(path)
        except FileNotFoundError:  # deleted by retention since the listing
            continue
        except (OSError, pa.ArrowInvalid) as exc:
            logger.warning("Request log: skipping unreadable file %s: %s", path, exc)
            continue
        if start is not None:
            table = table.filter(pc.greater_equal(table["logged_at"], pa.scalar(start, type=_TIMESTAMP)))
        if table.num_rows:
            described = _described(table)
            hashed.update(described[HASHED_COLUMNS_ATTR])
            omitted.update(described[OMITTED_COLUMNS_ATTR])
            tables.append(table.replace_schema_metadata(None))
    if not tables:
        return empty_request_log()
    table = pa.concat_tables(tables, promote_options="permissive")
    frame = table.to_pandas()
    own = LOG_COLUMNS + SHADOW_COLUMNS
    for name in SHADOW_COLUMNS:  # files written before shadows were logged lack them
        if name not in frame.columns:
            frame[name] = np.nan if name == "shadow_probability" else None
    features = [name for name in frame.columns if name not in own]
    for name in features:
        if frame[name].dtype == object:
            frame[name] = frame[name].where(frame[name].notna(), np.nan)
    frame = frame[features + own].sort_values("logged_at", kind="stable", ignore_index=True)
    frame.attrs.update({HASHED_COLUMNS_ATTR: sorted(hashed), OMITTED_COLUMNS_ATTR: sorted(omitted)})
    return frame

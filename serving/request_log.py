"""The serving request log: every answered row, written to Parquet off the request path.

A server with ``SERVING_REQUEST_LOG_DIR`` set records, for each successful prediction
request, each row's features (as the request schema parsed them: numeric and binary
columns as float64, categorical ones as text), ``prediction``, ``probability``,
``model_version``, ``logged_at`` (UTC) and the request's ``request_id``.

The request thread only appends references to the arrays it already has to an in-memory
queue (O(1) per request, no I/O, no pandas). A background thread turns the queue into
Parquet files in the directory:

- a new file every ``SERVING_REQUEST_LOG_FLUSH_S`` seconds (default 5) holding what
  arrived since the last one, and as soon as ``SERVING_REQUEST_LOG_MAX_ROWS`` rows
  (default 50,000, the most a file holds) are waiting;
- each file is written under a temporary name (``.requests-....parquet.tmp``), synced,
  then renamed, so a reader never sees half a file;
- names are ``requests-<UTC time written>-<pid>-<random token>-<sequence>.parquet``:
  gunicorn workers, and the old and new servers of a blue/green swap, write to one
  directory without colliding (the token tells apart processes that reuse a pid);
- memory is bounded: beyond ``SERVING_REQUEST_LOG_MAX_BUFFER_ROWS`` queued rows (default
  100,000) the oldest are dropped, counted, and reported in a warning and in the
  ``request_log_dropped_rows_total`` metric; rows of a file that cannot be written are
  counted the same way;
- :meth:`RequestLogWriter.close` writes what is queued; it runs at interpreter exit
  (``atexit``), which is how a gunicorn worker ends on a graceful stop (SIGTERM).

:func:`read_request_log` reads the complete files back into one DataFrame.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = [
    "DEFAULT_FLUSH_S",
    "DEFAULT_MAX_BUFFER_ROWS",
    "DEFAULT_MAX_ROWS",
    "DIR_ENV",
    "FILE_PREFIX",
    "FLUSH_S_ENV",
    "LOG_COLUMNS",
    "MAX_BUFFER_ROWS_ENV",
    "MAX_ROWS_ENV",
    "RequestLogSettings",
    "RequestLogWriter",
    "read_request_log",
]

logger = logging.getLogger(__name__)

DIR_ENV = "SERVING_REQUEST_LOG_DIR"
FLUSH_S_ENV = "SERVING_REQUEST_LOG_FLUSH_S"
MAX_ROWS_ENV = "SERVING_REQUEST_LOG_MAX_ROWS"
MAX_BUFFER_ROWS_ENV = "SERVING_REQUEST_LOG_MAX_BUFFER_ROWS"
DEFAULT_FLUSH_S = 5.0
DEFAULT_MAX_ROWS = 50_000
DEFAULT_MAX_BUFFER_ROWS = 100_000
FILE_PREFIX = "requests-"
FILE_SUFFIX = ".parquet"
#: The columns after the features, in this order.
LOG_COLUMNS = ["prediction", "probability", "model_version", "logged_at", "request_id"]
_TIMESTAMP = pa.timestamp("us", tz="UTC")
_NAME_TIME = "%Y%m%dT%H%M%S%fZ"
# A file's name holds the time it was written, after every row in it was logged; files named
# this long before ``since`` are skipped unread (the margin covers small clock steps).
_NAME_TIME_MARGIN = timedelta(minutes=10)
_NUMERIC_KINDS = ("numeric", "binary")


class ColumnLike(Protocol):
    """A feature column (``serving.bundle.FeatureColumn`` fits)."""

    name: str
    kind: str


# ---------------------------------------------------------------------- settings


def _positive(name: str, raw: str, kind: type) -> Any:
    try:
        value = kind(raw)
    except ValueError:
        value = 0
    if not value > 0 or (kind is float and not np.isfinite(value)):
        raise ValueError(f"{name}={raw!r} must be a positive {'number' if kind is float else 'integer'}")
    return value


@dataclass(frozen=True)
class RequestLogSettings:
    """Where and how often a server writes its request log."""

    directory: Path
    flush_s: float = DEFAULT_FLUSH_S
    max_rows: int = DEFAULT_MAX_ROWS
    max_buffer_rows: int = DEFAULT_MAX_BUFFER_ROWS

    @classmethod
    def from_env(
        cls, directory: str | os.PathLike | None = None, environ: dict[str, str] | None = None
    ) -> RequestLogSettings | None:
        """The settings from ``SERVING_REQUEST_LOG_*``; None when the log is off (no directory).

        Args:
            directory: Overrides ``SERVING_REQUEST_LOG_DIR``.
            environ: Instead of ``os.environ``.

        Raises:
            ValueError: When a variable is set to something that is not a positive number.
        """
        env = os.environ if environ is None else environ
        folder = str(directory or env.get(DIR_ENV, "")).strip()
        if not folder:
            return None
        values: dict[str, Any] = {}
        for field_name, name, kind in (
            ("flush_s", FLUSH_S_ENV, float),
            ("max_rows", MAX_ROWS_ENV, int),
            ("max_buffer_rows", MAX_BUFFER_ROWS_ENV, int),
        ):
            raw = env.get(name, "").strip()
            if raw:
                values[field_name] = _positive(name, raw, kind)
        return cls(directory=Path(folder), **values)


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
        )

    @staticmethod
    def empty(n_numeric: int, n_text: int) -> _Batch:
        text, nothing = np.empty((n_text, 0), dtype=object), np.empty(0, dtype=object)
        return _Batch(
            np.empty((n_numeric, 0)), text, nothing, np.empty(0), nothing, np.empty(0, np.int64), nothing
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
            np.concatenate([b.logged_at for b in batches]),
            np.concatenate([b.request_id for b in batches]),
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
    )


# ---------------------------------------------------------------------- the writer


class RequestLogWriter:
    """Queues answered rows and writes them to rotated Parquet files from a background thread.

    Create it in the process that serves (Seldon calls ``load()`` in each gunicorn worker,
    after the fork): the thread starts here and ``close`` is registered with ``atexit``.

    Args:
        directory: Where the files go (created if missing).
        features: The model's feature columns in model order (``name`` and ``kind``:
            numeric, binary or categorical), e.g. ``bundle.meta.features``.
        flush_s: Seconds between files (a file is written only when rows are waiting).
        max_rows: The most rows a file holds; this many waiting rows are written at once.
        max_buffer_rows: The most rows queued; beyond it the oldest are dropped and counted.
        start: Start the writer thread (False: only :meth:`flush` and :meth:`close` write,
            in the calling thread; for tests).

    Raises:
        ValueError: For a feature named like a log column, or a non-positive setting.
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
        start: bool = True,
    ) -> None:
        clash = sorted({c.name for c in features} & set(LOG_COLUMNS))
        if clash:
            raise ValueError(f"feature column(s) {clash} clash with the request log's own columns")
        if not (flush_s > 0 and max_rows >= 1 and max_buffer_rows >= 1):
            raise ValueError(
                f"flush_s, max_rows and max_buffer_rows must be positive, got {flush_s}, {max_rows}, "
                f"{max_buffer_rows}"
            )
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.flush_s = float(flush_s)
        self.max_rows = int(max_rows)
        self.max_buffer_rows = int(max_buffer_rows)
        self.numeric_names = [c.name for c in features if c.kind in _NUMERIC_KINDS]
        self.text_names = [c.name for c in features if c.kind not in _NUMERIC_KINDS]
        self._order = [c.name for c in features]
        self.schema = pa.schema(
            [pa.field(c.name, pa.float64() if c.kind in _NUMERIC_KINDS else pa.string()) for c in features]
            + [
                pa.field("prediction", pa.string()),
                pa.field("probability", pa.float64()),
                pa.field("model_version", pa.string()),
                pa.field("logged_at", _TIMESTAMP),
                pa.field("request_id", pa.string()),
            ]
        )

        self._lock = threading.Lock()
        self._queue: deque[_Entry] = deque()
        self._queued_rows = 0
        self._unreported_drops = 0
        self._wake = threading.Event()
        self._write_lock = threading.Lock()  # one writer at a time (thread, flush(), close())
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
            How many rows were dropped (the oldest, on overflow, or in a file that could not
            be written) since the previous call returned them: add it to a counter.
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

    def flush(self, everything: bool = True) -> int:
        """Write the queued rows now; returns how many rows were written.

        With ``everything=False`` only full files (``max_rows`` rows) are written and the
        rest waits for the next flush.
        """
        with self._write_lock:
            entries = self._take()
            batches = [self._pending] if self._pending is not None else []
            if entries:
                batches.append(_batch_of(entries, len(self.numeric_names), len(self.text_names)))
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

    def _write_file(self, batch: _Batch) -> int:
        """Write one file atomically; returns the rows written (0 when it failed)."""
        self._sequence += 1
        written_at = datetime.now(UTC)
        stamp = f"{written_at:{_NAME_TIME}}"
        name = f"{FILE_PREFIX}{stamp}-{self._pid}-{self._token}-{self._sequence:06d}{FILE_SUFFIX}"
        path = self.directory / name
        temporary = self.directory / f".{name}.tmp"
        try:
            table = self._table(batch)
            with open(temporary, "wb") as handle:
                pq.write_table(table, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except Exception as exc:  # a full disk, a removed directory: count the rows, keep serving
            temporary.unlink(missing_ok=True)
            with self._lock:
                self._unreported_drops += len(batch)
                self.rows_dropped += len(batch)
            logger.error("Request log: dropped %d rows, cannot write %s: %s", len(batch), path, exc)
            return 0
        self.rows_written += len(batch)
        self.files_written += 1
        logger.debug("Request log: wrote %d rows to %s", len(batch), path)
        return len(batch)

    def _table(self, batch: _Batch) -> pa.Table:
        columns: dict[str, pa.Array] = {}
        for i, name in enumerate(self.numeric_names):
            columns[name] = pa.array(batch.numeric[i], type=pa.float64(), from_pandas=True)
        for i, name in enumerate(self.text_names):
            columns[name] = pa.array(batch.text[i], type=pa.string(), from_pandas=True)
        arrays = [columns[name] for name in self._order] + [
            pa.array(batch.prediction, type=pa.string()),
            pa.array(batch.probability, type=pa.float64()),
            pa.array(batch.model_version, type=pa.string()),
            pa.array(batch.logged_at, type=pa.int64()).cast(_TIMESTAMP),
            pa.array(batch.request_id, type=pa.string()),
        ]
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def _report_drops(self) -> None:
        with self._lock:
            dropped = self.rows_dropped
        if dropped > self._drops_logged:
            logger.warning(
                "Request log: %d rows dropped so far (the writer fell behind: more than %d rows "
                "queued, %s; or files could not be written)",
                dropped,
                self.max_buffer_rows,
                MAX_BUFFER_ROWS_ENV,
            )
            self._drops_logged = dropped

    def _run(self) -> None:
        next_file = time.monotonic() + self.flush_s
        while not self._closed:
            self._wake.wait(max(0.0, next_file - time.monotonic()))
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


def empty_request_log() -> pd.DataFrame:
    """An empty frame with the log's own columns and their dtypes."""
    return pd.DataFrame(
        {
            "prediction": pd.Series(dtype=object),
            "probability": pd.Series(dtype="float64"),
            "model_version": pd.Series(dtype=object),
            "logged_at": pd.Series(dtype="datetime64[us, UTC]"),
            "request_id": pd.Series(dtype=object),
        }
    )


def read_request_log(directory: str | os.PathLike, since: datetime | timedelta | None = None) -> pd.DataFrame:
    """Every logged row in ``directory`` (complete files only), oldest first.

    Args:
        directory: A request log folder (``SERVING_REQUEST_LOG_DIR`` of the servers).
        since: Only rows with ``logged_at >= since``: an aware datetime, or a timedelta
            back from now; None reads everything.

    Returns:
        The feature columns (as the servers parsed them: float64 for numeric and binary,
        text or NaN for categorical; the union when versions differ), then ``prediction``,
        ``probability``, ``model_version``, ``logged_at`` (``datetime64[us, UTC]``) and
        ``request_id``. Empty, with those five columns, when nothing is logged.

    Raises:
        FileNotFoundError: When ``directory`` does not exist.
        ValueError: For a naive ``since``.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"request log directory {folder} does not exist (is {DIR_ENV} set on the server?)"
        )
    start = _since(since)
    tables: list[pa.Table] = []
    for path in sorted(folder.glob(f"{FILE_PREFIX}*{FILE_SUFFIX}")):
        written = _name_time(path)
        if start is not None and written is not None and written < start - _NAME_TIME_MARGIN:
            continue  # written before ``since``: every row in it is older
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowInvalid) as exc:
            logger.warning("Request log: skipping unreadable file %s: %s", path, exc)
            continue
        if start is not None:
            table = table.filter(pc.greater_equal(table["logged_at"], pa.scalar(start, type=_TIMESTAMP)))
        if table.num_rows:
            tables.append(table)
    if not tables:
        return empty_request_log()
    table = pa.concat_tables(tables, promote_options="permissive")
    frame = table.to_pandas()
    features = [name for name in frame.columns if name not in LOG_COLUMNS]
    for name in features:
        if frame[name].dtype == object:
            frame[name] = frame[name].where(frame[name].notna(), np.nan)
    frame = frame[features + LOG_COLUMNS]
    return frame.sort_values("logged_at", kind="stable", ignore_index=True)

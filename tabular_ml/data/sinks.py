"""Where batch predictions go: a CSV file, a directory of Parquet parts, a SQL table.

What a reader of an output can rely on, however a run ends (an exception, ``kill -9``, the
OOM killer, a node drain):

- **All or nothing.** A run's rows appear at once when the run commits, or not at all. A CSV
  file (``.csv.gz`` too) is written whole into a temporary file next to it (the earlier rows
  of other batches, then this run's), fsynced and renamed into place, and the directory is
  fsynced: a reader opens either the old complete file or the new one, never a torn line or a
  truncated gzip member. A Parquet dataset gets one part file per batch, written under a
  hidden temporary name (pyarrow and pandas skip names starting with ``.``) and renamed on
  commit. A SQL table is written in one transaction. Temporary files of a killed run are
  removed by the next run on the same output.
- **Reruns replace.** Every row carries a ``batch_key``, which the caller gives at
  :meth:`Sink.commit` (batch scoring: the model, its version and a fingerprint of the rows
  read, :func:`tabular_ml.inference.batch_scoring.batch_key`). Committing replaces the rows an
  earlier run committed under the same key, in the same step that adds the new ones (the new
  CSV file, the part file ``batch-<batch key>.parquet`` replaced by rename, the same SQL
  transaction); rows of other keys stay as they are. The key is known only at the end (the
  fingerprint covers every row read), so rows are written with a provisional key that the
  commit replaces.
- **One run at a time.** A sink locks its output from opening to commit or abort, without
  waiting: a second run is refused with one line. File outputs: a POSIX record lock
  (``fcntl.lockf``) on ``.<name>.lock`` next to the output, held by this process only (the
  forked reader and scorer workers do not inherit it, as they would an ``flock``) and released
  by the kernel when the process ends, however it ends. SQL: an advisory lock
  (PostgreSQL ``pg_try_advisory_xact_lock``, MySQL/MariaDB ``GET_LOCK``), released with the
  transaction or the session; SQLite lets one transaction write at a time anyway.

Use a sink as a context manager: ``commit`` on success (or call ``commit(batch_key)`` inside
the block), ``abort`` on an exception::

    with open_sink(config, run_tag="run-1") as sink:
        for frame in frames:
            sink.write(frame)
        sink.commit(batch_key="model:3:4f0c...")

Every failure raises :class:`SinkError` with one line naming the sink and what went wrong;
passwords never appear in it.
"""

from __future__ import annotations

import builtins
import csv
import errno
import glob
import gzip
import hashlib
import io
import logging
import os
import re
import shutil
import threading
import uuid
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, ClassVar, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from tabular_ml.configuration.schema import FileSink, SinkConfig, SqlSink
from tabular_ml.data.atomic_files import fsync_file, replace_durably
from tabular_ml.data.sources import DataSourceError, resolve_sql_url

try:
    import fcntl
except ImportError:  # not POSIX: outputs are not locked
    fcntl = None

logger = logging.getLogger(__name__)

#: The column every output row carries: which batch (input and model version) it belongs to.
BATCH_KEY = "batch_key"
_BLOCK = 1 << 20
_SQL_KEY_LENGTH = 255


class SinkError(ValueError):
    """Predictions could not be written; the message says where, why and what was expected."""


class Files(Protocol):
    """The file operations a Parquet sink needs (``zenml.io.fileio`` has them, for any store)."""

    def open(self, path: str, mode: str = "r") -> IO[Any]: ...
    def makedirs(self, path: str) -> None: ...
    def exists(self, path: str) -> bool: ...
    def isdir(self, path: str) -> bool: ...
    def remove(self, path: str) -> None: ...


class LocalFiles:
    """:class:`Files` on the local disk."""

    open = staticmethod(builtins.open)
    exists = staticmethod(os.path.exists)
    isdir = staticmethod(os.path.isdir)
    remove = staticmethod(os.remove)

    @staticmethod
    def makedirs(path: str) -> None:
        os.makedirs(path, exist_ok=True)


class Sink:
    """Base of the sinks: ``write`` frames, then ``commit`` (or ``abort`` to undo the run's writes)."""

    description: str = "sink"
    rows_written: int = 0
    run_tag: str = "run"
    finished: bool = False  # committed or aborted: nothing more to do

    def write(self, frame: pd.DataFrame) -> None:
        raise NotImplementedError

    def commit(self, batch_key: str | None = None) -> None:
        """Make the run's rows final at once, replacing earlier rows of ``batch_key``.

        ``batch_key`` defaults to the run tag: a batch of its own, replacing nothing.
        """
        self.finished = True

    def abort(self) -> None:
        """Undo this run's writes, leaving the sink as the run found it."""
        self.finished = True

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            if not self.finished:
                self.commit()
            return
        if self.finished:
            return
        try:
            self.abort()
        except Exception as error:  # the original failure is the one to report
            logger.warning("%s: could not undo this run's writes: %s", self.description, error)


def open_sink(config: SinkConfig, run_tag: str, secrets: Mapping[str, str] | None = None) -> Sink:
    """The sink a config describes, locked for this run and ready to write.

    Args:
        config: A ``FileSink`` (CSV file, or a Parquet directory) or a ``SqlSink``.
        run_tag: Names this run's temporary files and is the default batch key.
        secrets: Resolved secret values for a SQL sink (``url`` and/or ``password``).

    Raises:
        SinkError: The sink cannot be opened (a bad path, an unreachable database, another
            run writing to it...).
    """
    if isinstance(config, FileSink):
        if config.file_format == "csv":
            return CsvSink(Path(config.path), run_tag)
        return ParquetDatasetSink(Path(config.path.rstrip("/")), run_tag)
    if isinstance(config, SqlSink):
        return SqlTableSink(config, secrets or {}, run_tag)
    raise SinkError(f"unknown sink {type(config).__name__}: expected a file or sql sink")


# --------------------------------------------------------------------------- files: lock, commit


class OutputLock:
    """An exclusive lock on a file output, taken without waiting (see the module doc).

    A process never conflicts with its own POSIX record locks, so the outputs this process
    has locked are also kept in a set: a second sink on one output is refused here as well.
    """

    _held: ClassVar[set[str]] = set()
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: Path, description: str):
        self.path = path
        self._key = os.path.realpath(path)
        self._fd: int | None = None
        if fcntl is None:
            return
        with self._guard:
            if self._key in self._held:
                raise SinkError(self._busy(description, os.getpid()))
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise SinkError(
                    f"{description}: cannot create its lock file {path}: {_first_line(exc)}"
                ) from exc
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                os.close(fd)  # this process holds no lock on it: closing releases nothing
                if exc.errno in (errno.EACCES, errno.EAGAIN):
                    raise SinkError(self._busy(description, holder)) from None
                raise SinkError(f"{description}: cannot lock {path}: {_first_line(exc)}") from exc
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            self._held.add(self._key)
            self._fd = fd

    def _busy(self, description: str, holder: object) -> str:
        by = f" by process {holder}" if holder else ""
        return (
            f"{description}: another run is writing to it (lock {self.path} held{by}); "
            "expected one run at a time: wait for it to finish, then run again"
        )

    def release(self) -> None:
        if self._fd is None:
            return
        with self._guard:
            os.close(self._fd)  # closing the descriptor releases the record lock
            self._fd = None
            self._held.discard(self._key)


def _safe_name(text: str) -> str:
    """``text`` usable in a file name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def _remove_leftovers(directory: Path, pattern: str) -> None:
    """Temporary files of killed runs (only called with the output's lock held)."""
    for leftover in directory.glob(pattern):
        logger.info("Removing %s, left by a run that did not finish", leftover)
        leftover.unlink(missing_ok=True)


# --------------------------------------------------------------------------- csv


class StagedFileSink(Sink):
    """A file output written in two steps: the run's rows to a hidden staging file; on commit, the
    output as it will be to a hidden new file (``_write_new_file``), fsynced and renamed into
    place (``_final_path``). An abort, or a failed commit, leaves the output as it was and removes
    both hidden files; the output's lock is released either way.

    Subclasses set ``_stage`` (the open staging writer), ``_stage_path``, ``_new_path``, ``_lock``,
    ``run_tag`` and ``description``.
    """

    _stage: Any = None

    def _final_path(self, key: str) -> Path:  # pragma: no cover - overridden
        raise NotImplementedError

    def _write_new_file(self, key: str) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def commit(self, batch_key: str | None = None) -> None:
        if self.finished:
            return
        key = batch_key or self.run_tag
        try:
            if self._stage is not None:
                self._stage.close()
                self._stage = None
                try:
                    self._write_new_file(key)
                    replace_durably(self._new_path, self._final_path(key))
                except OSError as exc:
                    raise SinkError(
                        f"{self.description}: cannot write {self._new_path}: {_first_line(exc)}"
                    ) from exc
        finally:
            self.finished = True
            self._clean_up()

    def abort(self) -> None:
        if self.finished:
            return
        self.finished = True
        self._clean_up()

    def _clean_up(self) -> None:
        try:
            if self._stage is not None:
                stage, self._stage = self._stage, None
                try:
                    stage.close()
                except (OSError, pa.ArrowException):  # its last buffer (a full disk): the file goes anyway
                    pass
            self._stage_path.unlink(missing_ok=True)
            self._new_path.unlink(missing_ok=True)
        finally:
            self._lock.release()


class CsvSink(StagedFileSink):
    """One CSV file (gzip for ``.gz``), rewritten as a whole by each run and renamed into place.

    The run's rows go to a staging file (``.<name>.<run tag>.rows.tmp``) with a provisional batch
    key. On commit the new file (``.<name>.<run tag>.tmp``) gets the existing file's rows
    without those of the committed key, then the staged rows with the key, and replaces the
    output. When the existing file holds no row of the key its bytes are copied as they are
    (a ``.gz`` file gets the new rows as a gzip member of their own); otherwise it is read
    record by record. A file written before batch keys gets an empty key on its old rows.
    """

    def __init__(self, path: Path, run_tag: str = "run"):
        self.path = path
        self.run_tag = run_tag
        self.description = f"file sink {path}"
        self.gzip = path.name.lower().endswith(".gz")
        if path.is_dir():
            raise SinkError(f"{self.description}: is a directory; expected a CSV file path to write to")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"{self.description}: cannot create its folder: {_first_line(exc)}") from exc
        self._lock = OutputLock(path.parent / f".{path.name}.lock", self.description)
        try:
            _remove_leftovers(path.parent, f".{glob.escape(path.name)}.*.tmp")
            self.header = self._existing_header()
        except BaseException:
            self._lock.release()
            raise
        tag = _safe_name(run_tag)
        self._stage_path = path.parent / f".{path.name}.{tag}.rows.tmp"
        self._new_path = path.parent / f".{path.name}.{tag}.tmp"
        self._pending = f"pending-{uuid.uuid4().hex}"
        self._stage: IO[str] | None = None
        self.columns: list[str] = []

    def _open_text(self) -> IO[str]:
        if self.gzip:
            return gzip.open(self.path, "rt", newline="", encoding="utf-8")
        return builtins.open(self.path, newline="", encoding="utf-8")

    def _unreadable(self, exc: BaseException) -> SinkError:
        return SinkError(
            f"{self.description}: cannot read it: {_first_line(exc)}; expected a complete CSV file "
            "(move it aside to start a new one)"
        )

    def _existing_header(self) -> list[str] | None:
        if not self.path.exists() or not self.path.stat().st_size:
            return None
        try:
            with self._open_text() as handle:
                line = handle.readline().rstrip("\r\n")
        except (OSError, UnicodeDecodeError, EOFError, zlib.error) as exc:
            raise self._unreadable(exc) from exc
        return next(csv.reader([line]), [])

    def write(self, frame: pd.DataFrame) -> None:
        if self._stage is None:
            columns = [str(name) for name in frame.columns] + [BATCH_KEY]
            if self.header is not None and self.header not in (columns, columns[:-1]):
                raise SinkError(
                    f"{self.description}: its header {self.header} differs from the predictions' columns "
                    f"{columns}; expected a new file or one this pipeline wrote with the same key column"
                )
            self.columns = columns
            try:
                self._stage = builtins.open(self._stage_path, "w", newline="", encoding="utf-8")
            except OSError as exc:
                raise SinkError(
                    f"{self.description}: cannot write {self._stage_path}: {_first_line(exc)}"
                ) from exc
        rows = _timestamps_as_text(frame).assign(**{BATCH_KEY: self._pending})
        try:
            rows.to_csv(self._stage, header=False, index=False)
            self._stage.flush()  # a chunk at a time, no torn line between chunks
        except OSError as exc:
            raise SinkError(
                f"{self.description}: cannot write {self._stage_path}: {_first_line(exc)}"
            ) from exc
        self.rows_written += len(frame)

    def _final_path(self, key: str) -> Path:
        return self.path

    def _write_new_file(self, key: str) -> None:
        """The output as it will be: other batches' rows, then this run's, fsynced."""
        existing = self.header is not None
        as_is = existing and self.header == self.columns and self._no_row_of(key)
        with builtins.open(self._new_path, "wb") as raw:
            if as_is:
                with builtins.open(self.path, "rb") as old:
                    shutil.copyfileobj(old, raw, _BLOCK)
            out: IO[bytes] = (
                gzip.GzipFile(filename=self.path.name, fileobj=raw, mode="wb", compresslevel=6)
                if self.gzip
                else raw
            )
            if not as_is:
                out.write(_csv_line(self.columns).encode())
                if existing:
                    self._copy_other_batches(out, key)
            with builtins.open(self._stage_path, "rb") as rows:
                _copy_replacing(rows, out, self._pending.encode(), _csv_line([key]).rstrip("\n").encode())
            if out is not raw:
                out.close()  # the gzip trailer; ``raw`` stays open
            raw.flush()
            os.fsync(raw.fileno())
        if existing:
            shutil.copymode(self.path, self._new_path)

    def _no_row_of(self, key: str) -> bool:
        """The file holds no row of ``key`` (its text nowhere) and ends with a line break."""
        needle, carry, last = _csv_line([key]).rstrip("\n").encode(), b"", b""  # as written
        try:
            with gzip.open(self.path, "rb") if self.gzip else builtins.open(self.path, "rb") as handle:
                while block := handle.read(_BLOCK):
                    data = carry + block
                    if needle in data:
                        return False
                    carry, last = data[len(data) - len(needle) + 1 :], block[-1:]
        except (OSError, EOFError, zlib.error) as exc:
            raise self._unreadable(exc) from exc
        return last == b"\n"

    def _copy_other_batches(self, out: IO[bytes], key: str) -> None:
        """The existing records (their text as it is) except those of ``key``."""
        legacy = self.header != self.columns  # written before batch keys: the key is empty
        position = None if legacy else self.header.index(BATCH_KEY)
        kept: list[str] = []
        size = 0
        try:
            with self._open_text() as handle:
                for text, fields in _records(handle, skip_header=True):
                    if not fields or (
                        position is not None and position < len(fields) and fields[position] == key
                    ):
                        continue
                    kept.append(text.rstrip("\r\n") + ("," if legacy else "") + "\n")
                    size += len(text)
                    if size >= _BLOCK:
                        out.write("".join(kept).encode())
                        kept, size = [], 0
        except (UnicodeDecodeError, EOFError, zlib.error, gzip.BadGzipFile, csv.Error) as exc:
            raise self._unreadable(exc) from exc
        out.write("".join(kept).encode())


def _records(handle: IO[str], skip_header: bool) -> Iterator[tuple[str, list[str]]]:
    """Each CSV record of ``handle`` as its text (a quoted field may span lines) and its fields."""
    lines: list[str] = []

    def read() -> Iterator[str]:
        for line in handle:
            lines.append(line)
            yield line

    reader = csv.reader(read())
    if skip_header:
        next(reader, None)
        lines.clear()
    for fields in reader:
        text = "".join(lines)
        lines.clear()
        yield text, fields


def _csv_line(values: list[str]) -> str:
    """``values`` as one CSV line, quoted as pandas quotes a header."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _copy_replacing(source: IO[bytes], target: IO[bytes], old: bytes, new: bytes) -> None:
    """Copy ``source`` to ``target`` with ``old`` replaced by ``new`` (neither spans a line)."""
    carry = b""
    while block := source.read(_BLOCK):
        data = carry + block
        end = data.rfind(b"\n") + 1
        target.write(data[:end].replace(old, new))
        carry = data[end:]
    target.write(carry.replace(old, new))


def _timestamps_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Time-zone-aware columns as pandas writes them, formatted once per distinct value.

    pandas formats such values one by one, which makes writing a CSV several times slower;
    a run's ``scored_at`` has one value.
    """
    columns = [name for name in frame.columns if isinstance(frame[name].dtype, pd.DatetimeTZDtype)]
    if not columns:
        return frame
    frame = frame.copy(deep=False)
    for name in columns:
        codes, distinct = pd.factorize(frame[name], use_na_sentinel=True)
        text = np.array([str(value) for value in distinct] + [""], dtype=object)
        frame[name] = text[codes]
    return frame


# --------------------------------------------------------------------------- parquet


class ParquetDatasetSink(StagedFileSink):
    """A directory of Parquet part files, one per batch: ``batch-<batch key>.parquet``.

    The run's chunks become row groups of one staging file (``.part-<run tag>.rows.tmp``) with
    a provisional batch key; on commit it is copied row group by row group with the key into
    ``.part-<run tag>.tmp``, which is fsynced and renamed over the batch's part (replacing an
    earlier run's part of the same key). Part files of other names (``part-<run id>-<n>``, one
    per chunk, from before batch keys) are left alone; ``batch-`` sorts before ``part-``, so
    pyarrow, which takes a dataset's schema from its first file, shows ``batch_key`` (empty
    for the old parts).
    """

    def __init__(self, directory: Path, run_tag: str = "run"):
        self.directory = directory
        self.run_tag = run_tag
        self.description = f"file sink {directory}"
        if directory.exists() and not directory.is_dir():
            raise SinkError(
                f"{self.description}: is a file; expected a directory of Parquet part files "
                "(a .parquet path names the directory)"
            )
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"{self.description}: cannot create the directory: {_first_line(exc)}") from exc
        self._lock = OutputLock(directory.parent / f".{directory.name}.lock", self.description)
        try:
            _remove_leftovers(directory, ".part-*.tmp")
        except BaseException:
            self._lock.release()
            raise
        tag = _safe_name(run_tag)
        self._stage_path = directory / f".part-{tag}.rows.tmp"
        self._new_path = directory / f".part-{tag}.tmp"
        self._pending = f"pending-{uuid.uuid4().hex}"
        self._stage: pq.ParquetWriter | None = None

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(
            frame.assign(**{BATCH_KEY: _constant(self._pending, len(frame))}), preserve_index=False
        )
        try:
            if self._stage is None:
                self._stage = pq.ParquetWriter(self._stage_path, table.schema)
            elif not table.schema.equals(self._stage.schema):
                table = self._as_first_chunk(table)
            self._stage.write_table(table)
        except OSError as exc:
            raise SinkError(
                f"{self.description}: cannot write {self._stage_path}: {_first_line(exc)}"
            ) from exc
        self.rows_written += len(frame)

    def _as_first_chunk(self, table: pa.Table) -> pa.Table:
        try:
            return table.cast(self._stage.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
            raise SinkError(
                f"{self.description}: a chunk's column types {table.schema.types} differ from the first "
                f"chunk's {self._stage.schema.types}: {_first_line(exc)}; expected one type per column"
            ) from exc

    def part_path(self, batch_key: str) -> Path:
        """Where the part file of ``batch_key`` is."""
        return self.directory / f"batch-{_safe_name(batch_key)}.parquet"

    def _final_path(self, key: str) -> Path:
        return self.part_path(key)

    def _write_new_file(self, key: str) -> None:
        with pq.ParquetFile(self._stage_path) as staged:
            schema = staged.schema_arrow
            position = schema.get_field_index(BATCH_KEY)
            field = schema.field(position)
            with pq.ParquetWriter(self._new_path, schema) as writer:
                for group in range(staged.num_row_groups):
                    table = staged.read_row_group(group)
                    column = pa.array(_constant(key, len(table)), type=field.type)
                    writer.write_table(table.set_column(position, field, column))
        fsync_file(self._new_path)


def _constant(value: str, rows: int) -> pd.Categorical:
    """``value`` on every row, as a categorical (a dictionary in Parquet)."""
    return pd.Categorical.from_codes(np.zeros(rows, np.int8), [value])


class ParquetPartsSink(Sink):
    """Each frame becomes a new file ``<directory>/<prefix>-<n>.parquet`` (n = 00000, 00001, ...).

    For the artifact store's copy of a run's predictions (a directory of its own per run,
    through :class:`Files`, which may be an object store without rename): no batch key, no lock.
    """

    def __init__(self, directory: str, prefix: str, files: Files, label: str = "parquet sink"):
        self.directory = directory.rstrip("/")
        self.prefix = prefix
        self.files = files
        self.description = f"{label} {self.directory}"
        self.parts: list[str] = []
        if files.exists(self.directory) and not files.isdir(self.directory):
            raise SinkError(
                f"{self.description}: is a file; expected a directory of Parquet part files "
                "(a .parquet path names the directory)"
            )
        try:
            files.makedirs(self.directory)
        except OSError as exc:
            raise SinkError(f"{self.description}: cannot create the directory: {_first_line(exc)}") from exc

    def write(self, frame: pd.DataFrame) -> None:
        path = f"{self.directory}/{self.prefix}-{len(self.parts):05d}.parquet"
        if self.files.exists(path):
            raise SinkError(f"{self.description}: {path} exists already; expected a new part file name")
        table = pa.Table.from_pandas(frame, preserve_index=False)
        try:
            with self.files.open(path, "wb") as handle:
                pq.write_table(table, handle)
        except OSError as exc:
            raise SinkError(f"{self.description}: cannot write {path}: {_first_line(exc)}") from exc
        self.parts.append(path)
        self.rows_written += len(frame)

    def abort(self) -> None:
        self.finished = True
        for path in self.parts:
            if self.files.exists(path):
                self.files.remove(path)
        self.parts = []


# --------------------------------------------------------------------------- sql


class SqlTableSink(Sink):
    """A table (created from the first frame's columns when missing), written in one transaction.

    The transaction begins when the sink opens, with an advisory lock on the table; rows are
    inserted with a provisional batch key; the commit deletes the rows of the committed key,
    gives the run's rows that key and commits. A table created here gets an index on
    ``batch_key``; a table written before batch keys gets the column (its old rows: NULL).
    """

    def __init__(self, config: SqlSink, secrets: Mapping[str, str], run_tag: str = "run"):
        try:
            url, masked, self._secrets = resolve_sql_url(config, secrets, label="sql sink")
        except DataSourceError as exc:
            raise SinkError(str(exc)) from None
        self.schema, _, self.table = config.table.rpartition(".")
        self.run_tag = run_tag
        self.description = f"sql sink table {config.table!r} at {masked}"
        self._pending = f"pending-{uuid.uuid4().hex}"
        self._table = sa.table(self.table, sa.column(BATCH_KEY), schema=self.schema or None)
        self._ready = False
        self._named_lock: str | None = None
        self._engine = None
        self._connection = None
        self._transaction = None
        try:
            self._engine = sa.create_engine(url)
            self._connection = self._engine.connect()
            self._transaction = self._connection.begin()
            locked = self._lock()
        except (SQLAlchemyError, ImportError) as exc:
            self._close()
            raise self._error(exc) from exc
        if not locked:
            self._close()
            raise SinkError(
                f"{self.description}: another run is writing to this table (its advisory lock is held); "
                "expected one run at a time: wait for it to finish, then run again"
            )

    def _lock(self) -> bool:
        """Take the table's advisory lock without waiting; False if another session holds it."""
        dialect = self._connection.dialect.name
        if dialect == "postgresql":
            digest = hashlib.sha256(f"tabular_ml sink {self.schema}.{self.table}".encode()).digest()
            key = int.from_bytes(digest[:8], "big", signed=True)
            statement = sa.text("SELECT pg_try_advisory_xact_lock(:key)")
            return bool(self._connection.execute(statement, {"key": key}).scalar())
        if dialect in ("mysql", "mariadb"):  # GET_LOCK names are server-wide: the database is in it
            database = self._connection.execute(sa.text("SELECT DATABASE()")).scalar()
            name = f"{database}.{self.schema}.{self.table}"
            self._named_lock = "tabular_ml_sink:" + hashlib.sha1(name.encode()).hexdigest()
            statement = sa.text("SELECT GET_LOCK(:name, 0)")
            got = self._connection.execute(statement, {"name": self._named_lock}).scalar() == 1
            if not got:
                self._named_lock = None
            return got
        return True  # SQLite: one transaction writes at a time; others: the transaction alone

    def _error(self, exc: BaseException) -> SinkError:
        cause = _first_line(exc.orig if isinstance(exc, DBAPIError) else exc)
        for secret in self._secrets:
            cause = cause.replace(secret, "***")
        return SinkError(f"{self.description}: {type(exc).__name__}: {cause}")

    def write(self, frame: pd.DataFrame) -> None:
        rows = frame.assign(**{BATCH_KEY: self._pending})
        try:
            if not self._ready:
                self._prepare_table(rows)
                self._ready = True
            rows.to_sql(
                self.table,
                self._connection,
                schema=self.schema or None,
                if_exists="append",
                index=False,
                chunksize=10_000,
            )
        except (SQLAlchemyError, ValueError) as exc:
            raise self._error(exc) from exc
        self.rows_written += len(frame)

    def _prepare_table(self, rows: pd.DataFrame) -> None:
        """Create the table (no rows yet: MySQL commits on DDL) or add ``batch_key`` to an old one."""
        inspector = sa.inspect(self._connection)
        schema = self.schema or None
        if not inspector.has_table(self.table, schema=schema):
            dtype = {BATCH_KEY: sa.String(_SQL_KEY_LENGTH)}
            create = pd.io.sql.get_schema(rows, self.table, con=self._connection, dtype=dtype, schema=schema)
            self._connection.exec_driver_sql(create)
        else:
            present = {column["name"] for column in inspector.get_columns(self.table, schema=schema)}
            if BATCH_KEY in present or not set(rows.columns) - {BATCH_KEY} <= present:
                return  # current, or another table: the insert says what is wrong
            preparer = self._connection.dialect.identifier_preparer
            column = sa.Column(BATCH_KEY, sa.String(_SQL_KEY_LENGTH))
            self._connection.exec_driver_sql(
                f"ALTER TABLE {preparer.format_table(self._table)} ADD COLUMN "
                f"{preparer.format_column(column)} {column.type.compile(self._connection.dialect)}"
            )
        index = sa.Index(
            f"ix_{self.table}_{BATCH_KEY}"[:60],
            sa.Table(self.table, sa.MetaData(), autoload_with=self._connection, schema=schema).c[BATCH_KEY],
        )
        index.create(self._connection)

    def commit(self, batch_key: str | None = None) -> None:
        if self.finished:
            return
        key = batch_key or self.run_tag
        try:
            if self.rows_written:
                column = self._table.c[BATCH_KEY]
                self._connection.execute(sa.delete(self._table).where(column == key))
                self._connection.execute(
                    sa.update(self._table).where(column == self._pending).values({BATCH_KEY: key})
                )
            self._transaction.commit()
        except SQLAlchemyError as exc:
            raise self._error(exc) from exc
        finally:
            self.finished = True
            self._close()

    def abort(self) -> None:
        if self.finished:
            return
        self.finished = True
        try:
            if self._transaction is not None and self._transaction.is_active:
                self._transaction.rollback()
        finally:
            self._close()

    def _close(self) -> None:
        if self._connection is not None:
            if self._named_lock is not None:
                try:
                    self._connection.execute(
                        sa.text("SELECT RELEASE_LOCK(:name)"), {"name": self._named_lock}
                    )
                except SQLAlchemyError:  # gone with the session anyway
                    pass
                self._named_lock = None
            self._connection.close()
            self._connection = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]

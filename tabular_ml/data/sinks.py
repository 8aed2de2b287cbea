"""Where batch predictions go: a CSV file, a directory of Parquet part files, a SQL table.

Every sink appends and never overwrites what earlier runs wrote, and a run that fails leaves
a sink as it found it (:meth:`Sink.abort`): a CSV file is cut back to its old length, the
Parquet parts of the run are removed, the SQL transaction (one per run) is rolled back.

Use a sink as a context manager: ``commit`` on success, ``abort`` on an exception::

    with open_sink(config, run_tag="run-1") as sink:
        for frame in frames:
            sink.write(frame)

Every failure raises :class:`SinkError` with one line naming the sink and what went wrong;
passwords never appear in it.
"""

from __future__ import annotations

import builtins
import csv
import gzip
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from tabular_ml.configuration.schema import FileSink, SinkConfig, SqlSink
from tabular_ml.data.sources import DataSourceError, resolve_sql_url

logger = logging.getLogger(__name__)


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

    def write(self, frame: pd.DataFrame) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        """Make the run's rows final (default: they already are)."""

    def abort(self) -> None:
        """Undo this run's writes, leaving the sink as the run found it."""

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.commit()
            return
        try:
            self.abort()
        except Exception as error:  # the original failure is the one to report
            logger.warning("%s: could not undo this run's writes: %s", self.description, error)


def open_sink(config: SinkConfig, run_tag: str, secrets: Mapping[str, str] | None = None) -> Sink:
    """The sink a config describes, ready to write.

    Args:
        config: A ``FileSink`` (CSV file, or a Parquet directory) or a ``SqlSink``.
        run_tag: Names this run's Parquet part files (``part-<run_tag>-<n>.parquet``).
        secrets: Resolved secret values for a SQL sink (``url`` and/or ``password``).

    Raises:
        SinkError: The sink cannot be opened (a bad path, an unreachable database...).
    """
    if isinstance(config, FileSink):
        if config.file_format == "csv":
            return CsvSink(Path(config.path))
        return ParquetPartsSink(config.path, f"part-{run_tag}", LocalFiles(), label="file sink")
    if isinstance(config, SqlSink):
        return SqlTableSink(config, secrets or {})
    raise SinkError(f"unknown sink {type(config).__name__}: expected a file or sql sink")


# --------------------------------------------------------------------------- csv


class CsvSink(Sink):
    """Appends to one CSV file (gzip for ``.gz``); the header is written only into a new file."""

    def __init__(self, path: Path):
        self.path = path
        self.description = f"file sink {path}"
        if path.is_dir():
            raise SinkError(f"{self.description}: is a directory; expected a CSV file path to append to")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"{self.description}: cannot create its folder: {_first_line(exc)}") from exc
        self.original_size = path.stat().st_size if path.exists() else None
        self.header = self._existing_header()
        self._handle: IO[str] | None = None

    def _open(self, mode: str) -> IO[str]:
        if self.path.name.lower().endswith(".gz"):
            return gzip.open(self.path, mode + "t", newline="", encoding="utf-8")
        return builtins.open(self.path, mode, newline="", encoding="utf-8")

    def _existing_header(self) -> list[str] | None:
        if not self.original_size:
            return None
        try:
            with self._open("r") as handle:
                line = handle.readline().rstrip("\r\n")
        except (OSError, UnicodeDecodeError, EOFError) as exc:
            raise SinkError(f"{self.description}: cannot read its header: {_first_line(exc)}") from exc
        return next(csv.reader([line]), [])

    def write(self, frame: pd.DataFrame) -> None:
        columns = [str(name) for name in frame.columns]
        frame = _timestamps_as_text(frame)
        if self._handle is None:
            if self.header is not None and self.header != columns:
                raise SinkError(
                    f"{self.description}: its header {self.header} differs from the predictions' columns "
                    f"{columns}; expected a new file or one this pipeline wrote with the same key column"
                )
            try:
                self._handle = self._open("a")
            except OSError as exc:
                raise SinkError(
                    f"{self.description}: cannot open it for appending: {_first_line(exc)}"
                ) from exc
        frame.to_csv(self._handle, header=self.header is None and self.rows_written == 0, index=False)
        self.rows_written += len(frame)

    def commit(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self.original_size is None:
            self.path.unlink(missing_ok=True)
        elif self.path.exists():
            os.truncate(self.path, self.original_size)


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


class ParquetPartsSink(Sink):
    """Each frame becomes a new file ``<directory>/<prefix>-<n>.parquet`` (n = 00000, 00001, ...)."""

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
        for path in self.parts:
            if self.files.exists(path):
                self.files.remove(path)
        self.parts = []


# --------------------------------------------------------------------------- sql


class SqlTableSink(Sink):
    """Appends to a table (created from the first frame's columns when missing), in one transaction."""

    def __init__(self, config: SqlSink, secrets: Mapping[str, str]):
        try:
            url, masked, self._secrets = resolve_sql_url(config, secrets, label="sql sink")
        except DataSourceError as exc:
            raise SinkError(str(exc)) from None
        self.schema, _, self.table = config.table.rpartition(".")
        self.description = f"sql sink table {config.table!r} at {masked}"
        self._engine = None
        self._connection = None
        self._transaction = None
        try:
            self._engine = sa.create_engine(url)
            self._connection = self._engine.connect()
            self._transaction = self._connection.begin()
        except (SQLAlchemyError, ImportError) as exc:
            self._close()
            raise self._error(exc) from exc

    def _error(self, exc: BaseException) -> SinkError:
        cause = _first_line(exc.orig if isinstance(exc, DBAPIError) else exc)
        for secret in self._secrets:
            cause = cause.replace(secret, "***")
        return SinkError(f"{self.description}: {type(exc).__name__}: {cause}")

    def write(self, frame: pd.DataFrame) -> None:
        try:
            frame.to_sql(
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

    def commit(self) -> None:
        try:
            self._transaction.commit()
        except SQLAlchemyError as exc:
            raise self._error(exc) from exc
        finally:
            self._close()

    def abort(self) -> None:
        try:
            if self._transaction is not None and self._transaction.is_active:
                self._transaction.rollback()
        finally:
            self._close()

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]

"""Load a tabular data set from a file, a SQL database or an HTTP API.

``load_data`` is the single entry point. Whatever the source, the result goes
through one normalisation (:func:`_normalise`), so the same data gives the same
DataFrame from a CSV file, a Parquet file, a SQL table or a JSON API.

Every failure raises :class:`DataSourceError` with one line naming the source,
what went wrong and what was expected; passwords and tokens never appear in it, nor in a log
line: a SQL URL is shown with its password and credential-like query values masked
(:mod:`tabular_ml.configuration.redaction`), an API URL without its user info and query.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import requests
import sqlalchemy as sa
from pandas.api.types import union_categoricals
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from tabular_ml.configuration.redaction import credential_values, mask_text, mask_values
from tabular_ml.configuration.schema import ApiSource, FileSource, SourceConfig, SqlSink, SqlSource
from tabular_ml.data.bounded_http import (
    Deadline,
    DeadlineExceeded,
    ResponseTooLarge,
    bounded_request,
    bounded_session,
    read_body,
)

logger = logging.getLogger(__name__)

_CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")


class DataSourceError(ValueError):
    """A data source could not be read; the message says which, why and what was expected."""


def load_data(source: SourceConfig, secrets: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Load one data set described by a source config.

    Args:
        source: A ``FileSource``, ``SqlSource`` or ``ApiSource``.
        secrets: Resolved secret values for a SQL source (keys ``url`` and/or
            ``password``); they take precedence over the config and the environment.

    Returns:
        The data with a fresh RangeIndex, missing values as NaN and dtypes inferred
        the same way for every source type.

    Raises:
        DataSourceError: The source cannot be read or does not hold a table of records.
    """
    started = time.perf_counter()
    if isinstance(source, FileSource):
        frame, description = _load_file(source)
    elif isinstance(source, SqlSource):
        frame, description = _load_sql(source, secrets or {})
    elif isinstance(source, ApiSource):
        frame, description = _load_api(source)
    else:
        raise DataSourceError(f"unknown source {type(source).__name__}: expected a file, sql or api source")
    duplicated = sorted(set(frame.columns[frame.columns.duplicated()].map(str)))
    if duplicated:
        raise DataSourceError(
            f"{description}: duplicate column names {duplicated}; "
            "expected unique names (alias them in a query)"
        )
    frame = _normalise(frame)
    text_as_categories(frame)
    elapsed = time.perf_counter() - started
    logger.info(
        "Loaded %d rows x %d columns from %s in %.1fs (%.0f rows/s)",
        len(frame),
        frame.shape[1],
        description,
        elapsed,
        len(frame) / max(elapsed, 1e-9),
    )
    return frame


def _normalise(frame: pd.DataFrame, none_possible: bool = True) -> pd.DataFrame:
    """Make frames from different sources identical for identical data.

    SQL drivers and JSON give ``None`` for missing values in text columns where
    CSV and Parquet give NaN, and a column that is entirely NULL comes back as
    ``object`` instead of ``float64``. Integer columns holding NULLs stay float,
    as pandas reads them from every source. ``none_possible=False`` (chunks read from files,
    whose readers give NaN) skips looking for ``None``: a pass over every text value.
    """
    if not frame.index.equals(pd.RangeIndex(len(frame))):
        frame.index = pd.RangeIndex(len(frame))  # in place: reset_index would copy every column
    if none_possible:
        _missing_as_nan(frame, frame.select_dtypes(include="object").columns)
    return frame.infer_objects(copy=False)  # only object columns can change


def text_as_categories(frame: pd.DataFrame) -> None:
    """Text columns (every value a string or missing) become pandas categoricals, in place.

    A categorical holds each distinct value once and a small integer code per row, where an
    object column holds a Python string per row (about 50 bytes and more): the table of a
    million rows of Telco's 20 columns takes 87 MiB instead of 665 MiB. The values are the same
    (``astype(object)`` gives the text column back). Columns mixing numbers and text stay as
    they are, for cleaning to coerce.
    """
    for name in frame.select_dtypes(include="object").columns:
        if pd.api.types.infer_dtype(frame[name], skipna=True) == "string":
            frame[name] = frame[name].astype("category")


def concatenate_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames one after another; a column categorical in every frame stays categorical (the union
    of their categories), where ``pd.concat`` would make it an object column."""
    if len(frames) == 1:
        return frames[0]
    whole = pd.concat(frames, ignore_index=True)
    for name in whole.columns:
        parts = [frame[name] for frame in frames if name in frame.columns]
        if len(parts) == len(frames) and all(isinstance(part.dtype, pd.CategoricalDtype) for part in parts):
            whole[name] = union_categoricals(parts, ignore_order=True)
    return whole


def _missing_as_nan(frame: pd.DataFrame, columns) -> None:
    """Missing values of these object columns (None, pd.NA, NaT) become NaN, in place."""
    for column in columns:
        values = frame[column].to_numpy(dtype=object)
        missing = pd.isna(values)
        if missing.any():  # only then copied: batch scoring normalises millions of rows
            values = values.copy()
            values[missing] = np.nan
            frame[column] = values


# --------------------------------------------------------------------------- file


def _load_file(source: FileSource) -> tuple[pd.DataFrame, str]:
    """Read one file or every file matching a glob, concatenated in sorted order."""
    paths, description = _matching_files(source)
    return concatenate_frames([_read_file(Path(path), source.format) for path in paths]), description


def _matching_files(source: FileSource) -> tuple[list[str], str]:
    """The files a path or glob names, sorted, and how to name them in messages."""
    paths = sorted(glob.glob(source.path))
    if not paths:
        where = "" if os.path.isabs(source.path) else f" (relative to {os.getcwd()})"
        raise DataSourceError(
            f"file source: no file matches {source.path!r}{where}; "
            "expected an existing path or a glob matching at least one file"
        )
    return paths, paths[0] if len(paths) == 1 else f"{len(paths)} files matching {source.path}"


def _file_format(path: Path, file_format: str) -> str:
    if file_format != "auto":
        return file_format
    name = path.name.lower()
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    raise DataSourceError(
        f"file source {path}: cannot tell the format from the suffix; expected one of "
        f"{', '.join(_CSV_SUFFIXES + _PARQUET_SUFFIXES)} or an explicit format: csv|parquet"
    )


def _csv_separator(path: Path) -> str:
    return "\t" if path.name.lower().endswith((".tsv", ".tsv.gz")) else ","


def _unreadable(path: Path | str, file_format: str, exc: Exception) -> DataSourceError:
    return DataSourceError(f"file source {path}: cannot read it as {file_format}: {_first_line(exc)}")


def _read_file(path: Path, file_format: str) -> pd.DataFrame:
    file_format = _file_format(path, file_format)
    try:
        if file_format == "parquet":
            return pq.read_table(path, read_dictionary=_parquet_text_columns(path)).to_pandas()
        return _read_csv_text_as_categories(path)
    except Exception as exc:  # any reader failure becomes one clear line
        raise _unreadable(path, file_format, exc) from exc


#: Rows of a CSV file read first to tell its text columns from its numbers.
CSV_SAMPLE_ROWS = 10_000


def _read_csv_text_as_categories(path: Path) -> pd.DataFrame:
    """A CSV file with its text columns parsed straight into categoricals.

    The text columns are those of the first :data:`CSV_SAMPLE_ROWS` rows that pandas reads as
    text (a column with text there is text in the whole file); a text column that starts with
    numbers is read as pandas reads it (:func:`text_as_categories` converts it afterwards).
    The parser then never holds a Python string per cell: on a million rows x 21 columns the
    read peaks at about half the memory of a plain ``read_csv``.
    """
    separator = _csv_separator(path)
    sample = pd.read_csv(path, sep=separator, nrows=CSV_SAMPLE_ROWS)
    text = {name: "category" for name in sample.columns if sample[name].dtype == object}
    return pd.read_csv(path, sep=separator, dtype=text or None)


def _parquet_text_columns(path: Path) -> list[str]:
    """The string columns of a Parquet file: read as dictionaries, they become categoricals."""
    return [
        field.name
        for field in pq.read_schema(path)
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
    ]


# --------------------------------------------------------------------------- sql


def _load_sql(source: SqlSource, secrets: Mapping[str, str]) -> tuple[pd.DataFrame, str]:
    """Run the query, or select the whole table, behind a SQLAlchemy URL.

    A table has no row order: give a ``query`` with ``ORDER BY`` when the order matters.
    """
    url, masked, secret_values = resolve_sql_url(source, secrets)
    what = f"query {source.query!r}" if source.query is not None else f"table {source.table!r}"
    description = f"{what} at {masked}"
    with _sql_connection(url, description, secret_values) as connection:
        frame = pd.read_sql(_sql_statement(connection, source, masked), connection)
    return frame, description


@contextmanager
def _sql_connection(url: URL, description: str, secret_values: list[str]) -> Iterator[sa.Connection]:
    """A connection of an engine of its own, disposed after; a driver's error becomes one line."""
    engine = None
    try:
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            yield connection
    except DataSourceError:
        raise
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise _sql_error(exc, description, secret_values) from exc
    finally:
        if engine is not None:
            engine.dispose()


def resolve_sql_url(
    config: SqlSource | SqlSink, secrets: Mapping[str, str], label: str = "sql source"
) -> tuple[URL, str, list[str]]:
    """The SQLAlchemy URL of a SQL source or sink with its password, the URL masked, the secrets.

    The URL and password come from the secret, else the environment, else the config. The
    masked URL hides the password of the user part and the credential-like query values
    (``?password=``, ``sslpassword``, ``token``...); the returned secret values are what a
    message must never show.
    """
    raw_url, password = _sql_url_and_password(config, secrets, label)
    try:
        url = make_url(raw_url)
    except ArgumentError as exc:
        # shown only when it comes from the config (checked to hold no credential): one from the
        # environment or a secret may hold a password where no URL syntax says so
        given = f" {mask_text(raw_url)!r}" if raw_url == config.url else ""
        raise DataSourceError(
            f"{label}{given}: not a valid SQLAlchemy URL "
            f"(expected dialect+driver://user@host:port/database): {mask_values(_first_line(exc), [raw_url])}"
        ) from exc
    if password is not None:
        url = url.set(password=password)
    with_password = url.render_as_string(hide_password=False)
    secret_values = [password, url.password, *credential_values(raw_url), *credential_values(with_password)]
    masked = mask_text(url.render_as_string(hide_password=True))
    return url, masked, list(dict.fromkeys(value for value in secret_values if value))


def _sql_statement(connection: sa.Connection, source: SqlSource, masked_url: str):
    """The configured query, or a SELECT of the configured table (checked to exist)."""
    if source.query is not None:
        return sa.text(source.query)
    return _select_table(connection, source.table, masked_url)


def _sql_error(exc: Exception, description: str, secret_values) -> DataSourceError:
    """One line naming the source and the database's own first line, with secrets masked."""
    cause = mask_values(_first_line(exc.orig if isinstance(exc, DBAPIError) else exc), secret_values)
    return DataSourceError(f"sql source {description}: {type(exc).__name__}: {cause}")


def _sql_url_and_password(
    source: SqlSource | SqlSink, secrets: Mapping[str, str], label: str = "sql source"
) -> tuple[str, str | None]:
    """The URL and password, each from the secret, else the environment, else the config."""
    if secrets.get("url"):
        url = secrets["url"]
    elif source.url_env:
        url = _env(source.url_env, label, "the database URL")
    elif source.url:
        url = source.url
    else:
        raise DataSourceError(
            f"{label}: secret {source.secret!r} holds no 'url' and the config has no url or url_env; "
            "expected one of them"
        )
    if secrets.get("password"):
        return url, secrets["password"]
    if source.password_env:
        return url, _env(source.password_env, label, "the database password")
    return url, None


def _select_table(connection: sa.Connection, table: str, masked_url: str) -> sa.Select:
    """``SELECT *`` from ``table`` or ``schema.table``, quoted by the dialect."""
    schema, _, name = table.rpartition(".")
    if not sa.inspect(connection).has_table(name, schema=schema or None):
        raise DataSourceError(
            f"sql source at {masked_url}: table {table!r} not found; expected an existing table "
            "(or schema.table) the user can read"
        )
    return sa.select(sa.literal_column("*")).select_from(sa.table(name, schema=schema or None))


# --------------------------------------------------------------------------- api


def _load_api(source: ApiSource) -> tuple[pd.DataFrame, str]:
    """GET JSON records, page by page when the source is paginated."""
    safe_url, headers = _api_request(source)
    if source.pagination is None:
        records = _get_records(source, dict(source.params), headers, safe_url)
        return pd.DataFrame.from_records(records), safe_url

    records: list[dict[str, Any]] = []
    pages = 0
    for page_records in _api_pages(source, headers, safe_url):
        records.extend(page_records)
        pages += 1
    # One frame from all records: concatenating per-page frames would turn a column
    # that is null on one page into object dtype.
    return pd.DataFrame.from_records(records), f"{safe_url} ({pages} pages)"


def _api_pages(source: ApiSource, headers: dict[str, str], safe_url: str) -> Iterator[list[dict[str, Any]]]:
    """The records of each page of a paginated source, until a short or empty page."""
    paging = source.pagination
    fetched = 0
    for page in range(paging.first_page, paging.first_page + paging.max_pages):
        params = {**source.params, paging.page_param: page, paging.size_param: paging.page_size}
        page_records = _get_records(source, params, headers, f"{safe_url} (page {page})")
        fetched += len(page_records)
        logger.info("Fetched page %d of %s: %d rows (%d so far)", page, safe_url, len(page_records), fetched)
        yield page_records
        if len(page_records) < paging.page_size:
            return
    logger.warning("Stopped %s at max_pages=%d; the data may be incomplete", safe_url, paging.max_pages)


def _api_request(source: ApiSource) -> tuple[str, dict[str, str]]:
    """The URL safe to show in messages and the request headers (with the token, if any)."""
    safe_url = _safe_http_url(source.url)
    headers = {"Accept": "application/json"}
    if source.token_env:
        headers["Authorization"] = f"Bearer {_env(source.token_env, f'api source {safe_url}', 'a token')}"
    return safe_url, headers


def _get_records(
    source: ApiSource, params: dict[str, Any], headers: dict[str, str], where: str
) -> list[dict[str, Any]]:
    """One GET and its records: retried on connection errors, timeouts, 429 and 5xx, the whole
    of it (attempts, waits, the body read in chunks up to max_response_bytes) within deadline_s."""
    label = f"api source {where}"
    secrets = credential_values(headers)  # a token an HTTP library's error might quote
    deadline = Deadline(source.deadline_s)
    with bounded_session() as session:
        for attempt in range(source.retries + 1):
            try:
                with bounded_request(
                    session,
                    "GET",
                    source.url,
                    deadline=deadline,
                    timeout_s=source.timeout_s,
                    params=params,
                    headers=headers,
                ) as response:
                    status, reason = response.status_code, response.reason
                    if status < 400:
                        body = read_body(response, deadline, source.max_response_bytes)
                        return _records_from(body, source.records_key, label)
            except DeadlineExceeded as exc:
                raise _past_deadline(label, source, attempt + 1) from exc
            except ResponseTooLarge as exc:
                raise DataSourceError(
                    f"{label}: {exc} (max_response_bytes); expected a smaller answer (paginate it)"
                ) from exc
            except requests.Timeout as exc:
                problem, cause = f"no response within timeout_s={source.timeout_s}s", exc
            except requests.ConnectionError as exc:
                problem, cause = f"cannot connect: {_request_error(exc, secrets)}", exc
            except requests.RequestException as exc:
                raise DataSourceError(f"{label}: invalid request: {_request_error(exc, secrets)}") from exc
            else:
                if status != 429 and status < 500:
                    raise DataSourceError(f"{label}: HTTP {status} {reason}; expected 200 (not retried)")
                problem, cause = f"HTTP {status} {reason}", None
            if attempt < source.retries:
                delay = source.backoff_s * 2**attempt
                logger.warning(
                    "%s: %s; retry %d/%d in %.2fs", label, problem, attempt + 1, source.retries, delay
                )
                deadline.sleep(delay)
                if deadline.expired:
                    raise _past_deadline(label, source, attempt + 1) from cause
    raise DataSourceError(f"{label}: {problem} after {source.retries + 1} attempts") from cause


def _past_deadline(label: str, source: ApiSource, attempts: int) -> DataSourceError:
    return DataSourceError(
        f"{label}: no complete response within deadline_s={source.deadline_s:g}s "
        f"({attempts} attempt(s)); expected a faster or smaller answer"
    )


def _records_from(body: bytes, records_key: str | None, label: str) -> list[dict[str, Any]]:
    try:
        records = json.loads(body)
    except ValueError as exc:
        raise DataSourceError(f"{label}: the response is not valid JSON: {_first_line(exc)}") from exc
    if records_key is not None:
        if not isinstance(records, dict) or records_key not in records:
            found = f"keys {sorted(records)}" if isinstance(records, dict) else type(records).__name__
            raise DataSourceError(f"{label}: expected a JSON object with key {records_key!r}, got {found}")
        records = records[records_key]
    if not isinstance(records, list):
        hint = " (set records_key)" if isinstance(records, dict) and records_key is None else ""
        raise DataSourceError(f"{label}: expected a JSON list of records{hint}, got {type(records).__name__}")
    not_records = [type(record).__name__ for record in records if not isinstance(record, dict)]
    if not_records:
        raise DataSourceError(
            f"{label}: expected a list of JSON objects, got a list holding {not_records[0]}"
        )
    return records


def _safe_http_url(url: str) -> str:
    """The URL without user info or query string, which may carry credentials."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _request_error(exc: BaseException, secrets: list[str]) -> str:
    """The first line of a requests error without its URLs (their query strings) or secrets."""
    text = re.sub(r"\b[a-zA-Z][\w+.-]*://[^\s'\"]+", "<url>", _first_line(exc))
    return mask_values(re.sub(r"\s*with url: \S+", "", text), secrets)


# --------------------------------------------------------------------------- chunks


def iter_chunks(
    source: SourceConfig, chunk_rows: int, secrets: Mapping[str, str] | None = None
) -> Iterator[pd.DataFrame]:
    """Read a source ``chunk_rows`` rows at a time, each chunk normalised as by :func:`load_data`.

    Memory stays bounded by the chunk size: CSV is read with pandas' ``chunksize``, Parquet
    batch by batch (pyarrow ``iter_batches``), SQL through a server-side cursor
    (``stream_results``) ``chunk_rows`` rows at a time, and API records (a page or a whole
    unpaginated answer) are cut into chunks. Chunks come in the source's order with at most
    ``chunk_rows`` rows each (one may end early at a file boundary), each with a fresh
    RangeIndex; empty chunks are skipped.

    Args:
        source: A ``FileSource``, ``SqlSource`` or ``ApiSource``.
        chunk_rows: The most rows of one chunk (>= 1).
        secrets: As for :func:`load_data`.

    Yields:
        One DataFrame per chunk.

    Raises:
        DataSourceError: The source cannot be read (raised when the chunk is reached).
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    if isinstance(source, FileSource):
        chunks, description = _file_chunks(source, chunk_rows)
    elif isinstance(source, SqlSource):
        chunks, description = _sql_chunks(source, secrets or {}, chunk_rows)
    elif isinstance(source, ApiSource):
        chunks, description = _api_chunks(source, chunk_rows)
    else:
        raise DataSourceError(f"unknown source {type(source).__name__}: expected a file, sql or api source")
    logger.info("Reading %s in chunks of at most %d rows", description, chunk_rows)
    yield from checked_chunks(chunks, description, none_possible=not isinstance(source, FileSource))


def checked_chunks(
    chunks: Iterator[pd.DataFrame], description: str, none_possible: bool = True
) -> Iterator[pd.DataFrame]:
    """Raw chunks of a source checked (unique column names), normalised and counted in the log.

    Empty chunks are skipped; ``none_possible`` as for :func:`_normalise`.
    """
    started, rows, count = time.perf_counter(), 0, 0
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        duplicated = sorted(set(chunk.columns[chunk.columns.duplicated()].map(str)))
        if duplicated:
            raise DataSourceError(
                f"{description}: duplicate column names {duplicated}; "
                "expected unique names (alias them in a query)"
            )
        rows, count = rows + len(chunk), count + 1
        yield _normalise(chunk, none_possible=none_possible)
    # the time includes the consumer's work between chunks: the rate is the whole stage's
    elapsed = time.perf_counter() - started
    logger.info(
        "Read %d rows in %d chunks from %s in %.1fs (%.0f rows/s)",
        rows,
        count,
        description,
        elapsed,
        rows / max(elapsed, 1e-9),
    )


def _file_chunks(source: FileSource, chunk_rows: int) -> tuple[Iterator[pd.DataFrame], str]:
    paths, description = _matching_files(source)

    def chunks() -> Iterator[pd.DataFrame]:
        for path in paths:
            yield from _read_file_chunks(Path(path), source.format, chunk_rows)

    return chunks(), description


def _read_file_chunks(
    path: Path, file_format: str, chunk_rows: int, start: int = 0, stop: int | None = None
) -> Iterator[pd.DataFrame]:
    """The file's rows ``start`` to ``stop`` (exclusive; None: to the end) in chunks."""
    file_format = _file_format(path, file_format)
    try:
        if file_format == "parquet":
            yield from _parquet_chunks(path, chunk_rows, start, stop)
        else:
            # the lines before ``start`` are skipped by the parser, never turned into values
            with pd.read_csv(
                path,
                sep=_csv_separator(path),
                chunksize=chunk_rows,
                skiprows=range(1, start + 1) if start else None,
                nrows=None if stop is None else stop - start,
            ) as reader:
                yield from reader
    except Exception as exc:  # any reader failure becomes one clear line
        raise _unreadable(path, file_format, exc) from exc


def _parquet_chunks(
    path: Path, chunk_rows: int, start: int = 0, stop: int | None = None
) -> Iterator[pd.DataFrame]:
    """Batches of a Parquet file's rows ``start`` to ``stop``, missing values NaN in every column.

    Only the row groups holding those rows are read. Text columns are read as dictionaries
    (Parquet usually stores them so), then expanded: each distinct value becomes a Python
    string once per batch instead of once per row.
    """
    text = _parquet_text_columns(path)
    with pq.ParquetFile(path, read_dictionary=text) as parquet:
        stop = parquet.metadata.num_rows if stop is None else stop
        groups, position, first = [], 0, None
        for group in range(parquet.num_row_groups):
            rows = parquet.metadata.row_group(group).num_rows
            if position < stop and position + rows > start:
                groups.append(group)
                first = position if first is None else first
            position += rows
        if not groups:
            return
        skip, left = start - first, stop - start  # rows of the first group before ours; ours to go
        for whole in parquet.iter_batches(batch_size=chunk_rows, row_groups=groups):
            batch = whole.slice(min(skip, whole.num_rows), left)
            skip = max(skip - whole.num_rows, 0)
            if not batch.num_rows:
                continue
            left -= batch.num_rows
            frame = batch.to_pandas()
            for name in text:
                frame[name] = np.asarray(frame[name], dtype=object)  # a missing value becomes NaN
            others = frame.select_dtypes(include="object").columns.difference(text)
            _missing_as_nan(frame, others)  # e.g. decimals or times, where pyarrow gives None
            yield frame
            if not left:
                return


def _sql_chunks(
    source: SqlSource, secrets: Mapping[str, str], chunk_rows: int, rows: tuple[int, int] | None = None
) -> tuple[Iterator[pd.DataFrame], str]:
    """The query's (or table's) rows in chunks; ``rows``: only ``(offset, count)`` of the query's
    ordered rows (``LIMIT count OFFSET offset`` appended to a query ending in ORDER BY)."""
    url, masked, secret_values = resolve_sql_url(source, secrets)
    what = f"query {source.query!r}" if source.query is not None else f"table {source.table!r}"
    description = f"{what} at {masked}"
    if rows is not None:
        description += f" (rows {rows[0]}-{rows[0] + rows[1] - 1})"

    def chunks() -> Iterator[pd.DataFrame]:
        with _sql_connection(url, description, secret_values) as connection:
            connection.execution_options(stream_results=True)  # a server-side cursor
            if rows is None:
                statement = _sql_statement(connection, source, masked)
            else:  # whole numbers formatted into the text: nothing to inject
                statement = sa.text(f"{_bare_query(source)} LIMIT {int(rows[1])} OFFSET {int(rows[0])}")
            yield from pd.read_sql(statement, connection, chunksize=chunk_rows)

    return chunks(), description


def _bare_query(source: SqlSource) -> str:
    """The configured query without trailing blanks and semicolons (to append a clause to)."""
    if source.query is None:
        raise DataSourceError(f"sql source table {source.table!r}: row ranges need a query with ORDER BY")
    return source.query.strip().rstrip(";").rstrip()


def sql_row_count(source: SqlSource, secrets: Mapping[str, str] | None = None) -> int:
    """How many rows the source's query gives (``SELECT COUNT(*)`` over it)."""
    url, masked, secret_values = resolve_sql_url(source, secrets or {})
    description = f"query {source.query!r} at {masked}"
    with _sql_connection(url, description, secret_values) as connection:
        counted = sa.text(f"SELECT COUNT(*) FROM ({_bare_query(source)}) AS counted_rows")
        return int(connection.execute(counted).scalar_one())


def file_row_counts(source: FileSource) -> list[tuple[str, int]]:
    """Each file the source names, in reading order, with its number of rows.

    Parquet: from the file's metadata. CSV: the file is parsed one column at a time, so that a
    quoted value spanning lines counts once.
    """
    paths, _ = _matching_files(source)
    counts = []
    for path in paths:
        file_format = _file_format(Path(path), source.format)
        try:
            if file_format == "parquet":
                rows = pq.ParquetFile(path).metadata.num_rows
            else:
                separator = _csv_separator(Path(path))
                with pd.read_csv(path, sep=separator, usecols=[0], chunksize=1 << 20) as reader:
                    rows = sum(len(chunk) for chunk in reader)
        except Exception as exc:  # any reader failure becomes one clear line
            raise _unreadable(path, file_format, exc) from exc
        counts.append((path, rows))
    return counts


def file_range_chunks(
    source: FileSource, files: list[tuple[str, int, int]], chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """Normalised chunks of the rows ``start`` to ``stop`` of each ``(path, start, stop)``, in order."""

    def chunks() -> Iterator[pd.DataFrame]:
        for path, start, stop in files:
            yield from _read_file_chunks(Path(path), source.format, chunk_rows, start, stop)

    described = ", ".join(f"{path} rows {start}-{stop - 1}" for path, start, stop in files)
    logger.info("Reading %s in chunks of at most %d rows", described, chunk_rows)
    return checked_chunks(chunks(), described, none_possible=False)


def sql_range_chunks(
    source: SqlSource, offset: int, count: int, chunk_rows: int, secrets: Mapping[str, str] | None = None
) -> Iterator[pd.DataFrame]:
    """Normalised chunks of ``count`` rows of the source's ordered query from ``offset`` on."""
    chunks, description = _sql_chunks(source, secrets or {}, chunk_rows, (offset, count))
    logger.info("Reading %s in chunks of at most %d rows", description, chunk_rows)
    return checked_chunks(chunks, description)


def _api_chunks(source: ApiSource, chunk_rows: int) -> tuple[Iterator[pd.DataFrame], str]:
    safe_url, headers = _api_request(source)

    def chunks() -> Iterator[pd.DataFrame]:
        if source.pagination is None:
            pages: Iterator[list[dict[str, Any]]] = iter(
                [_get_records(source, dict(source.params), headers, safe_url)]
            )
        else:
            pages = _api_pages(source, headers, safe_url)
        columns: dict[str, None] = {}
        buffer: list[dict[str, Any]] = []
        for page in pages:
            buffer.extend(page)
            while len(buffer) >= chunk_rows:
                yield _records_frame(buffer[:chunk_rows], columns)
                del buffer[:chunk_rows]
        if buffer:
            yield _records_frame(buffer, columns)

    return chunks(), safe_url


def _records_frame(records: list[dict[str, Any]], columns: dict[str, None]) -> pd.DataFrame:
    """A chunk of JSON records with every column seen so far (a key absent from a chunk is NaN)."""
    frame = pd.DataFrame.from_records(records)
    columns.update(dict.fromkeys(frame.columns))
    return frame.reindex(columns=list(columns)) if len(columns) > frame.shape[1] else frame


# --------------------------------------------------------------------------- helpers


def _env(name: str, label: str, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise DataSourceError(f"{label}: environment variable {name} is not set; expected it to hold {what}")
    return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]

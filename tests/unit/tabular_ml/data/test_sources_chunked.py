"""``iter_chunks``: every source type read a chunk at a time gives load_data's rows, in order.

Chunks are compared with ``load_data`` of the same source, so a chunk is normalised exactly as
a whole load is (NaN for missing values, fresh RangeIndex).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tabular_ml.configuration.schema import ApiSource, FileSource, Pagination, SqlSource
from tabular_ml.data import sources
from tabular_ml.data.sources import DataSourceError, iter_chunks
from tests.support.paths import PROJECT_ROOT


def load_data(source, secrets=None) -> pd.DataFrame:
    """``sources.load_data`` with its categoricals turned back into the text columns they were read
    as: the values the tests here compare (test_sources_categories.py checks the dtypes)."""
    frame = sources.load_data(source, secrets=secrets)
    return frame.astype({name: object for name in frame.columns if frame[name].dtype == "category"})


CSV_PATH = PROJECT_ROOT / "data/raw/telco_churn.csv"


def joined(chunks: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(chunks, ignore_index=True)


def test_csv_chunks_have_chunk_rows_each_and_join_to_the_whole(expected: pd.DataFrame) -> None:
    chunks = list(iter_chunks(FileSource(path=str(CSV_PATH)), 1000))
    assert [len(chunk) for chunk in chunks] == [1000] * 7 + [43]
    assert all(chunk.index.equals(pd.RangeIndex(len(chunk))) for chunk in chunks)
    pd.testing.assert_frame_equal(joined(chunks), expected)


def test_the_read_rate_is_logged_once_the_chunks_are_read(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="tabular_ml.data.sources")
    chunks = iter_chunks(FileSource(path=str(CSV_PATH)), 3000)
    next(chunks)
    assert not [message for message in caplog.messages if message.startswith("Read ")]  # not before the end
    list(chunks)
    (line,) = [message for message in caplog.messages if message.startswith("Read ")]
    assert line.startswith(f"Read 7043 rows in 3 chunks from {CSV_PATH} in ")
    assert float(line.split("(")[-1].removesuffix(" rows/s)")) > 0


def test_parquet_chunks_follow_batches_not_row_groups(expected: pd.DataFrame, tmp_path: Path) -> None:
    pq.write_table(
        pa.Table.from_pandas(expected, preserve_index=False), tmp_path / "t.parquet", row_group_size=700
    )
    chunks = list(iter_chunks(FileSource(path=str(tmp_path / "t.parquet")), 2000))
    assert max(len(chunk) for chunk in chunks) <= 2000 and sum(len(chunk) for chunk in chunks) == 7043
    pd.testing.assert_frame_equal(joined(chunks), load_data(FileSource(path=str(tmp_path / "t.parquet"))))


def test_parquet_nulls_are_nan_in_every_chunk_whatever_the_column_type(tmp_path: Path) -> None:
    table = pa.table(
        {
            "text": pa.array(["a", None, " b", "a", None, None], pa.string()),
            "large": pa.array(["x", "y", None, "x", None, None], pa.large_string()),
            "unique": pa.array([f"id-{i}" for i in range(5)] + [None], pa.string()),
            "decimal": pa.array([Decimal("1.5"), None, Decimal("2"), None, None, None], pa.decimal128(5, 2)),
            "number": pa.array([1.0, None, 3.0, 4.0, None, None]),
        }
    )
    pq.write_table(table, tmp_path / "nulls.parquet")
    chunks = list(iter_chunks(FileSource(path=str(tmp_path / "nulls.parquet")), 4))
    for chunk in chunks:
        for name in ("text", "large", "unique", "decimal"):
            missing = chunk[name][chunk[name].isna()]
            assert all(isinstance(value, float) for value in missing), name  # NaN, never None
    assert chunks[1]["text"].dtype == np.float64  # all missing in this chunk, as from SQL
    assert chunks[0]["text"].tolist()[2] == " b"  # text is not cleaned when read
    pd.testing.assert_frame_equal(joined(chunks), load_data(FileSource(path=str(tmp_path / "nulls.parquet"))))


def test_a_glob_is_read_file_after_file_in_sorted_order(expected: pd.DataFrame, tmp_path: Path) -> None:
    expected.iloc[5000:].to_csv(tmp_path / "part-1.csv", index=False)
    expected.iloc[:5000].to_csv(tmp_path / "part-0.csv", index=False)
    chunks = list(iter_chunks(FileSource(path=str(tmp_path / "part-*.csv")), 3000))
    assert [len(chunk) for chunk in chunks] == [3000, 2000, 2043]  # a chunk ends with its file
    pd.testing.assert_frame_equal(joined(chunks), expected)


def test_a_header_only_csv_gives_no_chunk(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("a,b\n")
    assert list(iter_chunks(FileSource(path=str(tmp_path / "empty.csv")), 10)) == []


def test_file_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match=r"^file source: no file matches .*nowhere\.csv") as error:
        next(iter_chunks(FileSource(path=str(tmp_path / "nowhere.csv")), 10))
    assert "\n" not in str(error.value)
    (tmp_path / "fake.parquet").write_text("not parquet")
    with pytest.raises(DataSourceError, match=r"fake\.parquet: cannot read it as parquet"):
        next(iter_chunks(FileSource(path=str(tmp_path / "fake.parquet")), 10))


def test_chunk_rows_must_be_positive() -> None:
    with pytest.raises(ValueError, match="chunk_rows must be >= 1, got 0"):
        next(iter_chunks(FileSource(path=str(CSV_PATH)), 0))


# --------------------------------------------------------------------------- sql


def test_sql_table_in_chunks(expected: pd.DataFrame, sqlite_url: str) -> None:
    chunks = list(iter_chunks(SqlSource(url=sqlite_url, table="telco"), 2500))
    assert [len(chunk) for chunk in chunks] == [2500, 2500, 2043]
    pd.testing.assert_frame_equal(joined(chunks), expected)


def test_sql_nulls_are_nan_in_every_chunk(tmp_path: Path) -> None:
    query = "SELECT 1 AS id, 'a' AS name UNION ALL SELECT 2, NULL UNION ALL SELECT 3, NULL"
    chunks = list(iter_chunks(SqlSource(url=f"sqlite:///{tmp_path / 'x.db'}", query=query), 2))
    assert [chunk["name"].dtype for chunk in chunks] == [object, np.float64]  # all-NULL chunk: float NaN
    assert pd.isna(chunks[0].loc[1, "name"]) and isinstance(chunks[0].loc[1, "name"], float)


def test_sql_errors_are_one_line_without_the_password(tmp_path: Path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(DataSourceError, match=r"table 'missing' not found") as error:
        next(iter_chunks(SqlSource(url=url, table="missing"), 10))
    assert "\n" not in str(error.value)
    monkeypatch.setenv("CHUNK_DB_URL", "postgresql+psycopg2://ml:s3cr3t-pw@127.0.0.1:1/none")
    with pytest.raises(DataSourceError) as error:
        next(iter_chunks(SqlSource(url_env="CHUNK_DB_URL", table="t"), 10))
    assert "s3cr3t-pw" not in str(error.value) and "ml:***@127.0.0.1" in str(error.value)


# --------------------------------------------------------------------------- api


class _Records(BaseHTTPRequestHandler):
    records: list[dict] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        query = parse_qs(urlsplit(self.path).query)
        if "page" in query:
            page, size = int(query["page"][0]), int(query["page_size"][0])
            body = self.records[(page - 1) * size : page * size]
        else:
            body = self.records
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def api_url() -> Iterator[str]:
    # 10 records; "note" is present only in records 7-9 (absent from the first chunks)
    _Records.records = [{"id": i, "x": i * 1.5, **({"note": f"n{i}"} if i >= 7 else {})} for i in range(10)]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Records)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/records"
    server.shutdown()
    server.server_close()


def test_api_pages_are_gathered_into_chunks(api_url: str) -> None:
    source = ApiSource(url=api_url, pagination=Pagination(page_size=3))
    chunks = list(iter_chunks(source, 4))
    assert [len(chunk) for chunk in chunks] == [4, 4, 2]
    assert list(chunks[0].columns) == ["id", "x"] and list(chunks[2].columns) == ["id", "x", "note"]
    whole = load_data(source)
    pd.testing.assert_frame_equal(joined(chunks)[whole.columns], whole)


def test_an_unpaginated_api_answer_is_cut_into_chunks(api_url: str) -> None:
    chunks = list(iter_chunks(ApiSource(url=api_url), 6))
    assert [len(chunk) for chunk in chunks] == [6, 4]
    assert chunks[1]["id"].tolist() == [6, 7, 8, 9]

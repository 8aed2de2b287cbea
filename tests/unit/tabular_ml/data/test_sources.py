"""Every source type returns the bundled data set exactly as ``pd.read_csv`` does.

SQL tests run against SQLite always, and against the machine's PostgreSQL and
MariaDB when reachable (see ``tests/support/services.py``). API tests run against a real
HTTP server on 127.0.0.1 started by a fixture.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from tabular_ml.configuration.schema import ApiSource, FileSource, Pagination, SqlSource
from tabular_ml.data import sources
from tabular_ml.data.sources import DataSourceError
from tests.support.paths import PROJECT_ROOT
from tests.support.services import database_url_or_skip


def load_data(source, secrets=None) -> pd.DataFrame:
    """``sources.load_data`` with its categoricals turned back into the text columns they were read
    as: the values the tests here compare (test_sources_categories.py checks the dtypes)."""
    frame = sources.load_data(source, secrets=secrets)
    return frame.astype({name: object for name in frame.columns if frame[name].dtype == "category"})


CSV_PATH = PROJECT_ROOT / "data/raw/telco_churn.csv"

# None vs NaN mismatches only warn in pandas 2.x; make them fail here.
pytestmark = pytest.mark.filterwarnings("error::FutureWarning")


def test_bundled_data_is_what_the_tests_assume(expected: pd.DataFrame) -> None:
    assert expected.shape == (7043, 20)
    assert expected["total_charges"].isna().sum() == 11
    assert expected["tenure"].dtype == np.int64 and expected["churn"].dtype == object


# --------------------------------------------------------------------------- file


def test_csv(expected: pd.DataFrame, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="tabular_ml.data.sources")
    pd.testing.assert_frame_equal(load_data(FileSource(path=str(CSV_PATH))), expected)
    (loaded,) = [message for message in caplog.messages if message.startswith("Loaded")]
    match = re.fullmatch(
        rf"Loaded 7043 rows x 20 columns from {re.escape(str(CSV_PATH))} in ([\d.]+)s \((\d+) rows/s\)",
        loaded,
    )
    assert match, loaded
    seconds, rate = float(match[1]), int(match[2])
    assert rate > 0 and (seconds == 0 or abs(rate * seconds - 7043) <= 0.06 * rate + 1)


def test_parquet_with_a_stored_index_comes_back_with_a_range_index(
    expected: pd.DataFrame, tmp_path: Path
) -> None:
    expected.set_axis(range(100, 100 + len(expected))).to_parquet(tmp_path / "telco.parquet", index=True)
    pd.testing.assert_frame_equal(load_data(FileSource(path=str(tmp_path / "telco.parquet"))), expected)


def test_explicit_format_overrides_the_suffix(expected: pd.DataFrame, tmp_path: Path) -> None:
    expected.to_parquet(tmp_path / "telco.bin", index=False)
    loaded = load_data(FileSource(path=str(tmp_path / "telco.bin"), format="parquet"))
    pd.testing.assert_frame_equal(loaded, expected)


def test_glob_over_parts_gives_the_whole_frame_in_sorted_order(
    expected: pd.DataFrame, tmp_path: Path
) -> None:
    expected.iloc[3000:].to_csv(tmp_path / "part-1.csv", index=False)  # written first, read second
    expected.iloc[:3000].to_csv(tmp_path / "part-0.csv", index=False)
    loaded = load_data(FileSource(path=str(tmp_path / "part-*.csv")))
    pd.testing.assert_frame_equal(loaded, expected)


def test_tsv(expected: pd.DataFrame, tmp_path: Path) -> None:
    expected.to_csv(tmp_path / "telco.tsv", sep="\t", index=False)
    pd.testing.assert_frame_equal(load_data(FileSource(path=str(tmp_path / "telco.tsv"))), expected)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "*.csv"
    with pytest.raises(DataSourceError, match=re.escape(f"no file matches '{missing}';")):
        load_data(FileSource(path=str(missing)))


def test_unknown_suffix_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "data.xlsx").write_text("a,b\n1,2\n")
    with pytest.raises(DataSourceError, match=r"data\.xlsx: cannot tell the format from the suffix"):
        load_data(FileSource(path=str(tmp_path / "data.xlsx")))


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "fake.parquet").write_text("not parquet")
    with pytest.raises(DataSourceError, match=r"fake\.parquet: cannot read it as parquet"):
        load_data(FileSource(path=str(tmp_path / "fake.parquet")))


# --------------------------------------------------------------------------- sql: SQLite


def test_sqlite_table_and_query(expected: pd.DataFrame, sqlite_url: str) -> None:
    by_table = load_data(SqlSource(url=sqlite_url, table="telco"))
    by_query = load_data(SqlSource(url=sqlite_url, query="SELECT * FROM telco ORDER BY rowid"))
    pd.testing.assert_frame_equal(by_table, expected)
    pd.testing.assert_frame_equal(by_query, expected)


def test_sql_nulls_become_nan_like_in_csv(tmp_path: Path) -> None:
    query = "SELECT 1 AS id, 'a' AS name, NULL AS empty UNION ALL SELECT 2, NULL, NULL"
    loaded = load_data(SqlSource(url=f"sqlite:///{tmp_path / 'x.db'}", query=query))
    assert loaded.dtypes.to_dict() == {"id": np.int64, "name": object, "empty": np.float64}
    missing_name = loaded.loc[1, "name"]
    assert isinstance(missing_name, float) and math.isnan(missing_name)  # NaN, not None


def test_duplicate_column_names_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match=r"duplicate column names \['id'\]"):
        load_data(SqlSource(url=f"sqlite:///{tmp_path / 'x.db'}", query="SELECT 1 AS id, 2 AS id"))


def test_url_env_and_secrets(
    expected: pd.DataFrame, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SOURCES_DB_URL", sqlite_url)
    pd.testing.assert_frame_equal(
        load_data(SqlSource(url_env="TEST_SOURCES_DB_URL", table="telco")), expected
    )
    # a secret's url wins over the config and the environment
    from_secret = load_data(SqlSource(secret="db", table="telco"), secrets={"url": sqlite_url})
    pd.testing.assert_frame_equal(from_secret, expected)


def test_missing_url_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_SOURCES_NO_SUCH_URL", raising=False)
    with pytest.raises(DataSourceError, match="environment variable TEST_SOURCES_NO_SUCH_URL is not set"):
        load_data(SqlSource(url_env="TEST_SOURCES_NO_SUCH_URL", table="telco"))


def test_secret_without_url_and_no_config_url_is_an_error() -> None:
    with pytest.raises(DataSourceError, match="secret 'db' holds no 'url'"):
        load_data(SqlSource(secret="db", table="telco"), secrets={"password": "pw"})


def test_missing_sqlite_table_names_the_table(sqlite_url: str) -> None:
    with pytest.raises(DataSourceError, match="table 'no_such_table' not found"):
        load_data(SqlSource(url=sqlite_url, table="no_such_table"))


def test_bad_query_is_an_error(sqlite_url: str) -> None:
    with pytest.raises(DataSourceError, match="no such column: nope"):
        load_data(SqlSource(url=sqlite_url, query="SELECT nope FROM telco"))


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("nosuchdialect://x", "Can't load plugin: sqlalchemy.dialects:nosuchdialect"),
        ("not a url", "not a valid SQLAlchemy URL"),
    ],
)
def test_bad_sql_url(url: str, cause: str) -> None:
    with pytest.raises(DataSourceError, match=cause):
        load_data(SqlSource(url=url, table="telco"))


def test_unreachable_server_error_masks_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    # a URL with a password comes from the environment (a config refuses it)
    monkeypatch.setenv("TEST_SOURCES_DB_URL", "postgresql+psycopg2://alice:hunter2-secret@127.0.0.1:1/db")
    with pytest.raises(DataSourceError) as caught:
        load_data(SqlSource(url_env="TEST_SOURCES_DB_URL", table="telco"))
    message = str(caught.value)
    assert "hunter2-secret" not in message
    assert "postgresql+psycopg2://alice:***@127.0.0.1:1/db" in message
    assert "Connection refused" in message and "\n" not in message


def test_password_env_is_inserted_and_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SOURCES_DB_PASSWORD", "from-env-pw")
    source = SqlSource(
        url="postgresql+psycopg2://alice@127.0.0.1:1/db",
        password_env="TEST_SOURCES_DB_PASSWORD",
        table="telco",
    )
    with pytest.raises(DataSourceError) as caught:
        load_data(source)
    assert "alice:***@127.0.0.1:1" in str(caught.value)  # a password was set ...
    assert "from-env-pw" not in str(caught.value)  # ... and never shown
    # a secret's password wins over the environment
    with pytest.raises(DataSourceError) as caught:
        load_data(source, secrets={"password": "from-secret-pw"})
    assert "alice:***@" in str(caught.value) and "from-secret-pw" not in str(caught.value)


def test_missing_password_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_SOURCES_NO_SUCH_PW", raising=False)
    with pytest.raises(DataSourceError, match="environment variable TEST_SOURCES_NO_SUCH_PW is not set"):
        load_data(SqlSource(url="sqlite://", password_env="TEST_SOURCES_NO_SUCH_PW", table="t"))


# --------------------------------------------------------------------------- sql: servers

SERVERS = {
    "postgresql": ("TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"),
    "mariadb": ("TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server_table(request: pytest.FixtureRequest, expected: pd.DataFrame) -> Iterator[tuple[str, str]]:
    """(url, table): the bundled data in a uniquely named table with a ``row_id`` column."""
    url = database_url_or_skip(*SERVERS[request.param])
    table = f"test_sources_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url)
    try:
        expected.to_sql(table, engine, index=True, index_label="row_id")
        yield url, table
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


@pytest.mark.services
def test_server_query(expected: pd.DataFrame, server_table: tuple[str, str]) -> None:
    url, table = server_table
    query = f"SELECT {', '.join(expected.columns)} FROM {table} ORDER BY row_id"
    pd.testing.assert_frame_equal(load_data(SqlSource(url=url, query=query)), expected)


@pytest.mark.services
def test_server_table(expected: pd.DataFrame, server_table: tuple[str, str]) -> None:
    url, table = server_table
    loaded = load_data(SqlSource(url=url, table=table))
    assert loaded["row_id"].dtype == np.int64
    # a table has no row order (PostgreSQL really returns these rows in another order)
    in_order = loaded.sort_values("row_id").drop(columns="row_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(in_order, expected)


@pytest.mark.services
def test_server_missing_table_names_the_table(server_table: tuple[str, str]) -> None:
    url, _ = server_table
    with pytest.raises(DataSourceError, match="table 'test_sources_missing' not found"):
        load_data(SqlSource(url=url, table="test_sources_missing"))


# --------------------------------------------------------------------------- api

TOKEN = "tok-123"
NULLS = [
    {"id": 1, "name": "a", "score": None, "empty": None},
    {"id": 2, "name": None, "score": 2.5, "empty": None},
]


class _Handler(BaseHTTPRequestHandler):
    server: _ApiServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        self.server.hits[parts.path] += 1
        hits = self.server.hits[parts.path]
        records = self.server.datasets[query.get("dataset", "telco")][: int(query.get("limit", 10**9))]
        if parts.path == "/records":
            self._send(200, records)
        elif parts.path == "/wrapped":
            self._send(200, {"data": records, "total": len(records)})
        elif parts.path == "/paged":
            page, size = int(query["page"]), int(query["page_size"])
            self._send(200, records[(page - 1) * size : page * size])
        elif parts.path == "/flaky":
            status = int(query.get("status", 503))
            self._send(status, {"error": "busy"}) if hits <= 2 else self._send(200, records)
        elif parts.path == "/slow":
            time.sleep(0.5)
            self._send(200, records)
        elif parts.path == "/invalid":
            self._send(200, b"{not json")
        elif parts.path == "/secure":
            authorized = self.headers.get("Authorization") == f"Bearer {TOKEN}"
            self._send(200, records) if authorized else self._send(401, {"error": "unauthorized"})
        else:
            self._send(404, {"error": "not found"})

    def _send(self, status: int, body: Any) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            pass

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


class _ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    hits: Counter[str]
    datasets: dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def api_server(expected: pd.DataFrame) -> Iterator[_ApiServer]:
    server = _ApiServer(("127.0.0.1", 0), _Handler)
    server.hits = Counter()
    telco = json.loads(expected.to_json(orient="records"))  # NaN -> null
    server.datasets = {"telco": telco, "nulls": NULLS, "rows": [[1, "a"]]}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def api(api_server: _ApiServer) -> Iterator[tuple[str, Counter[str]]]:
    """(base URL, hits per path) with the hit counter reset for each test."""
    api_server.hits.clear()
    host, port = api_server.server_address[:2]
    yield f"http://{host}:{port}", api_server.hits


def _api(url: str, **kwargs: Any) -> ApiSource:
    return ApiSource(url=url, **{"retries": 3, "backoff_s": 0.01, **kwargs})


def test_api_list(expected: pd.DataFrame, api: tuple[str, Counter[str]]) -> None:
    base, hits = api
    pd.testing.assert_frame_equal(load_data(_api(f"{base}/records")), expected)
    assert hits["/records"] == 1


def test_api_records_key(expected: pd.DataFrame, api: tuple[str, Counter[str]]) -> None:
    base, _ = api
    pd.testing.assert_frame_equal(load_data(_api(f"{base}/wrapped", records_key="data")), expected)


def test_api_missing_records_key(api: tuple[str, Counter[str]]) -> None:
    base, _ = api
    with pytest.raises(
        DataSourceError, match=r"expected a JSON object with key 'items', got keys \['data', 'total'\]"
    ):
        load_data(_api(f"{base}/wrapped", records_key="items"))


def test_api_object_without_records_key(api: tuple[str, Counter[str]]) -> None:
    base, _ = api
    with pytest.raises(
        DataSourceError, match=r"expected a JSON list of records \(set records_key\), got dict"
    ):
        load_data(_api(f"{base}/wrapped"))


def test_api_records_key_holding_a_non_list(api: tuple[str, Counter[str]]) -> None:
    base, _ = api
    with pytest.raises(DataSourceError, match="expected a JSON list of records, got int"):
        load_data(_api(f"{base}/wrapped", records_key="total"))


def test_api_list_of_non_objects(api: tuple[str, Counter[str]]) -> None:
    base, _ = api
    with pytest.raises(DataSourceError, match="expected a list of JSON objects, got a list holding list"):
        load_data(_api(f"{base}/records", params={"dataset": "rows"}))


def test_api_pagination_stops_at_a_short_page(
    expected: pd.DataFrame, api: tuple[str, Counter[str]], caplog: pytest.LogCaptureFixture
) -> None:
    base, hits = api
    caplog.set_level("INFO", logger="tabular_ml.data.sources")
    loaded = load_data(_api(f"{base}/paged", pagination=Pagination(page_size=1000)))
    pd.testing.assert_frame_equal(loaded, expected)
    assert hits["/paged"] == 8  # 7 full pages and one of 43 rows
    assert f"Fetched page 8 of {base}/paged: 43 rows (7043 so far)" in caplog.messages


def test_api_pagination_stops_at_an_empty_page(expected: pd.DataFrame, api: tuple[str, Counter[str]]) -> None:
    base, hits = api
    source = _api(f"{base}/paged", params={"limit": 2000}, pagination=Pagination(page_size=1000))
    pd.testing.assert_frame_equal(load_data(source), expected.head(2000))
    assert hits["/paged"] == 3  # two full pages, then an empty one


def test_api_pagination_stops_at_max_pages(expected: pd.DataFrame, api: tuple[str, Counter[str]]) -> None:
    base, hits = api
    source = _api(f"{base}/paged", pagination=Pagination(page_size=1000, max_pages=3))
    pd.testing.assert_frame_equal(load_data(source), expected.head(3000))
    assert hits["/paged"] == 3


def test_api_nulls_are_nan_across_pages(api: tuple[str, Counter[str]]) -> None:
    base, _ = api
    # page 1 has a null score, page 2 a null name: the result must not depend on the paging
    paged = load_data(_api(f"{base}/paged", params={"dataset": "nulls"}, pagination=Pagination(page_size=1)))
    whole = load_data(_api(f"{base}/records", params={"dataset": "nulls"}))
    expected = pd.DataFrame(
        {"id": [1, 2], "name": ["a", np.nan], "score": [np.nan, 2.5], "empty": [np.nan, np.nan]}
    )
    pd.testing.assert_frame_equal(paged, expected)
    pd.testing.assert_frame_equal(whole, expected)


@pytest.mark.parametrize("status", [503, 429])
def test_api_retries_and_succeeds(expected: pd.DataFrame, api: tuple[str, Counter[str]], status: int) -> None:
    base, hits = api
    pd.testing.assert_frame_equal(load_data(_api(f"{base}/flaky", params={"status": status})), expected)
    assert hits["/flaky"] == 3


def test_api_gives_up_after_the_retries(api: tuple[str, Counter[str]]) -> None:
    base, hits = api
    with pytest.raises(DataSourceError, match=r"/flaky: HTTP 503 Service Unavailable after 2 attempts"):
        load_data(_api(f"{base}/flaky", retries=1))
    assert hits["/flaky"] == 2


def test_api_404_fails_at_once(api: tuple[str, Counter[str]]) -> None:
    base, hits = api
    with pytest.raises(DataSourceError, match=f"api source {base}/nowhere: HTTP 404 Not Found"):
        load_data(_api(f"{base}/nowhere"))
    assert hits["/nowhere"] == 1


def test_api_timeout_is_retried_then_reported(api: tuple[str, Counter[str]]) -> None:
    base, hits = api
    started = time.monotonic()
    with pytest.raises(DataSourceError, match=r"no response within timeout_s=0.2s after 2 attempts"):
        load_data(_api(f"{base}/slow", timeout_s=0.2, retries=1))
    assert hits["/slow"] == 2
    assert time.monotonic() - started < 2


def test_api_connection_refused_is_an_error() -> None:
    with pytest.raises(DataSourceError, match="cannot connect.*after 2 attempts"):
        load_data(_api("http://127.0.0.1:1/records", retries=1))


def test_api_invalid_json(api: tuple[str, Counter[str]]) -> None:
    base, _ = api
    with pytest.raises(DataSourceError, match="the response is not valid JSON"):
        load_data(_api(f"{base}/invalid"))


def test_api_bearer_token(
    expected: pd.DataFrame, api: tuple[str, Counter[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, hits = api
    monkeypatch.setenv("TEST_SOURCES_TOKEN", TOKEN)
    pd.testing.assert_frame_equal(load_data(_api(f"{base}/secure", token_env="TEST_SOURCES_TOKEN")), expected)
    monkeypatch.setenv("TEST_SOURCES_TOKEN", "wrong-token")
    with pytest.raises(DataSourceError, match="HTTP 401") as caught:
        load_data(_api(f"{base}/secure", token_env="TEST_SOURCES_TOKEN"))
    assert "wrong-token" not in str(caught.value)
    assert hits["/secure"] == 2  # 401 is not retried


def test_api_missing_token_env_names_the_variable(
    api: tuple[str, Counter[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, hits = api
    monkeypatch.delenv("TEST_SOURCES_NO_TOKEN", raising=False)
    with pytest.raises(DataSourceError, match="environment variable TEST_SOURCES_NO_TOKEN is not set"):
        load_data(_api(f"{base}/secure", token_env="TEST_SOURCES_NO_TOKEN"))
    assert hits["/secure"] == 0


def test_api_query_string_is_kept_out_of_messages(api: tuple[str, Counter[str]]) -> None:
    base, _ = api
    with pytest.raises(DataSourceError) as caught:
        # any query string (a credential-like one is refused by the config already)
        load_data(_api(f"{base}/nowhere?customer=very-secret"))
    assert "very-secret" not in str(caught.value)


def test_api_token_quoted_by_an_http_error_is_masked(
    api: tuple[str, Counter[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, hits = api
    monkeypatch.setenv("TEST_SOURCES_TOKEN", "tok-Pl4nted\n")  # a newline: requests quotes the header
    with pytest.raises(DataSourceError) as caught:
        load_data(_api(f"{base}/secure", token_env="TEST_SOURCES_TOKEN"))
    message = str(caught.value)
    assert message.startswith(f"api source {base}/secure: invalid request: Invalid leading whitespace")
    assert message.endswith("in header value: 'Bearer ***\\n'")
    assert "Pl4nted" not in message and hits["/secure"] == 0


# --------------------------------------------------------------------------- sql: credentials in the URL

PLANT = "pl4nted-S3cret"


@pytest.mark.parametrize(
    "name",
    ["password", "PWD", "passwd", "sslpassword", "token", "access_token", "secret", "api_key", "apikey"],
)
def test_a_query_credential_of_a_url_env_is_masked(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    from tabular_ml.data.sources import resolve_sql_url

    monkeypatch.setenv(
        "TEST_SOURCES_DB_URL",
        f"postgresql+psycopg2://alice:{PLANT}-1@127.0.0.1:1/db?sslmode=disable&{name}={PLANT}-2",
    )
    source = SqlSource(url_env="TEST_SOURCES_DB_URL", table="telco")
    _, masked, secrets = resolve_sql_url(source, {})
    query = "&".join(f"{key}={value}" for key, value in sorted({name: "***", "sslmode": "disable"}.items()))
    assert masked == f"postgresql+psycopg2://alice:***@127.0.0.1:1/db?{query}"
    assert {f"{PLANT}-1", f"{PLANT}-2"} <= set(secrets)
    with pytest.raises(DataSourceError) as caught:  # nothing listens on port 1 (or the option is unknown)
        load_data(source)
    message = str(caught.value)
    assert message.startswith(f"sql source table 'telco' at {masked}: ")
    assert PLANT not in message and "\n" not in message


def test_an_unparseable_url_from_the_environment_is_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SOURCES_DB_URL", f"//alice:{PLANT}@db/w?password={PLANT}")
    with pytest.raises(DataSourceError) as caught:
        load_data(SqlSource(url_env="TEST_SOURCES_DB_URL", table="telco"))
    assert str(caught.value).startswith("sql source: not a valid SQLAlchemy URL")
    assert PLANT not in str(caught.value)


@pytest.mark.services
def test_a_password_in_the_query_reads_and_is_never_logged(
    expected: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    url = database_url_or_skip(*SERVERS["postgresql"])  # trust auth: the password is accepted, unused
    table = f"test_sources_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url)
    expected.head(50).to_sql(table, engine, index=False)
    try:
        monkeypatch.setenv("TEST_SOURCES_DB_URL", f"{url}?password={PLANT}")
        caplog.set_level("DEBUG")
        loaded = load_data(SqlSource(url_env="TEST_SOURCES_DB_URL", table=table))
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()
    assert len(loaded) == 50
    (loaded_line,) = [message for message in caplog.messages if message.startswith("Loaded 50 rows")]
    shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    assert loaded_line.startswith(
        f"Loaded 50 rows x 20 columns from table '{table}' at {shown}?password=*** in "
    )
    assert loaded_line.endswith(" rows/s)")
    assert PLANT not in caplog.text


# --------------------------------------------------------------------------- api: deadline and size cap

MARGIN_S = 1.0  # what a loaded machine may add to a deadline


def _failure(source: ApiSource) -> tuple[str, float]:
    """The one-line error of loading ``source`` and the seconds it took to come."""
    started = time.monotonic()
    with pytest.raises(DataSourceError) as caught:
        load_data(source)
    return str(caught.value), time.monotonic() - started


@pytest.mark.parametrize(
    ("behaviour", "keep_alive"),
    [("trickle_headers", False), ("trickle_body", False), ("trickle_body", True), ("drip", False)],
)
def test_a_server_trickling_forever_is_cut_at_the_deadline(behaviour: str, keep_alive: bool) -> None:
    from tests.support.slow_http_server import slow_server

    with slow_server(behaviour, keep_alive=keep_alive) as server:
        # timeout_s above the deadline: each byte comes within it, only the deadline can stop this
        message, took = _failure(_api(f"{server.url}?page=2", timeout_s=30, deadline_s=1.5))
    assert message == (
        f"api source {server.url}: no complete response within deadline_s=1.5s (1 attempt(s)); "
        "expected a faster or smaller answer"
    )
    assert 1.5 <= took < 1.5 + MARGIN_S
    assert server.hits == 1  # the deadline is the whole request's: no retry after it


def test_an_endless_body_stops_at_the_size_cap() -> None:
    from tests.support.slow_http_server import slow_server

    with slow_server("endless") as server:
        message, took = _failure(_api(server.url, deadline_s=20, max_response_bytes=2**20))
    assert message == (
        f"api source {server.url}: the answer is larger than 1048576 bytes (max_response_bytes); "
        "expected a smaller answer (paginate it)"
    )
    assert took < MARGIN_S


def test_an_announced_oversized_body_is_refused_before_reading() -> None:
    from tests.support.slow_http_server import slow_server

    with slow_server("announce_large") as server:
        message, took = _failure(_api(server.url, max_response_bytes=2**20))
    assert message == (
        f"api source {server.url}: the answer announces 10737418240 bytes, more than 1048576 "
        "(max_response_bytes); expected a smaller answer (paginate it)"
    )
    assert took < MARGIN_S


def test_retries_and_their_waits_end_at_the_deadline() -> None:
    from tests.support.slow_http_server import slow_server

    with slow_server("trickle_headers", status=503, interval_s=0.01) as server:
        # 503 after ~1 s of headers: retried, the wait (8 s) cut at the deadline, no third attempt
        message, took = _failure(_api(server.url, retries=5, backoff_s=8, deadline_s=2.5))
    assert message == (
        f"api source {server.url}: no complete response within deadline_s=2.5s (1 attempt(s)); "
        "expected a faster or smaller answer"
    )
    assert 2.5 <= took < 2.5 + MARGIN_S
    assert server.hits == 1

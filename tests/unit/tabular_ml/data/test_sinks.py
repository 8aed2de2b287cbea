"""Prediction sinks: a run's rows appear all at once, a rerun of a batch replaces its rows,
other batches' rows are kept, a failed run leaves a sink as it was, and one run writes at a time."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from tabular_ml.configuration.schema import FileSink, InferenceParameters, SqlSink
from tabular_ml.data.sinks import BATCH_KEY, SinkError, open_sink
from tests.support.paths import PROJECT_ROOT
from tests.support.services import database_url_or_skip

SCORED_AT = pd.Timestamp("2026-05-01 12:00:00.123456", tz="UTC")
HEADER = "input_row,prediction,probability,model_version,scored_at,batch_key"


def frame(start: int, rows: int, scored_at: pd.Timestamp = SCORED_AT) -> pd.DataFrame:
    proba = np.linspace(0.1, 0.9, rows)
    return pd.DataFrame(
        {
            "input_row": np.arange(start, start + rows),
            "prediction": pd.Categorical.from_codes((proba >= 0.5).astype(np.int8), ["No", "Yes"]),
            "probability": proba,
            "model_version": pd.Categorical.from_codes(np.zeros(rows, np.int8), ["3"]),
            "scored_at": scored_at,
        }
    )


def write_run(config, batch_key: str, *frames: pd.DataFrame, run_tag: str | None = None):
    with open_sink(config, run_tag or f"run-{uuid.uuid4().hex[:6]}") as sink:
        for item in frames:
            sink.write(item)
        sink.commit(batch_key)
    return sink


def hidden(folder: Path) -> list[str]:
    """Names starting with a dot: locks and temporary files."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --------------------------------------------------------------------------- csv


def test_csv_batches_are_kept_apart_and_a_rerun_replaces_its_own_rows(tmp_path: Path) -> None:
    path = tmp_path / "out" / "predictions.csv"  # the folder is created
    write_run(FileSink(path=str(path)), "k1", frame(0, 3), frame(3, 2))
    later = SCORED_AT + pd.Timedelta(hours=1)
    write_run(FileSink(path=str(path)), "k2", frame(0, 2, later))
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER and sum(line.startswith("input_row") for line in lines) == 1
    back = pd.read_csv(path)
    assert back["input_row"].tolist() == [0, 1, 2, 3, 4, 0, 1]
    assert back[BATCH_KEY].tolist() == ["k1"] * 5 + ["k2"] * 2
    assert back["scored_at"].unique().tolist() == [str(SCORED_AT), str(later)]
    assert back["prediction"].tolist()[:3] == ["No", "Yes", "Yes"]  # probabilities 0.1, 0.5, 0.9
    np.testing.assert_allclose(
        back["probability"][:5], frame(0, 3)["probability"].tolist() + frame(3, 2)["probability"].tolist()
    )
    rerun = SCORED_AT + pd.Timedelta(hours=2)
    write_run(FileSink(path=str(path)), "k1", frame(0, 3, rerun), frame(3, 2, rerun))
    again = pd.read_csv(path)
    assert again["input_row"].tolist() == [0, 1, 0, 1, 2, 3, 4]  # k2's rows, then k1's new ones
    assert again[BATCH_KEY].tolist() == ["k2"] * 2 + ["k1"] * 5
    assert again["scored_at"].tolist() == [str(later)] * 2 + [str(rerun)] * 5
    assert hidden(path.parent) == [".predictions.csv.lock"]  # no temporary file is left


def test_a_new_batch_keeps_the_files_bytes_and_adds_its_rows_after_them(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    write_run(FileSink(path=str(path)), "k1", frame(0, 3))
    before = path.read_bytes()
    inode = path.stat().st_ino
    write_run(FileSink(path=str(path)), "k2", frame(3, 2))
    after = path.read_bytes()
    assert after.startswith(before) and after[len(before) :].decode().count("\n") == 2
    assert path.stat().st_ino != inode  # a new file renamed into place, not the old one appended to


def test_csv_timestamps_are_written_as_pandas_writes_them(tmp_path: Path) -> None:
    write_run(FileSink(path=str(tmp_path / "p.csv")), "k1", frame(0, 2))
    expected = tmp_path / "pandas.csv"
    frame(0, 2).assign(batch_key="k1").to_csv(expected, index=False)
    assert (tmp_path / "p.csv").read_text() == expected.read_text()


def test_quoted_keys_survive_a_replacement_as_they_were_written(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    keys = ["plain", "a,comma", 'a "quote"', "two\nlines", "k1"]  # "k1" is also a batch key below
    keyed = frame(0, 5).drop(columns="input_row")
    keyed.insert(0, "customer", keys)
    write_run(FileSink(path=str(path)), "k2", keyed)
    header_and_k2 = path.read_text()
    write_run(FileSink(path=str(path)), "k1", keyed.iloc[:2])
    write_run(FileSink(path=str(path)), "k1", keyed.iloc[2:])  # k1 is in the file: read record by record
    back = pd.read_csv(path)
    assert back["customer"].tolist() == keys + keys[2:]
    assert back[BATCH_KEY].tolist() == ["k2"] * 5 + ["k1"] * 3
    assert path.read_text().startswith(header_and_k2)  # the kept records' text as it was written


def test_a_batch_key_that_needs_quotes_is_quoted(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    write_run(FileSink(path=str(path)), 'model "a,b":3:ff', frame(0, 2))
    write_run(FileSink(path=str(path)), 'model "a,b":3:ff', frame(0, 3))
    assert pd.read_csv(path)[BATCH_KEY].tolist() == ['model "a,b":3:ff'] * 3


def test_gzipped_csv_gets_members_and_stays_one_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "p.csv.gz"
    write_run(FileSink(path=str(path)), "k1", frame(0, 2))
    write_run(FileSink(path=str(path)), "k2", frame(2, 2))  # a second gzip member
    assert pd.read_csv(path)["input_row"].tolist() == [0, 1, 2, 3]
    write_run(FileSink(path=str(path)), "k1", frame(0, 3))  # rewritten as one member
    back = pd.read_csv(path)
    assert back["input_row"].tolist() == [2, 3, 0, 1, 2]
    assert back[BATCH_KEY].tolist() == ["k2", "k2", "k1", "k1", "k1"]
    assert gzip.open(path, "rt").read().count("input_row") == 1


def test_a_truncated_gzip_is_a_one_line_error_and_is_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "p.csv.gz"
    rows = frame(0, 20_000)
    write_run(FileSink(path=str(path)), "k1", rows)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # as an old appending run left it
    broken = path.read_bytes()
    with pytest.raises(
        SinkError, match=r"^file sink .*p\.csv\.gz: cannot read it: .*expected a complete CSV"
    ) as error:
        write_run(FileSink(path=str(path)), "k2", frame(0, 2))
    assert "\n" not in str(error.value)
    assert path.read_bytes() == broken and hidden(tmp_path) == [".p.csv.gz.lock"]


def test_a_file_written_before_batch_keys_keeps_its_rows_with_an_empty_key(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    frame(0, 2).to_csv(path, index=False)  # the columns without batch_key
    write_run(FileSink(path=str(path)), "k1", frame(2, 2))
    assert path.read_text().splitlines()[0] == HEADER
    back = pd.read_csv(path, keep_default_na=False)
    assert back["input_row"].tolist() == [0, 1, 2, 3]
    assert back[BATCH_KEY].tolist() == ["", "", "k1", "k1"]


def test_a_csv_with_other_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("customer_id,score\n7,0.5\n")
    with pytest.raises(
        SinkError, match=r"^file sink .*p\.csv: its header \['customer_id', 'score'\] differs"
    ):
        write_run(FileSink(path=str(path)), "k1", frame(0, 2))
    assert path.read_text() == "customer_id,score\n7,0.5\n"


def test_a_failed_run_leaves_the_csv_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    write_run(FileSink(path=str(path)), "k1", frame(0, 2))
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="chunk 2 broke"):
        with open_sink(FileSink(path=str(path)), "b") as sink:
            sink.write(frame(0, 5))
            assert path.read_bytes() == before  # nothing of the run is in the file while it runs
            raise RuntimeError("chunk 2 broke")
    assert path.read_bytes() == before
    assert hidden(tmp_path) == [".p.csv.lock"]
    with pytest.raises(RuntimeError):
        with open_sink(FileSink(path=str(tmp_path / "new.csv")), "c") as sink:
            sink.write(frame(0, 5))
            raise RuntimeError("chunk 2 broke")
    assert not (tmp_path / "new.csv").exists()


def test_a_killed_runs_temporary_files_are_removed_by_the_next_run(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    write_run(FileSink(path=str(path)), "k1", frame(0, 2))
    before = path.read_bytes()
    (tmp_path / ".p.csv.killed.rows.tmp").write_text("0,No,0.1,3,2026,pending-x\n")
    (tmp_path / ".p.csv.killed.tmp").write_text(HEADER + "\n0,No,0.1")  # torn
    (tmp_path / ".other.csv.killed.tmp").write_text("not ours")
    with open_sink(FileSink(path=str(path)), "next") as sink:
        assert hidden(tmp_path) == [".other.csv.killed.tmp", ".p.csv.lock"]
        sink.abort()
    assert path.read_bytes() == before


@pytest.mark.parametrize("name", ["p.csv", "p.parquet"])
def test_a_second_run_on_one_output_is_refused_in_one_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with open_sink(FileSink(path=str(path)), "first") as first:
        first.write(frame(0, 2))
        with pytest.raises(
            SinkError,
            match=rf"^file sink .*{name}: another run is writing to it \(lock .*/\.{name}\.lock held by "
            rf"process {os.getpid()}\); expected one run at a time",
        ) as error:
            open_sink(FileSink(path=str(path)), "second")
        assert "\n" not in str(error.value)
        first.commit("k1")
    write_run(FileSink(path=str(path)), "k2", frame(2, 2))  # free again
    written = pd.read_csv(path) if name.endswith("csv") else pd.read_parquet(path).sort_values(BATCH_KEY)
    assert written[BATCH_KEY].astype(str).tolist() == ["k1", "k1", "k2", "k2"]


@pytest.mark.parametrize("suffix", ["csv", "csv.gz", "parquet"])
def test_a_run_in_another_process_is_refused_and_its_lock_ends_with_it(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"p.{suffix}"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from tabular_ml.configuration.schema import FileSink\n"
            "from tabular_ml.data.sinks import open_sink\n"
            f"sink = open_sink(FileSink(path={str(path)!r}), 'holder')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(
            SinkError, match=rf"another run is writing to it \(lock .* held by process {holder.pid}\)"
        ):
            open_sink(FileSink(path=str(path)), "second")
    finally:
        holder.kill()  # SIGKILL: the kernel releases the lock
        holder.wait()
        holder.stdout.close()
        holder.stdin.close()
    write_run(FileSink(path=str(path)), "k1", frame(0, 2))


def test_bad_csv_paths_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(SinkError, match=r"^file sink .*a_file/p\.csv: cannot create its folder: ") as error:
        open_sink(FileSink(path=str(tmp_path / "a_file" / "p.csv")), "a")
    assert "\n" not in str(error.value)
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(SinkError, match=r"dir\.csv: is a directory; expected a CSV file path"):
        open_sink(FileSink(path=str(tmp_path / "dir.csv")), "a")


# --------------------------------------------------------------------------- parquet


def test_parquet_gets_a_part_per_batch_and_a_rerun_replaces_its_part(tmp_path: Path) -> None:
    path = tmp_path / "predictions.parquet"
    write_run(FileSink(path=str(path)), "m:3:aaaa", frame(0, 3), frame(3, 3))
    write_run(FileSink(path=str(path)), "m:3:bbbb", frame(0, 4))
    assert sorted(p.name for p in path.iterdir()) == ["batch-m_3_aaaa.parquet", "batch-m_3_bbbb.parquet"]
    back = pd.read_parquet(path).sort_values([BATCH_KEY, "input_row"])
    assert back["input_row"].tolist() == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3]
    assert back[BATCH_KEY].astype(str).tolist() == ["m:3:aaaa"] * 6 + ["m:3:bbbb"] * 4
    assert back["scored_at"].eq(SCORED_AT).all() and back["model_version"].astype(str).eq("3").all()
    later = SCORED_AT + pd.Timedelta(hours=1)
    write_run(FileSink(path=str(path)), "m:3:aaaa", frame(0, 2, later))
    back = pd.read_parquet(path)
    assert len(back) == 6 and back.groupby(BATCH_KEY, observed=True).size().to_dict() == {
        "m:3:aaaa": 2,
        "m:3:bbbb": 4,
    }
    assert back.loc[back[BATCH_KEY] == "m:3:aaaa", "scored_at"].eq(later).all()
    assert hidden(tmp_path) == [".predictions.parquet.lock"] and hidden(path) == []


def test_readers_of_a_parquet_dataset_never_see_a_running_or_failed_run(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    write_run(FileSink(path=str(path)), "k1", frame(0, 3))
    with pytest.raises(RuntimeError):
        with open_sink(FileSink(path=str(path)), "run2") as sink:
            sink.write(frame(0, 3))
            sink.write(frame(3, 3))
            assert hidden(path) == [".part-run2.rows.tmp"]  # written, under a name readers skip
            assert pd.read_parquet(path)["input_row"].tolist() == [0, 1, 2]
            raise RuntimeError("later chunk broke")
    assert [p.name for p in path.iterdir()] == ["batch-k1.parquet"]
    assert pd.read_parquet(path)["input_row"].tolist() == [0, 1, 2]


def test_a_chunk_of_other_column_types_is_cast_or_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    with open_sink(FileSink(path=str(path)), "run") as sink:
        sink.write(frame(0, 2))
        sink.write(frame(2, 2).astype({"input_row": "int32"}))  # cast to the first chunk's int64
        with pytest.raises(SinkError, match=r"^file sink .*p\.parquet: a chunk's column types .* differ"):
            sink.write(frame(4, 1).assign(input_row="x"))
    assert pd.read_parquet(path)["input_row"].tolist() == [0, 1, 2, 3]


def test_a_parquet_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p.parquet").write_bytes(b"PAR1")
    with pytest.raises(SinkError, match=r"p\.parquet: is a file; expected a directory of Parquet part files"):
        open_sink(FileSink(path=str(tmp_path / "p.parquet")), "a")


def test_file_sink_config_needs_a_known_suffix_or_format() -> None:
    with pytest.raises(ValidationError, match=r"cannot tell the format of 'out/p\.txt' from its suffix"):
        FileSink(path="out/p.txt")
    assert FileSink(path="out/p.txt", format="csv").file_format == "csv"
    assert FileSink(path="out/p.pq").file_format == "parquet"


# --------------------------------------------------------------------------- sql


def read_table(url: str, table: str) -> pd.DataFrame:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return pd.read_sql(sa.text(f"SELECT * FROM {table} ORDER BY {BATCH_KEY}, input_row"), connection)
    finally:
        engine.dispose()


def execute(url: str, statement: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(statement))
    finally:
        engine.dispose()


def test_sql_creates_the_table_keeps_batches_apart_and_replaces_a_rerun(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    sink = write_run(SqlSink(url=url, table="predictions"), "k1", frame(0, 3), frame(3, 2))
    assert sink.description == f"sql sink table 'predictions' at {url}"
    write_run(SqlSink(url=url, table="predictions"), "k2", frame(0, 4, SCORED_AT + pd.Timedelta(days=1)))
    back = read_table(url, "predictions")
    assert list(back.columns) == [*frame(0, 1).columns, BATCH_KEY]
    assert back.groupby(BATCH_KEY).size().to_dict() == {"k1": 5, "k2": 4}
    assert back["prediction"].tolist()[:3] == ["No", "Yes", "Yes"]  # probabilities 0.1, 0.5, 0.9
    write_run(SqlSink(url=url, table="predictions"), "k1", frame(0, 2, SCORED_AT + pd.Timedelta(days=2)))
    back = read_table(url, "predictions")
    assert back.groupby(BATCH_KEY).size().to_dict() == {"k1": 2, "k2": 4}
    assert back.loc[back[BATCH_KEY] == "k1", "input_row"].tolist() == [0, 1]
    engine = sa.create_engine(url)
    indexes = sa.inspect(engine).get_indexes("predictions")
    engine.dispose()
    assert [index["column_names"] for index in indexes] == [[BATCH_KEY]]


def test_a_failed_run_rolls_the_table_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    write_run(SqlSink(url=url, table="predictions"), "k1", frame(0, 3))
    with pytest.raises(RuntimeError):
        with open_sink(SqlSink(url=url, table="predictions"), "b") as sink:
            sink.write(frame(0, 3))
            raise RuntimeError("later chunk broke")
    assert read_table(url, "predictions")[BATCH_KEY].tolist() == ["k1"] * 3


def test_a_table_written_before_batch_keys_gets_the_column(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = sa.create_engine(url)
    frame(0, 2).to_sql("predictions", engine, index=False)
    engine.dispose()
    write_run(SqlSink(url=url, table="predictions"), "k1", frame(2, 2))
    back = read_table(url, "predictions")
    assert back["input_row"].tolist() == [0, 1, 2, 3]
    assert back[BATCH_KEY].tolist() == [None, None, "k1", "k1"]


def test_sql_sink_credentials_are_checked_as_for_sources(monkeypatch, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"the URL holds a password; use password_env, url_env"):
        SqlSink(url="postgresql://ml:hunter2@db/warehouse", table="p")
    with pytest.raises(ValidationError, match="give exactly one of 'url' or 'url_env'"):
        SqlSink(table="p")
    monkeypatch.delenv("PREDICTIONS_DB", raising=False)
    with pytest.raises(SinkError, match=r"^sql sink: environment variable PREDICTIONS_DB is not set"):
        open_sink(SqlSink(url_env="PREDICTIONS_DB", table="p"), "a")
    monkeypatch.setenv("PREDICTIONS_DB", "postgresql+psycopg2://ml@127.0.0.1:1/warehouse")
    monkeypatch.setenv("PREDICTIONS_DB_PASSWORD", "s3cr3t-pw")
    with pytest.raises(
        SinkError, match=r"^sql sink table 'p' at postgresql\+psycopg2://ml:\*\*\*@127"
    ) as error:
        open_sink(SqlSink(url_env="PREDICTIONS_DB", password_env="PREDICTIONS_DB_PASSWORD", table="p"), "a")
    assert "s3cr3t-pw" not in str(error.value) and "\n" not in str(error.value)


def test_a_table_with_other_columns_fails_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    execute(url, "CREATE TABLE predictions (customer_id TEXT)")
    with pytest.raises(
        SinkError, match=r"^sql sink table 'predictions' at sqlite.*: OperationalError: .*input_row"
    ) as error:
        write_run(SqlSink(url=url, table="predictions"), "k1", frame(0, 2))
    assert "\n" not in str(error.value)
    engine = sa.create_engine(url)
    assert [c["name"] for c in sa.inspect(engine).get_columns("predictions")] == ["customer_id"]  # untouched
    engine.dispose()


SERVERS = {
    "postgresql": ("TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"),
    "mariadb": ("TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}


@pytest.fixture(params=sorted(SERVERS))
def server_table(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(url, table): a table name of its own on a real server, dropped afterwards."""
    url = database_url_or_skip(*SERVERS[request.param])
    table = f"test_sinks_{uuid.uuid4().hex[:12]}"
    yield url, table
    execute(url, f"DROP TABLE IF EXISTS {table}")


@pytest.mark.services
def test_a_server_table_shows_a_run_at_once_and_replaces_a_rerun_in_one_transaction(server_table) -> None:
    url, table = server_table
    write_run(SqlSink(url=url, table=table), "k1", frame(0, 3))
    with open_sink(SqlSink(url=url, table=table), "run2") as sink:
        sink.write(frame(0, 4, SCORED_AT + pd.Timedelta(days=1)))
        sink.write(frame(4, 1, SCORED_AT + pd.Timedelta(days=1)))
        assert read_table(url, table)[BATCH_KEY].tolist() == ["k1"] * 3  # another session sees nothing yet
        with pytest.raises(
            SinkError, match=rf"^sql sink table '{table}' at .*: another run is writing to this table"
        ) as error:
            open_sink(SqlSink(url=url, table=table), "run3")
        assert "\n" not in str(error.value)
        sink.commit("k1")
    back = read_table(url, table)
    assert back["input_row"].tolist() == [0, 1, 2, 3, 4] and set(back[BATCH_KEY]) == {"k1"}
    assert back["scored_at"].dt.day.eq(2).all()  # the rerun's rows replaced the first run's
    write_run(SqlSink(url=url, table=table), "k2", frame(0, 2))
    assert read_table(url, table).groupby(BATCH_KEY).size().to_dict() == {"k1": 5, "k2": 2}


@pytest.mark.services
def test_a_connection_killed_mid_run_is_a_one_line_error_and_the_next_run_recovers() -> None:
    url = database_url_or_skip(*SERVERS["postgresql"])
    table = f"test_sinks_{uuid.uuid4().hex[:12]}"
    try:
        write_run(SqlSink(url=url, table=table), "k1", frame(0, 3))
        sink = open_sink(SqlSink(url=url, table=table), "run2")
        with pytest.raises(
            SinkError, match=rf"^sql sink table '{table}' at postgresql.*: OperationalError: "
        ) as error:
            with sink:
                sink.write(frame(0, 2))
                pid = sink._connection.connection.dbapi_connection.get_backend_pid()
                execute(url, f"SELECT pg_terminate_backend({pid})")  # the database goes away mid-write
                sink.write(frame(2, 2))
        assert "\n" not in str(error.value)
        assert read_table(url, table)[BATCH_KEY].tolist() == ["k1"] * 3
        write_run(SqlSink(url=url, table=table), "k1", frame(0, 4))
        assert read_table(url, table)["input_row"].tolist() == [0, 1, 2, 3]
    finally:
        execute(url, f"DROP TABLE IF EXISTS {table}")


def test_inference_parameters_take_either_sink() -> None:
    parameters = InferenceParameters(
        source={"type": "file", "path": "new.csv"}, sink={"type": "sql", "url_env": "DB", "table": "p"}
    )
    assert parameters.chunk_rows == 100_000 and parameters.key_column is None
    assert isinstance(parameters.sink, SqlSink)
    with pytest.raises(ValidationError, match="chunk_rows"):
        InferenceParameters(source={"type": "file", "path": "a.csv"}, sink={"path": "b.csv"}, chunk_rows=0)


def test_the_lock_file_names_the_process_that_holds_it(tmp_path: Path) -> None:
    with open_sink(FileSink(path=str(tmp_path / "p.csv")), "run") as sink:
        assert (tmp_path / ".p.csv.lock").read_text() == f"{os.getpid()}\n"
        sink.abort()


def test_a_parquet_directory_from_before_batch_keys_reads_with_the_column(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    path.mkdir()
    frame(0, 2).to_parquet(path / "part-0a1b2c-00000.parquet", index=False)  # a run id sorting first
    write_run(FileSink(path=str(path)), "k1", frame(2, 2))
    back = pd.read_parquet(path).sort_values("input_row")
    assert back["input_row"].tolist() == [0, 1, 2, 3]
    assert back[BATCH_KEY].astype(object).where(back[BATCH_KEY].notna(), None).tolist() == [
        None,
        None,
        "k1",
        "k1",
    ]

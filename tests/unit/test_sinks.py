"""Prediction sinks append, never overwrite, and a failed run leaves them as they were."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from tabular_ml.configuration.schema import FileSink, InferenceParameters, SqlSink
from tabular_ml.data.sinks import SinkError, open_sink

SCORED_AT = pd.Timestamp("2026-05-01 12:00:00.123456", tz="UTC")


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


def write_run(config, run_tag: str, *frames: pd.DataFrame):
    with open_sink(config, run_tag) as sink:
        for item in frames:
            sink.write(item)
    return sink


# --------------------------------------------------------------------------- csv


def test_csv_gets_a_header_once_and_rows_appended_across_runs(tmp_path: Path) -> None:
    path = tmp_path / "out" / "predictions.csv"  # the folder is created
    write_run(FileSink(path=str(path)), "a", frame(0, 3), frame(3, 2))
    later = SCORED_AT + pd.Timedelta(hours=1)
    write_run(FileSink(path=str(path)), "b", frame(0, 2, later))
    lines = path.read_text().splitlines()
    assert lines[0] == "input_row,prediction,probability,model_version,scored_at"
    assert sum(line.startswith("input_row") for line in lines) == 1 and len(lines) == 1 + 7
    back = pd.read_csv(path)
    assert back["input_row"].tolist() == [0, 1, 2, 3, 4, 0, 1]
    assert back["scored_at"].unique().tolist() == [str(SCORED_AT), str(later)]
    assert back["prediction"].tolist()[:3] == ["No", "Yes", "Yes"]  # probabilities 0.1, 0.5, 0.9
    np.testing.assert_allclose(
        back["probability"][:5], frame(0, 3)["probability"].tolist() + frame(3, 2)["probability"].tolist()
    )


def test_csv_timestamps_are_written_as_pandas_writes_them(tmp_path: Path) -> None:
    write_run(FileSink(path=str(tmp_path / "p.csv")), "a", frame(0, 2))
    expected = tmp_path / "pandas.csv"
    frame(0, 2).to_csv(expected, index=False)
    assert (tmp_path / "p.csv").read_text() == expected.read_text()


def test_gzipped_csv_appends_too(tmp_path: Path) -> None:
    path = tmp_path / "p.csv.gz"
    write_run(FileSink(path=str(path)), "a", frame(0, 2))
    write_run(FileSink(path=str(path)), "b", frame(2, 2))
    assert pd.read_csv(path)["input_row"].tolist() == [0, 1, 2, 3]
    assert gzip.open(path, "rt").read().count("input_row") == 1


def test_a_csv_with_other_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("customer_id,score\n7,0.5\n")
    with pytest.raises(
        SinkError, match=r"^file sink .*p\.csv: its header \['customer_id', 'score'\] differs"
    ):
        write_run(FileSink(path=str(path)), "a", frame(0, 2))
    assert path.read_text() == "customer_id,score\n7,0.5\n"


def test_a_failed_run_leaves_the_csv_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    write_run(FileSink(path=str(path)), "a", frame(0, 2))
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="chunk 2 broke"):
        with open_sink(FileSink(path=str(path)), "b") as sink:
            sink.write(frame(0, 5))
            raise RuntimeError("chunk 2 broke")
    assert path.read_bytes() == before
    with pytest.raises(RuntimeError):
        with open_sink(FileSink(path=str(tmp_path / "new.csv")), "c") as sink:
            sink.write(frame(0, 5))
            raise RuntimeError("chunk 2 broke")
    assert not (tmp_path / "new.csv").exists()


def test_bad_csv_paths_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(SinkError, match=r"^file sink .*a_file/p\.csv: cannot create its folder: ") as error:
        open_sink(FileSink(path=str(tmp_path / "a_file" / "p.csv")), "a")
    assert "\n" not in str(error.value)
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(SinkError, match=r"dir\.csv: is a directory; expected a CSV file path"):
        open_sink(FileSink(path=str(tmp_path / "dir.csv")), "a")


# --------------------------------------------------------------------------- parquet


def test_parquet_runs_add_part_files_to_a_directory(tmp_path: Path) -> None:
    path = tmp_path / "predictions.parquet"
    write_run(FileSink(path=str(path)), "run1", frame(0, 3), frame(3, 3))
    write_run(FileSink(path=str(path)), "run2", frame(0, 4))
    names = sorted(p.name for p in path.iterdir())
    assert names == ["part-run1-00000.parquet", "part-run1-00001.parquet", "part-run2-00000.parquet"]
    back = pd.read_parquet(path)
    assert back["input_row"].tolist() == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3]
    assert back["scored_at"].eq(SCORED_AT).all() and back["model_version"].astype(str).eq("3").all()


def test_a_failed_run_removes_only_its_own_parts(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    write_run(FileSink(path=str(path)), "run1", frame(0, 3))
    with pytest.raises(RuntimeError):
        with open_sink(FileSink(path=str(path)), "run2") as sink:
            sink.write(frame(0, 3))
            raise RuntimeError("later chunk broke")
    assert [p.name for p in path.iterdir()] == ["part-run1-00000.parquet"]


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


def count(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
    finally:
        engine.dispose()


def test_sql_creates_the_table_then_appends(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    sink = write_run(SqlSink(url=url, table="predictions"), "a", frame(0, 3), frame(3, 2))
    assert sink.description == f"sql sink table 'predictions' at {url}"
    write_run(SqlSink(url=url, table="predictions"), "b", frame(0, 4, SCORED_AT + pd.Timedelta(days=1)))
    assert count(url, "predictions") == 9
    engine = sa.create_engine(url)
    back = pd.read_sql("SELECT * FROM predictions", engine)
    engine.dispose()
    assert list(back.columns) == ["input_row", "prediction", "probability", "model_version", "scored_at"]
    assert back["prediction"].tolist()[:3] == [
        "No",
        "Yes",
        "Yes",
    ]  # probabilities 0.1, 0.5, 0.9 and back["scored_at"].nunique() == 2


def test_a_failed_run_rolls_the_table_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    write_run(SqlSink(url=url, table="predictions"), "a", frame(0, 3))
    with pytest.raises(RuntimeError):
        with open_sink(SqlSink(url=url, table="predictions"), "b") as sink:
            sink.write(frame(0, 3))
            raise RuntimeError("later chunk broke")
    assert count(url, "predictions") == 3


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
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE predictions (customer_id TEXT)"))
    engine.dispose()
    with pytest.raises(
        SinkError, match=r"^sql sink table 'predictions' at sqlite.*: OperationalError: .*input_row"
    ) as error:
        write_run(SqlSink(url=url, table="predictions"), "a", frame(0, 2))
    assert "\n" not in str(error.value)


def test_inference_parameters_take_either_sink() -> None:
    parameters = InferenceParameters(
        source={"type": "file", "path": "new.csv"}, sink={"type": "sql", "url_env": "DB", "table": "p"}
    )
    assert parameters.chunk_rows == 100_000 and parameters.key_column is None
    assert isinstance(parameters.sink, SqlSink)
    with pytest.raises(ValidationError, match="chunk_rows"):
        InferenceParameters(source={"type": "file", "path": "a.csv"}, sink={"path": "b.csv"}, chunk_rows=0)

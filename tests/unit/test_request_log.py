"""The serving request log: queue, rotated atomic Parquet files, overflow, shutdown, reader."""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from serving.bundle import FeatureColumn
from serving.request_log import (
    LOG_COLUMNS,
    RequestLogSettings,
    RequestLogWriter,
    read_request_log,
)
from serving.request_schema import RequestSchema
from tests.conftest import PROJECT_ROOT
from tests.processes import wait_for

COLUMNS = [
    FeatureColumn(name="tenure", kind="numeric"),
    FeatureColumn(name="contract", kind="categorical", categories=["Month-to-month", "One year"]),
    FeatureColumn(name="senior", kind="binary"),
    FeatureColumn(name="payment", kind="categorical"),
]
NAMES = [column.name for column in COLUMNS]
FILE_NAME = re.compile(r"^requests-\d{8}T\d{12}Z-(\d+)-([0-9a-f]{8})-(\d{6})\.parquet$")


@pytest.fixture
def schema() -> RequestSchema:
    return RequestSchema(COLUMNS)


def request(schema: RequestSchema, first: int, n: int):
    """``n`` parsed rows whose tenure is first, first+1, ... (row i of the whole test: tenure i)."""
    rows = [
        [float(i), "One year" if i % 2 else "Month-to-month", i % 2, None if i % 3 == 0 else f"pay-{i}"]
        for i in range(first, first + n)
    ]
    return schema.parse({"data": {"names": NAMES, "ndarray": rows}})


def append(writer: RequestLogWriter, schema: RequestSchema, first: int, n: int, **kwargs) -> int:
    probabilities = np.arange(first, first + n) / 1000.0
    labels = ["Yes" if i % 2 else "No" for i in range(first, first + n)]
    return writer.append(
        request(schema, first, n), labels, probabilities, kwargs.pop("version", "7"), f"req-{first}", **kwargs
    )


def log_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("requests-*.parquet"))


@pytest.fixture
def writers():
    """Writers created by a test, closed at its end whatever happens."""
    made: list[RequestLogWriter] = []

    def make(folder, **kwargs) -> RequestLogWriter:
        made.append(RequestLogWriter(folder, COLUMNS, **kwargs))
        return made[-1]

    yield make
    for writer in made:
        writer.close()


# ---------------------------------------------------------------------- what is written


def test_rows_read_back_with_features_as_parsed_and_the_log_columns(tmp_path, schema, writers):
    writer = writers(tmp_path, start=False)
    before = datetime.now(UTC)
    assert append(writer, schema, 0, 3) == 0
    frame = pd.DataFrame({"tenure": [3.0], "contract": ["Two year"], "senior": [1.0], "payment": [np.nan]})
    writer.append(frame, ["Yes"], np.array([0.75]), "7", "from-a-frame")  # a DataFrame works too
    assert writer.flush() == 4
    after = datetime.now(UTC)

    log = read_request_log(tmp_path)
    assert list(log.columns) == NAMES + LOG_COLUMNS
    assert log["tenure"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert log["contract"].tolist() == ["Month-to-month", "One year", "Month-to-month", "Two year"]
    assert log["senior"].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert log["payment"].isna().tolist() == [True, False, False, True]  # null stays missing (NaN)
    assert log.loc[1, "payment"] == "pay-1"
    assert log["prediction"].tolist() == ["No", "Yes", "No", "Yes"]
    assert log["probability"].tolist() == [0.0, 0.001, 0.002, 0.75]
    assert log["model_version"].tolist() == ["7"] * 4
    assert log["request_id"].tolist() == ["req-0"] * 3 + ["from-a-frame"]
    assert str(log["logged_at"].dtype) == "datetime64[us, UTC]"
    assert log["logged_at"].between(before, after).all()
    assert {str(t) for t in log.dtypes[NAMES]} == {"float64", "object"}
    assert log["tenure"].dtype == log["senior"].dtype == np.float64


def test_features_named_like_a_log_column_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"feature column\(s\) \['prediction'\] clash"):
        RequestLogWriter(tmp_path, [FeatureColumn(name="prediction", kind="numeric")], start=False)


# ---------------------------------------------------------------------- rotation


def test_a_file_holds_at_most_max_rows_and_the_rest_waits_for_the_clock(tmp_path, schema, writers):
    writer = writers(tmp_path, max_rows=3, start=False)
    for first, n in ((0, 2), (2, 2), (4, 3)):
        append(writer, schema, first, n)
    assert writer.flush(everything=False) == 6  # two full files; 1 row left for the timer
    assert [len(pd.read_parquet(path)) for path in log_files(tmp_path)] == [3, 3]
    assert writer.flush() == 1
    files = log_files(tmp_path)
    assert [len(pd.read_parquet(path)) for path in files] == [3, 3, 1]
    assert read_request_log(tmp_path)["tenure"].tolist() == [float(i) for i in range(7)]
    sequences = [int(FILE_NAME.match(path.name).group(3)) for path in files]
    assert sequences == [1, 2, 3]


def test_the_thread_writes_as_soon_as_max_rows_are_queued(tmp_path, schema, writers):
    writer = writers(tmp_path, max_rows=5, flush_s=300)
    append(writer, schema, 0, 4)
    time.sleep(0.3)
    assert log_files(tmp_path) == []  # fewer than max_rows: waits for the (long) period
    append(writer, schema, 4, 3)
    assert wait_for(lambda: len(log_files(tmp_path)) == 1, 5)
    assert len(pd.read_parquet(log_files(tmp_path)[0])) == 5
    assert writer.rows_written == 5


def test_the_thread_writes_a_new_file_every_flush_interval(tmp_path, schema, writers):
    writer = writers(tmp_path, flush_s=0.3)
    started = time.monotonic()
    append(writer, schema, 0, 2)
    assert wait_for(lambda: len(log_files(tmp_path)) == 1, 5)
    first_file = time.monotonic() - started
    time.sleep(0.7)  # idle periods write nothing
    assert len(log_files(tmp_path)) == 1
    append(writer, schema, 2, 1)
    assert wait_for(lambda: len(log_files(tmp_path)) == 2, 5)
    assert first_file < 2.0
    assert [len(pd.read_parquet(path)) for path in log_files(tmp_path)] == [2, 1]


# ---------------------------------------------------------------------- files


def test_files_are_renamed_complete_and_temporary_files_are_ignored(tmp_path, schema, writers):
    (tmp_path / ".requests-20990101T000000000000Z-1-deadbeef-000001.parquet.tmp").write_bytes(b"PAR1 half")
    (tmp_path / "notes.txt").write_text("not a log file")
    writer = writers(tmp_path, max_rows=50, flush_s=0.05)
    stop = threading.Event()
    seen: list[int] = []
    errors: list[str] = []

    def read_while_writing():
        while not stop.is_set():
            try:
                seen.append(len(read_request_log(tmp_path)))
            except Exception as exc:  # a half-written file would show up here
                errors.append(repr(exc))

    reader = threading.Thread(target=read_while_writing)
    reader.start()
    for first in range(0, 2000, 20):
        append(writer, schema, first, 20)
        time.sleep(0.002)
    writer.close()
    stop.set()
    reader.join()
    assert errors == []
    assert len(seen) > 5 and seen == sorted(seen)  # only ever whole files, growing
    assert len(read_request_log(tmp_path)) == 2000
    names = [path.name for path in tmp_path.iterdir() if path.name.startswith("requests-")]
    assert names and all(FILE_NAME.match(name) for name in names)
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".tmp") and "2099" not in path.name]


def _write_in_a_process(folder: str, first: int) -> None:
    schema = RequestSchema(COLUMNS)
    writer = RequestLogWriter(folder, COLUMNS, max_rows=7, flush_s=0.05)
    for start in range(first, first + 100, 10):
        append(writer, schema, start, 10)
    writer.close()


def test_several_writers_and_processes_share_one_directory(tmp_path, schema, writers):
    in_process = [writers(tmp_path, max_rows=7, flush_s=0.05) for _ in range(3)]
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_write_in_a_process, args=(str(tmp_path), 1000 * k)) for k in (1, 2)]
    for process in processes:
        process.start()
    for k, writer in enumerate(in_process):
        for start in range(5000 + 1000 * k, 5100 + 1000 * k, 10):
            append(writer, schema, start, 10)
    for writer in in_process:
        writer.close()
    for process in processes:
        process.join(30)
        assert process.exitcode == 0

    log = read_request_log(tmp_path)
    expected = [float(i) for k in (1, 2, 5, 6, 7) for i in range(1000 * k, 1000 * k + 100)]
    assert sorted(log["tenure"].tolist()) == expected  # every row once
    matches = [FILE_NAME.match(path.name) for path in log_files(tmp_path)]
    assert all(matches)
    writer_ids = {(m.group(1), m.group(2)) for m in matches}
    assert len(writer_ids) == 5  # 3 tokens in this pid, 2 other pids
    assert {m.group(1) for m in matches} == {str(os.getpid())} | {str(p.pid) for p in processes}


# ---------------------------------------------------------------------- overflow and failures


def test_overflow_drops_the_oldest_rows_and_counts_them(tmp_path, schema, writers, caplog):
    writer = writers(tmp_path, max_buffer_rows=10, start=False)
    assert append(writer, schema, 0, 4) == 0
    assert append(writer, schema, 4, 4) == 0
    assert append(writer, schema, 8, 4) == 2  # 12 queued: rows 0 and 1 go
    assert append(writer, schema, 12, 5) == 5  # rows 2..6 go (the rest of the first request and 4..6)
    assert append(writer, schema, 17, 1) == 1
    assert writer.rows_dropped == 8 and writer.rows_appended == 18
    assert writer.flush() == 10
    log = read_request_log(tmp_path)
    assert log["tenure"].tolist() == [float(i) for i in range(8, 18)]  # the newest 10 rows
    assert log["request_id"].tolist() == ["req-8"] * 4 + ["req-12"] * 5 + ["req-17"]
    with caplog.at_level(logging.WARNING, logger="serving.request_log"):
        writer._report_drops()
    assert "8 rows dropped so far" in caplog.text and "SERVING_REQUEST_LOG_MAX_BUFFER_ROWS" in caplog.text


def test_overflow_keeps_memory_bounded_under_a_stalled_writer(tmp_path, schema, writers):
    writer = writers(tmp_path, max_buffer_rows=1000, start=False)  # nothing writes: the worst case
    dropped = sum(append(writer, schema, i, 10) for i in range(0, 50_000, 10))
    assert writer._queued_rows == 1000 and len(writer._queue) == 100
    assert dropped == writer.rows_dropped == 49_000


def test_a_file_that_cannot_be_written_is_counted_as_dropped(tmp_path, schema, writers, caplog):
    folder = tmp_path / "log"
    writer = writers(folder, start=False)
    append(writer, schema, 0, 3)
    folder.rmdir()  # the directory disappears under the server
    with caplog.at_level(logging.ERROR, logger="serving.request_log"):
        assert writer.flush() == 0
    assert "dropped 3 rows, cannot write" in caplog.text
    assert append(writer, schema, 3, 1) == 3  # reported with the next request
    folder.mkdir()
    assert writer.flush() == 1


# ---------------------------------------------------------------------- shutdown


def test_close_writes_what_is_queued_and_later_rows_are_counted_as_dropped(tmp_path, schema, writers):
    writer = writers(tmp_path, flush_s=300)
    append(writer, schema, 0, 5)
    writer.close()
    assert len(read_request_log(tmp_path)) == 5
    assert append(writer, schema, 5, 2) == 2
    writer.close()  # again: nothing happens
    assert len(log_files(tmp_path)) == 1


def test_a_normal_interpreter_exit_writes_the_queue(tmp_path):
    """A gunicorn worker ends with a normal exit on SIGTERM: atexit writes the queued rows."""
    script = f"""
import numpy as np
from serving.bundle import FeatureColumn
from serving.request_log import RequestLogWriter
writer = RequestLogWriter({str(tmp_path)!r}, [FeatureColumn(name="x", kind="numeric")], flush_s=300)
frame = __import__("pandas").DataFrame({{"x": [1.0, 2.0]}})
writer.append(frame, ["a", "b"], np.array([0.1, 0.9]), "1", "r")
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    log = read_request_log(tmp_path)
    assert log["x"].tolist() == [1.0, 2.0] and log["prediction"].tolist() == ["a", "b"]


# ---------------------------------------------------------------------- reading


def test_since_filters_by_logged_at(tmp_path, schema, writers):
    writer = writers(tmp_path, start=False)
    now = datetime.now(UTC)
    for i, hours in enumerate((50, 3, 1)):
        append(writer, schema, i, 1, logged_at=now - timedelta(hours=hours))
        writer.flush()
    assert read_request_log(tmp_path)["tenure"].tolist() == [0.0, 1.0, 2.0]
    assert read_request_log(tmp_path, since=timedelta(hours=2))["tenure"].tolist() == [2.0]
    assert read_request_log(tmp_path, since=now - timedelta(hours=4))["tenure"].tolist() == [1.0, 2.0]
    exact = read_request_log(tmp_path, since=now - timedelta(hours=3))
    assert exact["tenure"].tolist() == [1.0, 2.0]  # logged_at >= since
    future = read_request_log(tmp_path, since=now + timedelta(minutes=1))
    assert future.empty and list(future.columns) == LOG_COLUMNS
    with pytest.raises(ValueError, match="no time zone"):
        read_request_log(tmp_path, since=datetime(2026, 1, 1))


def test_files_written_long_before_since_are_not_opened(tmp_path, schema, writers):
    writer = writers(tmp_path, start=False)
    append(writer, schema, 0, 1)
    writer.flush()
    old = log_files(tmp_path)[0]
    renamed = old.with_name(re.sub(r"requests-\d{8}T\d{12}Z", "requests-20200101T000000000000Z", old.name))
    old.rename(renamed)
    renamed.write_bytes(b"not parquet")  # would be reported if it were read
    assert read_request_log(tmp_path, since=timedelta(days=1)).empty


def test_versions_with_other_columns_read_as_one_frame(tmp_path, schema, writers):
    older = writers(tmp_path, start=False)
    append(older, schema, 0, 2)
    older.flush()
    newer = RequestLogWriter(tmp_path, [*COLUMNS, FeatureColumn(name="extra", kind="numeric")], start=False)
    row = {"tenure": [9.0], "contract": ["One year"], "senior": [0.0], "payment": ["x"], "extra": [5.0]}
    newer.append(pd.DataFrame(row), ["No"], np.array([0.2]), "8", "new")
    newer.close()
    log = read_request_log(tmp_path)
    assert list(log.columns) == [*NAMES, "extra", *LOG_COLUMNS]
    assert log["model_version"].tolist() == ["7", "7", "8"]
    assert log["extra"].isna().tolist() == [True, True, False] and log.loc[2, "extra"] == 5.0


def test_an_empty_directory_gives_an_empty_frame_and_a_missing_one_an_error(tmp_path):
    empty = read_request_log(tmp_path)
    assert empty.empty and list(empty.columns) == LOG_COLUMNS
    assert str(empty["logged_at"].dtype) == "datetime64[us, UTC]"
    with pytest.raises(FileNotFoundError, match=r"^request log directory .*nowhere does not exist"):
        read_request_log(tmp_path / "nowhere")


# ---------------------------------------------------------------------- settings


def test_settings_from_the_environment():
    assert RequestLogSettings.from_env(environ={}) is None
    assert RequestLogSettings.from_env(environ={"SERVING_REQUEST_LOG_DIR": "  "}) is None
    settings = RequestLogSettings.from_env(environ={"SERVING_REQUEST_LOG_DIR": "/var/log/x"})
    assert settings == RequestLogSettings(Path("/var/log/x"), 5.0, 50_000, 100_000)
    custom = RequestLogSettings.from_env(
        environ={
            "SERVING_REQUEST_LOG_DIR": "/d",
            "SERVING_REQUEST_LOG_FLUSH_S": "0.5",
            "SERVING_REQUEST_LOG_MAX_ROWS": "10",
            "SERVING_REQUEST_LOG_MAX_BUFFER_ROWS": "20",
        }
    )
    assert (custom.flush_s, custom.max_rows, custom.max_buffer_rows) == (0.5, 10, 20)
    assert RequestLogSettings.from_env("/given", environ={}).directory == Path("/given")
    for name, value in (("FLUSH_S", "0"), ("MAX_ROWS", "ten"), ("MAX_BUFFER_ROWS", "-1"), ("FLUSH_S", "inf")):
        with pytest.raises(ValueError, match=rf"SERVING_REQUEST_LOG_{name}='{value}' must be a positive"):
            RequestLogSettings.from_env(
                environ={"SERVING_REQUEST_LOG_DIR": "/d", f"SERVING_REQUEST_LOG_{name}": value}
            )


# ---------------------------------------------------------------------- where deployments log


def test_local_deployments_log_per_model_under_the_configured_folder(tmp_path, monkeypatch):
    from adapters.model_deployers import _local_seldon, _seldon_kubernetes
    from tabular_ml.configuration.schema import ServingConfig

    monkeypatch.chdir(tmp_path)
    assert ServingConfig().request_log_path("churn") == str(tmp_path / "data" / "request_log" / "churn")
    assert ServingConfig(request_log_dir="/srv/logs").request_log_path("churn") == "/srv/logs/churn"
    assert ServingConfig(request_log_dir="").request_log_path("churn") is None

    config, _ = _local_seldon("/bundles/3", "churn", "3", ServingConfig())
    assert config.request_log_dir == str(tmp_path / "data" / "request_log" / "churn")
    off, _ = _local_seldon("/bundles/3", "churn", "3", ServingConfig(request_log_dir=""))
    assert off.request_log_dir == ""

    deployer = type("Deployer", (), {"kubernetes_secret_name": "secret"})()
    for serving, logged in ((ServingConfig(), True), (ServingConfig(request_log_dir=" "), False)):
        k8s_config, _ = _seldon_kubernetes(deployer, "s3://b/churn/3", "churn", "3", serving)
        env = {e["name"]: e["value"] for e in k8s_config.spec["containers"][0]["env"]}
        assert ("SERVING_REQUEST_LOG_DIR" in env) is logged

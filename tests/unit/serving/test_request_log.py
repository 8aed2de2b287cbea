"""The serving request log: queue, rotated atomic Parquet files, bad text, overflow, retention, file
modes, hashed and omitted columns, shutdown, the reader and the monitoring step that reads it."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import multiprocessing
import os
import re
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from serving.bundle import FeatureColumn
from serving.request_log import (
    HASHED_COLUMNS_ATTR,
    LOG_COLUMNS,
    OMITTED_COLUMNS_ATTR,
    SHADOW_COLUMNS,
    RequestLogWriter,
    read_request_log,
)
from serving.request_schema import RequestSchema
from serving.shadow import ShadowOutput
from tests.support.paths import PROJECT_ROOT
from tests.support.processes import wait_for

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
    assert list(log.columns) == NAMES + LOG_COLUMNS + SHADOW_COLUMNS
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


KEY = b"0123456789abcdef-request-log-key"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"flush_s": 0}, r"^flush_s=0 must be a positive number$"),
        ({"max_rows": 2.5}, r"^max_rows=2.5 must be a positive integer$"),
        ({"max_buffer_rows": -1}, r"^max_buffer_rows=-1 must be a positive integer$"),
        ({"max_age_s": -1.0}, r"^max_age_s=-1.0 must be a positive number or None$"),
        ({"max_total_bytes": 0}, r"^max_total_bytes=0 must be a positive integer or None$"),
        ({"retention_check_s": float("inf")}, r"^retention_check_s=inf must be a positive number$"),
        ({"omitted_columns": ["email"]}, r"^omitted_columns names \['email'\], which the model's features"),
        ({"hashed_columns": "payment", "hash_key": KEY}, r"^hashed_columns must be a list of column names"),
        ({"hashed_columns": ["tenure"], "hash_key": KEY}, r"^hashed_columns names numeric .*\['tenure'\]"),
        ({"hashed_columns": ["senior"], "hash_key": KEY}, r"only categorical columns are hashed"),
        (
            {"hashed_columns": ["payment"], "omitted_columns": ["payment"], "hash_key": KEY},
            r"^hashed_columns and omitted_columns both name \['payment'\]",
        ),
        (
            {"hashed_columns": ["payment"]},
            r"^hashed_columns \['payment'\] need a hash_key .* does not start$",
        ),
        ({"hashed_columns": ["payment"], "hash_key": b"short"}, r"^hash_key has 5 bytes; at least 16"),
        ({"hashed_columns": ["payment"], "hash_key": "a text key"}, r"^hash_key must be bytes, not str$"),
    ],
)
def test_arguments_are_checked_with_one_line_errors_before_anything_is_created(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message) as error:
        RequestLogWriter(tmp_path / "log", COLUMNS, start=False, **kwargs)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "log").exists()


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
    assert "8 rows dropped so far" in caplog.text and "max_buffer_rows=10 rows queued" in caplog.text


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


# ---------------------------------------------------------------------- values that do not convert


def test_text_that_is_not_utf8_is_escaped_in_that_value_and_no_other_row_is_lost(tmp_path, schema, writers):
    """JSON allows a lone surrogate ("\ud800"), UTF-8 does not: it once lost every row of the file."""
    writer = writers(tmp_path, start=False)
    append(writer, schema, 0, 10)
    body = json.loads(
        '{"data": {"names": ["tenure", "contract", "senior", "payment"], '
        '"ndarray": [[10, "One year", 1, "x\\ud800y"]]}, "meta": {"puid": "\\ud800"}}'
    )
    assert body["meta"]["puid"] == "\ud800"
    writer.append(schema.parse(body), ["Yes"], np.array([0.5]), "7", body["meta"]["puid"])
    append(writer, schema, 11, 10)
    assert writer.flush() == 21
    assert writer.rows_dropped == 0 and writer.files_written == 1

    log = read_request_log(tmp_path)
    assert len(log) == 21
    bad = log.loc[10]
    assert (
        bad["request_id"] == "\\ud800" and bad["payment"] == "x\\ud800y"
    )  # backslashreplace, that value only
    assert (bad["tenure"], bad["contract"], bad["senior"], bad["prediction"]) == (
        10.0,
        "One year",
        1.0,
        "Yes",
    )
    good = log.drop(index=10)
    rows = [i for i in range(21) if i != 10]
    assert good["tenure"].tolist() == [float(i) for i in rows]
    assert good["request_id"].tolist() == ["req-0"] * 10 + ["req-11"] * 10
    assert good["payment"].isna().tolist() == [i % 3 == 0 for i in rows]
    assert good["payment"].dropna().tolist() == [f"pay-{i}" for i in rows if i % 3]
    assert good["contract"].tolist() == ["One year" if i % 2 else "Month-to-month" for i in rows]


class Arrays:
    """A ParsedRequest look-alike: the feature blocks as given."""

    def __init__(self, numeric, text):
        self.numeric, self.text = numeric, text


def test_rows_that_still_do_not_convert_are_dropped_alone_and_counted(tmp_path, schema, writers, caplog):
    writer = writers(tmp_path, start=False)
    append(writer, schema, 0, 5)
    # numeric block (tenure, senior) x 2 rows: the first row's senior is not a number
    numeric = np.array([[5.0, 6.0], ["yes", 1.0]], dtype=object)
    text = np.array([["One year", "One year"], ["a", "b"]], dtype=object)
    writer.append(Arrays(numeric, text), ["No", "Yes"], np.array([0.1, 0.2]), "7", "odd")
    # a request whose block has a column too many: its one row cannot line up with the others
    writer.append(
        Arrays(np.zeros((3, 1)), np.empty((2, 1), dtype=object)), ["No"], np.array([0.3]), "7", "bent"
    )
    append(writer, schema, 7, 5)
    with caplog.at_level(logging.ERROR, logger="serving.request_log"):
        assert writer.flush() == 11
    assert "dropped 1 rows of requests whose arrays do not convert" in caplog.text
    assert "dropped 1 of 12 rows whose values do not convert" in caplog.text
    assert writer.rows_dropped == 2 and writer.files_written == 1
    assert append(writer, schema, 12, 1) == 2  # reported with the next request
    log = read_request_log(tmp_path)
    assert log["tenure"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
    assert log.loc[5, "request_id"] == "odd" and log.loc[5, "payment"] == "b"


# ---------------------------------------------------------------------- retention


def write_files(writer: RequestLogWriter, schema: RequestSchema, count: int) -> list[Path]:
    """``count`` files of 3 rows each, in the order written."""
    for k in range(count):
        append(writer, schema, 3 * k, 3)
        writer.flush()
    return log_files(writer.directory)


def age(path: Path, seconds: float) -> None:
    moment = time.time() - seconds
    os.utime(path, (moment, moment))


def other_files(folder: Path, seconds_old: float) -> list[Path]:
    """What retention must leave alone: another process's file being written, and files not the log's."""
    paths = [
        folder / ".requests-20200101T000000000000Z-1-deadbeef-000001.parquet.tmp",
        folder / "notes.txt",
        folder / "requests-2020.csv",
        folder / "reference.parquet",
    ]
    for path in paths:
        path.write_bytes(b"x" * 100_000)
        age(path, seconds_old)
    return paths


def test_retention_deletes_log_files_older_than_max_age(tmp_path, schema, writers):
    writer = writers(tmp_path, max_age_s=86_400, start=False)
    old, recent, new = write_files(writer, schema, 3)
    age(old, 3 * 86_400)
    age(recent, 2 * 3600)
    others = other_files(tmp_path, 30 * 86_400)
    assert writer.prune() == 1
    assert log_files(tmp_path) == [recent, new] and all(path.exists() for path in others)
    assert read_request_log(tmp_path)["tenure"].tolist() == [float(i) for i in range(3, 9)]
    assert writer.prune() == 0 and writer.files_pruned == 1


def test_retention_deletes_the_oldest_files_beyond_max_total_bytes(tmp_path, schema, writers):
    files = write_files(writers(tmp_path, start=False), schema, 5)
    for k, path in enumerate(files):  # modification times the other way round from the names
        age(path, 60 * (k + 1))
    sizes = [path.stat().st_size for path in files]
    others = other_files(tmp_path, 60)  # larger than the budget, and not counted
    writer = writers(tmp_path, max_total_bytes=sizes[0] + sizes[1] + 1, start=False)
    assert writer.prune() == 3
    assert log_files(tmp_path) == files[:2]  # the two modified last
    assert all(path.exists() for path in others)
    assert writer.prune() == 0


def test_the_thread_applies_retention_at_start_then_at_most_every_check_interval(tmp_path, schema, writers):
    first = write_files(writers(tmp_path, start=False), schema, 2)
    age(first[0], 7200)
    writer = writers(tmp_path, max_age_s=3600, retention_check_s=300, flush_s=0.05)
    assert wait_for(lambda: not first[0].exists(), 5)  # the first check is at start
    age(first[1], 7200)
    append(writer, schema, 100, 2)
    assert wait_for(lambda: len(log_files(tmp_path)) == 2, 5)
    time.sleep(0.5)
    assert first[1].exists() and writer.files_pruned == 1  # the next check is 300 s away

    often = tmp_path / "often"
    writer = writers(often, max_age_s=3600, retention_check_s=0.1, flush_s=0.05)
    append(writer, schema, 0, 2)
    assert wait_for(lambda: len(log_files(often)) == 1, 5)
    age(log_files(often)[0], 7200)
    assert wait_for(lambda: not log_files(often), 5)


def prune_at_once(pruners: list[RequestLogWriter]) -> tuple[list[int], list[str]]:
    """Each writer's ``prune()`` in a thread of its own, released together: files deleted, errors."""
    barrier = threading.Barrier(len(pruners))
    deleted: list[int] = []
    errors: list[str] = []

    def prune(writer: RequestLogWriter) -> None:
        barrier.wait()
        try:
            deleted.append(writer.prune())
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=prune, args=(writer,)) for writer in pruners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return deleted, errors


def test_two_writers_pruning_one_directory_at_once_delete_each_file_once(tmp_path):
    size, now = 1000, time.time()
    for round_ in range(10):
        folder = tmp_path / f"round-{round_}"
        folder.mkdir()
        paths = []
        for k in range(60):  # 30 older than max_age_s, then 30 recent: the 10 newest fit max_total_bytes
            path = folder / f"requests-20260101T000000000000Z-{k}-0000abcd-{k:06d}.parquet"
            path.write_bytes(b"x" * size)
            moment = now - (86_400 + k if k < 30 else 60 - k)
            os.utime(path, (moment, moment))
            paths.append(path)
        other_files(folder, 86_400 * 30)
        pruners = [
            RequestLogWriter(folder, COLUMNS, max_age_s=3600, max_total_bytes=10 * size, start=False)
            for _ in range(2)
        ]
        deleted, errors = prune_at_once(pruners)
        for writer in pruners:
            writer.close()
        assert errors == [] and sum(deleted) == 50
        assert log_files(folder) == paths[50:]
        assert len(list(folder.iterdir())) == 10 + 4


# ---------------------------------------------------------------------- file modes


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o002, 0o077])
def test_log_files_are_0o640_and_a_directory_the_writer_creates_0o750(tmp_path, schema, writers, umask):
    existing = tmp_path / "existing"
    existing.mkdir()
    existing.chmod(0o775)
    created = tmp_path / "made" / "churn"
    previous = os.umask(umask)
    try:
        for folder in (existing, created):
            writer = writers(folder, start=False)
            append(writer, schema, 0, 2)
            assert writer.flush() == 2
    finally:
        os.umask(previous)
    assert mode(existing) == 0o775  # the user's directory is left as it is
    assert mode(created) == mode(created.parent) == 0o750
    files = log_files(existing) + log_files(created)
    assert len(files) == 2 and {mode(path) for path in files} == {0o640}


# ---------------------------------------------------------------------- personal data


def digest(text: str, key: bytes = KEY) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def test_hashed_columns_are_keyed_digests_and_omitted_ones_are_not_written(tmp_path, schema, writers):
    writer = writers(
        tmp_path,
        hashed_columns=["payment", "contract"],
        omitted_columns=["tenure"],
        hash_key=KEY,
        start=False,
    )
    append(writer, schema, 0, 6)
    bad = pd.DataFrame({"tenure": [6.0], "contract": ["One year"], "senior": [0.0], "payment": ["x\ud800"]})
    writer.append(bad, ["No"], np.array([0.5]), "7", "bad")
    assert writer.flush() == 7
    assert "tenure" not in pq.read_schema(log_files(tmp_path)[0]).names  # not in the file at all

    log = read_request_log(tmp_path)
    assert list(log.columns) == ["contract", "senior", "payment", *LOG_COLUMNS, *SHADOW_COLUMNS]
    contracts = ["One year" if i % 2 else "Month-to-month" for i in range(6)] + ["One year"]
    assert log["contract"].tolist() == [digest(text) for text in contracts]
    assert log["contract"].nunique() == 2  # equal values stay equal: monitoring can still count them
    assert log.loc[1, "contract"] == log.loc[3, "contract"] != log.loc[0, "contract"]
    assert log.loc[1, "payment"] == digest("pay-1") and log.loc[1, "payment"] != "pay-1"
    assert log["payment"].isna().tolist() == [True, False, False, True, False, False, False]  # missing stays
    assert log.loc[6, "payment"] == digest("x\\ud800")  # the escaped text, as a plain column would hold it
    assert log["senior"].tolist() == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    assert log.attrs[HASHED_COLUMNS_ATTR] == ["contract", "payment"]
    assert log.attrs[OMITTED_COLUMNS_ATTR] == ["tenure"]

    other_key = writers(tmp_path / "other", hashed_columns=["payment"], hash_key=b"another key, 16+ bytes")
    append(other_key, schema, 1, 1)
    other_key.close()
    assert read_request_log(tmp_path / "other")["payment"].tolist() == [
        digest("pay-1", b"another key, 16+ bytes")
    ]
    assert digest("pay-1", b"another key, 16+ bytes") != digest("pay-1")


def test_a_log_mixing_raw_hashed_and_omitted_files_reads_as_one_frame(tmp_path, schema, writers):
    raw = writers(tmp_path, start=False)
    append(raw, schema, 0, 2)
    raw.flush()
    private = writers(
        tmp_path, hashed_columns=["contract"], omitted_columns=["payment"], hash_key=KEY, start=False
    )
    append(private, schema, 2, 2)
    private.flush()
    log = read_request_log(tmp_path)
    assert list(log.columns) == NAMES + LOG_COLUMNS + SHADOW_COLUMNS
    assert log["contract"].tolist() == [
        "Month-to-month",
        "One year",
        digest("Month-to-month"),
        digest("One year"),
    ]
    assert log["payment"].isna().tolist() == [True, False, True, True]  # absent from the second file
    assert log.attrs[HASHED_COLUMNS_ATTR] == ["contract"] and log.attrs[OMITTED_COLUMNS_ATTR] == ["payment"]
    assert read_request_log(tmp_path, since=timedelta(hours=1)).attrs[OMITTED_COLUMNS_ATTR] == ["payment"]
    only_raw = read_request_log(tmp_path, since=datetime.now(UTC) + timedelta(hours=1))
    assert only_raw.attrs == {HASHED_COLUMNS_ATTR: [], OMITTED_COLUMNS_ATTR: []}


def test_the_monitoring_step_leaves_hashed_and_omitted_columns_out_of_its_checks(
    tmp_path, schema, writers, caplog
):
    from steps.monitoring.prepare_monitoring_data import _comparable
    from tabular_ml.configuration.schema import DataContract
    from tabular_ml.monitoring.prepare import comparison_samples
    from tabular_ml.monitoring.quality import data_quality

    contract = DataContract(
        target="churn",
        columns={
            "tenure": {"kind": "numeric", "min": 0},
            "contract": {"kind": "categorical", "categories": ["Month-to-month", "One year"]},
            "senior": {"kind": "binary"},
            "payment": {"kind": "categorical"},
        },
    )
    reference = pd.DataFrame(
        {
            "tenure": np.arange(40.0),
            "contract": ["One year", "Month-to-month"] * 20,
            "senior": [0, 1] * 20,
            "payment": [f"pay-{i}" for i in range(40)],
            "churn": ["No", "Yes"] * 20,
        }
    )
    writer = writers(
        tmp_path, hashed_columns=["payment"], omitted_columns=["tenure"], hash_key=KEY, start=False
    )
    append(writer, schema, 0, 30)
    writer.flush()
    current = read_request_log(tmp_path)
    assert data_quality(current, reference, contract).missing_columns == ["tenure"]  # what it would report

    with caplog.at_level(logging.INFO, logger="steps.monitoring.prepare_monitoring_data"):
        frame, checked, left_out = _comparable(current, contract)
    assert left_out == ["payment", "tenure"]
    assert "Not checking ['payment', 'tenure'] for quality or drift" in caplog.text
    assert "hashed ['payment'] or not at all ['tenure']" in caplog.text
    assert "payment" not in frame.columns and "tenure" not in frame.columns
    assert list(checked.columns) == ["contract", "senior"] and list(contract.columns) == NAMES  # a copy
    quality = data_quality(frame, reference, checked)
    assert quality.missing_columns == [] and [c.column for c in quality.columns] == ["contract", "senior"]
    assert all(column.unseen_share == 0 for column in quality.columns)
    reference_sample, current_sample = comparison_samples(reference, frame, None, contract, 100, 0)
    assert list(reference_sample.columns) == list(current_sample.columns) == ["contract", "senior"]

    plain = writers(tmp_path / "plain", start=False)
    append(plain, schema, 0, 3)
    plain.flush()
    raw_log = read_request_log(tmp_path / "plain")
    assert _comparable(raw_log, contract) == (raw_log, contract, [])  # nothing to leave out
    source = reference.drop(columns="churn")  # another source: no attrs
    assert _comparable(source, contract)[2] == []


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
    assert future.empty and list(future.columns) == LOG_COLUMNS + SHADOW_COLUMNS
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
    assert list(log.columns) == [*NAMES, "extra", *LOG_COLUMNS, *SHADOW_COLUMNS]
    assert log["model_version"].tolist() == ["7", "7", "8"]
    assert log["extra"].isna().tolist() == [True, True, False] and log.loc[2, "extra"] == 5.0


def test_a_file_deleted_between_listing_and_reading_is_skipped_quietly(
    tmp_path, schema, writers, monkeypatch, caplog
):
    """Retention (of any writer) may delete a file while a reader goes through the directory."""
    writer = writers(tmp_path, start=False)
    for first in (0, 1):
        append(writer, schema, first, 1)
        writer.flush()
    gone = log_files(tmp_path)[0]
    read_table = pq.read_table

    def deleted_first(path, *args, **kwargs):
        if Path(path) == gone:
            gone.unlink()
        return read_table(path, *args, **kwargs)

    monkeypatch.setattr(pq, "read_table", deleted_first)
    with caplog.at_level(logging.WARNING, logger="serving.request_log"):
        assert read_request_log(tmp_path)["tenure"].tolist() == [1.0]
    assert caplog.text == ""


def test_an_empty_directory_gives_an_empty_frame_and_a_missing_one_an_error(tmp_path):
    empty = read_request_log(tmp_path)
    assert empty.empty and list(empty.columns) == LOG_COLUMNS + SHADOW_COLUMNS
    assert str(empty["logged_at"].dtype) == "datetime64[us, UTC]"
    with pytest.raises(FileNotFoundError, match=r"^request log directory .*nowhere does not exist"):
        read_request_log(tmp_path / "nowhere")


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


# ---------------------------------------------------------------------- a shadow's columns


def test_a_shadow_scores_queued_rows_in_chunks_and_a_failing_chunk_is_left_missing(
    tmp_path, schema, writers, monkeypatch
):
    monkeypatch.setattr("serving.request_log.SHADOW_CHUNK_ROWS", 4)
    calls = []

    def shadow(numeric, text):  # "Yes" when tenure is even; fails on the chunk holding tenure 5
        calls.append(numeric.shape[1])
        tenure = numeric[0]
        if 5 in tenure:
            raise RuntimeError("broken")
        return ShadowOutput(["Yes" if t % 2 == 0 else "No" for t in tenure], tenure / 100.0, "8")

    writer = writers(tmp_path, start=False, shadow=shadow)
    append(writer, schema, 0, 3)
    append(writer, schema, 3, 7)
    assert writer.flush() == 10
    assert calls == [4, 4, 2] and writer.shadow_failed_rows == 4
    log = read_request_log(tmp_path)
    scored = log["tenure"] < 4
    assert log.loc[scored, "shadow_prediction"].tolist() == ["Yes", "No", "Yes", "No"]
    assert log.loc[scored, "shadow_probability"].tolist() == [0.0, 0.01, 0.02, 0.03]
    assert log["shadow_model_version"].tolist() == ["8"] * 4 + [None] * 4 + ["8"] * 2
    assert log["prediction"].notna().all()

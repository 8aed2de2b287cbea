"""Reading ahead in a thread or a worker process (tabular_ml/data/prefetch.py): errors reach the
consumer, stopping early stops the producer, nested workers and spool files are cleaned up."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabular_ml.data.prefetch import prefetched
from tests.support.paths import PROJECT_ROOT


def test_the_worker_process_error_reaches_the_consumer() -> None:
    def broken():
        yield 1
        raise OSError("disk gone")

    items = prefetched(broken, "process")
    assert next(items) == 1
    with pytest.raises(OSError, match="disk gone"):
        next(items)

    class Unpicklable(Exception):
        def __init__(self, handle):
            super().__init__("cannot cross")
            self.handle = handle

    def unpicklable():
        raise Unpicklable(lambda: None)
        yield

    with pytest.raises(RuntimeError, match="^Unpicklable: cannot cross$"):
        list(prefetched(unpicklable, "process"))
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_stopping_early_stops_the_producer(mode) -> None:
    items = prefetched(lambda: iter(range(10**9)), mode, ahead=2)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()
    assert multiprocessing.active_children() == []


def ended(pid: int) -> bool:
    """The process is gone (or a zombie nobody has reaped yet)."""
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def pids_and_numbers(numbers: Iterator[int]) -> Iterator[tuple[int, int]]:
    for number in numbers:
        yield os.getpid(), number


def test_a_nested_prefetch_runs_in_a_worker_of_the_worker_and_stops_with_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def outer() -> Iterator[tuple[int, int, int]]:
        for reader, number in prefetched(lambda: pids_and_numbers(iter(range(10**9))), "process"):
            yield reader, os.getpid(), number * 10

    items = prefetched(outer, "process")
    received = [next(items) for _ in range(20)]
    assert [number for _, _, number in received] == [n * 10 for n in range(20)]  # in order, once each
    reader, scorer = received[0][:2]
    assert len({reader, scorer, os.getpid()}) == 3
    items.close()
    assert multiprocessing.active_children() == []
    deadline = time.monotonic() + 10
    while not ended(reader) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ended(reader)  # the worker's own worker was stopped too
    assert list(tmp_path.iterdir()) == []  # both spool directories are gone


def test_an_error_in_a_nested_worker_reaches_the_first_consumer() -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise OSError("disk gone in the reader")

    def outer() -> Iterator[int]:
        for number in prefetched(broken, "process"):
            yield number * 10

    items = prefetched(outer, "process")
    assert next(items) == 10
    with pytest.raises(OSError, match="^disk gone in the reader$"):
        next(items)
    assert multiprocessing.active_children() == []


def test_the_worker_ends_when_the_consumers_process_is_killed(tmp_path) -> None:
    script = (
        "import sys, tempfile, time\n"
        f"tempfile.tempdir = {str(tmp_path)!r}\n"
        "from tabular_ml.data.prefetch import prefetched\n"
        "items = prefetched(lambda: iter(range(10**9)), 'process')\n"
        "next(items)\n"
        "import multiprocessing\n"
        "print(multiprocessing.active_children()[0].pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    consumer = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT
    )
    try:
        worker = int(consumer.stdout.readline())
        consumer.kill()  # SIGKILL: no clean-up of its own
        consumer.wait()
        deadline = time.monotonic() + 10
        while not ended(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ended(worker)
        assert list(tmp_path.iterdir()) == []  # the worker removed the spool directory
    finally:
        consumer.kill()
        consumer.stdout.close()


def test_items_cross_through_spool_files_that_are_removed_however_it_ends(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the spool directory goes
    frames = [
        pd.DataFrame({"text": ["a b"] * 50_000, "number": np.arange(50_000) + start}) for start in (0, 1)
    ]
    received = list(prefetched(lambda: iter(frames), "process"))
    for got, sent in zip(received, frames, strict=True):
        pd.testing.assert_frame_equal(got, sent)
    assert list(tmp_path.iterdir()) == []

    items = prefetched(lambda: iter(frames * 100), "process", ahead=2)
    next(items)
    time.sleep(0.5)  # the worker has spooled the next items
    assert len(list(next(tmp_path.iterdir()).iterdir())) >= 2
    items.close()  # stopped early
    assert list(tmp_path.iterdir()) == []

    def broken():
        yield from frames
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(prefetched(broken, "process"))
    assert list(tmp_path.iterdir()) == []

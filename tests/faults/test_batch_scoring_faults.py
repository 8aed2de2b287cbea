"""Batch scoring killed with ``kill -9`` after k of n chunks, into each kind of sink.

What must hold afterwards: the output is as the last complete run left it (no row of the
killed run, a ``.csv.gz`` that reads), a rerun writes the input's n chunks of rows exactly
once, a second complete rerun changes nothing but ``scored_at``, and a run with another model
version adds its rows apart from the first version's.

The killed run is real batch scoring (:func:`run_batch_scoring`, a forked reader and scorer
as in the inference step) in a fresh interpreter (``tests/faults/batch_child.py``), held
after chunk k is written and killed with SIGKILL; its workers are left to end by themselves,
as after the OOM killer. The complete runs score in the test's process (the same function;
an interpreter of their own would only add seconds of imports).

A full disk under the output (a 256 KiB tmpfs; needs root to mount, skipped otherwise): a
one-line error, the output as it was, no temporary file left, and the next run succeeds.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression

from tabular_ml.configuration.schema import CleaningConfig, PreprocessingConfig
from tabular_ml.data.sinks import BATCH_KEY, SinkError
from tabular_ml.modelling.model import build_model, encode_target
from tabular_ml.modelling.trained_model import TrainedModel
from tabular_ml.tasks.target import TargetSpec
from tests.faults.batch_child import score
from tests.support.factories import tiny_contract, tiny_frame
from tests.support.paths import PROJECT_ROOT
from tests.support.services import database_url_or_skip
from tests.support.small_disk import small_tmpfs

CHUNKS, CHUNK_ROWS, KILLED_AFTER = 5, 200, 3
ROWS = CHUNKS * CHUNK_ROWS
SERVERS = {
    "postgresql": ("TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"),
    "mariadb": ("TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
OUTPUTS = ["csv", "csv.gz", "parquet", *(pytest.param(name, marks=pytest.mark.services) for name in SERVERS)]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    contract = tiny_contract()
    train = tiny_frame(200, seed=1)
    pipeline = build_model(contract, PreprocessingConfig(), [], LogisticRegression(max_iter=500))
    pipeline.fit(train[contract.feature_names], encode_target(train[contract.target], contract))
    target = TargetSpec(column="churn", task="binary", classes=["No", "Yes"])
    path = tmp_path_factory.mktemp("model") / "model.pkl"
    path.write_bytes(
        pickle.dumps(TrainedModel(pipeline, contract, CleaningConfig(), target, 0.5, "churn", "3"))
    )
    return path


class Output:
    """One sink under test: its config, and its rows as a reader sees them."""

    def __init__(self, kind: str, folder: Path):
        self.kind, self.folder = kind, folder
        folder.mkdir()
        self.url = self.table = None
        if kind in SERVERS:
            self.url = database_url_or_skip(*SERVERS[kind])
            self.table = f"faults_{uuid.uuid4().hex[:12]}"
            self.config = {"type": "sql", "url": self.url, "table": self.table}
        else:
            self.path = folder / f"predictions.{kind}"
            self.config = {"type": "file", "path": str(self.path)}

    def rows(self) -> pd.DataFrame:
        """Every row a reader gets now, sorted (empty before the first run)."""
        if self.kind in SERVERS:
            engine = sa.create_engine(self.url)
            try:
                with engine.connect() as connection:
                    if not sa.inspect(connection).has_table(self.table):
                        return pd.DataFrame()
                    frame = pd.read_sql(sa.text(f"SELECT * FROM {self.table}"), connection)
            finally:
                engine.dispose()
        elif not self.path.exists():
            return pd.DataFrame()
        elif self.kind == "parquet":
            frame = pd.read_parquet(self.path)
            if frame.columns.empty:  # a directory without a part
                return pd.DataFrame()
            frame[["prediction", "model_version", BATCH_KEY]] = frame[
                ["prediction", "model_version", BATCH_KEY]
            ].astype(str)
        else:
            frame = pd.read_csv(self.path)  # a torn line or a truncated gzip member would raise here
        frame["scored_at"] = pd.to_datetime(frame["scored_at"], utc=True)
        frame["model_version"] = frame["model_version"].astype(str)
        return frame.sort_values([BATCH_KEY, "input_row"]).reset_index(drop=True)

    def leftovers(self) -> list[str]:
        """Files next to (or in) a file output other than the output, its lock and its parts."""
        if self.kind in SERVERS:
            return []
        names = {p.name for p in self.folder.iterdir()} - {self.path.name, f".{self.path.name}.lock"}
        if self.kind == "parquet":
            names |= {p.name for p in self.path.iterdir() if not p.name.startswith("batch-")}
        return sorted(names)

    def staged(self) -> list[Path]:
        """The staging files of runs that did not finish (hidden: readers skip them)."""
        if self.kind in SERVERS:
            return []
        return sorted((self.path if self.kind == "parquet" else self.folder).glob(".*.rows.tmp"))

    def drop(self) -> None:
        if self.kind in SERVERS:
            engine = sa.create_engine(self.url)
            with engine.begin() as connection:
                connection.execute(sa.text(f"DROP TABLE IF EXISTS {self.table}"))
            engine.dispose()


@pytest.fixture
def output(request, tmp_path: Path):
    sink = Output(request.param, tmp_path / "out")
    yield sink
    sink.drop()


@pytest.fixture
def killed_groups():
    """Process groups of killed runs: their orphaned workers end by themselves, or here."""
    groups: list[int] = []
    yield groups
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass


def inputs(folder: Path) -> tuple[Path, Path]:
    """Two inputs of n chunks each: A (scored before the fault) and B (the killed run's)."""
    first, second = folder / "a.csv", folder / "b.csv"
    tiny_frame(ROWS, seed=11).to_csv(first, index=False)
    tiny_frame(ROWS, seed=12).to_csv(second, index=False)
    return first, second


def spec(model_file: Path, output: Output, source: Path, hour: int, version: str = "3") -> dict:
    """A run's arguments; ``hour`` makes its ``scored_at`` (runs are hours apart)."""
    return {
        "model": str(model_file),
        "version": version,
        "source": {"type": "file", "path": str(source)},
        "sink": output.config,
        "chunk_rows": CHUNK_ROWS,
        "store_dir": str(output.folder.parent / "store"),
        "scored_at": f"2026-05-01T{hour:02d}:00:00+00:00",
    }


def at(hour: int) -> pd.Timestamp:
    return pd.Timestamp(f"2026-05-01T{hour:02d}:00:00", tz="UTC")


def killed_after(arguments: dict, chunks: int, groups: list[int], log: Path) -> None:
    """Batch scoring in a fresh interpreter, SIGKILLed once ``chunks`` chunks were written."""
    with log.open("w") as stderr:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.faults.batch_child",
                json.dumps({**arguments, "stop_after": chunks}),
            ],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,  # a group with its workers, to clean up after the test
        )
    groups.append(child.pid)
    try:
        line = child.stdout.readline()
        assert line == f"STOPPED {chunks}\n", log.read_text()[-3000:]
    finally:
        child.send_signal(signal.SIGKILL)  # the main process only, as the OOM killer would
        child.wait(timeout=10)
        child.stdout.close()


def rerun(arguments: dict) -> int:
    """A complete run. Into a file output at once: the killed run's lock went with its process,
    whatever its orphaned workers still do. Into a table it is retried for up to 5 s, while the
    server ends the killed run's session (and its advisory lock)."""
    for _ in range(50):
        try:
            return score(arguments).rows
        except SinkError as error:
            if "another run is writing" not in str(error) or arguments["sink"]["type"] != "sql":
                raise
            time.sleep(0.1)
    raise AssertionError("the killed run's lock was never released")


@pytest.mark.parametrize("output", OUTPUTS, indirect=True)
def test_killed_after_k_of_n_chunks_the_output_keeps_its_last_complete_state_and_reruns_replace(
    model_file: Path, output: Output, tmp_path: Path, killed_groups: list[int]
) -> None:
    first, second = inputs(tmp_path)
    assert score(spec(model_file, output, first, hour=1)).rows == ROWS
    before = output.rows()
    raw_before = output.path.read_bytes() if output.kind.startswith("csv") else None
    assert len(before) == ROWS and before[BATCH_KEY].nunique() == 1

    killed_after(
        spec(model_file, output, second, hour=2), KILLED_AFTER, killed_groups, tmp_path / "killed.log"
    )
    if output.kind.startswith("csv"):  # the killed run had written its 3 chunks, out of readers' sight
        (staged,) = output.staged()
        assert staged.read_text().count("\n") == KILLED_AFTER * CHUNK_ROWS
    elif output.kind == "parquet":
        assert len(output.staged()) == 1 and output.staged()[0].stat().st_size > 0
    after_kill = output.rows()
    pd.testing.assert_frame_equal(after_kill, before)  # no row of the killed run's 3 chunks
    if raw_before is not None:
        assert output.path.read_bytes() == raw_before

    assert rerun(spec(model_file, output, second, hour=3)) == ROWS
    once = output.rows()
    assert output.leftovers() == []  # the killed run's temporary files are gone
    keys = once[BATCH_KEY].value_counts().to_dict()
    assert sorted(keys.values()) == [ROWS, ROWS] and len(once) == 2 * ROWS
    (key_b,) = set(keys) - set(before[BATCH_KEY])
    rows_b = once[once[BATCH_KEY] == key_b]
    assert rows_b["input_row"].tolist() == list(range(ROWS))  # n chunks' rows, each once
    assert key_b.startswith("churn:3:") and set(rows_b["model_version"]) == {"3"}
    assert rows_b["scored_at"].eq(at(3)).all()
    pd.testing.assert_frame_equal(once[once[BATCH_KEY] != key_b].reset_index(drop=True), before)

    assert rerun(spec(model_file, output, second, hour=4)) == ROWS  # the same input, the same version
    twice = output.rows()
    assert len(twice) == len(once)
    pd.testing.assert_frame_equal(twice.drop(columns="scored_at"), once.drop(columns="scored_at"))
    assert twice.loc[twice[BATCH_KEY] == key_b, "scored_at"].eq(at(4)).all()  # replaced, not kept
    assert twice.loc[twice[BATCH_KEY] != key_b, "scored_at"].eq(at(1)).all()

    assert rerun(spec(model_file, output, second, hour=5, version="4")) == ROWS
    versions = output.rows()
    assert len(versions) == 3 * ROWS
    new_keys = set(versions[BATCH_KEY]) - set(twice[BATCH_KEY])
    assert len(new_keys) == 1 and new_keys.pop().startswith("churn:4:")
    pd.testing.assert_frame_equal(
        versions[versions["model_version"] == "3"].reset_index(drop=True), twice
    )  # the first version's rows are kept apart, unchanged


@pytest.mark.parametrize("output", ["csv.gz", "parquet"], indirect=True)
def test_a_run_killed_on_a_new_output_leaves_no_output(
    model_file: Path, output: Output, tmp_path: Path, killed_groups: list[int]
) -> None:
    _, second = inputs(tmp_path)
    killed_after(
        spec(model_file, output, second, hour=1), KILLED_AFTER, killed_groups, tmp_path / "killed.log"
    )
    assert output.rows().empty
    assert rerun(spec(model_file, output, second, hour=2)) == ROWS
    assert output.rows()["input_row"].tolist() == list(range(ROWS)) and output.leftovers() == []


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 256 KiB tmpfs (needs root to mount; skipped otherwise)."""
    with small_tmpfs(tmp_path / "small", size="256k") as folder:
        yield folder


@pytest.mark.parametrize(
    ("suffix", "chunks"),
    [("csv.gz", 100), ("parquet", 100), ("csv", 10)],  # the plain CSV's run fits, its new file does not
)
def test_a_full_disk_under_the_output_is_a_one_line_error_and_the_next_run_recovers(
    model_file: Path, small_disk: Path, tmp_path: Path, suffix: str, chunks: int
) -> None:
    output = Output(suffix, small_disk / "out")
    small, large, other = (tmp_path / f"{name}.csv" for name in ("small", "large", "other"))
    tiny_frame(CHUNK_ROWS, seed=13).to_csv(small, index=False)
    tiny_frame(chunks * CHUNK_ROWS, seed=14).to_csv(large, index=False)
    tiny_frame(CHUNK_ROWS, seed=15).to_csv(other, index=False)

    def run(source: Path, hour: int) -> int:
        arguments = {**spec(model_file, output, source, hour), "store_dir": str(tmp_path / "store")}
        return score(arguments).rows

    assert run(small, hour=1) == CHUNK_ROWS
    before = output.rows()
    with pytest.raises(SinkError, match=r"^file sink .*: cannot write .*No space left on device") as error:
        run(large, hour=2)
    assert "\n" not in str(error.value)
    assert (".rows.tmp:" in str(error.value)) == (suffix != "csv")  # where the disk filled up
    pd.testing.assert_frame_equal(output.rows(), before)
    assert output.leftovers() == [] and output.staged() == []  # the space is given back
    assert run(other, hour=3) == CHUNK_ROWS  # the next run recovers
    assert output.rows()[BATCH_KEY].value_counts().tolist() == [CHUNK_ROWS, CHUNK_ROWS]

"""The raw_data materializer: a table's Parquet parts stored block by block, loaded as one DataFrame."""

from __future__ import annotations

import json
import os
import uuid

import pandas as pd

from materializers.table_parts_materializer import TablePartsMaterializer
from tabular_ml.configuration.schema import FileSource
from tabular_ml.data.sources import iter_chunks, load_data
from tabular_ml.data.table_parts import TableParts, write_parts
from tests.support.paths import TELCO_CSV


def materializer(artifact_store) -> TablePartsMaterializer:
    uri = os.path.join(artifact_store.path, "ingest_data", "raw_data", str(uuid.uuid4()))
    artifact_store.makedirs(uri)
    return TablePartsMaterializer(uri=uri, artifact_store=artifact_store)


def parts(folder, chunk_rows: int = 2000) -> TableParts:
    return write_parts(iter_chunks(FileSource(path=str(TELCO_CSV)), chunk_rows), folder)


def test_parts_are_stored_and_load_as_the_table(artifact_store, tmp_path):
    table = parts(tmp_path / "local")
    stored = materializer(artifact_store)
    stored.save(table)
    assert not (tmp_path / "local").exists()  # the local parts are removed once stored
    with artifact_store.open(os.path.join(stored.uri, "parts.json"), "r") as handle:
        assert json.load(handle) == {"rows": 7043, "columns": table.columns, "parts": 4}
    for data_type in (pd.DataFrame, TableParts):  # a step's DataFrame input, and artifact.load()
        loaded = stored.load(data_type)
        pd.testing.assert_frame_equal(loaded, load_data(FileSource(path=str(TELCO_CSV))))


def test_the_content_hash_follows_the_data(artifact_store, tmp_path):
    hashes = []
    for name, chunk_rows in (("a", 2000), ("b", 2000), ("c", 3000)):
        stored = materializer(artifact_store)
        stored.save(parts(tmp_path / name, chunk_rows))
        hashes.append(stored.compute_content_hash(None))
    assert hashes[0] == hashes[1] and len(hashes[0]) == 64  # the same rows read the same way
    assert hashes[2] != hashes[0]  # other parts, other bytes


def test_the_dashboard_shows_the_first_rows(artifact_store, tmp_path):
    table = parts(tmp_path / "local")
    stored = materializer(artifact_store)
    stored.save(table)
    (path,) = stored.save_visualizations(table)
    with artifact_store.open(path, "r") as handle:
        sample = pd.read_csv(handle)
    assert len(sample) == 10 and list(sample.columns) == table.columns
    assert sample["tenure"].tolist() == pd.read_csv(TELCO_CSV, nrows=10)["tenure"].tolist()

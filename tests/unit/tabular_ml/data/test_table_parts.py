"""Ingestion chunk by chunk into Parquet parts: the assembled table is what ``load_data`` gives,
and cleans to the same frame, for files, SQL and APIs; no rows and a failing source leave nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from tabular_ml.configuration.schema import ApiSource, FileSource, Pagination, SqlSource, TrainingParameters
from tabular_ml.data.cleaning import clean_frame
from tabular_ml.data.sources import DataSourceError, iter_chunks, load_data
from tabular_ml.data.table_parts import assemble_parts, write_parts
from tests.support.paths import PROJECT_ROOT, TELCO_CSV
from tests.unit.tabular_ml.data.test_sources_chunked import api_url  # noqa: F401 - a fixture

PARAMETERS = TrainingParameters.model_validate(
    yaml.safe_load((PROJECT_ROOT / "configs/training.yaml").read_text())["parameters"]
)


def ingested(source, chunk_rows: int, folder: Path) -> tuple[pd.DataFrame, int]:
    """The table as the steps after ingestion load it, and the number of parts written."""
    parts = write_parts(iter_chunks(source, chunk_rows), folder)
    assert sorted(path.name for path in folder.iterdir()) == [path.name for path in parts.files]
    return assemble_parts(pq.read_table(path).to_pandas() for path in parts.files), parts.parts


def cleaned(frame: pd.DataFrame) -> pd.DataFrame:
    return clean_frame(frame, PARAMETERS.cleaning, PARAMETERS.contract)[0]


def test_csv_parts_assemble_to_the_loaded_table_and_clean_the_same(tmp_path):
    source = FileSource(path=str(TELCO_CSV))
    whole, parts = ingested(source, 1000, tmp_path / "parts")
    assert parts == 8 and len(whole) == 7043
    loaded = load_data(source)
    assert list(whole.columns) == list(loaded.columns)
    text = [name for name in loaded.columns if loaded[name].dtype == "category"]
    assert text and all(whole[name].dtype == "category" for name in text)  # categoricals, as loaded
    pd.testing.assert_frame_equal(cleaned(whole), cleaned(loaded))


def test_a_column_numeric_in_one_chunk_and_text_in_another_cleans_as_loaded(tmp_path):
    rows = 600
    frame = pd.read_csv(TELCO_CSV).head(rows)
    frame["total_charges"] = frame["total_charges"].astype(str)
    frame.loc[450, "total_charges"] = " "  # a blank in the second chunk only
    frame.to_csv(tmp_path / "t.csv", index=False)
    source = FileSource(path=str(tmp_path / "t.csv"))
    chunks = list(iter_chunks(source, 300))
    assert chunks[0]["total_charges"].dtype == np.float64 and chunks[1]["total_charges"].dtype == object
    whole, _ = ingested(source, 300, tmp_path / "parts")
    clean = cleaned(whole)
    pd.testing.assert_frame_equal(clean, cleaned(load_data(source)))
    assert clean["total_charges"].dtype == np.float64 and np.isnan(clean.loc[450, "total_charges"])


def test_sql_parts_assemble_to_the_loaded_table(sqlite_url, tmp_path):
    source = SqlSource(url=sqlite_url, table="telco")
    whole, parts = ingested(source, 2500, tmp_path / "parts")
    assert parts == 3
    pd.testing.assert_frame_equal(cleaned(whole), cleaned(load_data(source)))


def test_api_pages_whose_columns_come_late_assemble_to_the_loaded_table(api_url, tmp_path):  # noqa: F811
    source = ApiSource(url=api_url, pagination=Pagination(page_size=3))
    whole, parts = ingested(source, 4, tmp_path / "parts")
    loaded = load_data(source)
    assert parts == 3 and whole["note"].isna().sum() == 7  # absent from the first records
    pd.testing.assert_frame_equal(whole[loaded.columns], loaded)


def test_the_fingerprint_follows_the_rows_and_the_counts_are_kept(tmp_path):
    source = FileSource(path=str(TELCO_CSV))
    first = write_parts(iter_chunks(source, 3000), tmp_path / "a")
    again = write_parts(iter_chunks(source, 3000), tmp_path / "b")
    assert (first.rows, first.parts, len(first.columns)) == (7043, 3, 20)
    assert first.fingerprint == again.fingerprint
    changed = pd.read_csv(TELCO_CSV)
    changed.loc[10, "tenure"] += 1
    changed.to_csv(tmp_path / "changed.csv", index=False)
    other = write_parts(iter_chunks(FileSource(path=str(tmp_path / "changed.csv")), 3000), tmp_path / "c")
    assert other.fingerprint != first.fingerprint


def test_no_rows_is_a_one_line_error_and_leaves_no_folder(tmp_path):
    (tmp_path / "empty.csv").write_text("a,b\n")
    with pytest.raises(DataSourceError, match=r"^the file source holds no rows$"):
        write_parts(
            iter_chunks(FileSource(path=str(tmp_path / "empty.csv")), 10),
            tmp_path / "parts",
            "the file source",
        )
    assert not (tmp_path / "parts").exists()


def test_a_source_failing_midway_leaves_no_parts(tmp_path):
    def chunks():
        yield pd.DataFrame({"a": [1, 2]})
        raise DataSourceError("the connection dropped")

    with pytest.raises(DataSourceError, match="the connection dropped"):
        write_parts(chunks(), tmp_path / "parts")
    assert not (tmp_path / "parts").exists()


def test_a_full_disk_midway_is_the_disks_error_and_leaves_no_parts(tmp_path):
    from itertools import islice

    from tests.support.small_disk import small_tmpfs

    with small_tmpfs(tmp_path / "disk", size="128k") as disk:
        # eight parts of about 26 KiB each: the disk fills on the fifth
        with pytest.raises(OSError, match="No space left on device"):
            write_parts(iter_chunks(FileSource(path=str(TELCO_CSV)), 1000), disk / "parts")
        assert not (disk / "parts").exists()
        # the space is free again: two chunks fit
        again = write_parts(islice(iter_chunks(FileSource(path=str(TELCO_CSV)), 1000), 2), disk / "again")
        assert (again.rows, again.parts) == (2000, 2)

"""A table written chunk by chunk as Parquet files, never whole in memory (no ZenML here).

Ingestion reads a source in chunks (:func:`tabular_ml.data.sources.iter_chunks`: CSV by the
parser's ``chunksize``, Parquet by record batches, SQL by a streamed cursor, APIs by pages) and
:func:`write_parts` writes each chunk as one Parquet file, a *part*, with its text columns as
dictionaries. The step's memory then follows one chunk, not the table: the table is only
assembled (:func:`assemble_parts`) by the steps that need all of it.

Each part keeps the types its chunk was read with, so parts never conflict: a column that is a
number in one chunk and text in another (a blank in a numeric column) is joined the way
:func:`tabular_ml.data.sources.load_data` joins the files of a glob, and cleaning coerces it
the same way. The assembled frame has text columns as categoricals, like a loaded one.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tabular_ml.data.sources import DataSourceError, concatenate_frames, text_as_categories

__all__ = ["INGEST_CHUNK_ROWS", "TableParts", "assemble_parts", "part_name", "write_parts"]

#: Rows of one chunk, and so of one part: a 20-column chunk holds about 100 MB as the CSV
#: parser gives it (text as Python strings), and Parquet's compression works well at this size.
INGEST_CHUNK_ROWS = 200_000


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


@dataclass
class TableParts:
    """The parts in ``folder`` (``part-00000.parquet``, ...), in the source's row order."""

    folder: Path
    parts: int
    rows: int
    columns: list[str]
    #: SHA-256 of the column names and the sorted hashes of the rows as their chunks were read:
    #: the same rows read the same way give the same fingerprint
    fingerprint: str
    files: list[Path] = field(init=False)

    def __post_init__(self) -> None:
        self.files = [self.folder / part_name(i) for i in range(self.parts)]

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def write_parts(chunks: Iterable[pd.DataFrame], folder: Path, description: str = "the source") -> TableParts:
    """Each chunk as one Parquet part in ``folder`` (created), text columns as dictionaries.

    A source that fails midway (or gives no rows) leaves no folder behind.

    Raises:
        DataSourceError: The source gave no rows (one line naming ``description``), or the
            source's own error.
    """
    folder.mkdir(parents=True, exist_ok=True)
    columns: dict[str, None] = {}  # in order of first appearance, as concatenating keeps them
    row_hashes: list[np.ndarray] = []
    parts = rows = 0
    try:
        for chunk in chunks:
            text_as_categories(chunk)
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            pq.write_table(table, folder / part_name(parts), compression="zstd")
            row_hashes.append(pd.util.hash_pandas_object(chunk, index=False).to_numpy())
            columns.update(dict.fromkeys(map(str, chunk.columns)))
            parts, rows = parts + 1, rows + len(chunk)
        if rows == 0:
            raise DataSourceError(f"{description} holds no rows")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    digest = hashlib.sha256(",".join(columns).encode())
    digest.update(np.sort(np.concatenate(row_hashes)).tobytes())
    return TableParts(folder, parts, rows, list(columns), digest.hexdigest())


def assemble_parts(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The parts' frames (as Parquet gives them back) as one table, in order, with a fresh
    RangeIndex; text columns categorical, as :func:`~tabular_ml.data.sources.load_data` gives them."""
    whole = concatenate_frames(list(frames))
    text_as_categories(whole)  # a column text in some parts and all-missing in others
    return whole

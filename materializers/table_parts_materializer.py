"""Stores a :class:`~tabular_ml.data.table_parts.TableParts` (a table ingested chunk by chunk)
as its Parquet parts; loads it as one pandas DataFrame.

``save`` copies each part into the artifact store a block at a time (so a table never has to
fit in memory to be stored), writes ``parts.json`` (rows, columns, part count) and removes the
local parts. The content hash is the SHA-256 of the stored parts' bytes in order: pyarrow writes
the same bytes for the same chunk, so unchanged data read the same way keeps its hash, and the
steps downstream, keyed by it, come from the cache (see ``steps/data/ingest_data.py``).

``load`` gives the assembled table for any requested type: the steps after ingestion take a
DataFrame, and ``artifact.load()`` in a notebook gives one too.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, ClassVar

import pandas as pd
import pyarrow
import pyarrow.parquet as pq
from zenml.enums import ArtifactType, VisualizationType
from zenml.materializers.base_materializer import BaseMaterializer

from tabular_ml.data.table_parts import TableParts, assemble_parts, part_name

BLOCK = 1 << 20
MANIFEST = "parts.json"
SAMPLE_ROWS = 10


class TablePartsMaterializer(BaseMaterializer):
    """A table's Parquet parts in the artifact store; loaded as one DataFrame."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (TableParts, pd.DataFrame)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA
    SKIP_REGISTRATION: ClassVar[bool] = True  # DataFrames stay with ZenML's own materializer

    _content_hash: str | None = None

    def save(self, table: TableParts) -> None:
        digest = hashlib.sha256()
        for index, local in enumerate(table.files):
            with open(local, "rb") as source, self.artifact_store.open(self._part(index), "wb") as target:
                while block := source.read(BLOCK):
                    digest.update(block)
                    target.write(block)
        manifest = {"rows": table.rows, "columns": table.columns, "parts": table.parts}
        with self.artifact_store.open(os.path.join(self.uri, MANIFEST), "w") as handle:
            json.dump(manifest, handle)
        self._content_hash = digest.hexdigest()
        table.remove()

    def load(self, data_type: type[Any]) -> pd.DataFrame:
        with self.artifact_store.open(os.path.join(self.uri, MANIFEST), "r") as handle:
            parts = json.load(handle)["parts"]
        frames = (self._read(index) for index in range(parts))
        whole = assemble_parts(frames)
        pyarrow.default_memory_pool().release_unused()  # see materializers/dataframe_materializer.py
        return whole

    def compute_content_hash(self, data: Any) -> str | None:
        """The SHA-256 of the parts ``save`` stored (None if this instance saved nothing)."""
        return self._content_hash

    def save_visualizations(self, table: TableParts) -> dict[str, VisualizationType]:
        """The first rows, shown as a table in the dashboard (the parts are gone after ``save``)."""
        path = os.path.join(self.uri, "sample.csv")
        with self.artifact_store.open(path, "w") as handle:
            self._read(0).head(SAMPLE_ROWS).to_csv(handle, index=False)
        return {path.replace("\\", "/"): VisualizationType.CSV}

    def _part(self, index: int) -> str:
        return os.path.join(self.uri, part_name(index))

    def _read(self, index: int) -> pd.DataFrame:
        with self.artifact_store.open(self._part(index), "rb") as handle:
            return pq.read_table(handle).to_pandas()

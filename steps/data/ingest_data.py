"""Read the configured source (file, SQL or HTTP API) chunk by chunk into the raw_data artifact."""

import tempfile
from pathlib import Path
from typing import Annotated

from zenml import log_metadata, step
from zenml.logger import get_logger

from adapters.source_secrets import source_secrets
from materializers.table_parts_materializer import TablePartsMaterializer
from tabular_ml.configuration.schema import SourceConfig
from tabular_ml.data.sources import iter_chunks
from tabular_ml.data.table_parts import INGEST_CHUNK_ROWS, TableParts, write_parts

logger = get_logger(__name__)


# Always runs: its cache key could only cover the source's config, not the data behind it
# (a file overwritten in place, a table that changed). Its output carries a content hash, and
# the steps downstream are keyed by their inputs' content hashes, so unchanged data still
# reuses them (see pipelines/training.py).
@step(enable_cache=False, output_materializers=TablePartsMaterializer)
def ingest_data(source: SourceConfig) -> Annotated[TableParts, "raw_data"]:
    """Read the source a chunk at a time into Parquet parts (one chunk in memory at a time); a
    SQL source's credentials may come from a ZenML secret. The steps after it load a DataFrame."""
    chunks = iter_chunks(source, INGEST_CHUNK_ROWS, secrets=source_secrets(source))
    # local parts until the materializer copies them into the artifact store (and removes them)
    parts = write_parts(chunks, Path(tempfile.mkdtemp(prefix="ingest-")), f"the {source.type} source")
    log_metadata(
        {
            "source_type": source.type,
            "rows": parts.rows,
            "columns": len(parts.columns),
            "parts": parts.parts,
            "fingerprint": parts.fingerprint,
        },
        artifact_name="raw_data",
        infer_artifact=True,
    )
    return parts

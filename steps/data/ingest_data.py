"""Load raw data from the configured source (file, SQL or HTTP API)."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

from adapters.source_secrets import source_secrets
from materializers.dataframe_materializer import HashedPandasMaterializer
from tabular_ml.configuration.schema import SourceConfig
from tabular_ml.data.sources import load_data
from tabular_ml.data.splitting import fingerprint

logger = get_logger(__name__)


# Always runs: its cache key could only cover the source's config, not the data behind it
# (a file overwritten in place, a table that changed). Its output carries a content hash, and
# the steps downstream are keyed by their inputs' content hashes, so unchanged data still
# reuses them (see pipelines/training.py).
@step(enable_cache=False, output_materializers=HashedPandasMaterializer)
def ingest_data(source: SourceConfig) -> Annotated[pd.DataFrame, "raw_data"]:
    """Read the source; a SQL source's credentials may come from a ZenML secret."""
    df = load_data(source, secrets=source_secrets(source))
    log_metadata(
        {
            "source_type": source.type,
            "rows": len(df),
            "columns": len(df.columns),
            "fingerprint": fingerprint(df),
        },
        artifact_name="raw_data",
        infer_artifact=True,
    )
    return df

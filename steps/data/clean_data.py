"""Apply the safe, recorded cleaning fixes."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from materializers.dataframe_materializer import HashedPandasMaterializer
from tabular_ml.cleaning import clean_frame
from tabular_ml.config import CleaningConfig, DataContract


@step(output_materializers=HashedPandasMaterializer)  # content-hashed: see ingest_data
def clean_data(
    raw_data: pd.DataFrame, cleaning: CleaningConfig, contract: DataContract
) -> Annotated[pd.DataFrame, "clean_data"]:
    """Strip whitespace, turn blanks into missing values, coerce numerics, apply the duplicates policy."""
    cleaned, summary = clean_frame(raw_data, cleaning, contract)
    log_metadata({"cleaning": summary.as_metadata()}, artifact_name="clean_data", infer_artifact=True)
    return cleaned

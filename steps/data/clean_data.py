"""Apply the safe, recorded cleaning fixes."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

from materializers.dataframe_materializer import HashedPandasMaterializer
from tabular_ml.configuration.schema import CleaningConfig, DataContract
from tabular_ml.data.cleaning import clean_frame, columns_left_out
from tabular_ml.data.splitting import fingerprint

logger = get_logger(__name__)


@step(output_materializers=HashedPandasMaterializer)  # content-hashed: see ingest_data
def clean_data(
    raw_data: pd.DataFrame, cleaning: CleaningConfig, contract: DataContract, id_column: str | None = None
) -> Annotated[pd.DataFrame, "clean_data"]:
    """Strip whitespace, turn blanks into missing values, coerce numerics, apply the duplicates policy.

    The data's columns that the contract leaves out (no feature, not the target) are logged
    and recorded as ``columns_left_out``: a column missing from the contract is not silent.
    ``id_column`` (the split's, when given) is used by the split, so it is not listed.
    """
    cleaned, summary = clean_frame(raw_data, cleaning, contract)
    left_out = columns_left_out(cleaned.columns, contract, id_column)
    if left_out:
        logger.warning(
            "%d column(s) of the data are not in the contract, so the model does not use them: %s",
            len(left_out),
            ", ".join(left_out),
        )
    log_metadata(
        {
            "cleaning": summary.as_metadata(),
            "columns_left_out": left_out,
            "rows": len(cleaned),
            "fingerprint": fingerprint(cleaned),
        },
        artifact_name="clean_data",
        infer_artifact=True,
    )
    return cleaned

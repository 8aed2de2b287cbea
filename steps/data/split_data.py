"""Split the validated data into train and holdout sets."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from tabular_ml.config import DataContract, SplitConfig
from tabular_ml.splitting import fingerprint, split_frame


@step
def split_data(
    clean_data: pd.DataFrame, contract: DataContract, split: SplitConfig
) -> tuple[Annotated[pd.DataFrame, "train_data"], Annotated[pd.DataFrame, "test_data"]]:
    """Stratified split; both halves are versioned (the train half is the drift reference later)."""
    train, test = split_frame(clean_data, contract, split)
    for name, frame in (("train_data", train), ("test_data", test)):
        positive_share = float((frame[contract.target] == contract.positive_class).mean())
        log_metadata(
            {
                "rows": len(frame),
                "positive_share": round(positive_share, 4),
                "fingerprint": fingerprint(frame),
            },
            artifact_name=name,
            infer_artifact=True,
        )
    return train, test

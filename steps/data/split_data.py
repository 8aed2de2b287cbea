"""Split the validated data into train and holdout sets."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

from materializers.dataframe_materializer import HashedPandasMaterializer
from tabular_ml.configuration.schema import DataContract, SplitConfig
from tabular_ml.data.splitting import fingerprint, holdout_shares, split_frame, split_key, unbalanced_classes
from tabular_ml.tasks.target import TargetSpec

logger = get_logger(__name__)


# Content-hashed outputs (see ingest_data). Named one by one: ZenML 0.98 expands a single
# materializer over a *set* of output names, and the cache key follows that order, which
# changes with Python's hash seed from process to process (a cache miss every other run).
@step(output_materializers={"train_data": HashedPandasMaterializer, "test_data": HashedPandasMaterializer})
def split_data(
    clean_data: pd.DataFrame, target: TargetSpec, contract: DataContract, split: SplitConfig
) -> tuple[Annotated[pd.DataFrame, "train_data"], Annotated[pd.DataFrame, "test_data"]]:
    """Each row's side follows its key (id column or feature hash); both halves are versioned.

    The train half is the drift reference later. ``stratify`` is checked, not enforced: the
    share of each class that landed in the holdout is logged, with a warning when one is
    further from ``test_size`` than chance explains.
    """
    train, test = split_frame(clean_data, contract, split)
    shares = holdout_shares(train, test, contract.target) if target.is_classification else {}
    for name, frame in (("train_data", train), ("test_data", test)):
        codes = target.encode(frame[contract.target])
        summary = (
            {
                "class_shares": {
                    label: round(float((codes == i).mean()), 4) for i, label in enumerate(target.classes)
                }
            }
            if target.is_classification
            else {"target_mean": round(float(codes.mean()), 6), "target_std": round(float(codes.std()), 6)}
        )
        log_metadata(
            {
                "rows": len(frame),
                **summary,
                "fingerprint": fingerprint(frame),
                "split_key": split_key(split),
                "class_holdout_shares": shares,
            },
            artifact_name=name,
            infer_artifact=True,
        )
    logger.info(
        "Split by %s: %d train, %d holdout rows%s",
        split_key(split),
        len(train),
        len(test),
        "; holdout share per class: " + ", ".join(f"{label} {share:.3f}" for label, share in shares.items())
        if shares
        else "",
    )
    if split.stratify and target.is_classification:
        for problem in unbalanced_classes(train, test, contract.target, split.test_size):
            logger.warning("Split not stratified within chance: %s", problem)
    return train, test

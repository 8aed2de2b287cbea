"""Count the rows to score and cut them into the partitions the parallel scoring steps read."""

from typing import Annotated

from zenml import log_metadata, step

from adapters.source_secrets import source_secrets
from tabular_ml.configuration.schema import SourceConfig
from tabular_ml.inference.partitions import PartitionPlan
from tabular_ml.inference.partitions import plan_partitions as plan


@step(enable_cache=False)  # the rows behind the source change
def plan_partitions(source: SourceConfig, partitions: int) -> Annotated[PartitionPlan, "partition_plan"]:
    """Cut the source's rows into ``partitions`` contiguous ranges of near-equal size.

    Parquet files are counted from their metadata, CSV files by parsing one column, a SQL query
    by ``SELECT COUNT(*)`` over it (see :mod:`tabular_ml.inference.partitions`).
    """
    found = plan(source, partitions, source_secrets(source))
    log_metadata(
        {"rows": found.total_rows, "partitions": [p.rows for p in found.partitions]},
        artifact_name="partition_plan",
        infer_artifact=True,
    )
    return found

"""Score one partition of the input: a branch of the inference pipeline's fan-out."""

from typing import Annotated

from sklearn.pipeline import Pipeline
from zenml import log_metadata, step
from zenml.io import fileio
from zenml.logger import get_logger

from adapters.batch_scoring_run import (
    batch_explainer,
    predictions_dir,
    production_model,
    run_id,
    run_started_at,
)
from adapters.source_secrets import source_secrets
from tabular_ml.configuration.schema import ExplainConfig, SourceConfig
from tabular_ml.inference.partitions import PartitionPlan, PartitionScores
from tabular_ml.inference.partitions import score_partition as score_rows

logger = get_logger(__name__)


@step(enable_cache=False)
def score_partition(
    model: Pipeline,
    plan: PartitionPlan,
    index: int,
    source: SourceConfig,
    chunk_rows: int,
    key_column: str | None,
    explain: ExplainConfig | None = None,
) -> Annotated[PartitionScores, "partition_scores"]:
    """Score the rows of partition ``index`` of ``plan``, chunk by chunk, into Parquet parts under
    ``<artifact store>/batch_predictions/partitions/<run id>/<index>/`` (merge_partitions writes
    them to the sink and removes them).

    Each partition is a step of its own, so an orchestrator that runs steps in parallel (the
    Kubernetes one: a pod per step, with the stack file's ``score_partition`` resources) scores
    them side by side. The model, explainer and ``scored_at`` are the single step's.
    """
    production = production_model(model)
    partition = plan.partitions[index]
    scores = score_rows(
        production,
        source,
        partition,
        chunk_rows=chunk_rows,
        key_column=key_column,
        scored_at=run_started_at(),
        store_dir=predictions_dir("partitions", run_id(), f"{index:03d}"),
        store_files=fileio,
        source_secrets=source_secrets(source),
        explain=batch_explainer(production, explain),
    )
    log_metadata(
        {"partition": index, "first_row": scores.first_row, "rows": scores.rows, "chunks": scores.chunks},
        artifact_name="partition_scores",
        infer_artifact=True,
    )
    logger.info(
        "Partition %d: input rows %d-%d scored", index, scores.first_row, scores.first_row + scores.rows - 1
    )
    return scores

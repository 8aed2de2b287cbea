"""Merge the scored partitions into the sink: the same output as the single scoring step."""

from typing import Annotated

from sklearn.pipeline import Pipeline
from zenml import ArtifactConfig, step
from zenml.io import fileio
from zenml.logger import get_logger

from adapters.batch_scoring_run import (
    log_predictions,
    predictions_dir,
    production_model,
    run_id,
    run_started_at,
)
from adapters.source_secrets import source_secrets
from tabular_ml.configuration.schema import ExplainConfig, SinkConfig, SourceConfig
from tabular_ml.inference.batch_scoring import BatchPredictions, describe_config
from tabular_ml.inference.partitions import PartitionScores
from tabular_ml.inference.partitions import merge_partitions as merge

logger = get_logger(__name__)


@step(enable_cache=False)
def merge_partitions(
    model: Pipeline,
    partitions: list[PartitionScores],
    source: SourceConfig,
    sink: SinkConfig,
    key_column: str | None,
    explain: ExplainConfig | None = None,
) -> Annotated[BatchPredictions, ArtifactConfig(name="predictions")]:
    """Write every partition's predictions, in input order, to the sink and to
    ``<artifact store>/batch_predictions/<run id>/``, as score_batch would have.

    Waits for all score_partition branches. The rows, their order, columns and batch key equal
    a single step's; the missing-share rules of the contract are checked here over all rows.
    """
    predictions = merge(
        production_model(model),
        partitions,
        sink,
        source=describe_config(source),
        key_column=key_column,
        top_k=explain.top_k if explain else 0,
        scored_at=run_started_at(),
        run_tag=run_id(),
        store_dir=predictions_dir(run_id()),
        store_files=fileio,
        sink_secrets=source_secrets(sink),
    )
    log_predictions(predictions)
    logger.info(predictions.summary())
    return predictions

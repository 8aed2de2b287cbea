"""Score new rows with the production model version, chunk by chunk, into the configured sink."""

from typing import Annotated

from sklearn.pipeline import Pipeline
from zenml import ArtifactConfig, step
from zenml.io import fileio
from zenml.logger import get_logger

from adapters.batch_scoring_run import (
    batch_explainer,
    log_predictions,
    predictions_dir,
    production_model,
    run_id,
)
from adapters.source_secrets import source_secrets
from tabular_ml.configuration.schema import ExplainConfig, SinkConfig, SourceConfig
from tabular_ml.inference.batch_scoring import BatchPredictions, run_batch_scoring

logger = get_logger(__name__)


@step(enable_cache=False)  # the rows behind the source change, and writing to the sink is the point
def score_batch(
    model: Pipeline,
    source: SourceConfig,
    sink: SinkConfig,
    chunk_rows: int,
    key_column: str | None,
    explain: ExplainConfig | None = None,
) -> Annotated[BatchPredictions, ArtifactConfig(name="predictions")]:
    """Write a prediction per input row to the sink; the same rows go to the artifact store.

    The sink gets the run's rows all at once when the run completes, each with the run's batch
    key (model, version and a fingerprint of the rows read), replacing the rows an earlier run
    of the same input and version wrote; a second run into the same sink meanwhile is refused.

    ``model`` is the pipeline's model version's (production's) ``model`` artifact; its contract,
    cleaning, target (task, classes) and threshold come from that version's metadata. The predictions
    are also written as Parquet parts under ``<artifact store>/batch_predictions/<run id>/``,
    so the returned ``predictions`` artifact (linked to the version) points at versioned rows.
    With ``explain``, each row also gets its top reasons; the background rows of the
    explanations are the first rows of the version's ``test_data``, as the server's.
    """
    production = production_model(model)
    predictions = run_batch_scoring(
        production,
        source,
        sink,
        chunk_rows=chunk_rows,
        key_column=key_column,
        run_tag=run_id(),
        store_dir=predictions_dir(run_id()),
        store_files=fileio,
        source_secrets=source_secrets(source),
        sink_secrets=source_secrets(sink),
        explain=batch_explainer(production, explain),
    )
    log_predictions(predictions)
    logger.info(predictions.summary())
    return predictions

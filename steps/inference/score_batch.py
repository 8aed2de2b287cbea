"""Score new rows with the production model version, chunk by chunk, into the configured sink."""

from typing import Annotated

from sklearn.pipeline import Pipeline
from zenml import ArtifactConfig, get_step_context, log_metadata, step
from zenml.client import Client
from zenml.io import fileio
from zenml.logger import get_logger

from adapters.source_secrets import source_secrets
from tabular_ml.configuration.schema import ExplainConfig, SinkConfig, SourceConfig
from tabular_ml.inference.batch_scoring import BatchExplainer, BatchPredictions, run_batch_scoring
from tabular_ml.modelling.explanations import BACKGROUND_ROWS, Explainer
from tabular_ml.modelling.trained_model import TrainedModel

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
    context = get_step_context()
    version = context.model_version
    run_id = str(context.pipeline_run.id)
    production = TrainedModel.from_metadata(
        model, version.run_metadata, version.model.name, str(version.number)
    )
    explainer = None
    if explain is not None:
        background = version.get_artifact("test_data").load().head(BACKGROUND_ROWS)
        explainer = BatchExplainer(
            Explainer(production.pipeline, production.target, production.contract.feature_names, background),
            explain.top_k,
        )
    predictions = run_batch_scoring(
        production,
        source,
        sink,
        chunk_rows=chunk_rows,
        key_column=key_column,
        run_tag=run_id,
        store_dir=f"{Client().active_stack.artifact_store.path}/batch_predictions/{run_id}",
        store_files=fileio,
        source_secrets=source_secrets(source),
        sink_secrets=source_secrets(sink),
        explain=explainer,
    )
    summary = {
        "rows": predictions.rows,
        "chunks": predictions.chunks,
        "model_version": predictions.model_version,
        "batch_key": predictions.batch_key,
    }
    if predictions.class_shares is not None:
        summary["class_shares"] = {k: round(v, 6) for k, v in predictions.class_shares.items()}
    if predictions.mean_prediction is not None:
        summary["mean_prediction"] = predictions.mean_prediction
    log_metadata(summary, artifact_name="predictions", infer_artifact=True)
    logger.info(predictions.summary())
    return predictions

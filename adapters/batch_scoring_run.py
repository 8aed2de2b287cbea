"""What the batch-scoring steps take from the running ZenML step: the production model, the
artifact store's folder for predictions, the run's timestamp, and the predictions' metadata.

Shared by the single scoring step and the partitioned ones (plan, score, merge), so that the
two paths score with the same model and explainer and log the same summary.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sklearn.pipeline import Pipeline
from zenml import get_step_context, log_metadata
from zenml.client import Client

from tabular_ml.configuration.schema import ExplainConfig
from tabular_ml.inference.batch_scoring import BatchExplainer, BatchPredictions
from tabular_ml.modelling.explanations import BACKGROUND_ROWS, Explainer
from tabular_ml.modelling.trained_model import TrainedModel


def production_model(model: Pipeline) -> TrainedModel:
    """``model`` (the pipeline's model version's artifact) with that version's contract, cleaning,
    target and threshold."""
    version = get_step_context().model_version
    return TrainedModel.from_metadata(model, version.run_metadata, version.model.name, str(version.number))


def batch_explainer(production: TrainedModel, explain: ExplainConfig | None) -> BatchExplainer | None:
    """The explainer of each row's reasons; its background rows are the first rows of the
    version's ``test_data``, as the server's."""
    if explain is None:
        return None
    background = get_step_context().model_version.get_artifact("test_data").load().head(BACKGROUND_ROWS)
    explainer = Explainer(
        production.pipeline, production.target, production.contract.feature_names, background
    )
    return BatchExplainer(explainer, explain.top_k)


def run_id() -> str:
    return str(get_step_context().pipeline_run.id)


def predictions_dir(*parts: str) -> str:
    """``<artifact store>/batch_predictions/<parts...>``: where scored rows are versioned."""
    return "/".join([Client().active_stack.artifact_store.path, "batch_predictions", *parts])


def run_started_at() -> datetime:
    """The pipeline run's start (UTC): the one ``scored_at`` of every partition of a run."""
    started = get_step_context().pipeline_run.start_time or datetime.now(UTC)
    return started if started.tzinfo else started.replace(tzinfo=UTC)


def log_predictions(predictions: BatchPredictions) -> None:
    """The run's summary as the ``predictions`` artifact's metadata."""
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

"""Batch inference pipeline: wiring only."""

from zenml import get_pipeline_context, pipeline

from steps.inference import score_batch
from tabular_ml.configuration.schema import ExplainConfig, SinkConfig, SourceConfig


@pipeline(enable_cache=False)
def inference(
    source: SourceConfig,
    sink: SinkConfig,
    chunk_rows: int,
    key_column: str | None,
    explain: ExplainConfig | None = None,
) -> None:
    """Score new rows with the configured model version (``version: production``) into the sink.

    The model artifact is the version's own (an input of the step, so the lineage shows which
    model scored the rows), and the ``predictions`` artifact is linked to that version.
    """
    model_version = get_pipeline_context().model
    if model_version is None:
        raise ValueError(
            "the inference pipeline needs `model: {name: ..., version: production}` in its config"
        )
    score_batch(
        model_version.get_artifact("model"),
        source=source,
        sink=sink,
        chunk_rows=chunk_rows,
        key_column=key_column,
        explain=explain,
    )

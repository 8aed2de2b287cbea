"""Batch inference pipeline: wiring only."""

from zenml import get_pipeline_context, pipeline

from steps.inference import merge_partitions, plan_partitions, score_batch, score_partition
from tabular_ml.configuration.schema import ExplainConfig, SinkConfig, SourceConfig


# With partitions > 1 the scoring fans out: plan_partitions counts and cuts the rows, one
# score_partition step per partition reads only its own (each depending only on the plan, so an
# orchestrator runs them in parallel; Kubernetes: a pod each, with the stack file's resources),
# and merge_partitions waits for all of them and writes the one output.
@pipeline(enable_cache=False)
def inference(
    source: SourceConfig,
    sink: SinkConfig,
    chunk_rows: int,
    key_column: str | None,
    explain: ExplainConfig | None = None,
    partitions: int = 1,
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
    model = model_version.get_artifact("model")
    if partitions == 1:
        score_batch(
            model, source=source, sink=sink, chunk_rows=chunk_rows, key_column=key_column, explain=explain
        )
        return
    plan = plan_partitions(source=source, partitions=partitions)
    scored = [
        score_partition(
            model,
            plan,
            index=index,
            source=source,
            chunk_rows=chunk_rows,
            key_column=key_column,
            explain=explain,
            id=f"score_partition_{index}",
        )
        for index in range(partitions)
    ]
    merge_partitions(model, scored, source=source, sink=sink, key_column=key_column, explain=explain)

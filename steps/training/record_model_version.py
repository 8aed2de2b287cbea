"""Record provenance on the new model version: data fingerprint, resolved config, code revision.

The data's rows and fingerprints come from the metadata clean_data and split_data recorded on
their artifacts: the frames themselves are not loaded (at 10,000,000 rows that took 11 s and
several GB to hash them again).

(A training run that fails discards the version instead: adapters/model_versions.py's
``discard_model_version``, the pipeline's ``on_failure`` hook.)
"""

from typing import Annotated

from zenml import get_step_context, log_metadata, step
from zenml.artifacts.unmaterialized_artifact import UnmaterializedArtifact

from adapters.git_revision import git_revision
from tabular_ml.configuration.redaction import redact
from tabular_ml.modelling.evaluation import EvaluationReport
from tabular_ml.tasks.target import TargetSpec


@step(enable_cache=False)  # every run creates a model version that needs its own provenance
def record_model_version(
    evaluation_report: EvaluationReport,
    target: TargetSpec,
    decision_threshold: float,
    train_data: UnmaterializedArtifact,
    test_data: UnmaterializedArtifact,
    clean_data: UnmaterializedArtifact,
) -> Annotated[str, "model_version"]:
    """Attach metrics and provenance to the run's model version; returns its name (e.g. "3").

    ``task``, ``target`` (classes in the model's order) and, for a binary model, its
    ``decision_threshold`` are what serving, batch scoring and monitoring read back.
    """
    context = get_step_context()
    run_config = context.pipeline_run.config
    log_metadata(
        {
            "task": target.task,
            "target": target.model_dump(mode="json"),
            **({"decision_threshold": decision_threshold} if target.task == "binary" else {}),
            "algorithm": evaluation_report.algorithm,
            "data_fingerprint": clean_data.run_metadata["fingerprint"],
            "data_rows": clean_data.run_metadata["rows"],
            "train_fingerprint": train_data.run_metadata["fingerprint"],
            "test_fingerprint": test_data.run_metadata["fingerprint"],
            "train_rows": train_data.run_metadata["rows"],
            "test_rows": test_data.run_metadata["rows"],
            "parameters": redact(run_config.parameters or {}),  # credentials never stored
            "git_revision": git_revision(),
            "pipeline_run": context.pipeline_run.name,
        },
        infer_model=True,
    )
    # Last and on their own: ZenML commits metadata key by key, and the metrics are what make a
    # version count as trained (decisions.is_trained), so a kill -9 mid-write leaves an untrained one.
    log_metadata({"metrics": evaluation_report.metrics}, infer_model=True)
    return str(context.model.version) if context.model else ""

"""Record provenance on the new model version: data fingerprint, resolved config, code revision.

And the other half of a model version's life: a training run that fails discards the version
ZenML created for it when the run started (``discard_model_version``, the pipeline's
``on_failure`` hook), so failed runs leave no empty versions behind.
"""

from typing import Annotated

import pandas as pd
from zenml import get_step_context, log_metadata, step
from zenml.client import Client
from zenml.logger import get_logger

from adapters.git_revision import git_revision
from tabular_ml.configuration.redaction import redact
from tabular_ml.data.splitting import fingerprint
from tabular_ml.modelling.evaluation import EvaluationReport
from tabular_ml.tasks.target import TargetSpec

logger = get_logger(__name__)


@step(enable_cache=False)  # every run creates a model version that needs its own provenance
def record_model_version(
    evaluation_report: EvaluationReport,
    target: TargetSpec,
    decision_threshold: float,
    train_data: pd.DataFrame,
    test_data: pd.DataFrame,
    clean_data: pd.DataFrame,
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
            "metrics": evaluation_report.metrics,
            "algorithm": evaluation_report.algorithm,
            "data_fingerprint": fingerprint(clean_data),
            "data_rows": len(clean_data),
            "train_fingerprint": fingerprint(train_data),
            "test_fingerprint": fingerprint(test_data),
            "train_rows": len(train_data),
            "test_rows": len(test_data),
            "parameters": redact(run_config.parameters or {}),  # credentials never stored
            "git_revision": git_revision(),
            "pipeline_run": context.pipeline_run.name,
        },
        infer_model=True,
    )
    return str(context.model.version) if context.model else ""


def discard_model_version(exception: BaseException | None = None) -> None:
    """On a failed step, delete the model version this run created (none is registered).

    ZenML creates the run's model version when the run starts; a pipeline's ``on_failure``
    hook runs in the failing step's context after the step is marked failed. Only a version
    created for this run is deleted (the configured model names no version); a configured,
    pre-existing version is left alone. Runs and step runs keep existing: their link to
    the version is set to null by the store.
    """
    context = get_step_context()
    version = context.model_version
    configured = context.pipeline_run.config.model
    if version is None or configured is None or configured.version is not None:
        return
    Client().delete_model_version(version.id)
    logger.info(
        "Run '%s' failed (%s): deleted model version %s of '%s' created for it.",
        context.pipeline_run.name,
        type(exception).__name__ if exception else "failed",
        version.number,
        version.model.name,
    )

"""Record provenance on the new model version: data fingerprint, resolved config, code revision.

(A training run that fails discards the version instead: adapters/model_versions.py's
``discard_model_version``, the pipeline's ``on_failure`` hook.)
"""

from typing import Annotated

import pandas as pd
from zenml import get_step_context, log_metadata, step

from adapters.git_revision import git_revision
from tabular_ml.configuration.redaction import redact
from tabular_ml.data.splitting import fingerprint
from tabular_ml.modelling.evaluation import EvaluationReport
from tabular_ml.tasks.target import TargetSpec


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
    # Last and on their own: ZenML commits metadata key by key, and the metrics are what make a
    # version count as trained (decisions.is_trained), so a kill -9 mid-write leaves an untrained one.
    log_metadata({"metrics": evaluation_report.metrics}, infer_model=True)
    return str(context.model.version) if context.model else ""

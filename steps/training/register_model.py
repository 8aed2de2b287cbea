"""Record provenance on the new model version: data fingerprint, resolved config, code revision."""

from typing import Annotated

import pandas as pd
from zenml import get_step_context, log_metadata, step

from tabular_ml.evaluation import EvaluationReport
from tabular_ml.provenance import git_revision
from tabular_ml.redaction import redact
from tabular_ml.splitting import fingerprint


@step(enable_cache=False)  # every run creates a model version that needs its own provenance
def register_model(
    evaluation_report: EvaluationReport, train_data: pd.DataFrame, test_data: pd.DataFrame
) -> Annotated[str, "model_version"]:
    """Attach metrics and provenance to the run's model version; returns its name (e.g. "3")."""
    context = get_step_context()
    run_config = context.pipeline_run.config
    log_metadata(
        {
            "metrics": evaluation_report.metrics,
            "algorithm": evaluation_report.algorithm,
            "train_fingerprint": fingerprint(train_data),
            "test_fingerprint": fingerprint(test_data),
            "train_rows": len(train_data),
            "parameters": redact(run_config.parameters or {}),  # credentials never stored
            "git_revision": git_revision(),
            "pipeline_run": context.pipeline_run.name,
        },
        infer_model=True,
    )
    return str(context.model.version) if context.model else ""

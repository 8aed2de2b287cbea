"""``on_drift: retrain``: after an alert, train a new version and let deployment's gate decide."""

from typing import Annotated, Literal

from zenml import get_step_context, log_metadata, step

from adapters.pipeline_process import PROJECT_ROOT, run_pipeline_process
from adapters.production_stage import newest_version
from tabular_ml.configuration.run_config import retrain_runs
from tabular_ml.configuration.schema import RetrainConfig
from tabular_ml.model_management.decisions import DECISION_KEY
from tabular_ml.monitoring.outcome import RetrainOutcome, not_retrained, retrained
from tabular_ml.monitoring.verdict import MonitoringVerdict


@step(enable_cache=False)
def retrain_on_drift(
    verdict: MonitoringVerdict, on_drift: Literal["alert", "retrain"], retrain: RetrainConfig
) -> Annotated[RetrainOutcome, "retrain_outcome"]:
    """On an alert with ``on_drift: retrain``: the training run, then the deployment run (gated promotion).

    Each is a run of its own, started as the CLI starts it, so a scheduled monitoring run
    retrains exactly as a manual one. Returns the new version and its promotion decision.
    """
    outcome = not_retrained(verdict.alert, on_drift)
    if outcome is None:
        model_name = get_step_context().model.name
        for pipeline, config_path, overrides in retrain_runs(retrain, model_name, PROJECT_ROOT):
            run_pipeline_process(pipeline, config_path, overrides)
        version = newest_version(model_name)
        outcome = retrained(version.number, version.run_metadata.get(DECISION_KEY, {}))
    log_metadata({"retrain": outcome.model_dump()})
    return outcome

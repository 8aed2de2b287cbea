"""Evidently's data drift report of the current sample against the reference sample."""

import warnings
from typing import Annotated

import pandas as pd
from zenml import get_step_context, step
from zenml.client import Client
from zenml.logger import get_logger
from zenml.types import HTMLString

from adapters.production_stage import production_version
from tabular_ml.configuration.schema import DataContract
from tabular_ml.modelling.trained_model import target_of_version
from tabular_ml.monitoring.drift import DriftSummary, column_roles, summarise_drift

logger = get_logger(__name__)


def _evidently_report(reference: pd.DataFrame, current: pd.DataFrame, roles: dict[str, list[str]]):
    """DataDriftPreset through the stack's Evidently data validator (Evidently itself without one)."""
    from evidently.legacy.metric_preset import DataDriftPreset
    from evidently.legacy.pipeline.column_mapping import ColumnMapping
    from evidently.legacy.report import Report
    from zenml.integrations.evidently.metrics import EvidentlyMetricConfig

    present = {role: [c for c in columns if c in current.columns] for role, columns in roles.items()}
    mapping = ColumnMapping(**present)
    validator = Client().active_stack.data_validator
    if validator is not None and validator.flavor == "evidently":
        return validator.data_profiling(
            dataset=reference,  # ZenML's order: the reference first, the current as comparison
            comparison_dataset=current,
            profile_list=[EvidentlyMetricConfig.metric("DataDriftPreset")],
            column_mapping=mapping,
        )
    logger.warning("The active stack has no Evidently data validator; calling Evidently directly")
    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=reference, current_data=current, column_mapping=mapping)
    return report


@step(enable_cache=False)
def check_drift(
    reference_sample: pd.DataFrame, current_sample: pd.DataFrame, min_current_rows: int
) -> tuple[Annotated[DriftSummary, "drift_summary"], Annotated[HTMLString, "drift_report"]]:
    """Per-column drift and the prediction's drift; the HTML report shows in the dashboard."""
    version = production_version(get_step_context().model.name)
    contract = DataContract(**version.run_metadata["parameters"]["contract"])
    task = target_of_version(version.run_metadata).task
    features = [name for name in contract.feature_names if name in current_sample.columns]
    if len(current_sample) < min_current_rows:
        note = (
            f"only {len(current_sample)} current rows (at least {min_current_rows} are needed to judge drift)"
        )
        empty = DriftSummary(
            reference_rows=len(reference_sample),
            current_rows=len(current_sample),
            columns=[],
            features=0,
            drifted_features=[],
            drift_share=0.0,
            note=note,
        )
        return empty, HTMLString(f"<p>No drift report: {note}.</p>")
    with warnings.catch_warnings():  # constant columns make numpy warn inside Evidently's correlations
        warnings.simplefilter("ignore", RuntimeWarning)
        report = _evidently_report(reference_sample, current_sample, column_roles(contract, task=task))
    summary = summarise_drift(report.as_dict(), features, len(reference_sample), len(current_sample))
    logger.info(
        "Drift: %d of %d feature columns drifted %s",
        len(summary.drifted_features),
        summary.features,
        summary.drifted_features,
    )
    return summary, HTMLString(report.get_html())

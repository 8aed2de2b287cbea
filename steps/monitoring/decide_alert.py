"""The monitoring verdict: thresholds crossed or not; the stack's alerter hears about a crossing."""

from typing import Annotated

from zenml import get_step_context, log_metadata, step
from zenml.client import Client
from zenml.logger import get_logger

from adapters.production_stage import production_version
from tabular_ml.configuration.schema import MonitoringThresholds
from tabular_ml.monitoring.drift import DriftSummary
from tabular_ml.monitoring.prepare import CurrentPerformance
from tabular_ml.monitoring.quality import DataQualityReport
from tabular_ml.monitoring.verdict import MonitoringVerdict, decide

logger = get_logger(__name__)


def alert_message(model_name: str, verdict: MonitoringVerdict) -> str:
    """The text an alerter posts: what crossed which threshold, one line each."""
    header = f"Model {model_name} version {verdict.model_version}: {len(verdict.reasons)} monitoring alert(s)"
    return "\n".join([header, *[f"- {reason}" for reason in verdict.reasons]])


@step(enable_cache=False)
def decide_alert(
    drift_summary: DriftSummary,
    data_quality: DataQualityReport,
    performance: CurrentPerformance,
    thresholds: MonitoringThresholds,
) -> Annotated[MonitoringVerdict, "monitoring_verdict"]:
    """Check every threshold; record the key numbers on the run and the production model version."""
    model_name = get_step_context().model.name
    version = production_version(model_name)
    verdict = decide(
        str(version.number),
        drift_summary if drift_summary.columns else None,
        data_quality,
        thresholds,
        metrics=performance.realized,
        holdout_metrics=version.run_metadata.get("metrics"),
        note=drift_summary.note,
        estimated=performance.estimated,
        labelled_rows=performance.labelled_rows,
    )
    numbers = verdict.model_dump(
        include={
            "alert",
            "current_rows",
            "drifted_columns",
            "drift_share",
            "prediction_drift_score",
            "metrics",
            "checked_at",
        }
    )
    numbers["estimated"] = verdict.estimated  # {metric: {value, low, high}}
    if verdict.realized:  # only with labels: {metric: value, labelled_rows: n}
        numbers["realized"] = verdict.realized
    log_metadata({"monitoring": numbers})
    log_metadata({"last_monitoring": numbers}, model_name=model_name, model_version=str(version.number))
    alerter = Client().active_stack.alerter
    if verdict.alert and alerter is not None:
        delivered = alerter.post(alert_message(model_name, verdict))
        logger.info(
            "Alert %s through the stack's alerter %r", "sent" if delivered else "NOT delivered", alerter.name
        )
    for reason in verdict.reasons:
        logger.warning("ALERT: %s", reason)
    return verdict

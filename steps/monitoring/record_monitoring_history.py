"""The run's numbers into the version's history, a snapshot in the Evidently workspace, a trend page."""

import os
from datetime import UTC, datetime
from typing import Annotated, Any

from zenml import get_step_context, step
from zenml.client import Client
from zenml.logger import get_logger
from zenml.types import HTMLString

from tabular_ml.configuration.schema import HistoryConfig
from tabular_ml.monitoring.drift import DriftSummary
from tabular_ml.monitoring.history import MonitoringHistory, plotted_values, run_record
from tabular_ml.monitoring.quality import DataQualityReport
from tabular_ml.monitoring.trend_plot import render_trend_html
from tabular_ml.monitoring.verdict import MonitoringVerdict

logger = get_logger(__name__)

#: The Evidently workspace's folder under the history path.
EVIDENTLY_FOLDER = "evidently"


def _recorded_numbers(verdict: MonitoringVerdict) -> dict[str, Any]:
    """The verdict's numbers with what the verdict step logged as ``monitoring`` (which adds
    ``estimated`` and ``realized`` when it has them)."""
    run = Client().get_pipeline_run(get_step_context().pipeline_run.id)
    logged = (
        run.steps["decide_alert"].run_metadata.get("monitoring", {}) if "decide_alert" in run.steps else {}
    )
    return {**verdict.model_dump(), **dict(logged)}


@step(enable_cache=False)
def record_monitoring_history(
    drift_summary: DriftSummary,
    data_quality: DataQualityReport,
    verdict: MonitoringVerdict,
    realized_performance: dict[str, Any],
    history: HistoryConfig,
) -> Annotated[HTMLString, "monitoring_trend"]:
    """Append the run to ``<history.path>/<model>/version-<n>/``, add its Evidently snapshot,
    and return the version's trend page (the dashboard shows it as the artifact's visualization)."""
    context = get_step_context()
    model_name, version = context.model.name, verdict.model_version
    numbers = _recorded_numbers(verdict)
    windows = realized_performance["windows"]
    record = run_record(
        numbers,
        drift_summary,
        data_quality,
        windows,
        realized_performance["metrics"],
        context.pipeline_run.name,
    )
    store = MonitoringHistory(history.path, model_name, version)
    store.append_run(record)
    if history.evidently:
        from tabular_ml.monitoring.evidently_history import add_run_snapshot

        checked_at = datetime.fromisoformat(record["checked_at"]).astimezone(UTC).replace(tzinfo=None)
        workspace = os.path.join(history.path, EVIDENTLY_FOLDER)
        snapshot = add_run_snapshot(
            workspace, model_name, version, plotted_values(record), checked_at, record["run"]
        )
        logger.info("Evidently snapshot %s added to %s (make monitoring-ui shows it)", snapshot, workspace)
    runs = store.runs()
    logger.info(
        "Monitoring history of %s version %s: %d run(s) in %s", model_name, version, len(runs), store.folder
    )
    return HTMLString(render_trend_html(model_name, version, runs, windows))

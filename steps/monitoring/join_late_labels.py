"""Late labels joined to the predictions the production version served, per time window."""

from datetime import UTC, datetime
from typing import Annotated, Any

from zenml import get_step_context, log_metadata, step
from zenml.client import Client
from zenml.logger import get_logger

from adapters.source_secrets import source_secrets
from tabular_ml.configuration.schema import (
    CurrentDataConfig,
    HistoryConfig,
    RealizedConfig,
    ServingConfig,
    SourceConfig,
)
from tabular_ml.data.sources import load_data
from tabular_ml.modelling.trained_model import TrainedModel
from tabular_ml.monitoring.history import MonitoringHistory
from tabular_ml.monitoring.prepare import parse_window
from tabular_ml.monitoring.realized_performance import (
    HEADLINE_METRICS,
    join_labels,
    logged_predictions,
    merge_windows,
    scored_predictions,
    served_metrics,
    window_numbers,
)
from tabular_ml.monitoring.verdict import MonitoringVerdict

logger = get_logger(__name__)


@step(enable_cache=False)  # labels keep arriving: every run joins them again
def join_late_labels(
    verdict: MonitoringVerdict,
    current: CurrentDataConfig,
    labels: SourceConfig | None,
    key_column: str | None,
    realized: RealizedConfig,
    history: HistoryConfig,
) -> Annotated[dict[str, Any], "realized_performance"]:
    """Join every label read to the predictions the watched version served; update its stored windows.

    Returns ``{"windows": [...], "metrics": {...}}``: every stored window (its predictions,
    labelled and still unlabelled rows, metrics) and the headline metrics of all labelled
    predictions this run joined ({} without labels).
    """
    model_name = get_step_context().model.name
    version = Client().get_model_version(model_name, verdict.model_version)  # even after a retrain
    store = MonitoringHistory(history.path, model_name, version.number)
    if labels is None:
        return {"windows": store.windows(), "metrics": {}}
    model = TrainedModel.of_version(version)
    if current.type == "request_log":
        from serving.request_log import read_request_log

        since = parse_window(current.since) if current.since else None
        log = read_request_log(current.path or ServingConfig().request_log_path(model_name), since=since)
        predictions = logged_predictions(log, key_column, str(version.number))
    else:
        frame = load_data(current, secrets=source_secrets(current))
        predictions = scored_predictions(
            frame, model, key_column, realized.timestamp_column, datetime.now(UTC)
        )
    joined = join_labels(
        predictions, load_data(labels, secrets=source_secrets(labels)), key_column, model.target.column
    )
    windows = merge_windows(store.windows(), window_numbers(joined, model.target, realized.window))
    store.save_windows(windows)
    labelled = joined[joined["label"].notna()]
    every = served_metrics(model.target, labelled["label"], labelled["prediction"], labelled["probability"])
    metrics = {name: every[name] for name in HEADLINE_METRICS[model.target.task] if name in every}
    totals = {
        "predictions": len(joined),
        "labelled_rows": len(labelled),
        "unlabelled_rows": len(joined) - len(labelled),
        "windows": len(windows),
    }
    log_metadata({"realized_performance": {**totals, "metrics": metrics}})
    logger.info("Late labels: %s; realized %s", totals, metrics)
    return {"windows": windows, "metrics": metrics}

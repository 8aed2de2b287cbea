"""Monitoring pipeline: wiring only."""

from zenml import pipeline

from steps.monitoring import (
    check_drift,
    compare_shadow,
    decide_alert,
    join_late_labels,
    prepare_monitoring_data,
    record_monitoring_history,
    retrain_on_drift,
)
from tabular_ml.configuration.schema import (
    CurrentDataConfig,
    HistoryConfig,
    MonitoringThresholds,
    RealizedConfig,
    RetrainConfig,
    SourceConfig,
)


@pipeline(enable_cache=False)
def monitoring(
    current: CurrentDataConfig,
    labels: SourceConfig | None,
    key_column: str | None,
    sample_rows: int,
    sample_seed: int,
    min_current_rows: int,
    thresholds: MonitoringThresholds,
    on_drift: str,
    retrain: RetrainConfig,
    realized: RealizedConfig,
    history: HistoryConfig,
) -> None:
    """Current data vs the production version's reference: quality, drift, performance -> verdict.

    On an alert with ``on_drift: retrain``, a step runs training, then deployment. Late labels are
    joined to the served predictions per window, and the run's numbers go into the version's history.
    """
    reference_sample, current_sample, data_quality, current_performance = prepare_monitoring_data(
        current=current,
        labels=labels,
        key_column=key_column,
        sample_rows=sample_rows,
        sample_seed=sample_seed,
    )
    drift_summary, _ = check_drift(reference_sample, current_sample, min_current_rows=min_current_rows)
    verdict = decide_alert(drift_summary, data_quality, current_performance, thresholds=thresholds)
    retrain_on_drift(verdict, on_drift=on_drift, retrain=retrain)
    realized_performance = join_late_labels(
        verdict, current=current, labels=labels, key_column=key_column, realized=realized, history=history
    )
    record_monitoring_history(drift_summary, data_quality, verdict, realized_performance, history=history)
    compare_shadow(current=current, sample_seed=sample_seed)  # production vs a shadow, when one is logged

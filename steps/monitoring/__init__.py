from steps.monitoring.check_drift import check_drift
from steps.monitoring.compare_shadow import compare_shadow
from steps.monitoring.decide_alert import decide_alert
from steps.monitoring.join_late_labels import join_late_labels
from steps.monitoring.prepare_monitoring_data import prepare_monitoring_data
from steps.monitoring.record_monitoring_history import record_monitoring_history
from steps.monitoring.retrain_on_drift import retrain_on_drift

__all__ = [
    "check_drift",
    "compare_shadow",
    "decide_alert",
    "join_late_labels",
    "prepare_monitoring_data",
    "record_monitoring_history",
    "retrain_on_drift",
]

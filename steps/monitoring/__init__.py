from steps.monitoring.check_drift import check_drift
from steps.monitoring.decide_alert import decide_alert
from steps.monitoring.prepare_monitoring_data import prepare_monitoring_data
from steps.monitoring.retrain_on_drift import retrain_on_drift

__all__ = ["check_drift", "decide_alert", "prepare_monitoring_data", "retrain_on_drift"]

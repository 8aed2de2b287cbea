"""The configuration schema's own checks (tabular_ml/configuration/schema.py): the monitoring parameters."""

import pytest

from tabular_ml.configuration.schema import MonitoringParameters, MonitoringThresholds


def test_labels_need_a_key_in_the_config():
    with pytest.raises(ValueError, match="set key_column"):
        MonitoringParameters(current={"type": "request_log"}, labels={"type": "file", "path": "x.csv"})


def test_the_shipped_monitoring_config_checks_a_labelled_metric_of_every_task():
    from tabular_ml.configuration.loading import read_yaml
    from tabular_ml.tasks.metric_names import METRICS_BY_TASK
    from tests.support.paths import PROJECT_ROOT

    parameters = read_yaml(PROJECT_ROOT / "configs/monitoring.yaml")["parameters"]
    drops = MonitoringParameters(**parameters).thresholds.metric_drop
    for task, metrics in METRICS_BY_TASK.items():
        assert set(drops) & set(metrics), f"no metric_drop for a {task} model: {sorted(drops)}"


def test_an_unknown_metric_drop_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown metric 'f1macro' \(did you mean 'f1_macro'\?\)"):
        MonitoringThresholds(metric_drop={"f1macro": 0.05})
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        MonitoringThresholds(metric_drop={"r2": -0.1})

"""Quality gates: floors, ceilings, margins over the baseline, and gate names checked early."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tabular_ml.configuration.loading import ConfigError, validate_section
from tabular_ml.configuration.schema import EvaluationConfig, QualityGates, TrainingParameters
from tabular_ml.modelling.evaluation import (
    HIGHER_IS_BETTER,
    QualityGateError,
    check_gates,
    enforce_gates,
    metric_names,
    unknown_gate_metrics,
)

METRICS = {"roc_auc": 0.812, "log_loss": 0.71, "accuracy": 0.9, "recall": 0.5}


def test_every_metric_of_every_task_has_a_direction():
    assert set(HIGHER_IS_BETTER) == set(metric_names())
    lower = {name for name, higher in HIGHER_IS_BETTER.items() if not higher}
    assert lower == {"log_loss", "brier", "rmse", "mae", "median_ae", "max_error"}
    assert metric_names("regression") == ("rmse", "mae", "median_ae", "max_error", "r2")
    assert {"accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr"} <= set(metric_names("multiclass"))
    with pytest.raises(ValueError, match="unknown task 'ranking'; expected one of binary, multiclass"):
        metric_names("ranking")


def test_gates_pass_at_the_bound():
    gates = QualityGates(min={"accuracy": 0.9, "roc_auc": 0.8}, max={"log_loss": 0.71})
    assert check_gates(METRICS, gates) == []
    assert enforce_gates(METRICS, gates) is None


def test_gate_failure_messages_exact():
    gates = QualityGates(min={"roc_auc": 0.84, "accuracy": 0.85}, max={"log_loss": 0.6})
    assert check_gates(METRICS, gates) == [
        "roc_auc 0.812 is below the minimum 0.840",
        "log_loss 0.710 is above the maximum 0.600",
    ]


def test_gate_message_shows_enough_decimals_to_differ():
    assert check_gates({"roc_auc": 0.8399}, QualityGates(min={"roc_auc": 0.84})) == [
        "roc_auc 0.8399 is below the minimum 0.8400"
    ]


def test_enforce_gates_raises_with_every_failure():
    gates = EvaluationConfig(gates={"min": {"roc_auc": 0.84, "recall": 0.6}, "max": {"log_loss": 0.6}}).gates
    with pytest.raises(QualityGateError) as info:
        enforce_gates(METRICS, gates)
    assert str(info.value) == (
        "roc_auc 0.812 is below the minimum 0.840; recall 0.500 is below the minimum 0.600; "
        "log_loss 0.710 is above the maximum 0.600"
    )
    assert len(info.value.failures) == 3
    assert isinstance(info.value, RuntimeError)


def test_nan_metric_fails_its_gate():
    assert check_gates({"roc_auc": float("nan")}, QualityGates(min={"roc_auc": 0.5})) == [
        "roc_auc is not a number, so its minimum 0.500 cannot be met"
    ]


# --------------------------------------------------------------------------- gate names


def test_a_misspelt_gate_metric_fails_with_the_config():
    with pytest.raises(ValidationError, match=r"unknown metric 'rocauc' \(did you mean 'roc_auc'\?\)"):
        QualityGates(min={"rocauc": 0.8})
    with pytest.raises(ValidationError, match="unknown metric 'f1macro'"):
        QualityGates(beat_baseline={"f1macro": 0.05})
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        QualityGates(beat_baseline={"f1": -0.1})


def test_config_error_is_one_line_naming_the_key():
    with pytest.raises(ConfigError) as info:
        validate_section({"evaluation": {"gates": {"max": {"rsme": 5}}}}, "evaluation", EvaluationConfig)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        "evaluation.gates.max: unknown metric 'rsme' (did you mean 'rmse'?); known metrics: accuracy, "
    )


def test_gate_names_of_another_task_are_found_before_training():
    gates = QualityGates(min={"roc_auc": 0.8, "f1_macro": 0.5}, max={"rmse": 3}, beat_baseline={"r2": 0.1})
    assert unknown_gate_metrics(gates) == []
    assert unknown_gate_metrics(gates, "binary") == ["f1_macro", "r2", "rmse"]
    assert unknown_gate_metrics(gates, "multiclass") == ["r2", "rmse", "roc_auc"]
    assert unknown_gate_metrics(gates, "regression") == ["f1_macro", "roc_auc"]


def test_a_gate_of_another_task_fails_saying_so():
    failures = check_gates({"rmse": 2.0}, QualityGates(min={"roc_auc": 0.8}), task="regression")
    assert failures == [
        "'roc_auc' in the minimum gates is not a regression metric; "
        "regression metrics: rmse, mae, median_ae, max_error, r2"
    ]
    failures = check_gates({"f1_macro": 0.5}, QualityGates(min={"f1": 0.5}), task="multiclass")
    assert failures[0].startswith(
        "'f1' in the minimum gates is not a multiclass metric (did you mean 'f1_macro'?)"
    )


def test_gate_on_a_name_that_skipped_validation_lists_the_known_ones():
    gates = QualityGates.model_construct(min={"rocauc": 0.8}, max={}, beat_baseline={})
    assert check_gates(METRICS, gates, task="binary") == [
        "unknown metric 'rocauc' in the minimum gates (did you mean 'roc_auc'?); binary metrics: "
        "accuracy, balanced_accuracy, brier, f1, log_loss, pr_auc, precision, recall, roc_auc"
    ]


def test_a_metric_of_the_task_left_out_is_not_computed():
    assert check_gates({"accuracy": 1.0}, QualityGates(min={"roc_auc_ovr": 0.7}), task="multiclass") == [
        "roc_auc_ovr was not computed for this evaluation, so its minimum 0.700 cannot be checked"
    ]


# --------------------------------------------------------------------------- beating the baseline


@pytest.mark.parametrize(
    ("model", "baseline", "margin"),
    [
        (0.5, 0.12, 0.05),
        (0.17, 0.12, 0.05),  # exactly the margin (0.17 - 0.12 is 0.04999... in floats)
        (0.13, 0.12, 0.0),  # margin 0: strictly better is enough
    ],
)
def test_beating_the_baseline_by_the_margin_passes(model, baseline, margin):
    gates = QualityGates(beat_baseline={"f1_macro": margin})
    assert check_gates({"f1_macro": model}, gates, {"f1_macro": baseline}) == []


def test_not_beating_the_baseline_by_the_margin_fails():
    gates = QualityGates(beat_baseline={"f1_macro": 0.05})
    assert check_gates({"f1_macro": 0.16}, gates, {"f1_macro": 0.12}) == [
        "f1_macro 0.160 does not beat the baseline 0.120 by 0.05"
    ]
    # Worse than the baseline fails as well.
    assert check_gates({"f1_macro": 0.1}, gates, {"f1_macro": 0.12}) == [
        "f1_macro 0.100 does not beat the baseline 0.120 by 0.05"
    ]


def test_equal_to_the_baseline_does_not_beat_it():
    gates = QualityGates(beat_baseline={"r2": 0.0})
    assert check_gates({"r2": 0.0}, gates, {"r2": 0.0}) == ["r2 0.000 does not beat the baseline 0.000"]


def test_lower_is_better_metrics_beat_the_baseline_downwards():
    gates = QualityGates(beat_baseline={"rmse": 10, "log_loss": 0.1})
    baseline = {"rmse": 60.0, "log_loss": 0.6}
    assert check_gates({"rmse": 50.0, "log_loss": 0.45}, gates, baseline) == []
    assert check_gates({"rmse": 55.0, "log_loss": 0.7}, gates, baseline) == [
        "rmse 55.000 does not beat the baseline 60.000 by 10 (lower is better)",
        "log_loss 0.700 does not beat the baseline 0.600 by 0.1 (lower is better)",
    ]


def test_baseline_gate_without_the_numbers_fails_clearly():
    gates = QualityGates(beat_baseline={"roc_auc_ovr": 0.05})
    assert check_gates({"roc_auc_ovr": 0.9}, gates) == [
        "no baseline metrics were given, so roc_auc_ovr beating the baseline by 0.05 cannot be checked"
    ]
    assert check_gates({"roc_auc_ovr": 0.9}, gates, {"accuracy": 0.4}) == [
        "the baseline has no roc_auc_ovr, so roc_auc_ovr beating the baseline by 0.05 cannot be checked"
    ]
    assert check_gates({"accuracy": 0.9}, gates, {"accuracy": 0.4}, task="multiclass") == [
        "roc_auc_ovr was not computed for this evaluation, so beating the baseline by 0.05 cannot be checked"
    ]


def test_failures_come_in_gate_order_and_enforce_raises():
    gates = QualityGates(min={"accuracy": 0.95}, beat_baseline={"accuracy": 0.1})
    with pytest.raises(QualityGateError) as info:
        enforce_gates({"accuracy": 0.9}, gates, {"accuracy": 0.85})
    assert info.value.failures == [
        "accuracy 0.900 is below the minimum 0.950",
        "accuracy 0.900 does not beat the baseline 0.850 by 0.1",
    ]


def test_training_parameters_accept_a_baseline_gate():
    gates = (
        TrainingParameters.model_fields["evaluation"]
        .annotation.model_validate({"gates": {"beat_baseline": {"f1_macro": 0.05, "rmse": 0}}})
        .gates
    )
    assert gates.beat_baseline == {"f1_macro": 0.05, "rmse": 0.0}
    assert gates.min == {} and gates.max == {}

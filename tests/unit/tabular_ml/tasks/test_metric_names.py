"""The metric names of each task, which way is better, and the one-line error for an unknown name
(tabular_ml/tasks/metric_names.py)."""

import pytest

from tabular_ml.tasks.metric_names import HIGHER_IS_BETTER, describe_unknown_metric, metric_names


def test_each_task_lists_its_metrics_in_display_order():
    assert metric_names("regression") == ("rmse", "mae", "median_ae", "max_error", "r2")
    assert metric_names("binary")[:2] == ("accuracy", "balanced_accuracy")
    assert metric_names("multiclass")[-2:] == ("roc_auc_ovr", "log_loss")


def test_every_task_together_names_each_metric_once_binary_first():
    every = metric_names()
    assert len(every) == len(set(every)) == 19  # 9 binary + 5 only multiclass + 5 regression
    assert every[:9] == metric_names("binary")
    assert every[9:14] == ("precision_macro", "recall_macro", "f1_macro", "f1_weighted", "roc_auc_ovr")
    assert every[14:] == metric_names("regression")


def test_an_unknown_task_is_named():
    with pytest.raises(ValueError) as raised:
        metric_names("ranking")
    assert str(raised.value) == "unknown task 'ranking'; expected one of binary, multiclass, regression"


def test_losses_and_errors_are_lower_is_better_the_rest_higher():
    lower = sorted(name for name, higher in HIGHER_IS_BETTER.items() if not higher)
    assert lower == ["brier", "log_loss", "mae", "max_error", "median_ae", "rmse"]
    assert set(HIGHER_IS_BETTER) == set(metric_names())
    assert HIGHER_IS_BETTER["r2"] and HIGHER_IS_BETTER["roc_auc_ovr"]


def test_a_metric_of_another_task_points_to_this_tasks_own():
    assert describe_unknown_metric("f1", "multiclass", " in the minimum gates") == (
        "'f1' in the minimum gates is not a multiclass metric (did you mean 'f1_macro'?); multiclass "
        "metrics: accuracy, balanced_accuracy, precision_macro, recall_macro, f1_macro, f1_weighted, "
        "roc_auc_ovr, log_loss"
    )


def test_a_misspelt_metric_gets_the_nearest_name_and_a_stranger_none():
    assert describe_unknown_metric("f1macro") == (
        "unknown metric 'f1macro' (did you mean 'f1_macro'?); known metrics: "
        + ", ".join(sorted(metric_names()))
    )
    assert describe_unknown_metric("auc_pr", "regression") == (
        "unknown metric 'auc_pr'; regression metrics: mae, max_error, median_ae, r2, rmse"
    )

"""Flagged contract violations: the response's tags, the counter increments, and the 400 for rows
the model cannot score (serving/contract_flags.py)."""

from types import SimpleNamespace

import numpy as np
import pytest

from serving.contract_flags import unscorable, unscorable_check, violation_metrics, violation_tags
from serving.request_schema import RequestError, Violation

VIOLATIONS = (
    Violation(row=0, column="tenure", rule="max", value=900.0),
    Violation(row=1, column="senior_citizen", rule="binary", value=1.7e308),
    Violation(row=1, column="tenure", rule="max", value=120.5),
)


def parsed(violations=VIOLATIONS) -> SimpleNamespace:
    return SimpleNamespace(violations=violations)  # all the checks read of a parsed request


def test_the_tags_list_each_flagged_value_and_stop_at_a_hundred():
    assert violation_tags(VIOLATIONS[:1]) == [{"row": 0, "column": "tenure", "rule": "max", "value": 900.0}]
    many = [Violation(row=i, column="tenure", rule="min", value=-1.0) for i in range(150)]
    tags = violation_tags(many)
    assert len(tags) == 100 and tags[-1]["row"] == 99


def test_the_counter_goes_up_once_per_column_and_rule_by_the_count():
    assert violation_metrics(VIOLATIONS, "7") == [
        {
            "type": "COUNTER",
            "key": "contract_violation_total",
            "value": 2,
            "tags": {"column": "tenure", "rule": "max", "served_model_version": "7"},
        },
        {
            "type": "COUNTER",
            "key": "contract_violation_total",
            "value": 1,
            "tags": {"column": "senior_citizen", "rule": "binary", "served_model_version": "7"},
        },
    ]
    assert violation_metrics((), "7") == []


def test_finite_scores_pass_through_unchanged():
    scores = np.array([[0.2, 0.8], [0.6, 0.4]])
    assert unscorable_check(scores, parsed()) is scores


def test_the_first_row_with_a_non_finite_score_is_named_with_its_flagged_values():
    with pytest.raises(RequestError) as raised:
        unscorable_check(np.array([[0.2, 0.8], [np.nan, np.nan], [np.inf, 0.0]]), parsed())
    assert raised.value.field == "request"
    with pytest.raises(
        RequestError, match=r"^row 2 cannot be scored \(the model's output is not a number\)$"
    ):
        unscorable_check(np.array([0.1, 0.2, np.nan]), parsed(()))  # one score per row
    assert str(raised.value) == (
        "row 1 cannot be scored (the model's output is not a number); flagged: "
        "column 'senior_citizen' breaks the data contract (binary): row 1 holds 1.7e+308; "
        "column 'tenure' breaks the data contract (max): row 1 holds 120.5"
    )


def test_without_a_row_the_whole_request_is_named_and_nothing_flagged_adds_nothing():
    error = unscorable(parsed(()), "the model failed")
    assert str(error) == "the request cannot be scored (the model failed)"
    assert str(unscorable(parsed(), "x")).count("breaks the data contract") == 3

"""The search candidates table and reading the selected candidate back from it."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from adapters.mlflow_tracking import candidates_table, selected_candidate
from tabular_ml.modelling.search import Candidate, SearchResult


def candidate(algorithm: str, mean: float, std: float, **params) -> Candidate:
    return Candidate(
        algorithm=algorithm,
        params=params,
        mean_score=mean,
        std_score=std,
        cv_metrics={"roc_auc": (mean, std), "f1": (mean / 2, std * 2)},
    )


@pytest.fixture
def result() -> SearchResult:
    candidates = [
        candidate("logistic_regression", 0.80, 0.02, C=0.1),
        candidate("random_forest", 0.85, 0.03, max_depth=None, min_samples_leaf=10),
        candidate("logistic_regression", 0.85, 0.01, C=1.0),
        candidate("hist_gradient_boosting", 0.70, 0.05, learning_rate=0.05, max_depth=(3, 4)),
    ]
    return SearchResult(candidates=candidates, best=candidates[2], best_pipeline=object())


def test_candidates_table_sorted_best_first(result):
    table = candidates_table(result)
    assert table["algorithm"].tolist() == [
        "logistic_regression",
        "random_forest",
        "logistic_regression",
        "hist_gradient_boosting",
    ]
    # ties on the mean score go to the smaller spread
    assert table["mean_score"].tolist() == [0.85, 0.85, 0.80, 0.70]
    assert table["std_score"].tolist() == [0.01, 0.03, 0.02, 0.05]
    assert table.index.tolist() == [0, 1, 2, 3]
    assert list(table.columns) == [
        "algorithm",
        "params",
        "mean_score",
        "std_score",
        "selected",
        "cv_roc_auc_mean",
        "cv_roc_auc_std",
        "cv_f1_mean",
        "cv_f1_std",
    ]
    assert table["cv_f1_mean"].tolist() == [0.425, 0.425, 0.40, 0.35]


def test_selected_marks_exactly_the_best(result):
    table = candidates_table(result)
    assert table["selected"].tolist() == [True, False, False, False]
    assert table["selected"].dtype == bool


def test_selected_follows_the_best_even_when_it_is_not_first(result):
    result.best = result.candidates[1]
    table = candidates_table(result)
    assert table["selected"].tolist() == [False, True, False, False]
    assert table.loc[table["selected"], "algorithm"].item() == "random_forest"


def test_selected_is_by_identity_not_equality():
    twin_a, twin_b = candidate("lr", 0.9, 0.0, C=1), candidate("lr", 0.9, 0.0, C=1)
    assert twin_a == twin_b
    table = candidates_table(SearchResult(candidates=[twin_a, twin_b], best=twin_b, best_pipeline=None))
    assert table["selected"].sum() == 1


def test_params_are_sorted_json(result):
    table = candidates_table(result)
    assert table["params"].tolist() == [
        '{"C": 1.0}',
        '{"max_depth": null, "min_samples_leaf": 10}',
        '{"C": 0.1}',
        '{"learning_rate": 0.05, "max_depth": [3, 4]}',
    ]


def test_params_json_falls_back_to_str():
    odd = candidate("x", 0.5, 0.1, estimator=object, value={1, 2})
    table = candidates_table(SearchResult(candidates=[odd], best=odd, best_pipeline=None))
    assert json.loads(table["params"][0]) == {"estimator": str(object), "value": str({1, 2})}


def test_selected_candidate_round_trip(result, tmp_path):
    table = candidates_table(result)
    expected = (
        "logistic_regression",
        {"C": 1.0},
        {"f1": {"mean": 0.425, "std": 0.02}, "roc_auc": {"mean": 0.85, "std": 0.01}},
    )
    assert selected_candidate(table) == expected
    path = tmp_path / "candidates.parquet"
    table.to_parquet(path)
    assert selected_candidate(pd.read_parquet(path)) == expected


def test_selected_candidate_without_cv_metrics():
    bare = Candidate(algorithm="a", params={"k": "v"}, mean_score=0.5, std_score=0.1, cv_metrics={})
    table = candidates_table(SearchResult(candidates=[bare], best=bare, best_pipeline=None))
    assert selected_candidate(table) == ("a", {"k": "v"}, {})


@pytest.mark.parametrize(("marks", "count"), [([False] * 4, 0), ([True, True, False, False], 2)])
def test_selected_candidate_needs_exactly_one_selected(result, marks, count):
    table = candidates_table(result)
    table["selected"] = marks
    with pytest.raises(ValueError) as caught:
        selected_candidate(table)
    assert str(caught.value) == f"the search results mark {count} candidates as selected, expected 1"

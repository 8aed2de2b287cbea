"""The drafted search shrinks with the data (tabular_ml/drafting/search_draft.py)."""

from __future__ import annotations

import math

import pytest

from tabular_ml.configuration.schema import EvaluationConfig, SearchConfig
from tabular_ml.drafting.search_draft import draft_evaluation, draft_search


@pytest.mark.parametrize(
    ("rows", "cv", "c_grid", "forest_space"),
    [
        (500, 5, [0.01, 0.1, 1.0, 10.0], {"max_depth": [None, 10], "min_samples_leaf": [1, 5]}),
        (7_043, 5, [0.03, 0.1, 0.3, 1.0], {"max_depth": [10, None], "min_samples_leaf": [10, 20]}),
        (
            2_000_000,
            3,
            [0.01, 0.03, 0.1, 0.3, 1.0, 3.0],
            {"min_samples_leaf": [10, 30, 100], "max_depth": [20, None]},
        ),
    ],
)
def test_the_search_shrinks_with_the_data(rows, cv, c_grid, forest_space):
    search = draft_search("binary", rows)
    assert search["cv"] == cv
    assert search["algorithms"][0]["search_space"] == {"C": c_grid}
    assert search["algorithms"][1]["search_space"] == forest_space


def n_candidates(search: dict) -> int:
    return sum(
        math.prod(len(values) for values in algorithm["search_space"].values())
        for algorithm in search["algorithms"]
    )


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_large_tables_get_halving_with_a_strong_candidate_set(task):
    search = draft_search(task, 1_000_000)
    assert search["strategy"] == "halving"
    assert n_candidates(search) == 30  # the issue asks for at least 24 at a million rows
    forest, boosting = search["algorithms"][1], search["algorithms"][2]
    assert forest["params"]["max_samples"] == 0.2
    assert boosting["params"] | {"min_samples_leaf": 0} == {
        "max_iter": 500,
        "min_samples_leaf": 0,
        "early_stopping": True,
        "validation_fraction": 0.1,
        "n_iter_no_change": 10,
    }
    # the drafted section is a valid search config
    config = SearchConfig.model_validate(search)
    assert config.strategy == "halving" and config.halving_candidates == "grid"
    assert config.halving_max_rows == 100_000  # the race's cost stops growing with the table


@pytest.mark.parametrize(("rows", "strategy"), [(99_999, "grid"), (100_000, "halving"), (7_043, "grid")])
def test_halving_starts_at_the_large_table_size(rows, strategy):
    search = draft_search("binary", rows)
    assert search["strategy"] == strategy
    boosting = search["algorithms"][2]["params"]
    assert ("early_stopping" in boosting) == (strategy == "halving")
    assert ("max_samples" in search["algorithms"][1]["params"]) == (strategy == "halving")


@pytest.mark.parametrize(("rows", "strategy"), [(99_999, "grid"), (100_000, "halving")])
def test_draft_config_writes_halving_from_the_large_table_size(rows, strategy):
    import numpy as np
    import pandas as pd
    import yaml

    from tabular_ml.drafting.draft_config import draft_training_config

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "colour": rng.choice(["red", "blue"], size=rows),
            "label": rng.choice(["yes", "no"], size=rows),
        }
    )
    draft = draft_training_config(frame, "label", {"type": "file", "path": "t.csv"}, "t")
    parameters = yaml.safe_load(draft.text)["parameters"]
    assert parameters["search"]["strategy"] == strategy
    (line,) = [line for line in draft.summary if line.startswith("search:")]
    assert ("successive halving over rows" in line) == (strategy == "halving")
    # a large table's trees get category codes: the refit on every row holds one column per text column
    encoding = parameters["preprocessing"].get("categorical_encoding", "onehot")
    assert encoding == ("auto" if strategy == "halving" else "onehot")
    assert ("categorical_encoding: auto  # trees get category codes" in draft.text) == (strategy == "halving")


@pytest.mark.parametrize(
    ("task", "rows", "max_rows"),
    [("binary", 99_999, 200_000), ("binary", 1_000_000, 100_000), ("regression", 1_000_000, 200_000)],
)
def test_a_large_binary_tables_threshold_is_chosen_on_a_sample(task, rows, max_rows):
    drafted = draft_evaluation(task, rows)
    assert EvaluationConfig.model_validate(drafted).threshold_max_rows == max_rows  # the default elsewhere
    assert ("threshold" in drafted) == (task == "binary")  # only a binary task has one

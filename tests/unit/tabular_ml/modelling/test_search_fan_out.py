"""The search one algorithm at a time (the training pipeline's branches) and the winner picked after."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tabular_ml.configuration.schema import PreprocessingConfig, SearchConfig
from tabular_ml.modelling.search import (
    AlgorithmSearch,
    Candidate,
    algorithm_search,
    check_algorithm_names,
    pick_winner,
    run_search,
    search_algorithm,
)
from tests.unit.tabular_ml.modelling.test_search import DATA, FEATURES, LR, TREE, contract, sample  # noqa: F401


def branches(X, y, contract, config: SearchConfig) -> list[AlgorithmSearch]:  # noqa: F811
    """Every algorithm searched on its own, each with the narrowed config a pipeline step gets,
    and each result through JSON as an artifact store keeps it."""
    out = []
    for name in check_algorithm_names(config):
        narrowed = algorithm_search(config, name)
        (spec,) = narrowed.algorithms
        found = search_algorithm(X, y, contract, PreprocessingConfig(), FEATURES, narrowed, spec)
        out.append(AlgorithmSearch.model_validate_json(found.model_dump_json()))
    return out


@pytest.mark.parametrize("strategy", ["grid", "halving"])
def test_branches_then_winner_equal_the_single_process_search(contract, sample, strategy):  # noqa: F811
    X, y = sample
    config = SearchConfig(strategy=strategy, cv=3, n_jobs=1, algorithms=[LR, TREE])
    single = run_search(X, y, contract, PreprocessingConfig(), FEATURES, config)
    # the branches may come back in any order: the config's order decides ties
    fanned = pick_winner(
        branches(X, y, contract, config)[::-1], X, y, contract, PreprocessingConfig(), FEATURES, config
    )
    assert scored(fanned.best) == scored(single.best)
    assert [scored(c) for c in fanned.candidates] == [scored(c) for c in single.candidates]
    assert fanned.budgets == single.budgets
    raw = pd.read_csv(DATA).tail(50).drop(columns="churn")
    np.testing.assert_array_equal(
        fanned.best_pipeline.predict_proba(raw), single.best_pipeline.predict_proba(raw)
    )


def scored(candidate: Candidate) -> dict:
    """A candidate without its fit time (the clock's, not the search's)."""
    return candidate.model_dump(exclude={"mean_fit_time"})


def test_halving_branch_marks_only_last_budget_candidates_as_finalists(contract, sample):  # noqa: F811
    X, y = sample
    config = SearchConfig(strategy="halving", cv=3, n_jobs=1, algorithms=[TREE])
    (found,) = branches(X, y, contract, config)
    assert [b.candidates for b in found.budgets] == [3, 1]
    assert sum(found.finalists) == 1
    (final,) = [c for c, is_final in zip(found.candidates, found.finalists, strict=True) if is_final]
    assert final.rows == found.budgets[-1].rows


def test_a_failed_fit_keeps_its_nan_through_json_and_never_wins():
    failed = Candidate(algorithm="a", params={"C": 1}, mean_score=math.nan, std_score=math.nan, cv_metrics={})
    ok = Candidate(algorithm="b", params={}, mean_score=0.7, std_score=0.01, cv_metrics={})
    result = AlgorithmSearch(algorithm="a", candidates=[failed, ok], finalists=[True, True])
    back = AlgorithmSearch.model_validate_json(result.model_dump_json())
    assert math.isnan(back.candidates[0].mean_score) and back.candidates[1] == ok


def test_narrowing_keeps_every_other_setting_and_one_algorithm():
    config = SearchConfig(strategy="random", n_iter=4, cv=3, algorithms=[LR, TREE])
    narrowed = algorithm_search(config, "tree")
    assert narrowed.algorithms == [TREE]
    assert narrowed.model_dump(exclude={"algorithms"}) == config.model_dump(exclude={"algorithms"})


def test_pick_winner_names_an_algorithm_without_a_result(contract, sample):  # noqa: F811
    X, y = sample
    config = SearchConfig(cv=3, n_jobs=1, algorithms=[LR, TREE])
    only_lr = branches(X, y, contract, config.model_copy(update={"algorithms": [LR]}))
    with pytest.raises(ValueError, match=r"no search result for algorithm\(s\) \['tree'\]"):
        pick_winner(only_lr, X, y, contract, PreprocessingConfig(), FEATURES, config)


def test_duplicate_algorithm_names_are_one_line():
    with pytest.raises(ValueError, match=r"algorithm name\(s\) \['logreg'\] are used more than once"):
        check_algorithm_names(SearchConfig(algorithms=[LR, LR, TREE]))

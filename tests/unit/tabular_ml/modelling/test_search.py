"""Candidate selection and the multi-algorithm search on a sample of the bundled data."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy import stats
from sklearn.pipeline import Pipeline

from tabular_ml.configuration.schema import (
    AlgorithmSpec,
    ColumnSpec,
    CountFeature,
    DataContract,
    Distribution,
    PreprocessingConfig,
    RatioFeature,
    SearchConfig,
)
from tabular_ml.modelling.model import encode_target
from tabular_ml.modelling.search import Candidate, SearchResult, param_space, run_search, select_best
from tests.support.paths import PROJECT_ROOT

DATA = PROJECT_ROOT / "data/raw/telco_churn.csv"

NUMERIC = ["tenure", "monthly_charges", "total_charges"]
BINARY = ["female", "senior_citizen", "partner", "dependents", "phone_service", "paperless_billing"]
ADDONS = [
    "online_security",
    "online_backup",
    "device_protection",
    "tech_support",
    "streaming_tv",
    "streaming_movies",
]
CATEGORICAL = ["multiple_lines", "internet_service", *ADDONS, "contract", "payment_method"]

FEATURES = [
    RatioFeature(name="avg_monthly", numerator="total_charges", denominator="tenure"),
    CountFeature(name="n_addons", columns=ADDONS, values=["Yes"]),
]


def candidate(score: float, std: float, algorithm: str = "a", **params) -> Candidate:
    return Candidate(
        algorithm=algorithm,
        params=params,
        mean_score=score,
        std_score=std,
        cv_metrics={"roc_auc": (score, std)},
    )


# --------------------------------------------------------------------------- select_best


def test_select_best_picks_the_best_not_the_latest():
    candidates = [
        candidate(0.70, 0.01, "lr", C=0.1),
        candidate(0.81, 0.02, "rf", max_depth=4),
        candidate(0.92, 0.03, "rf", max_depth=8),  # best, in the middle
        candidate(0.85, 0.01, "hgb", max_iter=100),
        candidate(0.60, 0.05, "hgb", max_iter=10),
    ]
    assert select_best(candidates) is candidates[2]


def test_select_best_ties_go_to_lower_std_then_earlier():
    candidates = [
        candidate(0.80, 0.05, "a"),
        candidate(0.90, 0.04, "b"),
        candidate(0.90, 0.02, "c"),  # same score as b, lower std
        candidate(0.90, 0.02, "d"),  # full tie with c, later
        candidate(0.89, 0.00, "e"),
    ]
    assert select_best(candidates).algorithm == "c"


def test_select_best_skips_failed_fits_and_rejects_empty():
    candidates = [candidate(float("nan"), float("nan"), "x"), candidate(0.5, 0.1, "y")]
    assert select_best(candidates).algorithm == "y"
    with pytest.raises(ValueError):
        select_best([])
    with pytest.raises(ValueError):
        select_best(candidates[:1])


def test_select_best_on_another_metric():
    a = Candidate(algorithm="a", params={}, mean_score=0.9, std_score=0.0, cv_metrics={"f1": (0.5, 0.0)})
    b = Candidate(algorithm="b", params={}, mean_score=0.8, std_score=0.0, cv_metrics={"f1": (0.6, 0.0)})
    assert select_best([a, b]) is a
    assert select_best([a, b], metric="f1") is b


# --------------------------------------------------------------------------- param_space


def test_param_space_translation():
    spec = AlgorithmSpec(
        name="lr",
        estimator="sklearn.linear_model.LogisticRegression",
        search_space={
            "C": Distribution(distribution="loguniform", low=0.01, high=10),
            "tol": Distribution(distribution="uniform", low=1e-4, high=1e-3),
            "max_iter": Distribution(distribution="randint", low=100, high=300),
            "fit_intercept": [True, False],
        },
    )
    space = param_space(spec, "random")
    assert set(space) == {"model__C", "model__tol", "model__max_iter", "model__fit_intercept"}
    assert space["model__fit_intercept"] == [True, False]
    assert space["model__C"].support() == pytest.approx((0.01, 10))
    assert isinstance(space["model__C"].dist, type(stats.loguniform))
    assert space["model__tol"].support() == pytest.approx((1e-4, 1e-3))
    assert space["model__max_iter"].support() == (100, 299)
    with pytest.raises(ValueError, match="'C'.*random"):
        param_space(spec, "grid")
    bad = spec.model_copy(
        update={"search_space": {"C": Distribution(distribution="loguniform", low=0, high=1)}}
    )
    with pytest.raises(ValueError, match="low > 0"):
        param_space(bad, "random")


# --------------------------------------------------------------------------- run_search


@pytest.fixture(scope="module")
def contract() -> DataContract:
    columns = {name: ColumnSpec(kind="numeric") for name in NUMERIC}
    columns |= {name: ColumnSpec(kind="binary") for name in BINARY}
    columns |= {name: ColumnSpec(kind="categorical") for name in CATEGORICAL}
    return DataContract(target="churn", classes=["No", "Yes"], positive_class="Yes", columns=columns)


@pytest.fixture(scope="module")
def sample(contract) -> tuple[pd.DataFrame, np.ndarray]:
    df = pd.read_csv(DATA).sample(300, random_state=0)
    return df.drop(columns="churn"), encode_target(df["churn"], contract)


LR = AlgorithmSpec(
    name="logreg",
    estimator="sklearn.linear_model.LogisticRegression",
    params={"max_iter": 1000, "class_weight": "balanced"},
    search_space={"C": [0.1, 1.0]},
)
TREE = AlgorithmSpec(
    name="tree",
    estimator="sklearn.tree.DecisionTreeClassifier",
    params={"class_weight": "balanced"},
    search_space={"max_depth": [2, 4, 6], "min_samples_leaf": [5]},
)


@pytest.fixture(scope="module")
def grid_result(contract, sample) -> SearchResult:
    X, y = sample
    config = SearchConfig(strategy="grid", cv=3, n_jobs=1, algorithms=[LR, TREE])
    return run_search(X, y, contract, PreprocessingConfig(), FEATURES, config)


def test_grid_search_keeps_every_candidate(grid_result):
    assert len(grid_result.candidates) == 2 + 3
    assert [c.algorithm for c in grid_result.candidates] == ["logreg"] * 2 + ["tree"] * 3
    assert [c.params for c in grid_result.candidates[:2]] == [{"C": 0.1}, {"C": 1.0}]
    for c in grid_result.candidates:
        assert set(c.cv_metrics) == {"roc_auc", "accuracy", "precision", "recall", "f1"}
        assert c.cv_metrics["roc_auc"] == (c.mean_score, c.std_score)
        assert 0.5 < c.mean_score <= 1
        assert 0 <= c.cv_metrics["recall"][0] <= 1
    # JSON-friendly
    json.dumps([c.model_dump() for c in grid_result.candidates])


def test_grid_search_best_is_the_max_and_refit_pipeline_predicts_raw_rows(grid_result, sample):
    best = grid_result.best
    assert best.mean_score == max(c.mean_score for c in grid_result.candidates)
    assert best is select_best(grid_result.candidates)
    pipeline = grid_result.best_pipeline
    assert isinstance(pipeline, Pipeline)
    model_params = pipeline.named_steps["model"].get_params()
    assert all(model_params[k] == v for k, v in best.params.items())
    X, _ = sample
    raw = pd.read_csv(DATA).tail(5).drop(columns="churn")
    proba = pipeline.predict_proba(raw)
    assert proba.shape == (5, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # refit on all 300 rows
    assert pipeline.named_steps["preprocess"].n_features_in_ == X.shape[1] + 2


def test_random_search_with_distribution_gives_n_iter_candidates(contract, sample, caplog):
    X, y = sample
    lr = LR.model_copy(
        update={"search_space": {"C": Distribution(distribution="loguniform", low=0.01, high=10)}}
    )
    tree = TREE.model_copy(update={"search_space": {"max_depth": [2, 3]}})  # only 2 settings: capped
    config = SearchConfig(strategy="random", n_iter=4, cv=3, n_jobs=1, algorithms=[lr, tree])
    with caplog.at_level(logging.INFO, logger="tabular_ml.modelling.search"):
        result = run_search(X, y, contract, PreprocessingConfig(), FEATURES, config)
    assert [c.algorithm for c in result.candidates] == ["logreg"] * 4 + ["tree"] * 2
    cs = [c.params["C"] for c in result.candidates[:4]]
    assert all(isinstance(v, float) and 0.01 <= v <= 10 for v in cs)
    assert len(set(cs)) == 4
    assert "logreg: 4 candidates" in caplog.text
    assert "tree: 2 candidates" in caplog.text


def test_refit_follows_our_choice_when_it_differs_from_sklearn(contract, sample, monkeypatch):
    import tabular_ml.modelling.search as search_module

    worst = {}

    def pick_worst(candidates, metric=None):
        worst["c"] = min(candidates, key=lambda c: c.mean_score)
        return worst["c"]

    monkeypatch.setattr(search_module, "select_best", pick_worst)
    X, y = sample
    config = SearchConfig(cv=3, n_jobs=1, algorithms=[TREE])
    result = run_search(X, y, contract, PreprocessingConfig(), FEATURES, config)
    assert result.best is worst["c"]
    model = result.best_pipeline.named_steps["model"]
    assert model.max_depth == worst["c"].params["max_depth"]
    assert result.best_pipeline.predict(X).shape == (300,)


def test_run_search_rejects_duplicate_algorithm_names(contract, sample):
    X, y = sample
    config = SearchConfig(cv=3, n_jobs=1, algorithms=[LR, LR])
    with pytest.raises(ValueError, match="logreg"):
        run_search(X, y, contract, PreprocessingConfig(), FEATURES, config)


def test_run_search_with_empty_space_and_other_scoring(contract, sample):
    X, y = sample
    plain = LR.model_copy(update={"search_space": {}})
    config = SearchConfig(cv=3, n_jobs=1, scoring="f1", algorithms=[plain])
    result = run_search(X, y, contract, PreprocessingConfig(), [], config)
    assert len(result.candidates) == 1
    only = result.candidates[0]
    assert only.params == {}
    assert only.cv_metrics["f1"] == (only.mean_score, only.std_score)
    assert not math.isnan(only.cv_metrics["roc_auc"][0])
    with pytest.raises(ValueError, match="scorer"):
        run_search(X, y, contract, PreprocessingConfig(), [], config.model_copy(update={"scoring": "auc"}))


# --------------------------------------------------------------------------- halving


def xor_table(rows: int = 900, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Two numeric columns whose signs' XOR is the class: a depth-1 tree or a line cannot learn it."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})
    return X, ((X["a"] > 0) ^ (X["b"] > 0)).to_numpy().astype(int)


XOR_CONTRACT = DataContract(
    target="y", columns={"a": ColumnSpec(kind="numeric"), "b": ColumnSpec(kind="numeric")}
)
XOR_TREE = AlgorithmSpec(
    name="tree",
    estimator="sklearn.tree.DecisionTreeClassifier",
    params={"random_state": 0},
    # only max_depth 3 with small leaves can carve the four quadrants
    search_space={"max_depth": [1, 3], "min_samples_leaf": [5, 300, 1000]},
)
XOR_LR = AlgorithmSpec(
    name="logreg", estimator="sklearn.linear_model.LogisticRegression", search_space={"C": [0.01, 0.1, 1.0]}
)


def halving(**update) -> SearchConfig:
    return SearchConfig(strategy="halving", cv=3, n_jobs=1, algorithms=[XOR_LR, XOR_TREE], **update)


def plain_tree_halving(X, y, **budget):
    """XOR_TREE's race in plain scikit-learn, as ``halving()`` configures the project's."""
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV, StratifiedKFold
    from sklearn.tree import DecisionTreeClassifier

    return HalvingGridSearchCV(
        DecisionTreeClassifier(random_state=0),
        {"max_depth": [1, 3], "min_samples_leaf": [5, 300, 1000]},
        factor=3,
        min_resources="exhaust",
        cv=StratifiedKFold(3, shuffle=True, random_state=42),
        scoring="roc_auc",
        random_state=42,
        refit=False,
        **budget,
    ).fit(X, y)


@pytest.fixture(scope="module")
def halving_result() -> SearchResult:
    X, y = xor_table()
    return run_search(X, y, XOR_CONTRACT, PreprocessingConfig(), [], halving())


def test_halving_picks_the_clearly_best_candidate_and_refits_on_every_row(halving_result):
    best = halving_result.best
    assert (best.algorithm, best.params) == ("tree", {"max_depth": 3, "min_samples_leaf": 5})
    assert best.mean_score > 0.85
    assert max(c.mean_score for c in halving_result.candidates if c.algorithm == "logreg") < 0.7
    X, y = xor_table()
    model = halving_result.best_pipeline.named_steps["model"]
    assert (model.max_depth, model.min_samples_leaf) == (3, 5)
    assert halving_result.best_pipeline.named_steps["preprocess"].n_features_in_ == 2
    # refit on all 900 rows: a tree's root sees every sample
    assert model.tree_.n_node_samples[0] == 900
    held_out, truth = xor_table(300, seed=1)
    assert (halving_result.best_pipeline.predict(held_out) == truth).mean() > 0.9


def test_halving_keeps_each_candidate_once_at_its_last_budget(halving_result):
    tree = [c for c in halving_result.candidates if c.algorithm == "tree"]
    assert len(tree) == 6 and len({json.dumps(c.params, sort_keys=True) for c in tree}) == 6
    assert len([c for c in halving_result.candidates if c.algorithm == "logreg"]) == 3
    budgets = halving_result.budgets["tree"]
    final_rows = budgets[-1].rows
    assert halving_result.best.rows == final_rows
    # candidates that reached the last budget: as many as the last budget held
    assert sum(c.rows == final_rows for c in tree) == budgets[-1].candidates
    assert all(c.rows is not None and c.rows <= 900 for c in halving_result.candidates)
    assert all(set(c.cv_metrics) == {"roc_auc"} for c in halving_result.candidates)
    json.dumps([c.model_dump() for c in halving_result.candidates])


def test_halving_budgets_match_sklearn_and_are_logged(caplog):
    X, y = xor_table()
    with caplog.at_level(logging.INFO, logger="tabular_ml.modelling.search"):
        result = run_search(X, y, XOR_CONTRACT, PreprocessingConfig(), [], halving())
    plain = plain_tree_halving(X, y)  # the same search in plain scikit-learn
    budgets = result.budgets["tree"]
    assert [b.candidates for b in budgets] == list(plain.n_candidates_) == [6, 2]
    assert [b.rows for b in budgets] == list(plain.n_resources_)
    assert [b.iteration for b in budgets] == [0, 1]
    assert [b.candidates for b in result.budgets["logreg"]] == [3, 1]
    # one line per finished budget, and one per algorithm with the search's progress
    assert "tree: halving budget 1 of ~2 done (6 candidates)" in caplog.text
    assert "tree: halving budget 2 of ~2 done (2 candidates)" in caplog.text
    assert "logreg: halving budget 2 of ~2 done (1 candidates)" in caplog.text
    assert f"tree: 6 candidates on row budgets 6 x {budgets[0].rows}, 2 x {budgets[1].rows}" in caplog.text
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("search progress")]
    assert [m.split(" candidates")[0] for m in progress] == [
        "search progress: 3 of 9",
        "search progress: 9 of 9",
    ]
    assert "about 0s left" in progress[-1]


def test_halving_max_rows_caps_the_race_and_the_winner_is_still_refit_on_every_row():
    X, y = xor_table()
    result = run_search(X, y, XOR_CONTRACT, PreprocessingConfig(), [], halving(halving_max_rows=300))
    plain = plain_tree_halving(X, y, max_resources=300)
    budgets = result.budgets["tree"]
    assert [(b.candidates, b.rows) for b in budgets] == list(
        zip(plain.n_candidates_, plain.n_resources_, strict=True)
    )
    assert budgets[-1].rows == 300 and all(c.rows <= 300 for c in result.candidates)
    assert result.best_pipeline.named_steps["model"].tree_.n_node_samples[0] == 900


def test_halving_budgets_out_of_order_are_one_config_error():
    with pytest.raises(ValidationError, match=r"halving_min_rows \(500\) is above halving_max_rows \(300\)"):
        halving(halving_min_rows=500, halving_max_rows=300)


def test_grid_search_logs_progress_per_algorithm(contract, sample, caplog):
    X, y = sample
    config = SearchConfig(strategy="grid", cv=3, n_jobs=1, algorithms=[LR, TREE])
    with caplog.at_level(logging.INFO, logger="tabular_ml.modelling.search"):
        run_search(X, y, contract, PreprocessingConfig(), FEATURES, config)
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("search progress")]
    assert len(progress) == 2
    assert progress[0].startswith("search progress: 2 of 5 candidates done")
    assert progress[1].startswith("search progress: 5 of 5 candidates done")


def test_halving_random_candidates_with_the_pipeline_features(contract, sample):
    X, y = sample
    lr = LR.model_copy(
        update={"search_space": {"C": Distribution(distribution="loguniform", low=0.01, high=10)}}
    )
    config = SearchConfig(
        strategy="halving", halving_candidates="random", n_iter=9, cv=3, n_jobs=1, algorithms=[lr, TREE]
    )
    result = run_search(X, y, contract, PreprocessingConfig(), FEATURES, config)
    assert [b.candidates for b in result.budgets["logreg"]] == [9, 3, 1]
    assert [b.candidates for b in result.budgets["tree"]] == [3, 1]  # the grid's 3 settings, capped
    assert len(result.candidates) == 12
    assert result.best.rows == max(b.rows for b in result.budgets[result.best.algorithm])
    # derived features are part of the refit Pipeline
    assert result.best_pipeline.named_steps["preprocess"].n_features_in_ == X.shape[1] + 2
    assert result.best_pipeline.predict_proba(X).shape == (300, 2)


def test_halving_grid_refuses_a_distribution(contract, sample):
    X, y = sample
    lr = LR.model_copy(update={"search_space": {"C": Distribution(distribution="uniform", low=0.1, high=1)}})
    config = SearchConfig(strategy="halving", cv=3, n_jobs=1, algorithms=[lr])
    with pytest.raises(ValueError, match="distribution needs strategy 'random'"):
        run_search(X, y, contract, PreprocessingConfig(), [], config)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_halving_for_multiclass_and_regression(task):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
    if task == "regression":
        y = (3 * X["a"] + rng.normal(scale=0.1, size=600)).to_numpy()
        estimator, expect, scoring = (
            "sklearn.linear_model.Ridge",
            ("alpha", 0.1),
            "neg_root_mean_squared_error",
        )
        space = {"alpha": [0.1, 1000.0, 100000.0]}
    else:
        y = np.digitize(X["a"], [-0.5, 0.5])  # three classes along a
        estimator, expect, scoring = "sklearn.linear_model.LogisticRegression", ("C", 10.0), "f1_macro"
        space = {"C": [0.0001, 0.001, 10.0]}
    spec = AlgorithmSpec(name="linear", estimator=estimator, search_space=space)
    contract = DataContract(
        target="y", columns={"a": ColumnSpec(kind="numeric"), "b": ColumnSpec(kind="numeric")}
    )
    config = SearchConfig(strategy="halving", cv=3, n_jobs=1, algorithms=[spec])
    result = run_search(X, y, contract, PreprocessingConfig(), [], config, task=task)
    assert result.best.params == {expect[0]: expect[1]}
    assert set(result.best.cv_metrics) == {scoring}
    assert [b.candidates for b in result.budgets["linear"]] == [3, 1]

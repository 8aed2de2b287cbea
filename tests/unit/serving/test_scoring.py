"""The compiled path equals the scikit-learn Pipeline for every task, and anything it cannot prove
equal is served by the Pipeline, with the reason.

Models are the training configs' Pipelines (configs/training.yaml: Telco churn, binary;
configs/training_wine.yaml: wine cultivar, multiclass; configs/training_diabetes.yaml: diabetes
progression, regression), fitted on every other row of their data and compared on all of it.
"""

from __future__ import annotations

import copy
import re
from functools import cache, partial

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import (
    DecisionTreeClassifier,
    DecisionTreeRegressor,
    ExtraTreeClassifier,
    ExtraTreeRegressor,
)

import serving.scoring as scoring
from serving.reference_rows import reference_request
from serving.request_schema import RequestSchema
from serving.scoring import TOLERANCE, choose_scorer, edge_rows
from tabular_ml.configuration.schema import PreprocessingConfig, TrainingParameters
from tabular_ml.data.cleaning import clean_frame
from tabular_ml.modelling.features import (
    BinTransformer,
    CountTransformer,
    DifferenceTransformer,
    LogTransformer,
    RatioTransformer,
)
from tabular_ml.modelling.model import build_model
from tabular_ml.modelling.trained_model import scores_of
from tabular_ml.tasks.target import resolve_target
from tests.support.paths import PROJECT_ROOT

TASKS = {
    "binary": ("configs/training.yaml", "data/raw/telco_churn.csv"),
    "multiclass": ("configs/training_wine.yaml", "data/examples/wine.csv"),
    "regression": ("configs/training_diabetes.yaml", "data/examples/diabetes.csv"),
}
CLASSIFIERS = {
    "logistic": lambda: LogisticRegression(max_iter=2000, C=0.3),
    "tree": lambda: DecisionTreeClassifier(max_depth=12, random_state=0),
    "extra_tree": lambda: ExtraTreeClassifier(random_state=0),
    "forest": lambda: RandomForestClassifier(n_estimators=25, min_samples_leaf=3, random_state=0),
    "extra_trees": lambda: ExtraTreesClassifier(n_estimators=25, random_state=0),
}
REGRESSORS = {
    "linear": LinearRegression,
    "ridge": lambda: Ridge(alpha=1.0),
    "lasso": lambda: Lasso(alpha=0.1),
    "elastic_net": lambda: ElasticNet(alpha=0.01, l1_ratio=0.5),
    "tree": lambda: DecisionTreeRegressor(min_samples_leaf=3, random_state=0),
    "extra_tree": lambda: ExtraTreeRegressor(random_state=0),
    "forest": lambda: RandomForestRegressor(n_estimators=25, max_features=0.5, random_state=0),
    "extra_trees": lambda: ExtraTreesRegressor(n_estimators=25, random_state=0),
}
SUPPORTED = [
    (task, name, make)
    for task in TASKS
    for name, make in (REGRESSORS if task == "regression" else CLASSIFIERS).items()
]


@cache
def example(task: str):
    """The task's training parameters, cleaned data, resolved target and request schema."""
    config, data = TASKS[task]
    params = TrainingParameters.model_validate(
        yaml.safe_load((PROJECT_ROOT / config).read_text())["parameters"]
    )
    contract = params.contract
    frame, _ = clean_frame(pd.read_csv(PROJECT_ROOT / data), params.cleaning, contract)
    target = resolve_target(
        frame[contract.target], contract.target, params.task, contract.classes, contract.positive_class
    )
    schema = RequestSchema.from_contract(contract, max_rows=len(frame), violations="flag")
    return params, frame, target, schema


def fitted(task: str, estimator, preprocessing: PreprocessingConfig | None = None):
    """The config's Pipeline with ``estimator``, fitted on every other row."""
    params, frame, target, _ = example(task)
    train = frame.iloc[::2]
    pipeline = build_model(params.contract, preprocessing or params.preprocessing, params.features, estimator)
    return pipeline.fit(train[params.contract.feature_names], target.encode(train[params.contract.target]))


def request(task: str, rows: slice = slice(None)) -> dict:
    params, frame, _, _ = example(task)
    return reference_request(frame.iloc[rows], params.contract.feature_names, max_rows=len(frame))


def assert_same_scores(scorer, pipeline, task: str, parsed) -> None:
    _, _, target, _ = example(task)
    expected = scores_of(pipeline, parsed.frame, target)
    got = scorer.scores(parsed)
    assert got.shape == expected.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
    if task == "binary":
        assert np.array_equal(got >= 0.5, expected >= 0.5)
    elif task == "multiclass":
        assert np.array_equal(got.argmax(axis=1), expected.argmax(axis=1))


# ---------------------------------------------------------------------- every task, every estimator


@pytest.mark.parametrize(("task", "name", "make"), SUPPORTED, ids=[f"{t}-{n}" for t, n, _ in SUPPORTED])
def test_the_compiled_path_equals_the_pipeline_on_all_the_data(task, name, make):
    _, frame, target, schema = example(task)
    pipeline = fitted(task, make())
    scorer = choose_scorer(pipeline, schema, target, 0.5, request(task, slice(0, 500)))
    assert (scorer.path, scorer.reason) == ("compiled", "")
    whole = schema.parse(request(task))
    assert whole.n_rows == len(frame)
    assert_same_scores(scorer, pipeline, task, whole)
    one_by_one = [scorer.scores(schema.parse(request(task, slice(i, i + 1)))) for i in range(0, 40, 7)]
    np.testing.assert_allclose(np.concatenate(one_by_one), scorer.scores(whole)[0:40:7], rtol=0, atol=1e-12)


def test_the_telco_data_has_missing_values_and_derived_features():
    params, frame, _, schema = example("binary")
    assert frame["total_charges"].isna().sum() == 11
    assert {feature.kind for feature in params.features} == {"ratio", "count", "bin", "log"}


@pytest.mark.parametrize(("task", "name", "make"), SUPPORTED, ids=[f"{t}-{n}" for t, n, _ in SUPPORTED])
def test_the_compiled_path_equals_the_pipeline_on_edge_rows(task, name, make):
    _, _, target, schema = example(task)
    pipeline = fitted(task, make())
    rows = edge_rows(schema, request(task, slice(0, 1)))
    parsed = schema.parse(rows)
    assert_same_scores(choose_scorer(pipeline, schema, target, 0.5, None), pipeline, task, parsed)


def test_edge_rows_cover_missing_values_unknown_categories_and_range_ends():
    _, _, _, schema = example("binary")
    reference = request("binary", slice(3, 4))
    rows = edge_rows(schema, reference)["data"]["ndarray"]
    assert rows[0] == [None] * len(schema.names)
    assert any("no such category" in row for row in rows)
    tenure = {row[schema.names.index("tenure")] for row in rows}
    assert {0, 120, 60, 1, None} <= tenure
    # the other values come from the reference's first row, by name whatever its column order
    names = reference["data"]["names"]
    shuffled = {"data": {"names": names[::-1], "ndarray": [reference["data"]["ndarray"][0][::-1]]}}
    assert edge_rows(schema, shuffled) == edge_rows(schema, reference)
    assert rows[-1][:-1] == [
        dict(zip(names, reference["data"]["ndarray"][0], strict=True))[name] for name in schema.names[:-1]
    ]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # unscaled: slow to converge
def test_other_preprocessing_choices_compile_and_agree():
    preprocessing = PreprocessingConfig(
        numeric_imputer="mean",
        categorical_imputer="most_frequent",
        scaler="robust",
        ordinal={"contract": ["Month-to-month", "One year", "Two year"]},
    )
    _, _, target, schema = example("binary")
    for scaler in ("robust", "minmax", "none"):
        pipeline = fitted(
            "binary", LogisticRegression(max_iter=2000), preprocessing.model_copy(update={"scaler": scaler})
        )
        scorer = choose_scorer(pipeline, schema, target, 0.5, request("binary", slice(0, 300)))
        assert scorer.path == "compiled", scorer.reason
        assert_same_scores(scorer, pipeline, "binary", schema.parse(request("binary")))


@pytest.mark.parametrize(
    ("task", "make"),
    [
        ("binary", partial(RandomForestClassifier, n_estimators=20, random_state=0)),
        ("multiclass", partial(HistGradientBoostingClassifier, max_iter=20)),
        ("regression", partial(HistGradientBoostingRegressor, max_iter=20)),
    ],
    ids=["binary-forest", "multiclass-boosting", "regression-boosting"],
)
def test_category_codes_compile_and_agree(task, make):
    params, _, target, schema = example(task)
    codes = params.preprocessing.model_copy(update={"categorical_encoding": "auto"})
    pipeline = fitted(task, make(), codes)
    categorical = params.contract.columns_of_kind("categorical")
    assert set(categorical) <= set(pipeline[:-1].get_feature_names_out())  # one code column each
    scorer = choose_scorer(pipeline, schema, target, 0.5, request(task, slice(0, 300)))
    assert scorer.path == "compiled", scorer.reason
    assert_same_scores(scorer, pipeline, task, schema.parse(request(task)))
    assert_same_scores(scorer, pipeline, task, schema.parse(edge_rows(schema, request(task, slice(0, 1)))))


# ---------------------------------------------------------------------- what the Pipeline serves


OWN_METHOD = [
    ("binary", partial(HistGradientBoostingClassifier, max_iter=20), "binary HistGradientBoosting"),
    ("multiclass", partial(HistGradientBoostingClassifier, max_iter=20), "multiclass HistGradientBoosting"),
    ("regression", partial(HistGradientBoostingRegressor, max_iter=20), "HistGradientBoostingRegressor"),
    ("binary", GaussianNB, "GaussianNB"),
    ("binary", partial(CalibratedClassifierCV, LogisticRegression(), cv=3), "CalibratedClassifierCV"),
    ("binary", type("MyLogistic", (LogisticRegression,), {}), "a LogisticRegression subclass"),
]


@pytest.mark.parametrize(("task", "make", "what"), OWN_METHOD, ids=[w for _, _, w in OWN_METHOD])
def test_an_estimator_it_does_not_walk_is_called_on_the_compiled_inputs(task, make, what):
    """Histogram gradient boosting (private trees), an unknown or wrapped estimator: the inputs are
    compiled and the estimator's own predict_proba / predict gives the scores, equal to the Pipeline's."""
    _, _, target, schema = example(task)
    pipeline = fitted(task, make())
    scorer = choose_scorer(pipeline, schema, target, 0.5, request(task, slice(0, 100)))
    assert scorer.path == "compiled", scorer.reason
    assert_same_scores(scorer, pipeline, task, schema.parse(request(task, slice(0, 50))))


def test_a_step_it_does_not_know_is_served_by_the_pipeline_with_the_reason():
    _, _, target, schema = example("binary")
    known = fitted("binary", LogisticRegression(max_iter=2000))
    pipeline = Pipeline([*known.steps[:-1], ("identity", FunctionTransformer()), known.steps[-1]])
    scorer = choose_scorer(pipeline, schema, target, 0.5, request("binary", slice(0, 100)))
    assert scorer.path == "pipeline"
    assert scorer.reason.startswith("not compiled: ") and "ColumnTransformer" in scorer.reason, scorer.reason
    parsed = schema.parse(request("binary", slice(0, 50)))
    np.testing.assert_array_equal(scorer.scores(parsed), scores_of(pipeline, parsed.frame, target))


def test_an_estimator_for_another_task_is_not_compiled():
    _, _, target, schema = example("binary")
    with pytest.raises(scoring.Unsupported, match="a DecisionTreeRegressor for a binary target"):
        scoring.compile_pipeline(fitted("binary", DecisionTreeRegressor(max_depth=3)), schema, target)


@pytest.mark.parametrize(
    ("task", "make", "coefficient"),
    [
        ("binary", lambda: LogisticRegression(max_iter=2000), (0, 3)),
        ("multiclass", lambda: LogisticRegression(max_iter=2000), (1, 0)),
        ("regression", Ridge, (2,)),
    ],
)
def test_a_compiled_path_that_differs_falls_back_naming_the_row(task, make, coefficient, monkeypatch):
    """A compiler bug (simulated: one coefficient tampered with) is caught at load."""
    _, _, target, schema = example(task)
    pipeline = fitted(task, make())
    tampered = copy.deepcopy(pipeline)
    tampered[-1].coef_[coefficient] += 1e-3
    real = scoring.compile_pipeline
    monkeypatch.setattr(scoring, "compile_pipeline", lambda _, *args: real(tampered, *args))
    scorer = choose_scorer(pipeline, schema, target, 0.5, request(task, slice(0, 100)))
    assert scorer.path == "pipeline"
    assert re.fullmatch(
        r"differs from the Pipeline on the bundle's reference rows: row \d+( \(class \w+\))?: "
        r"[-\d.e]+ vs the Pipeline's [-\d.e]+",
        scorer.reason,
    ), scorer.reason


def test_a_different_label_falls_back_even_within_the_tolerance(monkeypatch):
    _, _, target, schema = example("binary")
    pipeline = fitted("binary", LogisticRegression(max_iter=2000))
    reference = request("binary", slice(0, 100))
    threshold = float(scores_of(pipeline, schema.parse(reference).frame, target)[5])
    real = scoring.compile_pipeline

    def a_little_lower(*args):
        compiled = real(*args)
        return lambda parsed: compiled(parsed) - TOLERANCE / 10

    monkeypatch.setattr(scoring, "compile_pipeline", a_little_lower)
    scorer = choose_scorer(pipeline, schema, target, threshold, reference)
    assert scorer.path == "pipeline"
    assert scorer.reason.startswith(
        "differs from the Pipeline on the bundle's reference rows: row 5 gets another label"
    )


def test_the_compiled_path_can_be_turned_off():
    _, _, target, schema = example("regression")
    scorer = choose_scorer(fitted("regression", Ridge()), schema, target, 0.5, None, enabled=False)
    assert (scorer.path, scorer.reason) == ("pipeline", "turned off")


@pytest.mark.parametrize(
    ("task", "make", "column", "value"),
    [
        ("binary", LogisticRegression, "female", 1.7e308),  # scaled: overflows float64
        (
            "binary",
            lambda: RandomForestClassifier(n_estimators=3),
            "total_charges",
            1e300,
        ),  # too large for float32
        ("multiclass", LogisticRegression, "hue", 1.7e308),
        ("regression", Ridge, "sex", 1.7e308),
        ("regression", lambda: DecisionTreeRegressor(max_depth=3), "bmi", 1e300),
    ],
)
def test_non_finite_inputs_raise_value_error_as_scikit_learn_does(task, make, column, value):
    _, _, target, schema = example(task)
    pipeline = fitted(task, make())
    scorer = choose_scorer(pipeline, schema, target, 0.5, request(task, slice(0, 50)))
    assert scorer.path == "compiled", scorer.reason
    body = request(task, slice(0, 1))
    body["data"]["ndarray"][0][body["data"]["names"].index(column)] = value
    parsed = schema.parse(body)
    with pytest.raises(ValueError, match="infinity"), np.errstate(over="ignore"):
        scores_of(pipeline, parsed.frame, target)
    with pytest.raises(ValueError, match="infinity"):
        scorer.scores(parsed)


def test_an_estimator_called_on_compiled_inputs_answers_an_extreme_row_as_the_pipeline():
    """A hostile 1.7e308 reaches HistGradientBoosting through its own predict_proba: the same
    answer as the Pipeline's (its bins take any finite value), not an error of our own."""
    _, _, target, schema = example("binary")
    pipeline = fitted("binary", HistGradientBoostingClassifier(max_iter=20))
    scorer = choose_scorer(pipeline, schema, target, 0.5, request("binary", slice(0, 50)))
    assert scorer.path == "compiled", scorer.reason
    body = request("binary", slice(0, 1))
    body["data"]["ndarray"][0][body["data"]["names"].index("female")] = 1.7e308
    parsed = schema.parse(body)
    with np.errstate(over="ignore"):
        expected = scores_of(pipeline, parsed.frame, target)
    np.testing.assert_allclose(scorer.scores(parsed), expected, rtol=0, atol=TOLERANCE)


# ---------------------------------------------------------------------- derived features: one implementation


NUMBERS = np.array(
    [0.0, -0.0, 3.0, -2.0, np.nan, 1e308, -1e308, 5e-324, 6.0, 12.0, 72.0, 80.0, np.inf, -np.inf]
)
TEXT = np.array(
    ["Yes", "No", np.nan, "1", " 12 ", "x", "", "inf", "-3", "Yes", "0", "No", "1e400", 1], dtype=object
)


DERIVED = [
    RatioTransformer("f", "a", "b"),  # overflow: 1e308/5e-324
    RatioTransformer("f", "a", "a"),  # 0/0, inf/inf, 1e308/1e308
    RatioTransformer("f", "t", "a"),  # numeric text coerced
    DifferenceTransformer("f", "a", "b"),  # inf - inf
    DifferenceTransformer("f", "t", "b"),
    LogTransformer("f", "a"),
    LogTransformer("f", "t"),
    BinTransformer("f", "a", [0, 6, 12, 24, 48, 72]),
    BinTransformer("f", "b", [-1e308, 0.0, 1e308]),
    BinTransformer("f", "t", [0.0, 1.0]),
    CountTransformer("f", ["t"], ["Yes"]),
    CountTransformer("f", ["t", "a", "t"]),  # default values: "Yes" and 1
    CountTransformer("f", ["a", "b"], [0, 3.0, np.nan]),
    CountTransformer("f", ["t"], ["1", 0, None]),
]


@pytest.mark.parametrize("feature", DERIVED, ids=lambda feature: type(feature).__name__)
def test_derive_on_parsed_arrays_equals_the_transformed_column(feature):
    columns = {"a": NUMBERS, "b": NUMBERS[::-1].copy(), "t": TEXT}
    frame = pd.DataFrame(columns)
    expected = feature.fit_transform(frame)[feature.name].to_numpy()
    with np.errstate(all="ignore"):  # as the compiled path calls it
        got = feature.derive(columns)
    assert got.dtype == np.float64 and not np.isinf(got).any()
    np.testing.assert_array_equal(got, expected)  # NaN where NaN
    assert np.array_equal(columns["a"], NUMBERS, equal_nan=True)  # the inputs are left alone


def test_derive_gives_the_hand_computed_values():
    columns = {"a": np.array([1.0, 0.0, -1.0, np.nan]), "b": np.array([2.0, 0.0, 0.0, 1.0])}
    nan = np.nan
    np.testing.assert_array_equal(RatioTransformer("r", "a", "b").derive(columns), [0.5, nan, nan, nan])
    np.testing.assert_array_equal(
        LogTransformer("l", "b").derive(columns), [np.log1p(2.0), 0.0, 0.0, np.log(2.0)]
    )
    np.testing.assert_array_equal(BinTransformer("k", "a", [0, 1]).derive(columns), [0.0, 0.0, nan, nan])
    text = {"t": np.array(["Yes", 1, np.nan, "1"], dtype=object), "n": np.array([1.0, 1.0, nan, 0.0])}
    np.testing.assert_array_equal(CountTransformer("c", ["t", "n"]).derive(text), [2.0, 2.0, 0.0, 0.0])


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


PANDAS = {  # what the transformers computed with pandas before derive existed
    RatioTransformer: lambda f, t: (
        _numeric(f, t.numerator) / _numeric(f, t.denominator).where(_numeric(f, t.denominator) != 0)
    ),
    DifferenceTransformer: lambda f, t: _numeric(f, t.left) - _numeric(f, t.right),
    LogTransformer: lambda f, t: np.log1p(_numeric(f, t.column).where(_numeric(f, t.column) >= 0)),
    BinTransformer: lambda f, t: (
        pd.cut(_numeric(f, t.column), bins=list(t.edges), include_lowest=True).cat.codes.astype("float64")
    ).where(lambda codes: codes >= 0),
    CountTransformer: lambda f, t: f[list(t.columns)].isin(list(t.values)).sum(axis=1),
}


@pytest.mark.parametrize("feature", DERIVED, ids=lambda feature: type(feature).__name__)
def test_derive_keeps_the_pandas_semantics(feature):
    """``pd.cut`` for bins, ``isin`` for counts (text as text, numbers as numbers), ``to_numeric``
    for numeric text; inf becomes NaN."""
    frame = pd.DataFrame({"a": NUMBERS, "b": NUMBERS[::-1].copy(), "t": TEXT})
    with np.errstate(all="ignore"):
        expected = PANDAS[type(feature)](frame, feature).astype("float64").replace([np.inf, -np.inf], np.nan)
    np.testing.assert_array_equal(feature.fit_transform(frame)[feature.name].to_numpy(), expected.to_numpy())

"""The fast path equals the scikit-learn Pipeline, and anything it cannot prove equal falls back."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

import serving.fast_path as fast_path
from serving.fast_features import Unsupported
from serving.fast_path import TOLERANCE, choose_scorer, compile_pipeline, edge_rows
from serving.reference_rows import reference_request
from serving.request_schema import RequestSchema
from tabular_ml.configuration.schema import PreprocessingConfig
from tabular_ml.modelling.model import build_model, encode_target
from tests.serving_model import TELCO_CSV, fit_pipeline, training_params

ESTIMATORS = {
    "logistic": lambda: LogisticRegression(max_iter=2000, C=0.3, class_weight="balanced"),
    "forest": lambda: RandomForestClassifier(
        n_estimators=40, min_samples_leaf=5, class_weight="balanced_subsample", random_state=0, n_jobs=1
    ),
    "tree": lambda: DecisionTreeClassifier(max_depth=12, random_state=0),
    "boosting": lambda: HistGradientBoostingClassifier(max_iter=60, max_depth=4, random_state=0),
}


@pytest.fixture(scope="module")
def params():
    return training_params()


@pytest.fixture(scope="module")
def telco(params) -> pd.DataFrame:
    return pd.read_csv(TELCO_CSV)


@pytest.fixture(scope="module")
def schema(params) -> RequestSchema:
    return RequestSchema.from_contract(params.contract, max_rows=10_000, violations="flag")


@pytest.fixture(scope="module")
def whole(telco, params, schema):
    """Every bundled row, parsed as a request (7,043 rows; 11 with a missing total_charges)."""
    return schema.parse(reference_request(telco, params.contract.feature_names, max_rows=len(telco)))


def _positive(pipeline, frame) -> np.ndarray:
    return pipeline.predict_proba(frame)[:, list(pipeline.classes_).index(1)]


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_fast_path_equals_the_pipeline_on_the_whole_bundled_data(name, params, telco, schema, whole):
    pipeline = fit_pipeline(params, telco.iloc[::2], ESTIMATORS[name]())
    scorer = choose_scorer(pipeline, schema, 1, 0.5, reference_request(telco, params.contract.feature_names))
    assert scorer.path == "fast", scorer.reason
    expected = _positive(pipeline, whole.frame)
    got = scorer.positive_probability(whole)
    assert np.abs(got - expected).max() <= TOLERANCE
    assert np.array_equal(got >= 0.5, expected >= 0.5)
    assert np.isnan(whole.numeric[schema.numeric_names.index("total_charges")]).sum() == 11


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_fast_path_equals_the_pipeline_on_edge_rows(name, params, telco, schema):
    pipeline = fit_pipeline(params, telco.iloc[:2000], ESTIMATORS[name]())
    fast = compile_pipeline(pipeline, schema)
    request = edge_rows(schema, [])
    rows = request["data"]["ndarray"]
    assert rows[0] == [None] * len(schema.names)  # every value missing
    assert any("no such category" in row for row in rows)  # unknown categories
    tenure = {row[schema.names.index("tenure")] for row in rows}
    assert {0, 120, 60, None} <= tenure  # the contract's range ends, its middle, missing
    parsed = RequestSchema(schema.columns, max_rows=len(rows), violations="flag").parse(request)
    np.testing.assert_allclose(
        fast.positive_probability(parsed), _positive(pipeline, parsed.frame), rtol=0, atol=TOLERANCE
    )


def test_other_preprocessing_choices_compile_and_agree(params, telco, schema, whole):
    preprocessing = PreprocessingConfig(
        numeric_imputer="mean",
        categorical_imputer="most_frequent",
        scaler="minmax",
        ordinal={"contract": ["Month-to-month", "One year", "Two year"]},
    )
    pipeline = build_model(params.contract, preprocessing, params.features, LogisticRegression(max_iter=2000))
    train = telco.iloc[:3000]
    pipeline.fit(train[params.contract.feature_names], encode_target(train["churn"], params.contract))
    got = compile_pipeline(pipeline, schema).positive_probability(whole)
    np.testing.assert_allclose(got, _positive(pipeline, whole.frame), rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: GaussianNB(), "estimator sklearn.naive_bayes.GaussianNB"),
        (lambda: type("MyLogistic", (LogisticRegression,), {})(max_iter=500), "MyLogistic"),
    ],
)
def test_an_estimator_it_cannot_convert_falls_back_and_still_scores(
    make, reason, params, telco, schema, whole
):
    pipeline = fit_pipeline(params, telco.iloc[:1000], make())
    scorer = choose_scorer(pipeline, schema, 1, 0.5, None)
    assert scorer.path == "pipeline" and scorer.fast is None
    assert scorer.reason.startswith("not compiled:") and reason in scorer.reason
    np.testing.assert_array_equal(scorer.positive_probability(whole), _positive(pipeline, whole.frame))
    assert scorer.metric("7")["tags"] == {
        "path": "pipeline",
        "served_model_version": "7",
        "reason": "not compiled",
    }


def test_a_multiclass_or_a_regression_model_falls_back(params, telco, schema):
    X = telco[params.contract.feature_names].iloc[:600]
    multiclass = build_model(
        params.contract, params.preprocessing, params.features, LogisticRegression(max_iter=500)
    )
    multiclass.fit(X, telco["contract"].iloc[:600].map({"Month-to-month": 0, "One year": 1, "Two year": 2}))
    with pytest.raises(Unsupported, match=r"classes \[0, 1, 2\]"):
        compile_pipeline(multiclass, schema)
    from sklearn.linear_model import Ridge

    regression = Pipeline(multiclass.steps[:-1] + [("model", Ridge())]).fit(
        X, telco["monthly_charges"].iloc[:600]
    )
    with pytest.raises(Unsupported, match="Ridge with classes"):
        compile_pipeline(regression, schema)


def test_a_fast_path_that_differs_is_not_used(params, telco, schema, monkeypatch):
    """A compiler bug (simulated: every probability off by 1e-5) is caught by the load-time check."""
    pipeline = fit_pipeline(params, telco.iloc[:1000])
    real = fast_path.compile_pipeline

    def off_by_a_little(pipeline, schema):
        compiled = real(pipeline, schema)
        score = compiled._score
        compiled._score = lambda X: score(X) + 1e-5
        return compiled

    monkeypatch.setattr(fast_path, "compile_pipeline", off_by_a_little)
    reference = reference_request(telco.iloc[1000:1100], params.contract.feature_names)
    scorer = choose_scorer(pipeline, schema, 1, 0.5, reference)
    assert scorer.path == "pipeline"
    assert re.match(
        r"differs from the Pipeline on the bundle.s reference rows: row \d+: 0\.\d+ vs", scorer.reason
    ), scorer.reason


def test_the_fast_path_can_be_turned_off(params, telco, schema):
    scorer = choose_scorer(fit_pipeline(params, telco.iloc[:500]), schema, 1, 0.5, None, enabled=False)
    assert (scorer.path, scorer.reason) == ("pipeline", "turned off (SERVING_FAST_PATH=off)")


def test_non_finite_inputs_raise_as_scikit_learn_does(params, telco, schema):
    pipeline = fit_pipeline(params, telco.iloc[:500])
    request = reference_request(telco.iloc[:1], params.contract.feature_names)
    request["data"]["ndarray"][0][schema.names.index("female")] = 1.7e308  # scaled: overflows to inf
    parsed = schema.parse(request)
    with pytest.raises(ValueError, match="infinity"):
        pipeline.predict_proba(parsed.frame)
    with pytest.raises(ValueError, match="infinity"):
        compile_pipeline(pipeline, schema).positive_probability(parsed)

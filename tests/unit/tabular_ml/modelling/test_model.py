"""The served Pipeline, the estimator factory, importances and the target encoding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from tabular_ml.configuration.schema import (
    AlgorithmSpec,
    ColumnSpec,
    DataContract,
    PreprocessingConfig,
    RatioFeature,
)
from tabular_ml.modelling.model import (
    build_model,
    encode_target,
    feature_importances,
    is_tree_model,
    make_estimator,
)
from tests.support.factories import TINY_FEATURES, tiny_contract, tiny_frame

FEATURES = TINY_FEATURES


@pytest.fixture
def contract() -> DataContract:
    return tiny_contract(with_categories=False)


@pytest.fixture
def frame() -> pd.DataFrame:
    df = tiny_frame(40)
    df.loc[0, "total"] = np.nan  # missing numeric
    df.loc[1, "contract"] = np.nan  # missing categorical
    df.loc[2, "tenure"] = 0  # division by zero in avg_monthly
    return df


def fit(contract, frame, estimator=None, preprocessing=None, features=FEATURES) -> Pipeline:
    pipeline = build_model(
        contract,
        preprocessing or PreprocessingConfig(),
        features,
        LogisticRegression(max_iter=500) if estimator is None else estimator,
    )
    return pipeline.fit(frame, encode_target(frame["churn"], contract))


def test_pipeline_steps_and_predict_proba_with_missing_and_unseen(contract, frame):
    pipeline = fit(contract, frame)
    assert [name for name, _ in pipeline.steps] == ["features", "preprocess", "model"]
    new = frame.head(3).drop(columns="churn").copy()
    new.loc[new.index[0], "contract"] = "Three year"  # unseen category
    new.loc[new.index[1], "tenure"] = np.nan
    proba = pipeline.predict_proba(new)
    assert proba.shape == (3, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(pipeline.predict(new)) <= {0, 1}


def test_feature_names_out_include_derived_and_one_hot(contract, frame):
    pipeline = fit(contract, frame)
    names = list(pipeline[:-1].get_feature_names_out())
    assert names[:5] == ["tenure", "total", "senior", "avg_monthly", "n_addons"]
    assert "contract_Month-to-month" in names
    assert "contract_missing" in names  # constant imputation of the missing value
    assert "security_No internet service" in names
    assert len(names) == pipeline[-1].n_features_in_
    assert "churn" not in names  # remainder is dropped


def test_no_features_gives_passthrough(contract, frame):
    pipeline = fit(contract, frame, features=[])
    assert pipeline.named_steps["features"] == "passthrough"
    assert "avg_monthly" not in pipeline[:-1].get_feature_names_out()


def test_missing_feature_column_fails_at_build_time(contract):
    bad = [RatioFeature(name="r", numerator="total", denominator="months")]
    with pytest.raises(ValueError, match=r"'r'.*months"):
        build_model(contract, PreprocessingConfig(), bad, LogisticRegression())


def test_ordinal_encoding_follows_the_configured_order(contract, frame):
    order = ["Two year", "One year", "Month-to-month"]
    preprocessing = PreprocessingConfig(ordinal={"contract": order})
    pipeline = fit(contract, frame, preprocessing=preprocessing)
    names = list(pipeline[:-1].get_feature_names_out())
    assert "contract" in names and not any(n.startswith("contract_") for n in names)
    probe = frame.head(5).copy()
    probe["contract"] = ["Two year", "One year", "Month-to-month", "Three year", np.nan]
    encoded = pipeline[:-1].transform(probe)[:, names.index("contract")]
    # unknown and missing (imputed as "missing") categories -> -1
    np.testing.assert_array_equal(encoded, [0, 1, 2, -1, -1])


def test_ordinal_column_must_be_in_contract(contract):
    with pytest.raises(ValueError, match="plan"):
        build_model(contract, PreprocessingConfig(ordinal={"plan": ["a"]}), [], LogisticRegression())


def test_scalers_and_most_frequent_imputer(contract, frame):
    for scaler in ("standard", "minmax", "robust", "none"):
        preprocessing = PreprocessingConfig(scaler=scaler, categorical_imputer="most_frequent")
        pipeline = fit(contract, frame, DecisionTreeClassifier(max_depth=2), preprocessing)
        out = pipeline[:-1].transform(frame)
        assert not np.isnan(out).any()
    names = list(pipeline[:-1].get_feature_names_out())
    assert "contract_missing" not in names
    # minmax keeps the training numeric columns in [0, 1]
    pipeline = fit(contract, frame, preprocessing=PreprocessingConfig(scaler="minmax"))
    numeric = pipeline[:-1].transform(frame)[:, :5]
    assert numeric.min() >= 0 and numeric.max() <= 1


def test_prefixed_names_when_plain_names_could_collide(frame):
    contract = DataContract(
        target="churn",
        classes=["No", "Yes"],
        positive_class="Yes",
        columns={"contract": ColumnSpec(kind="categorical"), "contract_Two year": ColumnSpec(kind="numeric")},
    )
    df = pd.DataFrame({"contract": frame["contract"], "contract_Two year": 1.0, "churn": frame["churn"]})
    names = list(fit(contract, df, features=[])[:-1].get_feature_names_out())
    assert "num__contract_Two year" in names and "cat__contract_Two year" in names


@pytest.mark.parametrize(
    ("encoding", "estimator", "codes"),
    [
        ("auto", HistGradientBoostingClassifier(max_iter=5), True),
        ("auto", RandomForestClassifier(n_estimators=3), True),
        ("auto", DecisionTreeClassifier(max_depth=2), True),
        ("auto", LogisticRegression(max_iter=500), False),
        ("codes", LogisticRegression(max_iter=500), True),
        ("onehot", HistGradientBoostingClassifier(max_iter=5), False),
    ],
)
def test_categorical_encoding_codes_for_trees_one_hot_for_the_rest(
    contract, frame, encoding, estimator, codes
):
    pipeline = fit(contract, frame, estimator, PreprocessingConfig(categorical_encoding=encoding))
    names = list(pipeline[:-1].get_feature_names_out())
    categorical = contract.columns_of_kind("categorical")
    if not codes:
        assert "contract_Month-to-month" in names and "contract" not in names
        return
    # one input per categorical column, named as the column, after the numeric and derived ones
    assert names == ["tenure", "total", "senior", "avg_monthly", "n_addons", *categorical]
    assert pipeline[-1].n_features_in_ == len(names)
    probe = frame.head(4).copy()
    probe["contract"] = ["Month-to-month", "Two year", "Three year", np.nan]
    encoded = pipeline[:-1].transform(probe)[:, names.index("contract")]
    # the sorted categories' indices; the imputed "missing" is a category; an unseen one is -1
    assert sorted(set(frame["contract"].dropna()) | {"missing"}) == [
        "Month-to-month",
        "One year",
        "Two year",
        "missing",
    ]
    np.testing.assert_array_equal(encoded, [0, 2, -1, 3])
    assert pipeline.predict_proba(probe.drop(columns="churn")).shape == (4, 2)


def test_is_tree_model():
    from sklearn.ensemble import (
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        HistGradientBoostingRegressor,
    )
    from sklearn.linear_model import Ridge
    from sklearn.naive_bayes import GaussianNB

    trees = [ExtraTreesRegressor(), GradientBoostingClassifier(), HistGradientBoostingRegressor()]
    assert all(map(is_tree_model, trees))
    assert not any(map(is_tree_model, [Ridge(), GaussianNB(), LogisticRegression(), None]))


# --------------------------------------------------------------------------- make_estimator


def test_make_estimator_params_and_random_state():
    spec = AlgorithmSpec(
        name="rf",
        estimator="sklearn.ensemble.RandomForestClassifier",
        params={"n_estimators": 7, "class_weight": "balanced"},
    )
    estimator = make_estimator(spec, random_state=3)
    assert isinstance(estimator, RandomForestClassifier)
    assert (estimator.n_estimators, estimator.class_weight, estimator.random_state) == (7, "balanced", 3)
    given = spec.model_copy(update={"params": {"random_state": 11}})
    assert make_estimator(given, random_state=3).random_state == 11


def test_make_estimator_without_random_state_param():
    spec = AlgorithmSpec(name="knn", estimator="sklearn.neighbors.KNeighborsClassifier")
    assert "random_state" not in make_estimator(spec, random_state=3).get_params()


@pytest.mark.parametrize(
    "estimator, params, message",
    [
        ("sklearn.nonexistent.Thing", {}, "cannot import module 'sklearn.nonexistent'"),
        ("nopackage_xyz.Model", {}, "cannot import module 'nopackage_xyz'"),
        ("sklearn.linear_model.LogisticRegresion", {}, "no class 'LogisticRegresion'"),
        ("LogisticRegression", {}, "dotted path"),
        ("sklearn.linear_model.LinearRegression", {}, "not a scikit-learn classifier"),
        ("sklearn.preprocessing.StandardScaler", {}, "not a scikit-learn classifier"),
        ("collections.OrderedDict", {}, "not a scikit-learn classifier"),
        ("sklearn.linear_model.LogisticRegression", {"Cee": 1.0}, "rejects params"),
    ],
)
def test_make_estimator_errors(estimator, params, message):
    with pytest.raises(ValueError, match=message):
        make_estimator(AlgorithmSpec(name="bad", estimator=estimator, params=params), random_state=0)


# --------------------------------------------------------------------------- importances


def test_feature_importances_linear_tree_and_permutation(contract, frame):
    linear = fit(contract, frame)
    top = feature_importances(linear, top=3)
    assert len(top) == 3
    assert [v for _, v in top] == sorted((v for _, v in top), reverse=True)
    expected = np.abs(linear[-1].coef_[0]).max()
    assert top[0][1] == pytest.approx(expected)
    assert top[0][0] in linear[:-1].get_feature_names_out()

    tree = fit(contract, frame, estimator=DecisionTreeClassifier(random_state=0))
    assert sum(v for _, v in feature_importances(tree, top=100)) == pytest.approx(1.0)

    y = encode_target(frame["churn"], contract)
    with threadpool_limits(1, user_api="openmp"):  # OpenMP on 40 rows is slow, and very slow under load
        hgb = fit(contract, frame, estimator=HistGradientBoostingClassifier(max_iter=10, min_samples_leaf=5))
        assert feature_importances(hgb) == []
        permuted = feature_importances(hgb, top=4, X=frame, y=y, n_repeats=2, max_rows=30)
    assert len(permuted) == 4
    assert all(isinstance(name, str) and isinstance(v, float) for name, v in permuted)


# --------------------------------------------------------------------------- target


def test_encode_target(contract):
    y = pd.Series(["Yes", "No", "No", "Yes"])
    encoded = encode_target(y, contract)
    assert encoded.dtype == np.int64
    np.testing.assert_array_equal(encoded, [1, 0, 0, 1])


def test_encode_target_unknown_and_missing_labels(contract):
    with pytest.raises(ValueError, match=r"outside the classes .* \(e\.g\. 'Maybe', 'yes'\)"):
        encode_target(pd.Series(["Yes", "Maybe", "yes", "No"]), contract)
    with pytest.raises(ValueError, match="missing"):
        encode_target(pd.Series(["Yes", None]), contract)


def test_encode_target_numeric_labels_match_text_classes():
    contract = DataContract(
        target="t", classes=["0", "1"], positive_class="1", columns={"x": ColumnSpec(kind="numeric")}
    )
    np.testing.assert_array_equal(encode_target(pd.Series([0, 1, 1]), contract), [0, 1, 1])

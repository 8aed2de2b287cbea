"""Derived-feature transformers on tiny hand-made frames with hand-computed outputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from tabular_ml.configuration.schema import (
    BinFeature,
    CountFeature,
    DifferenceFeature,
    LogFeature,
    RatioFeature,
)
from tabular_ml.modelling.features import (
    BinTransformer,
    CountTransformer,
    DifferenceTransformer,
    LogTransformer,
    RatioTransformer,
    build_feature_steps,
    derived_feature_names,
    validate_feature_specs,
)


def assert_values(actual: pd.Series, expected: list[float]) -> None:
    assert actual.dtype == np.float64
    got = actual.to_list()
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        if isinstance(e, float) and math.isnan(e):
            assert math.isnan(g), got
        else:
            assert g == pytest.approx(e), got


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "total": [100.0, 50.0, 30.0, np.nan, -5.0],
            "tenure": [4, 0, 3, 2, 5],
            "a": ["Yes", "No", "Yes", None, "No internet service"],
            "b": ["Yes", "Yes", "No", "Yes", "No"],
            "flag": [1, 0, 1, 0, 0],
        }
    )


def test_ratio_divides_and_gives_nan_for_zero_and_missing(frame):
    out = RatioTransformer("avg", "total", "tenure").fit_transform(frame)
    assert list(out.columns) == [*frame.columns, "avg"]
    assert_values(out["avg"], [25.0, float("nan"), 10.0, float("nan"), -1.0])
    assert not np.isinf(out["avg"]).any()
    # the input is not modified
    assert "avg" not in frame.columns


def test_ratio_zero_over_zero_is_nan_not_inf():
    df = pd.DataFrame({"n": [0.0, 1.0, -1.0], "d": [0, 0, 0]})
    out = RatioTransformer("r", "n", "d").fit_transform(df)
    assert out["r"].isna().all()


def test_difference(frame):
    out = DifferenceTransformer("diff", "total", "tenure").fit_transform(frame)
    assert_values(out["diff"], [96.0, 50.0, 27.0, float("nan"), -10.0])


def test_log1p_with_negative_as_nan(frame):
    out = LogTransformer("log_total", "total").fit_transform(frame)
    assert_values(
        out["log_total"], [math.log(101.0), math.log(51.0), math.log(31.0), float("nan"), float("nan")]
    )
    zero = LogTransformer("l", "x").fit_transform(pd.DataFrame({"x": [0.0]}))
    assert zero["l"].iloc[0] == 0.0


def test_bin_indices_edges_and_nan():
    df = pd.DataFrame({"tenure": [0, 1, 12, 13, 24, 72, 80, -1, np.nan]})
    out = BinTransformer("tenure_bin", "tenure", [0, 12, 24, 72]).fit_transform(df)
    # bins (0,12] incl. 0, (12,24], (24,72]; outside the edges and NaN -> NaN
    nan = float("nan")
    assert_values(out["tenure_bin"], [0.0, 0.0, 0.0, 1.0, 1.0, 2.0, nan, nan, nan])


def test_count_over_yes_no_columns(frame):
    out = CountTransformer("n_yes", ["a", "b"], ["Yes"]).fit_transform(frame)
    assert_values(out["n_yes"], [2.0, 1.0, 1.0, 1.0, 0.0])


def test_count_default_values_match_yes_and_one(frame):
    out = CountTransformer("n", ["a", "flag"]).fit_transform(frame)
    assert_values(out["n"], [2.0, 0.0, 2.0, 0.0, 0.0])


def test_numeric_text_is_coerced():
    df = pd.DataFrame({"n": ["10", " ", "x"], "d": ["2", "2", "2"]})
    out = RatioTransformer("r", "n", "d").fit_transform(df)
    assert_values(out["r"], [5.0, float("nan"), float("nan")])


def test_fit_sets_input_names_and_feature_names_out(frame):
    transformer = RatioTransformer("avg", "total", "tenure").fit(frame)
    assert list(transformer.feature_names_in_) == list(frame.columns)
    assert transformer.n_features_in_ == 5
    assert list(transformer.get_feature_names_out()) == [*frame.columns, "avg"]
    assert list(transformer.get_feature_names_out(["x", "y"])) == ["x", "y", "avg"]


def test_transformers_clone_and_chain_in_a_pipeline(frame):
    steps = build_feature_steps(
        [
            RatioFeature(name="avg", numerator="total", denominator="tenure"),
            LogFeature(name="log_avg", column="avg"),
        ],
        columns=frame.columns,
    )
    pipeline = clone(Pipeline(steps)).fit(frame)
    out = pipeline.transform(frame)
    assert list(out.columns) == [*frame.columns, "avg", "log_avg"]
    assert out["log_avg"].iloc[0] == pytest.approx(math.log(26.0))
    assert list(pipeline.get_feature_names_out()) == [*frame.columns, "avg", "log_avg"]


def test_transform_rejects_missing_column_and_non_frames(frame):
    transformer = DifferenceTransformer("d", "total", "nope")
    with pytest.raises(ValueError, match=r"'d'.*nope"):
        transformer.fit(frame)
    with pytest.raises(TypeError, match="DataFrame"):
        LogTransformer("l", "x").fit(np.zeros((2, 1)))


def test_build_feature_steps_kinds_and_names():
    specs = [
        RatioFeature(name="r", numerator="x", denominator="y"),
        DifferenceFeature(name="d", left="x", right="y"),
        LogFeature(name="l", column="x"),
        BinFeature(name="b", column="x", edges=[0, 1, 2]),
        CountFeature(name="c", columns=["x", "y"], values=["Yes"]),
    ]
    steps = build_feature_steps(specs, columns=["x", "y"])
    assert [name for name, _ in steps] == ["r", "d", "l", "b", "c"]
    assert [type(t) for _, t in steps] == [
        RatioTransformer,
        DifferenceTransformer,
        LogTransformer,
        BinTransformer,
        CountTransformer,
    ]
    assert derived_feature_names(specs) == ["r", "d", "l", "b", "c"]
    # dicts (as read from YAML) are accepted too
    assert derived_feature_names([{"kind": "log", "name": "lx", "column": "x"}]) == ["lx"]


def test_build_feature_steps_names_feature_and_missing_column():
    specs = [CountFeature(name="addons", columns=["online_security", "tech_suport"])]
    with pytest.raises(ValueError, match=r"'addons'.*tech_suport"):
        build_feature_steps(specs, columns=["online_security", "tech_support"])
    # a later feature may use an earlier one, not the other way round
    ok = [RatioFeature(name="r", numerator="x", denominator="y"), LogFeature(name="l", column="r")]
    assert len(build_feature_steps(ok, columns=["x", "y"])) == 2
    with pytest.raises(ValueError, match=r"'l'.*\['r'\]"):
        build_feature_steps(ok[::-1], columns=["x", "y"])


@pytest.mark.parametrize(
    "specs, message",
    [
        ([LogFeature(name="x", column="x")], "existing column"),
        ([LogFeature(name="l", column="x"), LogFeature(name="l", column="y")], "twice"),
        ([LogFeature(name="a__b", column="x")], "__"),
        ([BinFeature(name="b", column="x", edges=[0, 5, 5])], "increase"),
    ],
)
def test_invalid_specs(specs, message):
    with pytest.raises(ValueError, match=message):
        validate_feature_specs(specs, columns=["x", "y"])

"""Per-row explanations: contributions add up to the model's own output, for every algorithm the
default and drafted configs can choose and every task; the column that drives the target ranks
first; other estimators are explained approximately."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier

from tabular_ml.configuration.schema import PreprocessingConfig
from tabular_ml.modelling.explanations import Explainer, explain_rows, top_columns
from tabular_ml.modelling.model import build_model
from tabular_ml.tasks.target import TargetSpec
from tests.support.factories import TINY_FEATURES, tiny_contract, tiny_frame

COLUMNS = tiny_contract().feature_names
CLASSES = {"binary": ["No", "Yes"], "multiclass": ["low", "mid", "high"], "regression": []}


def labelled(task: str, n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """tiny_frame rows whose target is driven by ``tenure`` (and a little by ``contract``)."""
    frame = tiny_frame(n, seed)
    rng = np.random.default_rng(seed)
    signal = frame["tenure"] / 24.0 + (frame["contract"] == "Two year") * 0.5 + rng.normal(0, 0.3, n)
    if task == "regression":
        return frame, signal.to_numpy()
    if task == "binary":
        return frame, (signal > signal.median()).astype(int).to_numpy()
    return frame, np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3]))


def fitted(estimator, task: str, n: int = 600, preprocessing: PreprocessingConfig | None = None):
    frame, y = labelled(task, n)
    pipeline = build_model(tiny_contract(), preprocessing or PreprocessingConfig(), TINY_FEATURES, estimator)
    return pipeline.fit(frame[COLUMNS], y), frame


def model_output(pipeline, frame: pd.DataFrame, space: str, task: str) -> np.ndarray:
    """The model's own output in ``space``, (n, k), as scikit-learn computes it."""
    if space == "value":
        return pipeline.predict(frame[COLUMNS])[:, None]
    if space == "probability":
        proba = pipeline.predict_proba(frame[COLUMNS])
        return proba if task == "multiclass" else proba[:, 1:]
    scores = pipeline.decision_function(frame[COLUMNS])
    return scores if scores.ndim == 2 else scores[:, None]


CHOSEN = [  # every estimator configs/training*.yaml and draft-config can choose, per task
    ("binary", LogisticRegression(max_iter=2000), "log_odds"),
    ("binary", RandomForestClassifier(n_estimators=30, min_samples_leaf=10, random_state=0), "probability"),
    ("binary", HistGradientBoostingClassifier(max_iter=40, max_depth=4, random_state=0), "log_odds"),
    ("multiclass", LogisticRegression(max_iter=2000), "logit"),
    (
        "multiclass",
        RandomForestClassifier(n_estimators=30, min_samples_leaf=10, random_state=0),
        "probability",
    ),
    ("multiclass", HistGradientBoostingClassifier(max_iter=40, max_depth=4, random_state=0), "logit"),
    ("regression", Ridge(alpha=1.0), "value"),
    ("regression", RandomForestRegressor(n_estimators=30, min_samples_leaf=10, random_state=0), "value"),
    ("regression", HistGradientBoostingRegressor(max_iter=40, max_depth=4, random_state=0), "value"),
]


@pytest.mark.parametrize(
    "task,estimator,space", CHOSEN, ids=[f"{t}-{type(e).__name__}" for t, e, _ in CHOSEN]
)
def test_contributions_add_up_to_the_models_own_output_within_1e_6(task, estimator, space):
    pipeline, frame = fitted(estimator, task)
    target = TargetSpec(column="churn", task=task, classes=CLASSES[task])
    explainer = Explainer(pipeline, target, COLUMNS, background=frame)
    rows = frame.tail(50)
    found = explainer.attribute_frame(rows)
    assert (explainer.method, explainer.space) == ("exact", space)
    assert found.contributions.shape == (50, len(COLUMNS), 3 if task == "multiclass" else 1)
    np.testing.assert_allclose(found.output, model_output(pipeline, rows, space, task), rtol=0, atol=1e-6)
    np.testing.assert_allclose(found.base + found.contributions.sum(axis=1), found.output, rtol=0, atol=1e-6)


TREES = [
    (t, e, space)
    for t, e, space in CHOSEN
    if "Ridge" not in type(e).__name__ and "Logistic" not in type(e).__name__
]


@pytest.mark.parametrize("task,estimator,space", TREES, ids=[f"{t}-{type(e).__name__}" for t, e, _ in TREES])
def test_trees_on_category_codes_are_explained_exactly_per_column(task, estimator, space):
    pipeline, frame = fitted(estimator, task, preprocessing=PreprocessingConfig(categorical_encoding="auto"))
    assert "contract" in pipeline[:-1].get_feature_names_out()  # a code column, not one-hot
    target = TargetSpec(column="churn", task=task, classes=CLASSES[task])
    explainer = Explainer(pipeline, target, COLUMNS, background=frame)
    found = explainer.attribute_frame(frame.tail(200))
    assert (explainer.method, explainer.space) == ("exact", space)
    np.testing.assert_allclose(
        found.output, model_output(pipeline, frame.tail(200), space, task), rtol=0, atol=1e-6
    )
    np.testing.assert_allclose(found.base + found.contributions.sum(axis=1), found.output, rtol=0, atol=1e-6)
    importance = np.abs(found.contributions).mean(axis=(0, 2))
    assert COLUMNS[int(np.argmax(importance))] == "tenure"
    assert importance[COLUMNS.index("contract")] > 0  # the code column's share reaches its column


@pytest.mark.parametrize(
    "task,estimator,space", CHOSEN, ids=[f"{t}-{type(e).__name__}" for t, e, _ in CHOSEN]
)
def test_the_column_that_drives_the_target_ranks_first(task, estimator, space):
    pipeline, frame = fitted(estimator, task)
    target = TargetSpec(column="churn", task=task, classes=CLASSES[task])
    found = Explainer(pipeline, target, COLUMNS, background=frame).attribute_frame(frame.tail(200))
    importance = np.abs(found.contributions).mean(axis=(0, 2))
    assert COLUMNS[int(np.argmax(importance))] == "tenure"


def test_a_binary_row_as_json_names_every_column_and_its_top_reasons():
    pipeline, frame = fitted(LogisticRegression(max_iter=2000), "binary")
    target = TargetSpec(column="churn", task="binary", classes=CLASSES["binary"])
    (row,) = explain_rows(pipeline, frame.tail(1), target, columns=COLUMNS, background=frame, top_k=2)
    body = row.as_dict()
    assert set(body) == {"output", "space", "base_value", "contributions", "top", "method"}
    assert list(body["contributions"]) == COLUMNS
    assert body["output"] == pytest.approx(body["base_value"] + sum(body["contributions"].values()), abs=1e-9)
    by_size = sorted(body["contributions"].items(), key=lambda item: -abs(item[1]))
    assert body["top"] == [list(pair) for pair in by_size[:2]]


def test_a_multiclass_row_gives_each_class_and_ranks_the_columns_for_the_likeliest_class():
    pipeline, frame = fitted(HistGradientBoostingClassifier(max_iter=40, max_depth=4), "multiclass")
    target = TargetSpec(column="churn", task="multiclass", classes=CLASSES["multiclass"])
    (row,) = Explainer(pipeline, target, COLUMNS).explain(frame.tail(1), top_k=3)
    likeliest = max(row.output, key=row.output.get)
    assert row.explained_class == likeliest and row.as_dict()["class"] == likeliest
    assert set(row.contributions["tenure"]) == set(CLASSES["multiclass"])
    for label in CLASSES["multiclass"]:
        total = row.base_value[label] + sum(values[label] for values in row.contributions.values())
        assert total == pytest.approx(row.output[label], abs=1e-6)
    assert row.top == top_columns(COLUMNS, np.array([row.contributions[c][likeliest] for c in COLUMNS]), 3)


def test_another_estimator_is_explained_approximately_over_the_background_rows():
    pipeline, frame = fitted(KNeighborsClassifier(n_neighbors=25), "binary")
    target = TargetSpec(column="churn", task="binary", classes=CLASSES["binary"])
    explainer = Explainer(pipeline, target, COLUMNS, background=frame)
    found = explainer.attribute_frame(frame.tail(20))
    assert (explainer.method, explainer.space) == ("approximate", "probability")
    np.testing.assert_allclose(
        found.output, pipeline.predict_proba(frame.tail(20)[COLUMNS])[:, 1:], atol=1e-12
    )
    # permutation SHAP telescopes: the sum holds even though each contribution is an estimate
    np.testing.assert_allclose(found.base + found.contributions.sum(axis=1), found.output, atol=1e-6)
    assert COLUMNS[int(np.argmax(np.abs(found.contributions).mean(axis=(0, 2))))] == "tenure"


def test_a_linear_model_without_background_rows_is_a_one_line_error():
    pipeline, _ = fitted(LogisticRegression(max_iter=2000), "binary")
    target = TargetSpec(column="churn", task="binary", classes=CLASSES["binary"])
    with pytest.raises(ValueError, match="^a linear model's explanation needs background rows"):
        Explainer(pipeline, target, COLUMNS)


def test_top_columns_rank_by_size_and_keep_the_sign():
    assert top_columns(["a", "b", "c"], np.array([0.1, -0.5, 0.3]), 2) == [("b", -0.5), ("c", 0.3)]
    assert top_columns(["a", "b"], np.array([0.1, 0.2]), 0) == []

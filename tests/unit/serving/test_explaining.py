"""Explanations at serving time: Seldon's explain route and the OIP ``explain`` parameter answer
the prediction and each row's explanation, equal to the in-process one; bad input is answered as
a prediction's would be."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from starlette.testclient import TestClient

from serving.app import ServingApp
from serving.settings import load_settings
from tabular_ml.modelling.explanations import Explainer
from tabular_ml.tasks.target import TargetSpec
from tests.support.serving_model import (
    TELCO_CSV,
    fit_pipeline,
    ndarray_request,
    save_test_bundle,
    training_params,
)

BINARY = TargetSpec(column="churn", task="binary", classes=["No", "Yes"])


@pytest.fixture(scope="module")
def telco():
    return pd.read_csv(TELCO_CSV).head(1500)


@pytest.fixture(scope="module")
def params():
    return training_params()


def bundle_of(folder, pipeline, params, telco):
    holdout = telco.iloc[1000:1500]
    return save_test_bundle(folder / "bundle", pipeline, params, "7", reference_rows=holdout)


@pytest.fixture(scope="module")
def logistic(tmp_path_factory, params, telco):
    pipeline = fit_pipeline(params, telco.iloc[:1000])
    return pipeline, bundle_of(tmp_path_factory.mktemp("logistic"), pipeline, params, telco)


def in_process(pipeline, params, telco, rows, top_k=5) -> list[dict]:
    explainer = Explainer(pipeline, BINARY, params.contract.feature_names, telco.iloc[1000:1500])
    return [row.as_dict() for row in explainer.explain(rows, top_k)]


def assert_same(served: list[dict], expected: list[dict]) -> None:
    assert len(served) == len(expected)
    for got, want in zip(served, expected, strict=True):
        assert (got["space"], got["method"], list(got["contributions"])) == (
            want["space"],
            want["method"],
            list(want["contributions"]),
        )
        assert got["output"] == pytest.approx(want["output"], abs=1e-9)
        assert got["base_value"] == pytest.approx(want["base_value"], abs=1e-9)
        assert list(got["contributions"].values()) == pytest.approx(
            list(want["contributions"].values()), abs=1e-9
        )
        assert [c for c, _ in got["top"]] == [c for c, _ in want["top"]]


@pytest.mark.parametrize("fast_path", ["on", "off"])
def test_the_explain_route_answers_the_prediction_and_the_in_process_explanations(
    logistic, params, telco, fast_path
):
    pipeline, bundle = logistic
    rows = telco[params.contract.feature_names].iloc[1100:1104]
    with TestClient(ServingApp(load_settings(model_dir=bundle, fast_path=fast_path))) as client:
        predicted = client.post("/api/v1.0/predictions", json=ndarray_request(rows)).json()
        answer = client.post("/api/v1.0/explain?top_k=3", json=ndarray_request(rows))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["data"] == predicted["data"]
    assert_same(body["explanations"], in_process(pipeline, params, telco, rows, 3))
    probabilities = [p for _, p in body["data"]["ndarray"]]
    log_odds = [row["output"] for row in body["explanations"]]
    np.testing.assert_allclose(1 / (1 + np.exp(-np.array(log_odds))), probabilities, atol=1e-9)
    assert all(len(row["top"]) == 3 and row["method"] == "exact" for row in body["explanations"])


def test_the_oip_explain_parameter_adds_explanations_and_without_it_there_are_none(logistic, params, telco):
    pipeline, bundle = logistic
    rows = telco[params.contract.feature_names].iloc[1200:1202]
    inputs = [
        {
            "name": name,
            "datatype": "BYTES" if rows[name].dtype == object else "FP64",
            "shape": [len(rows)],
            "data": rows[name].tolist(),
        }
        for name in rows.columns
    ]
    url = "/v2/models/churn_classifier/infer"
    with TestClient(ServingApp(load_settings(model_dir=bundle))) as client:
        plain = client.post(url, json={"inputs": inputs}).json()
        explained = client.post(url, json={"inputs": inputs, "parameters": {"explain": {"top_k": 2}}}).json()
        default = client.post(url, json={"inputs": inputs, "parameters": {"explain": True}}).json()
    assert "explanations" not in plain and explained["outputs"] == plain["outputs"]
    assert_same(explained["explanations"], in_process(pipeline, params, telco, rows, 2))
    assert [len(row["top"]) for row in default["explanations"]] == [5, 5]


def test_bad_input_is_answered_as_a_prediction_would_be_and_a_bad_top_k_is_a_400(logistic, params, telco):
    _, bundle = logistic
    rows = telco[params.contract.feature_names].iloc[:1]
    bad = ndarray_request(rows.drop(columns=["tenure"]))
    with TestClient(ServingApp(load_settings(model_dir=bundle))) as client:
        predicted = client.post("/api/v1.0/predictions", json=bad)
        explained = client.post("/api/v1.0/explain", json=bad)
        top_k = client.post("/api/v1.0/explain?top_k=many", json=ndarray_request(rows))
        oip = client.post(
            "/v2/models/churn_classifier/infer",
            json={
                "inputs": [{"name": "tenure", "datatype": "FP64", "shape": [1], "data": [3]}],
                "parameters": {"explain": "yes"},
            },
        )
    assert (explained.status_code, explained.json()) == (predicted.status_code, predicted.json())
    assert predicted.status_code == 400
    assert top_k.status_code == 400 and "top_k must be a whole number from 0 to 100" in top_k.text
    assert oip.status_code == 400 and "parameters.explain must be true, false" in oip.json()["error"]


def test_a_gradient_boosting_model_is_explained_exactly_in_log_odds(tmp_path, params, telco):
    estimator = HistGradientBoostingClassifier(max_iter=30, max_depth=3, random_state=0)
    pipeline = fit_pipeline(params, telco.iloc[:1000], estimator)
    bundle = bundle_of(tmp_path, pipeline, params, telco)
    rows = telco[params.contract.feature_names].iloc[1300:1305]
    with TestClient(ServingApp(load_settings(model_dir=bundle))) as client:
        body = client.post("/api/v1.0/explain", json=ndarray_request(rows)).json()
    explanations = body["explanations"]
    assert {(row["space"], row["method"]) for row in explanations} == {("log_odds", "exact")}
    np.testing.assert_allclose(
        [row["output"] for row in explanations], pipeline.decision_function(rows), atol=1e-6
    )
    for row in explanations:
        assert row["base_value"] + sum(row["contributions"].values()) == pytest.approx(
            row["output"], abs=1e-6
        )
    assert_same(explanations, in_process(pipeline, params, telco, rows))


def test_a_linear_bundle_without_reference_rows_answers_501_and_still_predicts(tmp_path, params, telco):
    pipeline = fit_pipeline(params, telco.iloc[:1000])
    bundle = save_test_bundle(tmp_path / "bundle", pipeline, params, "8")
    rows = ndarray_request(telco[params.contract.feature_names].iloc[:1])
    with TestClient(ServingApp(load_settings(model_dir=bundle))) as client:
        explained = client.post("/api/v1.0/explain", json=rows)
        assert client.post("/api/v1.0/predictions", json=rows).status_code == 200
    assert explained.status_code == 501
    assert explained.json()["status"]["info"] == (
        "explanations are not available for this model: "
        "a linear model's explanation needs background rows (its base is their mean)"
    )

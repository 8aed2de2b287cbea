"""Explanations from a real model server process (``python -m serving``) equal the in-process ones:
a logistic regression (compiled path) and a random forest (TreeSHAP through shap), on Seldon's
explain route and the OIP ``explain`` parameter."""

from __future__ import annotations

import pandas as pd
import pytest
import requests
from sklearn.ensemble import RandomForestClassifier

from tabular_ml.modelling.explanations import Explainer
from tabular_ml.tasks.target import TargetSpec
from tests.support.servers import ModelServer
from tests.support.serving_model import fit_pipeline, ndarray_request, save_test_bundle

pytestmark = pytest.mark.integration

BINARY = TargetSpec(column="churn", task="binary", classes=["No", "Yes"])


def served(tmp_path_factory, pipeline, params, telco, name: str) -> ModelServer:
    folder = tmp_path_factory.mktemp(name)
    bundle = save_test_bundle(folder / "bundle", pipeline, params, name, reference_rows=telco.iloc[5000:5500])
    server = ModelServer(bundle, folder / "server.log")
    try:
        server.wait_ready()
    except RuntimeError as exc:
        server.kill()
        pytest.fail(str(exc))
    return server


@pytest.fixture(scope="module", params=["logistic", "forest"])
def model_and_server(request, tmp_path_factory, params, telco):
    estimator = (
        RandomForestClassifier(n_estimators=50, min_samples_leaf=10, random_state=0, n_jobs=1)
        if request.param == "forest"
        else None
    )
    pipeline = fit_pipeline(params, telco.iloc[:2000], estimator)
    server = served(tmp_path_factory, pipeline, params, telco, request.param)
    yield pipeline, server
    server.stop()


def test_served_explanations_equal_the_in_process_ones(model_and_server, params, telco):
    pipeline, server = model_and_server
    rows = telco[params.contract.feature_names].iloc[3000:3020].reset_index(drop=True)
    expected = Explainer(pipeline, BINARY, params.contract.feature_names, telco.iloc[5000:5500]).explain(
        rows, 4
    )
    answer = requests.post(
        f"{server.base_url}/api/v1.0/explain?top_k=4", json=ndarray_request(rows), timeout=60
    )
    assert answer.status_code == 200, answer.text
    inputs = [
        {
            "name": c,
            "datatype": "BYTES" if rows[c].dtype == object else "FP64",
            "shape": [20],
            "data": rows[c].tolist(),
        }
        for c in rows.columns
    ]
    infer = requests.post(
        f"{server.base_url}/v2/models/churn_classifier/infer",
        json={"inputs": inputs, "parameters": {"explain": {"top_k": 4}}},
        timeout=60,
    )
    assert infer.status_code == 200, infer.text
    for explanations in (answer.json()["explanations"], infer.json()["explanations"]):
        for got, want in zip(explanations, expected, strict=True):
            assert (got["space"], got["method"]) == (want.space, want.method)
            assert got["output"] == pytest.approx(want.output, abs=1e-9)
            assert got["base_value"] == pytest.approx(want.base_value, abs=1e-9)
            assert got["contributions"] == pytest.approx(want.contributions, abs=1e-9)
            assert [column for column, _ in got["top"]] == [column for column, _ in want.top]
    probabilities = pd.Series([p for _, p in answer.json()["data"]["ndarray"]])
    pd.testing.assert_series_equal(probabilities, pd.Series(pipeline.predict_proba(rows)[:, 1]), atol=1e-6)

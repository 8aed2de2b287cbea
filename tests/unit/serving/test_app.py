"""The serving app as a plain ASGI application, mounted inside another one (a FastAPI service, as a
ZenML pipeline deployment is), answering both protocols below its mount point."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pandas as pd
import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from serving.app import ServingApp
from serving.settings import load_settings
from tests.support.serving_model import (
    TELCO_CSV,
    fit_pipeline,
    ndarray_request,
    save_test_bundle,
    training_params,
)


@pytest.fixture(scope="module")
def rows_and_bundle(tmp_path_factory):
    params = training_params()
    data = pd.read_csv(TELCO_CSV).head(800)
    pipeline = fit_pipeline(params, data)
    bundle = save_test_bundle(tmp_path_factory.mktemp("mounted") / "bundle", pipeline, params, "5")
    rows = data[params.contract.feature_names].head(3)
    return rows, pipeline.predict_proba(rows)[:, 1], bundle


def test_mounted_under_a_prefix_in_a_fastapi_service(rows_and_bundle):
    rows, expected, bundle = rows_and_bundle
    serving = ServingApp(load_settings(model_dir=bundle))

    @asynccontextmanager
    async def lifespan(_):
        serving.load()  # a mounted app's lifespan is not run by its host
        yield

    host = FastAPI(lifespan=lifespan)
    host.mount("/model", serving)

    @host.get("/hello")
    def hello() -> dict:
        return {"host": "route"}

    with TestClient(host) as client:
        assert client.get("/hello").json() == {"host": "route"}
        answer = client.post("/model/api/v1.0/predictions", json=ndarray_request(rows))
        assert answer.status_code == 200
        probabilities = [p for _, p in answer.json()["data"]["ndarray"]]
        assert probabilities == pytest.approx(expected.tolist(), abs=1e-9)
        infer = client.post(
            "/model/v2/models/churn_classifier/infer",
            json={
                "inputs": [
                    {
                        "name": name,
                        "datatype": "BYTES" if rows[name].dtype == object else "FP64",
                        "shape": [len(rows)],
                        "data": rows[name].tolist(),
                    }
                    for name in rows.columns
                ]
            },
        )
        assert infer.status_code == 200, infer.text
        outputs = {output["name"]: output["data"] for output in infer.json()["outputs"]}
        assert outputs["probability"] == pytest.approx(expected.tolist(), abs=1e-9)
        assert client.get("/model/health/ping").text == "pong"
        assert client.get("/model/nope").status_code == 404


def test_unloaded_it_answers_503_not_500(rows_and_bundle):
    _, _, bundle = rows_and_bundle
    app = ServingApp(load_settings(model_dir=bundle))
    client = TestClient(app)  # not entered: no lifespan, nothing loaded
    answer = client.get("/health/status")
    assert answer.status_code == 503
    assert answer.json()["status"]["reason"] == "MODEL_NOT_LOADED"

"""The fast path in a real server: used when it agrees with the Pipeline, else the Pipeline serves.

Two ``seldon-core-microservice`` processes: one on a logistic-regression bundle with reference
rows (the fast path serves), one on a Gaussian naive Bayes bundle (no fast path for it: the
Pipeline serves). Both must answer what the Pipeline answers, and say which path they use in
their log and in the ``scoring_path`` metric.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import requests
from sklearn.naive_bayes import GaussianNB

from tests.microservice import Microservice
from tests.serving_model import fit_pipeline, ndarray_request, save_test_bundle

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rows(params, telco) -> pd.DataFrame:
    """200 rows, with missing values, an unknown category and the contract's range ends."""
    frame = telco.iloc[2000:2200][params.contract.feature_names].reset_index(drop=True)
    frame.loc[0, "total_charges"] = np.nan
    frame.loc[1, ["tenure", "monthly_charges"]] = [np.nan, np.nan]
    frame.loc[2, "contract"] = "Three year"
    frame.loc[3, ["tenure", "total_charges"]] = [0, 0]  # a ratio over 0
    frame.loc[4, ["tenure", "monthly_charges", "total_charges"]] = [120, 1000, 100_000]
    frame.loc[5, "payment_method"] = None
    return frame


def serve(tmp_path_factory, pipeline, params, telco, name: str) -> Microservice:
    folder = tmp_path_factory.mktemp(name)
    holdout = telco.iloc[5000:5500]
    bundle = save_test_bundle(folder / "bundle", pipeline, params, name, reference_rows=holdout)
    server = Microservice(bundle, folder / "server.log")
    try:
        return server.wait_ready()
    except RuntimeError as exc:
        server.stop()
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def logistic(params, telco):
    return fit_pipeline(params, telco.iloc[:2000])


@pytest.fixture(scope="module")
def naive_bayes(params, telco):
    return fit_pipeline(params, telco.iloc[:2000], GaussianNB())


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory, logistic, params, telco):
    server = serve(tmp_path_factory, logistic, params, telco, "fast")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fallback_server(tmp_path_factory, naive_bayes, params, telco):
    server = serve(tmp_path_factory, naive_bayes, params, telco, "fallback")
    yield server
    server.stop()


def answered(server: Microservice, frame: pd.DataFrame) -> list[float]:
    probabilities = []
    for start in range(0, len(frame), 50):  # in batches, and row by row for the first ten
        body = requests.post(
            server.predictions, json=ndarray_request(frame.iloc[start : start + 50]), timeout=30
        )
        assert body.status_code == 200, body.text
        probabilities += [p for _, p in body.json()["data"]["ndarray"]]
    for i in range(10):
        single = requests.post(server.predictions, json=ndarray_request(frame.iloc[[i]]), timeout=30).json()
        assert single["data"]["ndarray"][0][1] == pytest.approx(probabilities[i], abs=1e-12)
    return probabilities


def scoring_path_lines(server: Microservice) -> list[str]:
    lines = server.metrics(until=lambda lines: any(line.startswith("scoring_path{") for line in lines))
    return [line for line in lines if line.startswith("scoring_path{")]


def test_the_fast_path_serves_the_pipelines_answers(fast_server, logistic, rows):
    got = answered(fast_server, rows)
    np.testing.assert_allclose(got, logistic.predict_proba(rows)[:, 1], rtol=0, atol=1e-6)
    assert "Scoring with the fast path" in fast_server.log.read_text()
    lines = scoring_path_lines(fast_server)
    assert lines and all('path="fast"' in line and "reason" not in line for line in lines)


def test_a_model_without_a_fast_path_is_served_by_the_pipeline(fallback_server, naive_bayes, rows):
    got = answered(fallback_server, rows)
    np.testing.assert_allclose(got, naive_bayes.predict_proba(rows)[:, 1], rtol=0, atol=1e-12)
    assert (
        "Scoring with the scikit-learn Pipeline: the fast path is not compiled: "
        "estimator sklearn.naive_bayes.GaussianNB" in fallback_server.log.read_text()
    )
    lines = scoring_path_lines(fallback_server)
    assert lines and all('path="pipeline"' in line and 'reason="not compiled"' in line for line in lines)

"""The compiled path in a real server: used when it agrees with the Pipeline, else the Pipeline serves.

Three model server processes (``python -m serving``, see serving/scoring.py for the compiled
path): one on a logistic-regression bundle with reference rows (the compiled path serves), the
same bundle with ``SERVING_FAST_PATH=off`` (the Pipeline serves), and one on a Pipeline with a
step the compiler does not know (an identity transformer before the estimator: the Pipeline
serves). All must answer what the Pipeline answers, and
say which path they use in their log and in the ``scoring_path`` metric.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import requests
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from tests.support.servers import ModelServer
from tests.support.serving_model import fit_pipeline, ndarray_request, save_test_bundle

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


def serve(tmp_path_factory, pipeline, params, telco, name: str, env: dict[str, str] | None = None):
    folder = tmp_path_factory.mktemp(name)
    holdout = telco.iloc[5000:5500]
    bundle = save_test_bundle(folder / "bundle", pipeline, params, name, reference_rows=holdout)
    server = ModelServer(bundle, folder / "server.log", env=env)
    try:
        server.wait_ready()
    except RuntimeError as exc:
        server.kill()
        pytest.fail(str(exc))
    return server


@pytest.fixture(scope="module")
def logistic(params, telco):
    return fit_pipeline(params, telco.iloc[:2000])


@pytest.fixture(scope="module")
def unknown_step(logistic):
    return Pipeline([*logistic.steps[:-1], ("identity", FunctionTransformer()), logistic.steps[-1]])


@pytest.fixture(scope="module")
def compiled_server(tmp_path_factory, logistic, params, telco):
    server = serve(tmp_path_factory, logistic, params, telco, "compiled")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def turned_off_server(tmp_path_factory, logistic, params, telco):
    server = serve(tmp_path_factory, logistic, params, telco, "off", env={"SERVING_FAST_PATH": "off"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fallback_server(tmp_path_factory, unknown_step, params, telco):
    server = serve(tmp_path_factory, unknown_step, params, telco, "fallback")
    yield server
    server.stop()


def answered(server: ModelServer, frame: pd.DataFrame) -> list[float]:
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


def scoring_path_lines(server: ModelServer) -> list[str]:
    lines = server.metrics(until=lambda lines: any(line.startswith("scoring_path{") for line in lines))
    return [line for line in lines if line.startswith("scoring_path{")]


def test_the_compiled_path_serves_the_pipelines_answers(compiled_server, logistic, rows):
    got = answered(compiled_server, rows)
    np.testing.assert_allclose(got, logistic.predict_proba(rows)[:, 1], rtol=0, atol=1e-6)
    assert "Scoring with the compiled path" in compiled_server.log.read_text()
    lines = scoring_path_lines(compiled_server)
    assert len(lines) == 1
    assert 'path="compiled"' in lines[0] and 'reason=""' in lines[0] and lines[0].endswith(" 1.0")


def test_the_compiled_path_turned_off_leaves_the_pipeline_serving(turned_off_server, logistic, rows):
    got = answered(turned_off_server, rows)
    np.testing.assert_allclose(got, logistic.predict_proba(rows)[:, 1], rtol=0, atol=1e-12)
    log = turned_off_server.log.read_text()
    assert "Scoring with the scikit-learn Pipeline: the compiled path is turned off" in log
    lines = scoring_path_lines(turned_off_server)
    assert len(lines) == 1 and 'path="pipeline"' in lines[0] and 'reason="turned off"' in lines[0]


def test_a_model_the_compiler_does_not_know_is_served_by_the_pipeline(fallback_server, unknown_step, rows):
    got = answered(fallback_server, rows)
    np.testing.assert_allclose(got, unknown_step.predict_proba(rows)[:, 1], rtol=0, atol=1e-12)
    assert (
        "Scoring with the scikit-learn Pipeline: the compiled path is not compiled: "
        "feature step ColumnTransformer" in fallback_server.log.read_text()
    )
    lines = scoring_path_lines(fallback_server)
    assert len(lines) == 1 and 'path="pipeline"' in lines[0] and 'reason="not compiled"' in lines[0]


def test_a_model_whose_inputs_cannot_be_named_still_predicts_and_says_why_it_cannot_explain(
    fallback_server, rows
):
    """The identity step has no output names: the server loads, and explain answers 501 in one line."""
    answer = requests.post(
        fallback_server.base_url + "/api/v1.0/explain", json=ndarray_request(rows.iloc[:1]), timeout=30
    )
    assert answer.status_code == 501
    assert answer.json()["status"]["info"] == (
        "explanations are not available for this model: the model's inputs cannot be traced to the "
        "columns: Estimator identity does not provide get_feature_names_out. Did you mean to call "
        "pipeline[:-1].get_feature_names_out()?"
    )

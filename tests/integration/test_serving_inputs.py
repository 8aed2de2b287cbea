"""Inputs that must not hurt a real server: each gets a 4xx with a JSON error, or a 200.

Two model server processes (``python -m serving``) serve the same bundle (the training
config's contract, with its ranges): one with the defaults but a 1 MB body limit and at most
5 rows a request, one flagging contract violations instead of rejecting them. After every bad
input the server must still answer a good request with the Pipeline's probability.
(tests/integration/test_server_limits.py sends the hostile ones: slow bodies, endless
headers, too many connections, web pages.)
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import requests

from tests.support.servers import ModelServer
from tests.support.serving_model import TELCO_CSV, fit_pipeline, ndarray_request, save_test_bundle

pytestmark = pytest.mark.integration

BODY_LIMIT = 1_000_000
MAX_ROWS = 5
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def rows(params) -> pd.DataFrame:
    return pd.read_csv(TELCO_CSV).iloc[300:310][params.contract.feature_names].reset_index(drop=True)


@pytest.fixture(scope="module")
def pipeline(params):
    return fit_pipeline(params, pd.read_csv(TELCO_CSV).iloc[:300])


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory, pipeline, params):
    return save_test_bundle(tmp_path_factory.mktemp("bundle"), pipeline, params, "inputs-test")


def _serve(bundle_dir, folder, env):
    server = ModelServer(bundle_dir, folder / "server.log", env=env)
    try:
        server.wait_ready()
    except RuntimeError as exc:
        server.stop()
        pytest.fail(str(exc))
    return server


@pytest.fixture(scope="module")
def server(bundle_dir, tmp_path_factory):
    env = {"SERVING_MAX_BODY_BYTES": str(BODY_LIMIT), "SERVING_MAX_ROWS": str(MAX_ROWS)}
    running = _serve(bundle_dir, tmp_path_factory.mktemp("strict"), env)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def flagging_server(bundle_dir, tmp_path_factory):
    running = _serve(bundle_dir, tmp_path_factory.mktemp("flag"), {"SERVING_CONTRACT_VIOLATIONS": "flag"})
    yield running
    running.stop()


def one_row(rows: pd.DataFrame, **changes) -> dict:
    request = ndarray_request(rows.head(1))
    names = request["data"]["names"]
    for column, value in changes.items():
        request["data"]["ndarray"][0][names.index(column)] = value
    return request


def post(server, body, timeout: float = 30, **kwargs) -> requests.Response:
    data = json.dumps(body) if isinstance(body, (dict, list)) else body
    return requests.post(server.predictions, data=data, headers=JSON, timeout=timeout, **kwargs)


def assert_still_serving(server, pipeline, rows) -> None:
    answer = requests.post(server.predictions, json=ndarray_request(rows.head(3)), timeout=10)
    assert answer.status_code == 200, answer.text
    probabilities = [p for _, p in answer.json()["data"]["ndarray"]]
    np.testing.assert_allclose(probabilities, pipeline.predict_proba(rows.head(3))[:, 1], rtol=0, atol=1e-9)


def error_of(answer: requests.Response, status: int) -> str:
    assert answer.status_code == status, (answer.status_code, answer.text[:300])
    return answer.json()["status"]["info"]


def test_json_nested_3000_levels_in_one_cell_is_a_400(server, pipeline, rows):
    body = json.dumps(one_row(rows, tenure="@")).replace('"@"', "[" * 3000 + "]" * 3000)
    assert len(body) < 7_000
    assert "nested too deeply" in error_of(post(server, body), 400)
    assert_still_serving(server, pipeline, rows)


def test_a_body_over_the_limit_is_a_413(server, pipeline, rows):
    huge = one_row(rows, contract="x" * (3 * BODY_LIMIT))
    answer = post(server, huge)
    assert error_of(answer, 413) == f"the request body is larger than SERVING_MAX_BODY_BYTES={BODY_LIMIT}"
    assert answer.headers["Connection"] == "close"

    def chunks():  # no Content-Length: sent chunked
        text = json.dumps(huge).encode()
        for start in range(0, len(text), 100_000):
            yield text[start : start + 100_000]

    assert "larger than SERVING_MAX_BODY_BYTES" in error_of(post(server, chunks()), 413)
    small = one_row(rows, contract="x" * (BODY_LIMIT // 2))  # under the limit: an unknown category
    assert post(server, small).status_code == 200
    assert_still_serving(server, pipeline, rows)


def test_twenty_thousand_repeated_names_are_refused_at_once(server, pipeline, rows):
    request = one_row(rows)
    request["data"]["names"] += ["tenure"] * 20_000
    # the old check counted each name in the list: 19 s of CPU for this body; a hang guard only
    info = error_of(post(server, request, timeout=10), 400)
    assert info == "data.names repeats column(s) ['tenure']"
    assert_still_serving(server, pipeline, rows)


NOT_AN_OBJECT = "Can't find JSON in data: send a JSON object with 'data' or 'jsonData'"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('"x"', NOT_AN_OBJECT),
        ("[1, 2]", NOT_AN_OBJECT),
        ("7", NOT_AN_OBJECT),
        ("", NOT_AN_OBJECT),
        ("{not json", "the request is not valid JSON: Expecting property name enclosed in double quotes"),
        (b"\xff\xfe\x00", "the request is not valid JSON: "),
    ],
)
def test_json_that_is_not_an_object_is_a_400(server, pipeline, rows, body, message):
    answer = post(server, body)
    assert error_of(answer, 400).startswith(message)
    assert answer.json()["status"]["reason"] == "MICROSERVICE_BAD_DATA"  # as seldon-core names it
    assert_still_serving(server, pipeline, rows)


def test_more_rows_than_serving_max_rows_is_a_400(server, pipeline, rows):
    request = ndarray_request(pd.concat([rows.head(MAX_ROWS)] * 2))
    assert error_of(post(server, request), 400) == (
        f"data.ndarray has {2 * MAX_ROWS} rows, more than the maximum of {MAX_ROWS} per request "
        "(SERVING_MAX_ROWS): send smaller batches"
    )
    assert post(server, ndarray_request(rows.head(MAX_ROWS))).status_code == 200
    assert_still_serving(server, pipeline, rows)


def test_get_on_the_predictions_route_is_a_405(server):
    answer = requests.get(server.predictions, timeout=5)
    assert answer.status_code == 405
    assert answer.json()["status"]["info"] == "GET is not allowed here: use POST"
    assert requests.get(f"{server.base_url}/no/such/path", timeout=5).status_code == 404


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tenure": -5}, "column 'tenure' breaks the data contract (minimum 0): row 0 holds -5"),
        ({"female": 7}, "column 'female' breaks the data contract (binary value (0 or 1)): row 0 holds 7"),
        (
            {"female": 1.7e308},
            "column 'female' breaks the data contract (binary value (0 or 1)): row 0 holds 1.7e+308",
        ),
        ({"monthly_charges": 1e9}, "column 'monthly_charges' breaks the data contract (maximum 1000)"),
    ],
)
def test_values_breaking_the_contract_are_a_400_naming_column_and_rule(
    server, pipeline, rows, changes, message
):
    assert error_of(post(server, one_row(rows, **changes)), 400).startswith(message)
    assert_still_serving(server, pipeline, rows)


def test_flagged_violations_are_answered_listed_and_counted(flagging_server, pipeline, rows):
    answer = post(flagging_server, one_row(rows, tenure=-5, female=7))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    sent = rows.head(1).assign(tenure=-5.0, female=7.0)
    np.testing.assert_allclose(body["data"]["ndarray"][0][1], pipeline.predict_proba(sent)[0, 1], atol=1e-9)
    assert body["meta"]["tags"]["contract_violations"] == [
        {"row": 0, "column": "female", "rule": "binary value (0 or 1)", "value": 7.0},
        {"row": 0, "column": "tenure", "rule": "minimum 0", "value": -5.0},
    ]
    lines = flagging_server.metrics(until=lambda lines: any("contract_violation_total{" in x for x in lines))
    counted = [line for line in lines if line.startswith("contract_violation_total{")]
    assert any('column="tenure"' in line and 'rule="minimum 0"' in line for line in counted)
    assert any('column="female"' in line for line in counted)


def test_a_flagged_value_the_model_cannot_score_is_a_400(flagging_server, pipeline, rows):
    info = error_of(post(flagging_server, one_row(rows, female=1.7e308)), 400)
    assert "cannot be scored" in info
    assert "flagged: column 'female' breaks the data contract (binary value (0 or 1))" in info
    assert_still_serving(flagging_server, pipeline, rows)


def test_numeric_text_is_read_as_training_cleaning_reads_it(server, pipeline, rows):
    tenure = float(rows.loc[0, "tenure"])
    answer = post(server, one_row(rows, tenure=f"{tenure:g}\n", total_charges=" "))
    assert answer.status_code == 200, answer.text
    cleaned = rows.head(1).assign(tenure=tenure, total_charges=np.nan)
    np.testing.assert_allclose(
        answer.json()["data"]["ndarray"][0][1], pipeline.predict_proba(cleaned)[0, 1], atol=1e-9
    )
    assert "(not a number)" in error_of(post(server, one_row(rows, tenure="twelve")), 400)

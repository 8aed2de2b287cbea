"""The project's server against seldon-core itself, request for request.

The same good and bad requests go to ``seldon-core-microservice`` running the thinnest Seldon
class over the same model (tests/support/seldon_reference_model.py) and to ``python -m serving``; status
codes and answer shapes must match. Where seldon-core answers a client's mistake with a 5xx (its
own bugs: a ``json`` query field that is not JSON, a JSON list, a body without a JSON type, an
unknown path), the project's server answers the 4xx listed here instead: no client input may
cost a 5xx.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import requests

from tests.support.servers import ModelServer, SeldonMicroservice
from tests.support.serving_model import (
    TELCO_CSV,
    fit_pipeline,
    ndarray_request,
    save_test_bundle,
    training_params,
)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    params = training_params()
    return pd.read_csv(TELCO_CSV)[params.contract.feature_names].head(3)


@pytest.fixture(scope="module")
def servers(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("conformance")
    params = training_params()
    data = pd.read_csv(TELCO_CSV)
    bundle = save_test_bundle(folder / "bundle", fit_pipeline(params, data.head(2000)), params, "7")
    oracle = SeldonMicroservice(bundle, folder / "oracle.log")
    ours = ModelServer(bundle, folder / "ours.log")
    try:
        yield oracle.wait_ready(), ours.wait_ready()
    finally:
        oracle.stop()
        ours.stop()


def _cases(rows: pd.DataFrame) -> dict[str, dict]:
    request = ndarray_request(rows)
    record = dict(zip(request["data"]["names"], request["data"]["ndarray"][0], strict=True))
    return {
        "ndarray": {"json": request},
        "jsonData records": {"json": {"jsonData": [record, record]}},
        "jsonData one record": {"json": {"jsonData": record}},
        "json form field": {"data": {"json": json.dumps(request)}},
        "json query field": {"params": {"json": json.dumps(request)}},
        "with a puid": {"json": {**request, "meta": {"puid": "abc-1"}}},
        "body that is not JSON": {"data": "{not json", "headers": {"content-type": "application/json"}},
        "null body": {"data": "null", "headers": {"content-type": "application/json"}},
        "missing columns": {"json": {"jsonData": {"tenure": 1}}},
        "unknown column": {"json": {"jsonData": {**record, "no_such_column": 1}}},
        "text in a numeric column": {"json": {"jsonData": {**record, "tenure": "abc"}}},
        "zero rows": {"json": {"data": {"names": list(rows.columns), "ndarray": []}}},
        "row of the wrong length": {"json": {"data": {"names": list(rows.columns), "ndarray": [[1, 2]]}}},
        "data and jsonData": {"json": {**request, "jsonData": record}},
    }


# seldon-core's 5xx for a client's mistake -> what the project's server answers instead
_FIXED = {
    "json query field not JSON": 400,
    "JSON list": 400,
    "JSON body sent as text/plain": 415,
    "empty body": 415,
}


def _fixed_cases(rows: pd.DataFrame) -> dict[str, dict]:
    return {
        "json query field not JSON": {"params": {"json": "x"}},
        "JSON list": {"json": [1, 2]},
        "JSON body sent as text/plain": {
            "data": json.dumps(ndarray_request(rows)),
            "headers": {"content-type": "text/plain"},
        },
        "empty body": {"data": b""},
    }


def _shape(body: object) -> object:
    """The keys of a JSON answer, nested (values left out)."""
    if isinstance(body, dict):
        return {key: _shape(value) for key, value in body.items()}
    return type(body).__name__


def test_status_codes_and_answer_shapes_match_seldon_core(servers, rows):
    oracle, ours = servers
    compared = []
    for name, request in _cases(rows).items():
        expected = requests.post(oracle.predictions, timeout=30, **request)
        got = requests.post(ours.predictions, timeout=30, **request)
        assert expected.status_code < 500, f"{name}: the oracle itself failed: {expected.text[:300]}"
        assert got.status_code == expected.status_code, f"{name}: {got.text[:300]} vs {expected.text[:300]}"
        wanted, answered = expected.json(), got.json()
        if got.status_code == 200:
            wanted["meta"].pop("puid"), answered["meta"].pop("puid")  # random per request
            assert answered == wanted, name  # names, labels, probabilities, tags: identical
        else:
            assert _shape(answered) == _shape(wanted), name
            assert answered["status"]["reason"] == wanted["status"]["reason"], name
        compared.append(name)
    assert len(compared) == 14


def test_a_client_puid_comes_back_from_both(servers, rows):
    for server in servers:
        answer = requests.post(
            server.predictions, json={**ndarray_request(rows), "meta": {"puid": "abc-1"}}, timeout=30
        )
        assert answer.json()["meta"]["puid"] == "abc-1"


def test_where_seldon_core_answers_5xx_the_server_answers_4xx(servers, rows):
    oracle, ours = servers
    for name, request in _fixed_cases(rows).items():
        expected = requests.post(oracle.predictions, timeout=30, **request)
        got = requests.post(ours.predictions, timeout=30, **request)
        assert expected.status_code == 500, f"{name}: seldon-core now answers {expected.status_code}"
        assert got.status_code == _FIXED[name], f"{name}: {got.text[:300]}"
        assert (
            _shape(got.json())
            == _shape(expected.json())
            == {"status": {"status": "int", "info": "str", "code": "int", "reason": "str"}}
        )


def test_health_and_metadata_routes_match(servers):
    oracle, ours = servers
    for path in ("/health/ping", "/health/status", "/api/v1.0/metadata"):
        expected = requests.get(oracle.base_url + path, timeout=30)
        got = requests.get(ours.base_url + path, timeout=30)
        assert got.status_code == expected.status_code == 200, path
        if path == "/health/ping":
            assert got.text == expected.text == "pong"
        else:
            assert got.json() == expected.json(), path

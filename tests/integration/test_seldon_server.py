"""The serving class run for real: a ``seldon-core-microservice`` process on a model bundle.

A small Pipeline is fitted on 500 Telco rows and saved as a bundle; one server
process (REST on a free loopback port, metrics on another, no gRPC) serves it
for the whole module and is killed, with its process group, at the end. The
tests compare HTTP answers with the in-process Pipeline, send bad requests
and check the server keeps answering, and read health, metadata and metrics.
The first tests drive ``TabularModel`` in-process, as Seldon would.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from seldon_core import seldon_methods
from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.metadata import validate_model_metadata
from seldon_core.metrics import SeldonMetrics
from seldon_core.seldon_client import SeldonClient
from seldon_core.utils import json_to_seldon_message, seldon_message_to_json

from serving.bundle import BundleError
from serving.client import PredictionError, predict, wait_until_ready
from serving.model_server import DEFAULT_MODEL_DIR, MODEL_DIR_ENV, TabularModel
from tests.microservice import Microservice
from tests.processes import free_port, port_is_free
from tests.serving_model import (
    fit_pipeline,
    ndarray_request,
    records_request,
    save_test_bundle,
)

pytestmark = pytest.mark.integration

MODEL_NAME = "churn_classifier"
MODEL_VERSION = "v3-test"
THRESHOLD = 0.5


# ---------------------------------------------------------------------- the model


@pytest.fixture(scope="module")
def pipeline(params, telco):
    return fit_pipeline(params, telco.iloc[:500])


@pytest.fixture(scope="module")
def rows(params, telco) -> pd.DataFrame:
    """20 unseen rows, the first two with a missing ``total_charges``."""
    missing = telco[telco["total_charges"].isna()].head(2)
    return pd.concat([missing, telco.iloc[500:518]])[params.contract.feature_names].reset_index(drop=True)


@pytest.fixture(scope="module")
def expected(pipeline, rows) -> np.ndarray:
    positive = list(pipeline.classes_).index(1)
    return pipeline.predict_proba(rows)[:, positive]


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory, pipeline, params) -> Path:
    folder = tmp_path_factory.mktemp("bundle")
    return save_test_bundle(folder, pipeline, params, MODEL_VERSION, threshold=THRESHOLD)


def labels_for(probabilities) -> list[str]:
    return ["Yes" if p >= THRESHOLD else "No" for p in probabilities]


# ---------------------------------------------------------------------- in-process, as Seldon calls it


def test_model_dir_comes_from_argument_env_or_default(monkeypatch):
    monkeypatch.delenv(MODEL_DIR_ENV, raising=False)
    assert TabularModel().model_dir == DEFAULT_MODEL_DIR == "/mnt/models"
    monkeypatch.setenv(MODEL_DIR_ENV, "/from/env")
    assert TabularModel().model_dir == "/from/env"
    assert TabularModel("/given").model_dir == "/given"


def test_health_fails_until_loaded_and_predicts_after(bundle_dir, rows, expected):
    model = TabularModel(str(bundle_dir))
    calls = (model.health_status, model.health_status_raw, lambda: model.predict_raw(ndarray_request(rows)))
    for call in calls:
        with pytest.raises(SeldonMicroserviceException) as info:
            call()
        assert (info.value.status_code, info.value.reason) == (503, "MODEL_NOT_LOADED")
    model.load()
    assert model.health_status() == {"status": "ok", "model_name": MODEL_NAME, "model_version": MODEL_VERSION}
    response = model.predict_raw(ndarray_request(rows))
    assert response["data"]["names"] == ["prediction", "probability"]
    probabilities = [p for _, p in response["data"]["ndarray"]]
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-12)
    assert [label for label, _ in response["data"]["ndarray"]] == labels_for(expected)
    assert response["meta"]["tags"] == {"model_name": MODEL_NAME, "model_version": MODEL_VERSION}
    counts = {m["tags"]["class"]: m["value"] for m in model.metrics() if m["key"] == "predicted_class_total"}
    want = {"Yes": int(sum(expected >= THRESHOLD)), "No": int(sum(expected < THRESHOLD))}
    assert counts == {label: n for label, n in want.items() if n}  # zero counts are left out
    assert response["meta"]["metrics"] == model.metrics()


def test_bad_request_becomes_a_400_seldon_exception(bundle_dir, rows):
    model = TabularModel(str(bundle_dir))
    model.load()
    with pytest.raises(SeldonMicroserviceException) as info:
        model.predict_raw(ndarray_request(rows.drop(columns="tenure")))
    assert (info.value.status_code, info.value.reason) == (400, "BAD_REQUEST")
    assert info.value.message == "data.names: missing column(s) ['tenure']"
    with pytest.raises(SeldonMicroserviceException) as info:
        model.predict_raw(b"{not json")
    assert info.value.message.startswith("the request body is not valid JSON")


def test_grpc_messages_and_unknown_categories(bundle_dir, pipeline, rows):
    model = TabularModel(str(bundle_dir))
    model.load()
    frame = rows.iloc[2:5].reset_index(drop=True)
    frame.loc[0, "contract"] = "Three year"  # not in the contract: ignored by the encoder, counted
    answer = model.predict_raw(json_to_seldon_message(ndarray_request(frame)))
    probabilities = body_p(seldon_message_to_json(answer))
    np.testing.assert_allclose(probabilities, pipeline.predict_proba(frame)[:, 1], rtol=0, atol=1e-12)
    unknown = [m for m in model.metrics() if m["key"] == "unknown_category_total"]
    assert unknown == [
        {
            "type": "COUNTER",
            "key": "unknown_category_total",
            "value": 1,
            "tags": {"column": "contract", "served_model_version": MODEL_VERSION},
        }
    ]


def test_seldon_dispatch_for_rest_and_grpc_messages(bundle_dir, rows, expected):
    """Through seldon-core's own ``seldon_methods.predict``, as its REST and gRPC servers call it."""
    model = TabularModel(str(bundle_dir))
    model.load()
    seldon_metrics = SeldonMetrics()
    request = ndarray_request(rows.head(1))  # one row: one class gets a count of 0
    rest = seldon_methods.predict(model, request, seldon_metrics)
    proto = seldon_methods.predict(model, json_to_seldon_message(request), seldon_metrics)
    grpc = seldon_message_to_json(proto)
    assert body_p(rest) == body_p(grpc) == pytest.approx([expected[0]], abs=1e-12)
    recorded = {key[1] for worker in seldon_metrics.data.values() for key in worker}
    assert recorded == {"predicted_class_total", "scoring_path"}

    bad = seldon_methods.predict(
        model, json_to_seldon_message(ndarray_request(rows.head(1).drop(columns="tenure"))), seldon_metrics
    )
    status = seldon_message_to_json(bad)["status"]
    assert (status["code"], status["status"], status["reason"]) == (400, "FAILURE", "BAD_REQUEST")
    assert status["info"] == "data.names: missing column(s) ['tenure']"


def body_p(body: dict) -> list[float]:
    return [p for _, p in body["data"]["ndarray"]]


def test_load_of_a_missing_bundle_raises_one_line(tmp_path):
    model = TabularModel(str(tmp_path / "nothing"))
    with pytest.raises(BundleError, match=r"^model bundle directory .*nothing does not exist$"):
        model.load()
    assert model.init_metadata() == {}
    assert not model.loaded


def test_metadata_is_valid_seldon_metadata_before_load(bundle_dir, params):
    meta = validate_model_metadata(TabularModel(str(bundle_dir)).init_metadata())
    assert meta["name"] == MODEL_NAME and meta["versions"] == [MODEL_VERSION]
    assert meta["inputs"][0] == {"messagetype": "ndarray", "schema": {"names": params.contract.feature_names}}
    assert json.loads(meta["custom"]["feature_kinds"])["tenure"] == "numeric"


# ---------------------------------------------------------------------- the real server


def listening_addresses(port: int) -> set[str]:
    """Local IPv4 addresses listening on ``port`` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


@pytest.fixture(scope="module")
def server(bundle_dir, tmp_path_factory):
    running = Microservice(bundle_dir, tmp_path_factory.mktemp("server") / "server.log")
    try:
        try:
            running.wait_ready()
        except RuntimeError as exc:
            pytest.fail(str(exc))
        yield running
    finally:
        running.stop()
        assert running.process.poll() is not None, "the server process is still running"
        ports_free = port_is_free(running.http_port) and port_is_free(running.metrics_port)
        assert ports_free, "a server port is still taken"


def test_server_binds_loopback_only(server):
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs /proc/net/tcp (Linux)")
    assert listening_addresses(server.http_port) == {"127.0.0.1"}
    assert listening_addresses(server.metrics_port) == {"127.0.0.1"}


def test_health_status_after_load(server):
    answer = requests.get(f"{server.base_url}/health/status", timeout=5)
    assert answer.status_code == 200
    health = answer.json()["jsonData"]
    assert health == {"status": "ok", "model_name": MODEL_NAME, "model_version": MODEL_VERSION}
    assert wait_until_ready(server.base_url, timeout_s=5)["jsonData"]["status"] == "ok"
    assert requests.get(f"{server.base_url}/health/ping", timeout=5).text == "pong"


def test_metadata_endpoint(server, params):
    answer = requests.get(f"{server.base_url}/metadata", timeout=5)
    assert answer.status_code == 200
    assert answer.json()["inputs"][0]["schema"]["names"] == params.contract.feature_names


@pytest.mark.parametrize("form", ["ndarray", "jsonData"])
def test_predictions_over_http_equal_the_pipeline(server, rows, expected, form):
    request = ndarray_request(rows) if form == "ndarray" else records_request(rows)
    answer = requests.post(server.predictions, json=request, timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["data"]["names"] == ["prediction", "probability"]
    np.testing.assert_allclose(body_p(body), expected, rtol=0, atol=1e-9)
    assert [label for label, _ in body["data"]["ndarray"]] == labels_for(expected)
    assert body["meta"]["tags"]["model_version"] == MODEL_VERSION


def test_single_json_record(server, rows, expected):
    record = records_request(rows.iloc[[5]])["jsonData"][0]
    answer = requests.post(server.predictions, json={"jsonData": record}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert body_p(answer.json()) == pytest.approx([expected[5]], abs=1e-9)


def bad_requests(rows: pd.DataFrame) -> dict[str, tuple[dict | str, str]]:
    good = ndarray_request(rows.head(2))
    wrong_type = json.loads(json.dumps(good))
    wrong_type["data"]["ndarray"][1][good["data"]["names"].index("tenure")] = "twelve"
    unknown = ndarray_request(rows.head(2).assign(colour="red"))
    huge = {"data": {"names": good["data"]["names"], "ndarray": good["data"]["ndarray"][:1] * 100_000}}
    return {
        "malformed JSON": ('{"data": {"names": ["tenure"], ', "Can't find JSON in data"),
        "missing column": (
            ndarray_request(rows.head(2).drop(columns="tenure")),
            "data.names: missing column(s) ['tenure']",
        ),
        "unknown column": (unknown, "data.names: unknown column(s) ['colour']"),
        "wrong type": (
            wrong_type,
            "column 'tenure' (numeric) needs numbers or null; row 1 holds text 'twelve'",
        ),
        "zero rows": (
            {"data": {"names": good["data"]["names"], "ndarray": []}},
            "data.ndarray has 0 rows: send at least one row",
        ),
        "over the maximum": (
            huge,
            "data.ndarray has 100000 rows, more than the maximum of 10000 per request",
        ),
        "no data": ({"meta": {}}, "the request has no data"),
    }


BAD_CASES = [
    "malformed JSON",
    "missing column",
    "unknown column",
    "wrong type",
    "zero rows",
    "over the maximum",
    "no data",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_requests_get_a_4xx_and_the_server_keeps_answering(server, rows, expected, case):
    body, message = bad_requests(rows)[case]
    data = body if isinstance(body, str) else json.dumps(body)
    answer = requests.post(
        server.predictions, data=data, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:500])
    assert message in answer.json()["status"]["info"]
    good = requests.post(server.predictions, json=ndarray_request(rows.head(3)), timeout=10)
    assert good.status_code == 200
    assert body_p(good.json()) == pytest.approx(expected[:3].tolist(), abs=1e-9)


def test_flask_http_errors_keep_their_status(server, rows):
    body = json.dumps(ndarray_request(rows.head(1)))
    no_content_type = requests.post(server.predictions, data=body, timeout=5)
    assert no_content_type.status_code == 415
    assert "Content-Type" in no_content_type.json()["status"]["info"]
    assert requests.get(f"{server.base_url}/no/such/path", timeout=5).status_code == 404


def test_prometheus_metrics(server, rows):
    request = ndarray_request(rows.head(4))
    request["data"]["ndarray"][0][request["data"]["names"].index("contract")] = "Three year"
    assert requests.post(server.predictions, json=request, timeout=10).status_code == 200

    # the worker hands its counts over once a second, not all in one scrape's window
    def counted(lines, metric, label=""):
        return any(line.startswith(f"{metric}{{") and label in line for line in lines)

    lines = server.metrics(
        until=lambda lines: (
            counted(lines, "unknown_category_total")
            and counted(lines, "predicted_class_total", 'class="Yes"')
            and counted(lines, "predicted_class_total", 'class="No"')
        )
    )
    predicted = [line for line in lines if line.startswith("predicted_class_total{")]
    assert any('class="Yes"' in line for line in predicted)
    assert any('class="No"' in line for line in predicted)
    assert all(f'served_model_version="{MODEL_VERSION}"' in line for line in predicted)
    total = sum(float(line.rsplit(" ", 1)[1]) for line in predicted)
    assert total >= 4
    unknown = [line for line in lines if line.startswith("unknown_category_total{")]
    assert len(unknown) == 1 and 'column="contract"' in unknown[0]
    assert float(unknown[0].rsplit(" ", 1)[1]) >= 1


def test_seldon_client_gets_the_same_probabilities(server, rows, expected):
    complete = rows.dropna()  # the protobuf payload has no null
    want = expected[complete.index.to_numpy()]
    data = complete.astype(object).to_numpy()
    names = list(complete.columns)
    endpoint = f"127.0.0.1:{server.http_port}"

    micro = SeldonClient(microservice_endpoint=endpoint, transport="rest", payload_type="ndarray")
    result = micro.microservice(method="predict", data=data, names=names)
    assert result.success, result.msg
    body = seldon_message_to_json(result.response)
    np.testing.assert_allclose(body_p(body), want, rtol=0, atol=1e-9)

    # gateway="seldon" posts to <endpoint>/api/v1.0/predictions: the executor's path, and the bare server's
    gateway = SeldonClient(
        gateway="seldon", gateway_endpoint=endpoint, transport="rest", payload_type="ndarray"
    )
    result = gateway.predict(data=data, names=names)
    assert result.success, result.msg
    np.testing.assert_allclose(body_p(result.response), want, rtol=0, atol=1e-9)
    assert result.response["meta"]["tags"]["model_version"] == MODEL_VERSION


def test_seldon_client_as_the_readme_shows_it(server, rows, expected):
    """The README's SeldonClient example: ndarray from ``df.to_numpy(dtype=object)``, and json_data."""
    df = rows.dropna()
    want = expected[df.index.to_numpy()]
    client = SeldonClient(
        gateway="seldon",
        gateway_endpoint=f"127.0.0.1:{server.http_port}",
        transport="rest",
        payload_type="ndarray",
    )
    result = client.predict(data=df.to_numpy(dtype=object), names=list(df.columns))
    assert result.success, result.msg
    np.testing.assert_allclose(body_p(result.response), want, rtol=0, atol=1e-9)

    # the client goes through protobuf, which has no NaN: a missing value is sent as None (null)
    records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
    result = client.predict(json_data=records)
    assert result.success, result.msg
    np.testing.assert_allclose(body_p(result.response), expected, rtol=0, atol=1e-9)
    assert [label for label, _ in result.response["data"]["ndarray"]] == labels_for(expected)


def test_project_client_predicts_in_batches(server, rows, expected):
    frame = rows.set_index(pd.Index(range(100, 120), name="customer"))
    result = predict(server.base_url, frame, batch_size=7)
    assert list(result.columns) == ["prediction", "probability", "model_version"]
    assert result.index.equals(frame.index)
    np.testing.assert_allclose(result["probability"].to_numpy(), expected, rtol=0, atol=1e-9)
    assert result["prediction"].tolist() == labels_for(expected)
    assert set(result["model_version"]) == {MODEL_VERSION}
    assert predict(server.predictions, frame.head(0)).empty


def test_project_client_raises_the_server_message(server, rows):
    with pytest.raises(PredictionError, match=r"answered 400 .*unknown column\(s\) \['colour'\]") as info:
        predict(server.base_url, rows.assign(colour="red"))
    assert info.value.status_code == 400
    with pytest.raises(PredictionError, match="cannot reach"):
        predict(f"http://127.0.0.1:{free_port()}", rows, timeout=2)

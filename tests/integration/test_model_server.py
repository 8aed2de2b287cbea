"""The project's model server run for real: ``python -m serving`` on a model bundle.

A small Pipeline is fitted on 500 Telco rows and saved as a bundle; one server process
(HTTP on a free loopback port, metrics on another) serves it for the whole module and is
stopped at the end. The tests compare its answers (Seldon v1, through ``requests``, the
project's client and seldon-core's ``SeldonClient``; and the Open Inference Protocol v2)
with the in-process Pipeline, send bad requests and check the server keeps answering, and
read health, metadata and metrics. A multiclass and a regression bundle (the example tables)
are served by processes of their own. The first tests drive the pieces in-process: the
settings, :class:`~serving.served_model.ServedModel`, the Seldon protocol functions and the
ASGI app.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families
from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.metadata import validate_model_metadata
from seldon_core.seldon_client import SeldonClient
from seldon_core.utils import json_to_seldon_message, seldon_message_to_json
from sklearn.linear_model import LogisticRegression, Ridge

from serving.app import ServingApp
from serving.bundle import BundleError, read_bundle_meta, save_bundle
from serving.client import PredictionError, predict, wait_until_ready
from serving.metrics import ServingMetrics
from serving.protocols import seldon
from serving.request_schema import RequestError
from serving.settings import load_settings
from tabular_ml.configuration.schema import TrainingParameters
from tabular_ml.data.cleaning import clean_frame
from tabular_ml.modelling.model import build_model
from tabular_ml.tasks.target import resolve_target
from tests.integration.example_tables import EXAMPLES, example_table
from tests.support.paths import PROJECT_ROOT
from tests.support.processes import free_port, port_is_free
from tests.support.servers import ModelServer
from tests.support.serving_model import (
    fit_pipeline,
    ndarray_request,
    records_request,
    save_test_bundle,
    served_model,
)

pytestmark = pytest.mark.integration

MODEL_NAME = "churn_classifier"
MODEL_VERSION = "v3-test"
THRESHOLD = 0.5
# Seldon's label set on every custom metric (empty outside a Seldon pod)
SELDON_LABELS = {"deployment_name", "predictor_name", "model_name", "model_image", "model_version"}


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
def bundle_dir(tmp_path_factory, pipeline, params, telco) -> Path:
    folder = tmp_path_factory.mktemp("bundle")
    holdout = telco.iloc[5000:5500]
    return save_test_bundle(
        folder, pipeline, params, MODEL_VERSION, threshold=THRESHOLD, reference_rows=holdout
    )


def labels_for(probabilities) -> list[str]:
    return ["Yes" if p >= THRESHOLD else "No" for p in probabilities]


def body_p(body: dict) -> list[float]:
    return [p for _, p in body["data"]["ndarray"]]


# ---------------------------------------------------------------------- in-process


def samples(metrics: ServingMetrics, name: str) -> list[tuple[dict, float]]:
    """(labels, value) of each sample called ``name`` in a single-process registry."""
    return [
        (dict(sample.labels), sample.value)
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == name
    ]


def asgi_session(app: ServingApp, calls):
    """Run ``calls(client)`` against the app between its lifespan's startup and shutdown
    (``app.served`` preset: the startup only reports it loaded); the lifespan messages sent."""

    async def run():
        inbox: asyncio.Queue = asyncio.Queue()
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        lifespan = asyncio.create_task(app({"type": "lifespan"}, inbox.get, send))
        before = await calls(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://model")
        )
        await inbox.put({"type": "lifespan.startup"})
        while not sent:
            await asyncio.sleep(0.01)
        after = None
        if sent[-1]["type"] == "lifespan.startup.complete":
            after = await calls(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://model")
            )
            await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(lifespan, 10)
        return before, after, [message["type"] for message in sent]

    return asyncio.run(run())


def test_the_app_answers_503_until_the_model_is_loaded_and_predicts_after(
    clean_env, bundle_dir, rows, expected
):
    app = ServingApp(load_settings(model_dir=bundle_dir))

    async def calls(client: httpx.AsyncClient) -> list[httpx.Response]:
        async with client:
            return [
                await client.get("/health/status"),
                await client.get("/health/ping"),
                await client.post("/api/v1.0/predictions", json=ndarray_request(rows)),
            ]

    before, after, lifespan = asgi_session(app, calls)
    assert lifespan == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    for answer in before:
        assert answer.status_code == 503
        assert answer.json()["status"]["reason"] == "MODEL_NOT_LOADED"
    status, ping, prediction = after
    assert status.json()["jsonData"] == {
        "status": "ok",
        "model_name": MODEL_NAME,
        "model_version": MODEL_VERSION,
    }
    assert (ping.status_code, ping.text) == (200, "pong")
    body = prediction.json()
    assert body["data"]["names"] == ["prediction", "probability"]
    np.testing.assert_allclose(body_p(body), expected, rtol=0, atol=1e-9)
    assert [label for label, _ in body["data"]["ndarray"]] == labels_for(expected)
    assert body["meta"]["tags"] == {"model_name": MODEL_NAME, "model_version": MODEL_VERSION}
    counts = {labels["class"]: value for labels, value in samples(app.metrics, "predicted_class_total")}
    want = {"Yes": int(sum(expected >= THRESHOLD)), "No": int(sum(expected < THRESHOLD))}
    assert counts == {label: n for label, n in want.items() if n}  # classes never predicted are left out


def test_a_missing_bundle_fails_the_startup_with_one_line(clean_env, tmp_path):
    with pytest.raises(BundleError, match=r"^model bundle directory .*nothing does not exist$"):
        served_model(tmp_path / "nothing")
    app = ServingApp(load_settings(model_dir=tmp_path / "nothing"))

    async def calls(client: httpx.AsyncClient) -> int:
        async with client:
            return (await client.get("/health/status")).status_code

    before, after, lifespan = asgi_session(app, calls)
    assert (before, after, lifespan) == (503, None, ["lifespan.startup.failed"])
    assert app.served is None


def test_served_model_answers_and_counts_what_the_pipeline_says(clean_env, bundle_dir, pipeline, rows):
    served = served_model(bundle_dir)
    assert served.scorer.path == "compiled"
    frame = rows.iloc[2:5].reset_index(drop=True)
    frame.loc[0, "contract"] = "Three year"  # not in the contract: ignored by the encoder, counted
    prediction = served.predict(ndarray_request(frame), "caller-7")
    assert prediction.request_id == "caller-7"
    body = seldon.answer_body(served.meta, prediction)
    np.testing.assert_allclose(body_p(body), pipeline.predict_proba(frame)[:, 1], rtol=0, atol=1e-9)
    assert body["meta"] == {
        "puid": "caller-7",
        "tags": {"model_name": MODEL_NAME, "model_version": MODEL_VERSION},
    }
    unknown = samples(served.metrics, "unknown_category_total")
    seldon_labels = dict.fromkeys(SELDON_LABELS, "")
    assert unknown == [({**seldon_labels, "column": "contract", "served_model_version": MODEL_VERSION}, 1.0)]
    # the answer is a SeldonMessage seldon-core itself reads
    message = seldon_message_to_json(json_to_seldon_message(body))
    assert message["data"]["names"] == ["prediction", "probability"]
    assert message["data"]["ndarray"] == body["data"]["ndarray"]
    assert message["meta"]["puid"] == "caller-7"


def test_bad_requests_raise_what_the_seldon_protocol_answers(clean_env, bundle_dir, rows):
    served = served_model(bundle_dir)
    with pytest.raises(RequestError, match=r"^data\.names: missing column\(s\) \['tenure'\]$") as info:
        served.predict(ndarray_request(rows.drop(columns="tenure")))
    assert info.value.field == "data.names"
    # the error answer is seldon-core's, as its own exception writes it
    assert (
        seldon.error_body(str(info.value), seldon.BAD_REQUEST)
        == SeldonMicroserviceException(str(info.value), reason="BAD_REQUEST").to_dict()
    )
    assert seldon.error_body("x", seldon.BAD_DATA) == SeldonMicroserviceException("x").to_dict()


def test_metadata_is_valid_seldon_metadata(bundle_dir, params):
    meta = validate_model_metadata(seldon.metadata_body(read_bundle_meta(bundle_dir)))
    assert meta["name"] == MODEL_NAME and meta["versions"] == [MODEL_VERSION]
    assert meta["inputs"][0] == {"messagetype": "ndarray", "schema": {"names": params.contract.feature_names}}
    assert meta["outputs"] == [{"messagetype": "ndarray", "schema": {"names": ["prediction", "probability"]}}]
    assert json.loads(meta["custom"]["feature_kinds"])["tenure"] == "numeric"
    assert meta["custom"]["threshold"] == str(THRESHOLD)


# ---------------------------------------------------------------------- processes that do not start


def exit_code(server: ModelServer) -> int:
    try:
        return server.process.wait(timeout=60)
    finally:
        server.kill()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_server_without_its_bundle_exits_3_naming_it(tmp_path, workers):
    server = ModelServer(tmp_path / "nothing", tmp_path / "server.log", env={"SERVING_WORKERS": str(workers)})
    assert exit_code(server) == 3, server.log_tail()
    assert f"Cannot serve the bundle in {tmp_path / 'nothing'}: model bundle directory" in server.log_tail()
    assert port_is_free(server.http_port) and port_is_free(server.metrics_port)


def test_a_bad_setting_stops_the_server_before_it_binds_a_port(bundle_dir, tmp_path):
    server = ModelServer(
        bundle_dir, tmp_path / "server.log", env={"SERVING_CONTRACT_VIOLATIONS": "ignore"}, binds=True
    )
    assert exit_code(server) == 2
    assert server.log_tail().startswith("error: SERVING_CONTRACT_VIOLATIONS='ignore': ")
    assert port_is_free(server.http_port) and port_is_free(server.metrics_port)


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


def start(bundle: Path, log: Path, env: dict[str, str] | None = None, binds: bool = False) -> ModelServer:
    server = ModelServer(bundle, log, env=env, binds=binds)
    try:
        server.wait_ready()
    except RuntimeError as exc:
        server.kill()
        pytest.fail(str(exc))
    return server


def stop(server: ModelServer) -> None:
    server.stop()
    assert server.process.poll() is not None, "the server process is still running"
    assert port_is_free(server.http_port), "the HTTP port is still taken"
    assert port_is_free(server.metrics_port), "the metrics port is still taken"


@pytest.fixture(scope="module")
def server(bundle_dir, tmp_path_factory):
    running = start(bundle_dir, tmp_path_factory.mktemp("server") / "server.log")
    yield running
    stop(running)


def scrape(server: ModelServer) -> dict[tuple[str, frozenset], float]:
    """Every sample on the metrics port: (name, labels) -> value."""
    text = requests.get(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def values(scraped: dict, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(
        value for (sample, found), value in scraped.items() if sample == name and set(labels.items()) <= found
    )


def test_the_server_binds_serving_host_only(bundle_dir, tmp_path):
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs /proc/net/tcp (Linux)")
    server = start(bundle_dir, tmp_path / "server.log", binds=True)
    try:
        # SERVING_HOST=127.0.0.1: both ports listen there and nowhere else
        assert listening_addresses(server.http_port) == {"127.0.0.1"}
        assert listening_addresses(server.metrics_port) == {"127.0.0.1"}
        assert requests.get(f"{server.base_url}/health/ping", timeout=5).text == "pong"
    finally:
        stop(server)


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
    assert requests.get(f"{server.base_url}/api/v1.0/metadata", timeout=5).json() == answer.json()


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


def test_every_seldon_path_and_request_form_gets_the_same_answer(server, rows, expected):
    request = {**ndarray_request(rows.head(3)), "meta": {"puid": "client-id-1"}}
    text = json.dumps(request)
    answers = [
        requests.post(f"{server.base_url}{path}", json=request, timeout=10)
        for path in ("/api/v1.0/predictions", "/api/v0.1/predictions", "/predict")
    ]
    answers.append(requests.post(server.predictions, data={"json": text}, timeout=10))  # a form field
    answers.append(requests.post(server.predictions, params={"json": text}, timeout=10))  # a query field
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert body_p(answer.json()) == pytest.approx(expected[:3].tolist(), abs=1e-9)
        assert answer.json()["meta"]["puid"] == "client-id-1"  # the caller's id is kept


def test_single_json_record(server, rows, expected):
    record = records_request(rows.iloc[[5]])["jsonData"][0]
    answer = requests.post(server.predictions, json={"jsonData": record}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert body_p(answer.json()) == pytest.approx([expected[5]], abs=1e-9)


def bad_requests(rows: pd.DataFrame) -> dict[str, tuple[dict | str, str, str]]:
    good = ndarray_request(rows.head(2))
    wrong_type = json.loads(json.dumps(good))
    wrong_type["data"]["ndarray"][1][good["data"]["names"].index("tenure")] = "twelve"
    unknown = ndarray_request(rows.head(2).assign(colour="red"))
    huge = {"data": {"names": good["data"]["names"], "ndarray": good["data"]["ndarray"][:1] * 100_000}}
    return {
        "malformed JSON": (
            '{"data": {"names": ["tenure"], ',
            "the request is not valid JSON",
            seldon.BAD_DATA,
        ),
        "missing column": (
            ndarray_request(rows.head(2).drop(columns="tenure")),
            "data.names: missing column(s) ['tenure']",
            seldon.BAD_REQUEST,
        ),
        "unknown column": (unknown, "data.names: unknown column(s) ['colour']", seldon.BAD_REQUEST),
        "wrong type": (
            wrong_type,
            "column 'tenure' (numeric) needs numbers or null; row 1 holds text 'twelve'",
            seldon.BAD_REQUEST,
        ),
        "zero rows": (
            {"data": {"names": good["data"]["names"], "ndarray": []}},
            "data.ndarray has 0 rows: send at least one row",
            seldon.BAD_REQUEST,
        ),
        "over the maximum": (
            huge,
            "data.ndarray has 100000 rows, more than the maximum of 10000 per request (SERVING_MAX_ROWS)",
            seldon.BAD_REQUEST,
        ),
        "no data": ({"meta": {}}, "the request has no data", seldon.BAD_REQUEST),
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
    body, message, reason = bad_requests(rows)[case]
    data = body if isinstance(body, str) else json.dumps(body)
    answer = requests.post(
        server.predictions, data=data, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert answer.status_code == 400, (answer.status_code, answer.text[:500])
    status = answer.json()["status"]
    assert message in status["info"]
    assert (status["status"], status["code"], status["reason"]) == (1, -1, reason)
    good = requests.post(server.predictions, json=ndarray_request(rows.head(3)), timeout=10)
    assert good.status_code == 200
    assert body_p(good.json()) == pytest.approx(expected[:3].tolist(), abs=1e-9)


def test_http_errors_keep_their_status(server, rows):
    body = json.dumps(ndarray_request(rows.head(1)))
    no_content_type = requests.post(server.predictions, data=body, timeout=5)
    assert no_content_type.status_code == 415
    assert "application/json" in no_content_type.json()["status"]["info"]
    wrong_method = requests.get(server.predictions, timeout=5)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["status"]["info"] == "GET is not allowed here: use POST"
    assert requests.get(f"{server.base_url}/no/such/path", timeout=5).status_code == 404


def test_prometheus_metrics(server, rows):
    before = scrape(server)
    frame = rows.head(4)
    request = ndarray_request(frame)
    request["data"]["ndarray"][0][request["data"]["names"].index("contract")] = "Three year"
    answer = requests.post(server.predictions, json=request, timeout=10)
    assert answer.status_code == 200
    labels = [label for label, _ in answer.json()["data"]["ndarray"]]
    requests.get(server.predictions, timeout=5)  # a 405
    after = scrape(server)  # counted as they happen: no flush interval to wait for

    def added(name: str, **labels: str) -> float:
        return values(after, name, **labels) - values(before, name, **labels)

    for label in ("Yes", "No"):
        assert added("predicted_class_total", **{"class": label}) == labels.count(label)
    assert added("unknown_category_total", column="contract") == 1
    assert added("contract_violation_total") == 0
    assert added("seldon_api_executor_server_requests_seconds_count", service="predictions", code="200") == 1
    assert added("seldon_api_executor_server_requests_seconds_count", service="predictions", code="405") == 1

    custom = [
        labels for (name, labels) in after if name in ("predicted_class_total", "unknown_category_total")
    ]
    assert custom
    for found in custom:
        found = dict(found)
        assert SELDON_LABELS <= set(found), found  # Seldon's label set, for Seldon's dashboards
        assert found["served_model_version"] == MODEL_VERSION
    assert values(after, "scoring_path", path="compiled", served_model_version=MODEL_VERSION) == 1
    # the path Seldon's operator scrapes
    prometheus = requests.get(f"http://127.0.0.1:{server.metrics_port}/prometheus", timeout=5)
    assert prometheus.status_code == 200 and "predicted_class_total{" in prometheus.text


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


def test_seldon_client_as_the_deployment_guide_shows_it(server, rows, expected):
    """docs/guides/deployment.md's SeldonClient example: ndarray from ``df.to_numpy(dtype=object)``,
    and json_data."""
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


# ---------------------------------------------------------------------- Open Inference Protocol v2


def column_tensors(frame: pd.DataFrame, kinds: dict[str, str]) -> list[dict]:
    """One tensor per column, as MLServer's pandas codec sends them (text as BYTES)."""
    tensors = []
    for name in frame.columns:
        values = frame[name].astype(object).where(frame[name].notna(), None).tolist()
        datatype = "BYTES" if kinds[name] == "categorical" else "FP64"
        tensors.append({"name": name, "datatype": datatype, "shape": [len(values)], "data": values})
    return tensors


def test_oip_infer_with_column_tensors_equals_the_pipeline(server, params, rows, expected):
    kinds = {name: spec.kind for name, spec in params.contract.columns.items()}
    request = {"id": "oip-1", "inputs": column_tensors(rows, kinds)}
    for path in (f"/v2/models/{MODEL_NAME}/infer", f"/v2/models/{MODEL_NAME}/versions/{MODEL_VERSION}/infer"):
        answer = requests.post(f"{server.base_url}{path}", json=request, timeout=10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["model_name"], body["model_version"], body["id"]) == (MODEL_NAME, MODEL_VERSION, "oip-1")
        outputs = {output["name"]: output for output in body["outputs"]}
        assert list(outputs) == ["prediction", "probability"]
        assert outputs["prediction"]["datatype"] == "BYTES" and outputs["probability"]["datatype"] == "FP64"
        assert outputs["probability"]["shape"] == outputs["prediction"]["shape"] == [len(rows)]
        np.testing.assert_allclose(outputs["probability"]["data"], expected, rtol=0, atol=1e-9)
        assert outputs["prediction"]["data"] == labels_for(expected)


def test_oip_errors_are_4xx_with_an_error_text(server, params, rows):
    kinds = {name: spec.kind for name, spec in params.contract.columns.items()}
    tensors = column_tensors(rows.head(2), kinds)
    cases = {
        f"/v2/models/{MODEL_NAME}/infer": ({"inputs": tensors[1:]}, 400, "missing column(s) ['"),
        f"/v2/models/{MODEL_NAME}/versions/v0/infer": ({"inputs": tensors}, 404, "is not served here"),
        "/v2/models/other_model/infer": ({"inputs": tensors}, 404, "is not served here"),
    }
    for path, (body, status, message) in cases.items():
        answer = requests.post(f"{server.base_url}{path}", json=body, timeout=10)
        assert answer.status_code == status, (path, answer.text)
        assert message in answer.json()["error"]
    not_json = requests.post(f"{server.base_url}/v2/models/{MODEL_NAME}/infer", data="{", timeout=5)
    assert not_json.status_code == 400 and not_json.json()["error"].startswith(
        "the request is not valid JSON"
    )


def test_oip_metadata_health_and_readiness(server, params):
    base = server.base_url
    metadata = requests.get(f"{base}/v2/models/{MODEL_NAME}", timeout=5).json()
    assert (metadata["name"], metadata["versions"], metadata["platform"]) == (
        MODEL_NAME,
        [MODEL_VERSION],
        "sklearn",
    )
    inputs = {tensor["name"]: tensor for tensor in metadata["inputs"]}
    assert list(inputs) == params.contract.feature_names
    assert inputs["tenure"] == {"name": "tenure", "datatype": "FP64", "shape": [-1]}
    assert inputs["contract"]["datatype"] == "BYTES"
    assert [(o["name"], o["datatype"]) for o in metadata["outputs"]] == [
        ("prediction", "BYTES"),
        ("probability", "FP64"),
    ]
    assert metadata["parameters"] == {"task": "binary", "target": "churn", "classes": ["No", "Yes"]}
    versioned = requests.get(f"{base}/v2/models/{MODEL_NAME}/versions/{MODEL_VERSION}", timeout=5).json()
    assert versioned == metadata
    assert requests.get(f"{base}/v2/models/{MODEL_NAME}/ready", timeout=5).json() == {
        "name": MODEL_NAME,
        "ready": True,
    }
    assert requests.get(f"{base}/v2/health/live", timeout=5).json() == {"live": True}
    assert requests.get(f"{base}/v2/health/ready", timeout=5).json() == {"ready": True}
    assert requests.get(f"{base}/v2", timeout=5).json()["extensions"] == []


# ---------------------------------------------------------------------- multiclass and regression


def example_bundle(task: str, folder: Path):
    """The example table's config Pipeline fitted on every other row, saved as a bundle; the
    Pipeline, and the other rows (cleaned as training cleans them)."""
    spec = EXAMPLES[task]
    config = yaml.safe_load((PROJECT_ROOT / spec["config"]).read_text())
    params = TrainingParameters.model_validate(config["parameters"])
    contract = params.contract
    frame, _ = clean_frame(example_table(task), params.cleaning, contract)
    target = resolve_target(
        frame[contract.target], contract.target, params.task, contract.classes, contract.positive_class
    )
    assert target.task == task
    estimator = LogisticRegression(max_iter=2000) if task == "multiclass" else Ridge(alpha=1.0)
    features = contract.feature_names
    train, unseen = frame.iloc[::2], frame.iloc[1::2][features].reset_index(drop=True)
    pipeline = build_model(contract, params.preprocessing, params.features, estimator)
    pipeline.fit(train[features], target.encode(train[contract.target]))
    save_bundle(
        folder, pipeline, contract, f"{task}_model", "7", target=target, reference_rows=train[features]
    )
    return pipeline, target, unseen


@pytest.fixture(scope="module", params=["multiclass", "regression"])
def example_server(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    pipeline, target, unseen = example_bundle(request.param, folder / "bundle")
    running = start(folder / "bundle", folder / "server.log")
    yield request.param, running, pipeline, target, unseen
    stop(running)


def test_multiclass_and_regression_bundles_answer_what_the_pipeline_answers(example_server):
    task, server, pipeline, target, unseen = example_server
    answer = requests.post(server.predictions, json=ndarray_request(unseen), timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    if task == "multiclass":
        probabilities = pipeline.predict_proba(unseen)
        assert body["data"]["names"] == ["prediction", *(f"probability_{c}" for c in target.classes)]
        got = np.array([row[1:] for row in body["data"]["ndarray"]], dtype=float)
        np.testing.assert_allclose(got, probabilities, rtol=0, atol=1e-9)
        assert [row[0] for row in body["data"]["ndarray"]] == [
            target.classes[i] for i in probabilities.argmax(axis=1)
        ]
    else:
        assert body["data"]["names"] == ["prediction"]
        got = np.array([row[0] for row in body["data"]["ndarray"]], dtype=float)
        np.testing.assert_allclose(got, pipeline.predict(unseen), rtol=0, atol=1e-9)
    assert body["meta"]["tags"] == {"model_name": f"{task}_model", "model_version": "7"}

    # the same rows as OIP column tensors (every feature is numeric)
    tensors = [
        {"name": name, "datatype": "FP64", "shape": [len(unseen)], "data": unseen[name].tolist()}
        for name in unseen.columns
    ]
    oip = requests.post(
        f"{server.base_url}/v2/models/{task}_model/infer", json={"inputs": tensors}, timeout=10
    )
    assert oip.status_code == 200, oip.text
    outputs = {output["name"]: output["data"] for output in oip.json()["outputs"]}
    assert list(outputs) == body["data"]["names"]
    for position, name in enumerate(body["data"]["names"]):
        assert outputs[name] == [row[position] for row in body["data"]["ndarray"]]

    scraped = scrape(server)
    assert values(scraped, "scoring_path", path="compiled", served_model_version="7") == 1
    assert "Scoring with the compiled path" in server.log.read_text()
    if task == "multiclass":
        counted = {
            dict(labels)["class"]: value
            for (name, labels), value in scraped.items()
            if name == "predicted_class_total"
        }
        want = pd.Series([row[0] for row in body["data"]["ndarray"]]).value_counts().to_dict()
        assert counted == {label: 2.0 * n for label, n in want.items()}  # the Seldon and the OIP request

"""The project's gunicorn worker (serving/fast_worker.py) in real servers: answers, protocol, limits, stops.

Three ``seldon-core-microservice`` processes serve one bundle for the module (started at once),
each with a 1 s read timeout and a 100 kB body limit:

- ``close``: the project's worker as the local deployer runs it (``--keepalive 0``);
- ``keepalive``: the same with ``--keepalive 2`` (as the image runs on Kubernetes) and
  gunicorn's access log;
- ``stock``: ``close`` on gunicorn's own worker (``SERVING_FAST_WORKER=off``): the reference
  the project's worker must answer exactly like.

Two tests start a server of their own: SIGTERM with requests in flight, and ``--max-requests``;
one runs the worker under plain gunicorn with a WSGI app of its own (the connection cap).
Raw requests go through sockets (tests/http_wire.py); answers are parsed with httptools.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from serving.fast_worker import WORKER_CLASS
from tests.conftest import PROJECT_ROOT
from tests.http_wire import connect, post_request, read_answers, send_and_read
from tests.microservice import Microservice
from tests.processes import free_port, wait_for
from tests.serving_model import (
    fit_pipeline,
    ndarray_request,
    records_request,
    save_test_bundle,
)

pytestmark = pytest.mark.integration

PREDICTIONS = "/api/v1.0/predictions"
BODY_LIMIT = 100_000
SETTINGS = {"SERVING_READ_TIMEOUT_S": "1", "SERVING_MAX_BODY_BYTES": str(BODY_LIMIT)}
STOCK = {**SETTINGS, "SERVING_FAST_WORKER": "off"}
CLOSE = ["--keepalive", "0", "--threads", "4"]
KEEPALIVE = ["--keepalive", "2", "--threads", "4"]


@pytest.fixture(scope="module")
def rows(params, telco) -> pd.DataFrame:
    return telco.iloc[1000:1020][params.contract.feature_names].reset_index(drop=True)


@pytest.fixture(scope="module")
def pipeline(params, telco):
    return fit_pipeline(params, telco.iloc[:600])


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory, pipeline, params, telco):
    folder = tmp_path_factory.mktemp("bundle")
    return save_test_bundle(folder, pipeline, params, "worker-test", reference_rows=telco.iloc[2000:2300])


@pytest.fixture(scope="module")
def servers(bundle_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("servers")
    started = {
        "close": Microservice(bundle_dir, folder / "close.log", env=SETTINGS, args=CLOSE),
        "keepalive": Microservice(
            bundle_dir, folder / "keepalive.log", env=SETTINGS, args=[*KEEPALIVE, "--access-log"]
        ),
        "stock": Microservice(bundle_dir, folder / "stock.log", env=STOCK, args=CLOSE),
    }
    try:
        for server in started.values():
            server.wait_ready()
    except RuntimeError as exc:
        for server in started.values():
            server.stop()
        pytest.fail(str(exc))
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture(scope="module")
def close(servers) -> Microservice:
    return servers["close"]


@pytest.fixture(scope="module")
def keepalive(servers) -> Microservice:
    return servers["keepalive"]


@pytest.fixture(scope="module")
def stock(servers) -> Microservice:
    return servers["stock"]


def row_body(rows: pd.DataFrame, i: int) -> bytes:
    return json.dumps(ndarray_request(rows.iloc[[i]])).encode()


def probability(answer_body: bytes | dict) -> float:
    body = json.loads(answer_body) if isinstance(answer_body, bytes) else answer_body
    return body["data"]["ndarray"][0][1]


def expected_probability(pipeline, rows: pd.DataFrame, i: int) -> float:
    return float(pipeline.predict_proba(rows.iloc[[i]])[0, 1])


def assert_still_serving(server: Microservice, pipeline, rows: pd.DataFrame) -> None:
    answer = requests.post(
        server.predictions, data=row_body(rows, 3), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    assert probability(answer.content) == pytest.approx(expected_probability(pipeline, rows, 3), abs=1e-9)


def info(answer) -> str:
    return answer.json()["status"]["info"]


# ---------------------------------------------------------------------- which worker, same answers


def test_each_server_runs_the_worker_its_environment_asks_for(close, keepalive, stock):
    for server, mode in ((close, "one request per connection"), (keepalive, "keep-alive 2 s")):
        log = server.log.read_text()
        assert "Using worker: serving.fast_worker.FastWorker" in log
        assert f"Fast worker: predictions answered without Flask, {mode}" in log
    log = stock.log.read_text()
    assert "Using worker: gthread" in log and "FastWorker" not in log


def _cases(rows: pd.DataFrame) -> list[tuple[str, str, bytes | None, dict[str, str]]]:
    json_type = {"Content-Type": "application/json"}
    one = row_body(rows, 0)
    deep = json.dumps(ndarray_request(rows.iloc[[0]])).replace('"Month-to-month"', "[" * 3000 + "]" * 3000)
    bad = ndarray_request(rows.iloc[[0]])
    bad["data"]["names"][0] = "no_such_column"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    return [
        ("POST", PREDICTIONS, one, json_type),
        ("POST", "/api/v0.1/predictions", json.dumps(records_request(rows.head(3))).encode(), json_type),
        ("POST", PREDICTIONS, one, {"Content-Type": "application/json; charset=utf-8"}),
        ("POST", PREDICTIONS, json.dumps(bad).encode(), json_type),
        ("POST", PREDICTIONS, b"{not json", json_type),
        ("POST", PREDICTIONS, b"", json_type),
        ("POST", PREDICTIONS, b'"x"', json_type),
        ("POST", PREDICTIONS, b"null", json_type),
        ("POST", PREDICTIONS, deep.encode(), json_type),
        ("POST", PREDICTIONS, b"{" + b" " * (BODY_LIMIT + 10) + b"}", json_type),
        ("POST", PREDICTIONS, one, {"Content-Type": "text/plain"}),
        ("POST", PREDICTIONS, one, {**json_type, "Origin": "http://example.com"}),
        ("POST", PREDICTIONS, b"json=" + requests.utils.quote(one).encode(), form),
        ("POST", PREDICTIONS + "?json=" + requests.utils.quote(one), b"", {}),
        ("GET", PREDICTIONS, None, {}),
        ("GET", "/health/status", None, {}),
        ("GET", "/health/ping", None, {}),
        ("HEAD", "/health/ping", None, {}),
        ("GET", "/api/v1.0/metadata", None, {}),
        ("GET", "/no/such/path", None, {}),
        ("POST", "/api/v1.0/feedback", b"{}", json_type),
    ]


def test_every_answer_is_the_one_gunicorns_worker_gives(close, stock, rows):
    """Status, headers (but the date) and body, byte for byte, for predictions answered without
    Flask and for everything handed to Flask."""
    for method, path, body, headers in _cases(rows):
        got, want = (
            requests.request(method, f"{server.base_url}{path}", data=body, headers=headers, timeout=30)
            for server in (close, stock)
        )
        case = f"{method} {path} {headers} {(body or b'')[:60]!r}"
        assert got.status_code == want.status_code, (case, got.text[:300], want.text[:300])
        assert got.status_code < 500, case
        assert got.content == want.content, case
        got_headers, want_headers = (
            {k.lower(): v for k, v in a.headers.items() if k.lower() != "date"} for a in (got, want)
        )
        assert got_headers == want_headers, case


def test_predictions_equal_the_pipeline_on_both_workers(close, stock, pipeline, rows):
    expected = pipeline.predict_proba(rows)[:, 1]
    for server in (close, stock):
        answer = requests.post(server.predictions, json=ndarray_request(rows), timeout=30)
        assert answer.status_code == 200, answer.text
        got = [p for _, p in answer.json()["data"]["ndarray"]]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


# ---------------------------------------------------------------------- connections


def test_without_keep_alive_one_request_per_connection(close, pipeline, rows):
    first, second = (post_request(PREDICTIONS, row_body(rows, i)) for i in (0, 1))
    answers, closed = send_and_read(close.http_port, first + second, count=None)
    assert closed and len(answers) == 1, "only the first request is answered, then the connection closes"
    assert answers[0].status == 200 and answers[0].headers["connection"] == "close"
    assert probability(answers[0].body) == pytest.approx(expected_probability(pipeline, rows, 0), abs=1e-9)


def test_keep_alive_answers_pipelined_requests_in_order_then_closes_when_idle(keepalive, pipeline, rows):
    requests_sent = [post_request(PREDICTIONS, row_body(rows, i)) for i in (0, 1, 2)]
    requests_sent.insert(2, b"GET /health/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    with connect(keepalive.http_port) as sock:
        sock.sendall(b"".join(requests_sent))
        answers, closed = read_answers(sock, count=4)
        assert not closed and [a.status for a in answers] == [200, 200, 200, 200]
        assert all(a.headers["connection"] == "keep-alive" for a in answers)
        assert answers[2].body == b"pong"
        got = [probability(answers[i].body) for i in (0, 1, 3)]
        want = [expected_probability(pipeline, rows, i) for i in (0, 1, 2)]
        assert got == pytest.approx(want, abs=1e-9)
        sock.sendall(post_request(PREDICTIONS, row_body(rows, 5)))  # the same connection, later
        (again,), _ = read_answers(sock, count=1)
        assert probability(again.body) == pytest.approx(expected_probability(pipeline, rows, 5), abs=1e-9)
        idle_from = time.monotonic()
        answers, closed = read_answers(sock, count=None, timeout=10)
        idle = time.monotonic() - idle_from
    assert closed and answers == []
    assert 1.5 < idle < 6, f"an idle keep-alive connection closes after --keepalive 2 s (took {idle:.1f} s)"


def test_a_client_asking_to_close_gets_connection_close(keepalive, rows):
    request = post_request(PREDICTIONS, row_body(rows, 0), "Connection: close")
    answers, closed = send_and_read(keepalive.http_port, request, count=None)
    assert closed and [a.headers["connection"] for a in answers] == ["close"]


def test_expect_100_continue_gets_its_interim_answer(close, rows):
    body = row_body(rows, 0)
    head = post_request(PREDICTIONS, body, "Expect: 100-continue")[: -len(body)]
    with connect(close.http_port) as sock:
        sock.sendall(head)
        assert sock.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answers, closed = read_answers(sock, count=None)
    assert closed and [a.status for a in answers] == [200]


# ---------------------------------------------------------------------- bad bytes


POST = b"POST /api/v1.0/predictions HTTP/1.1\r\n"
MALFORMED = {
    "not HTTP": b"\x00\xff\x13 hello\r\n\r\n",
    "unknown HTTP version": b"GET /health/ping HTTP/9.9\r\n\r\n",
    "header line without a colon": b"GET /health/ping HTTP/1.1\r\nNo Colon Here\r\n\r\n",
    "space before the colon": b"GET /health/ping HTTP/1.1\r\nHost : x\r\n\r\n",
    "Content-Length that is not a number": POST + b"Content-Length: 1x\r\n\r\n",
    "Content-Length and chunked at once": POST
    + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bad chunk size": POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
    "bare LF line ends": b"GET /health/ping HTTP/1.1\nHost: x\n\n",
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_requests_get_a_json_400_and_the_connection_closes(close, pipeline, rows, case):
    answers, closed = send_and_read(close.http_port, MALFORMED[case], count=None)
    assert closed and [a.status for a in answers] == [400], case
    assert info(answers[0]).startswith("malformed HTTP request: "), answers[0].body
    assert_still_serving(close, pipeline, rows)


@pytest.mark.parametrize(
    ("request_bytes", "status", "message"),
    [
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n", 414, "the request target is longer than 4,094 bytes"),
        (
            b"GET /health/ping HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(101)) + b"\r\n",
            431,
            "the request has more than 100 header fields",
        ),
        (
            b"GET /health/ping HTTP/1.1\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
            431,
            "a request header field is longer than 8,190 bytes",
        ),
        (
            b"GET /health/ping HTTP/1.1\r\n"
            + b"".join(b"X-%d: %s\r\n" % (i, b"c" * 5000) for i in range(20)),
            431,
            "the request head is larger than 65,536 bytes",
        ),
    ],
    ids=["request line", "header count", "header field", "whole head"],
)
def test_oversize_request_heads_are_refused(close, pipeline, rows, request_bytes, status, message):
    answers, closed = send_and_read(close.http_port, request_bytes, count=None)
    assert closed and [a.status for a in answers] == [status]
    assert info(answers[0]) == message
    assert_still_serving(close, pipeline, rows)


def test_random_bytes_never_get_a_5xx_and_the_server_keeps_serving(close, pipeline, rows):
    """Random bytes, randomly damaged requests, requests followed by random bytes; the client
    half-closes, so an incomplete request is answered at once (a 400), not after the read timeout."""
    generator = random.Random(9)
    valid = post_request(PREDICTIONS, row_body(rows, 0))

    def noise(most: int) -> bytes:
        return bytes(generator.randrange(256) for _ in range(generator.randrange(1, most)))

    statuses = []
    for i in range(150):
        if i % 3 == 0:
            data = noise(400)
        elif i % 3 == 1:
            damaged = bytearray(valid)
            for _ in range(generator.randrange(1, 6)):
                damaged[generator.randrange(len(damaged))] = generator.randrange(256)
            data = bytes(damaged[: generator.randrange(1, len(damaged) + 1)])
        else:
            data = valid + noise(200)  # answered; what follows it is dropped with the connection
        with connect(close.http_port) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            answers, closed = read_answers(sock, count=None, timeout=10)
        assert closed, f"case {i} left the connection open: {data[:80]!r}"
        assert all(a.status < 500 for a in answers), (i, data[:80], [a.body for a in answers])
        statuses += [a.status for a in answers]
    assert statuses.count(200) == 50 and 400 in statuses
    assert_still_serving(close, pipeline, rows)
    assert "Traceback" not in close.log.read_text()


# ---------------------------------------------------------------------- slow clients and bodies


def test_a_body_shorter_than_its_length_gets_a_408_and_blocks_no_one(close, pipeline, rows):
    request = post_request(PREDICTIONS, row_body(rows, 0))
    with connect(close.http_port) as stalled:
        stalled.sendall(request[:-25])
        started = time.monotonic()
        assert_still_serving(close, pipeline, rows)  # meanwhile, on another connection
        assert time.monotonic() - started < 1.0, "a stalled client does not hold the worker"
        answers, closed = read_answers(stalled, count=None, timeout=10)
        waited = time.monotonic() - started
    assert closed and [a.status for a in answers] == [408]
    assert info(answers[0]) == "the request was not complete within 1 s"
    assert 0.8 < waited < 5


def test_a_silent_connection_is_closed_after_the_read_timeout(close):
    with connect(close.http_port) as sock:
        started = time.monotonic()
        answers, closed = read_answers(sock, count=None, timeout=10)
    assert closed and answers == []
    assert 0.8 < time.monotonic() - started < 5


def test_chunked_bodies_are_read_and_limited(close, pipeline, rows):
    body = row_body(rows, 4)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:100], body[100:300], body[300:]))
    head = POST + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    answers, closed = send_and_read(close.http_port, head + chunks + b"0\r\n\r\n", count=None)
    assert closed and [a.status for a in answers] == [200]
    assert probability(answers[0].body) == pytest.approx(expected_probability(pipeline, rows, 4), abs=1e-9)
    big = b"".join(b"2710\r\n" + b" " * 10_000 + b"\r\n" for _ in range(15))  # 150 kB of chunks
    with connect(close.http_port) as sock:
        sock.sendall(head)
        try:
            sock.sendall(big + b"0\r\n\r\n")
        except OSError:
            pass  # the server may have answered and closed already
        answers, _ = read_answers(sock, count=1)
    assert [a.status for a in answers] == [413]
    assert "larger than 100,000 bytes" in info(answers[0])
    assert_still_serving(close, pipeline, rows)


# ---------------------------------------------------------------------- metrics


def test_fast_route_predictions_reach_the_metrics_port(keepalive, rows):
    def counted(lines: list[str]) -> float:
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("predicted_class_total{")
        )

    before = counted(keepalive.metrics(until=lambda lines: True))
    session = requests.Session()  # keep-alive: the requests share connections
    for i in range(12):
        answer = session.post(
            keepalive.predictions, data=row_body(rows, i), headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 200
    session.close()
    lines = keepalive.metrics(until=lambda lines: counted(lines) >= before + 12)
    assert counted(lines) == before + 12
    assert any(line.startswith("scoring_path{") and 'path="fast"' in line for line in lines)


def test_answers_go_to_gunicorns_access_log_when_it_is_on(keepalive, rows):
    headers = {"Content-Type": "application/json", "User-Agent": "access-log-test/1"}
    assert requests.post(keepalive.predictions, data=row_body(rows, 0), headers=headers).status_code == 200
    assert requests.get(f"{keepalive.base_url}/health/ping", headers=headers).status_code == 200
    expected = [
        '"POST /api/v1.0/predictions HTTP/1.1" 200 ',
        '"GET /health/ping HTTP/1.1" 200 4 "-" "access-log-test/1"',
    ]
    assert wait_for(lambda: all(line in keepalive.log.read_text() for line in expected), 5), (
        keepalive.log_tail()
    )


# ---------------------------------------------------------------------- gunicorn's duties


def test_sigterm_answers_the_requests_in_flight_then_exits(bundle_dir, tmp_path, pipeline, rows):
    """Requests half sent, a connection accepted but still silent, an idle keep-alive connection:
    after SIGTERM to the server's leader (what the supervisor sends) each gets its answer, with
    ``Connection: close``, and the whole process group exits."""
    server = Microservice(bundle_dir, tmp_path / "server.log", env=SETTINGS, args=KEEPALIVE)
    try:
        server.wait_ready()
        halves = []
        for i in range(3):
            sock = connect(server.http_port)
            request = post_request(PREDICTIONS, row_body(rows, i))
            sock.sendall(request[:-40])
            halves.append((sock, request[-40:]))
        idle = connect(server.http_port)
        idle.sendall(post_request(PREDICTIONS, row_body(rows, 3)))
        (first,), _ = read_answers(idle, count=1)
        assert first.headers["connection"] == "keep-alive"
        silent = connect(server.http_port)
        time.sleep(0.3)  # the worker has accepted them all
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        silent.sendall(post_request(PREDICTIONS, row_body(rows, 4)))
        for sock, rest in halves:
            sock.sendall(rest)
        for i, (sock, _) in enumerate(halves):
            answers, closed = read_answers(sock, count=None)
            assert closed and [a.status for a in answers] == [200]
            assert answers[0].headers["connection"] == "close"
            assert probability(answers[0].body) == pytest.approx(
                expected_probability(pipeline, rows, i), abs=1e-9
            )
        answers, closed = read_answers(silent, count=None)
        assert closed and [a.status for a in answers] == [200]
        assert probability(answers[0].body) == pytest.approx(
            expected_probability(pipeline, rows, 4), abs=1e-9
        )
        idle.sendall(post_request(PREDICTIONS, row_body(rows, 5)))  # within its idle time: answered
        answers, closed = read_answers(idle, count=None, timeout=10)
        assert closed and [a.status for a in answers] == [200]
        assert answers[0].headers["connection"] == "close"
        assert probability(answers[0].body) == pytest.approx(
            expected_probability(pipeline, rows, 5), abs=1e-9
        )
        assert wait_for(lambda: not server.group_alive(), 20), server.log_tail()
        assert "Traceback" not in server.log.read_text()
    finally:
        server.kill()


def test_max_requests_restarts_the_worker_and_loses_no_request(bundle_dir, tmp_path, pipeline, rows):
    server = Microservice(
        bundle_dir, tmp_path / "server.log", env=SETTINGS, args=[*CLOSE, "--max-requests", "4"]
    )
    try:
        server.wait_ready()
        for i in range(10):
            answer = requests.post(
                server.predictions,
                data=row_body(rows, i),
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
            assert answer.status_code == 200, answer.text
            assert probability(answer.content) == pytest.approx(
                expected_probability(pipeline, rows, i), abs=1e-9
            )
        log = server.log.read_text()
        assert log.count("Autorestarting worker after current request.") >= 2
        assert log.count("Booting worker with pid") >= 3 + 1  # REST workers, plus the metrics server's
    finally:
        server.stop()


def test_a_bad_read_timeout_stops_the_server_with_its_name(bundle_dir, tmp_path):
    server = Microservice(bundle_dir, tmp_path / "server.log", env={"SERVING_READ_TIMEOUT_S": "soon"})
    try:
        assert server.process.wait(timeout=120) != 0
        assert "SERVING_READ_TIMEOUT_S='soon' must be a positive number (seconds)" in server.log.read_text()
        assert "Worker failed to boot" in server.log.read_text()
    finally:
        server.kill()


# ---------------------------------------------------------------------- the worker on its own


def test_at_worker_connections_it_stops_accepting_until_one_ends(tmp_path):
    """Plain gunicorn with the worker and a WSGI app of its own (every request goes to the app):
    with ``--worker-connections 2`` held by two silent clients, a third connection waits in the
    kernel's queue until the read timeout (1 s) has closed them, then is answered."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVING_")}
    env.update(PYTHONPATH=str(PROJECT_ROOT), SERVING_READ_TIMEOUT_S="1")
    command = [str(Path(sys.executable).with_name("gunicorn")), "-k", WORKER_CLASS, "-w", "1"]
    command += ["--worker-connections", "2", "-b", f"127.0.0.1:{port}", "tests.wsgi_echo:app"]
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        assert wait_for(lambda: _answers(port), 60), log.read_text()[-3000:]
        time.sleep(0.5)  # the readiness check's connection is gone
        silent = [connect(port), connect(port)]
        time.sleep(0.2)
        started = time.monotonic()
        (answer,), _ = send_and_read(port, b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", count=1)
        waited = time.monotonic() - started
        assert (answer.status, answer.body) == (200, b"POST /echo 3")
        assert 0.4 < waited < 5, f"answered after {waited:.2f} s"
        for sock in silent:
            assert read_answers(sock, count=None, timeout=5) == ([], True)
            sock.close()
        assert "accepting no more until one ends" in log.read_text()
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/ready", timeout=2).text == "GET /ready 0"
    except requests.RequestException:
        return False

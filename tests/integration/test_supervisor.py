"""The local serving supervisor, run for real without ZenML: swaps, a failed swap, crashes, stop.

``python -m flavors.local_seldon.supervisor`` owns a loopback port and runs real model
servers (``python -m serving``) behind it; requests are sent in a bounded loop while
versions are swapped, and every answer is counted.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml
from sklearn.linear_model import LogisticRegression

from flavors.local_seldon.supervisor import (
    ACTIVE_FILE,
    TARGET_FILE,
    Supervisor,
    SwapFailed,
    listening_socket,
    request_swap,
)
from serving.bundle import save_bundle
from tabular_ml.configuration.schema import TrainingParameters
from tabular_ml.modelling.model import build_model, encode_target
from tests.support.paths import PROJECT_ROOT
from tests.support.processes import free_port, group_alive, port_is_free, wait_for

pytestmark = pytest.mark.integration

TELCO = PROJECT_ROOT / "data/raw/telco_churn.csv"


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    """Bundles of versions 1 and 2 (different models) and a "3" whose model file is corrupt."""
    folder = tmp_path_factory.mktemp("bundles")
    params = TrainingParameters.model_validate(
        yaml.safe_load((PROJECT_ROOT / "configs/training.yaml").read_text())["parameters"]
    )
    train = pd.read_csv(TELCO).iloc[:600]
    paths = {}
    for version, c in (("1", 0.01), ("2", 1.0), ("3", 1.0)):
        model = build_model(
            params.contract, params.preprocessing, params.features, LogisticRegression(C=c, max_iter=500)
        )
        model.fit(train[params.contract.feature_names], encode_target(train["churn"], params.contract))
        paths[version] = folder / f"v{version}"
        save_bundle(paths[version], model, params.contract, "churn", version, threshold=0.5)
    (paths["3"] / "model.joblib").write_bytes(b"not a model")
    return paths


@pytest.fixture
def supervisor(bundles, tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "flavors.local_seldon.supervisor", "--port", str(port)]
        + ["--state-dir", str(tmp_path), "--bundle", str(bundles["1"]), "--version", "1"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "log", "w"),  # noqa: SIM115 - closed with the process
    )
    assert wait_for(lambda: active(tmp_path).get("outcome") == "started", 90), (tmp_path / "log").read_text()[
        -3000:
    ]
    yield process, port, tmp_path
    if process.poll() is None:
        process.kill()
        process.wait()


def active(state: Path) -> dict:
    try:
        return json.loads((state / ACTIVE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def switch(state: Path, bundle: Path, version: str) -> dict:
    """Ask the supervisor to serve ``bundle`` and wait for its answer."""
    request = {
        "bundle_dir": str(bundle),
        "model_version": version,
        "request_id": f"r-{version}-{time.time()}",
    }
    (state / TARGET_FILE).write_text(json.dumps(request))
    os.kill(active(state)["supervisor_pid"], signal.SIGHUP)
    assert wait_for(lambda: active(state).get("request_id") == request["request_id"], 90)
    return active(state)


def served_version(port: int) -> str:
    row = pd.read_csv(TELCO).drop(columns="churn").iloc[[0]]
    body = {"jsonData": json.loads(row.to_json(orient="records"))}
    response = requests.post(f"http://127.0.0.1:{port}/api/v1.0/predictions", json=body, timeout=10)
    return response.json()["meta"]["tags"]["model_version"]


class Load:
    """Predictions in a loop (new connection each, and keep-alive sessions), bounded in time."""

    def __init__(self, port: int, seconds: float = 120) -> None:
        self.port, self.deadline = port, time.monotonic() + seconds
        self.versions: dict[str, int] = {}
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(keep,)) for keep in (False, True)]

    def run(self, keep_alive: bool) -> None:
        session = requests.Session() if keep_alive else requests
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            try:
                version = served_version(self.port) if not keep_alive else self.post(session)
                self.versions[version] = self.versions.get(version, 0) + 1
            except Exception as error:
                self.failures.append(repr(error)[:200])

    def post(self, session) -> str:
        row = pd.read_csv(TELCO, nrows=1).drop(columns="churn")
        body = {"jsonData": json.loads(row.to_json(orient="records"))}
        response = session.post(f"http://127.0.0.1:{self.port}/api/v1.0/predictions", json=body, timeout=10)
        response.raise_for_status()
        return response.json()["meta"]["tags"]["model_version"]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(0.5)
        self.stop.set()
        for thread in self.threads:
            thread.join()


def test_swaps_under_load_lose_no_request_and_a_failed_swap_keeps_the_old_version(supervisor, bundles):
    process, port, state = supervisor
    first_server = active(state)["server_pid"]
    with Load(port) as load:
        time.sleep(1)
        assert switch(state, bundles["2"], "2")["outcome"] == "swapped"
        failed = switch(state, bundles["3"], "3")
        assert failed["outcome"] == "failed" and "exited" in failed["error"]
        assert failed["model_version"] == "2"
        assert switch(state, bundles["1"], "1")["outcome"] == "swapped"
    assert load.failures == [], load.failures[:5]
    assert set(load.versions) == {"1", "2"} and sum(load.versions.values()) > 50
    assert not group_alive(first_server), "a replaced server's processes must all be gone"
    assert served_version(port) == "1"


def test_a_garbage_swap_request_leaves_the_old_server_serving(supervisor, bundles):
    process, port, state = supervisor
    server = active(state)["server_pid"]
    for garbage, error in (("{not json", "Expecting property name"), ('["a list"]', "'list' object")):
        (state / TARGET_FILE).write_text(garbage)
        os.kill(process.pid, signal.SIGHUP)
        assert wait_for(lambda error=error: error in (active(state).get("error") or ""), 30), active(state)
        report = active(state)
        assert report["outcome"] == "failed" and report["error"].startswith(f"unreadable {TARGET_FILE}: ")
        assert (report["server_pid"], report["model_version"]) == (server, "1")
        assert process.poll() is None, "the supervisor died of a swap request"
        assert served_version(port) == "1"
    assert switch(state, bundles["1"], "1")["outcome"] == "unchanged"  # and it still takes requests


def test_two_swap_requests_at_once_take_turns(supervisor, bundles):
    """Two deployments asking at once: each gets its own outcome (without the lock the second
    target overwrote the first before the supervisor read it, and the first waited in vain)."""
    process, port, state = supervisor
    outcomes: dict[str, str] = {}
    errors: list[str] = []

    def ask(version: str) -> None:
        try:
            outcomes[version] = request_swap(state, process.pid, str(bundles[version]), version, timeout=90)
        except SwapFailed as exc:
            errors.append(str(exc))

    with Load(port) as load:
        threads = [threading.Thread(target=ask, args=(version,)) for version in ("2", "1")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert set(outcomes) == {"1", "2"} and outcomes["2"] == "swapped", outcomes
    last = active(state)["model_version"]
    assert served_version(port) == last
    assert outcomes["1"] == ("swapped" if last == "1" else "unchanged")
    assert load.failures == [], load.failures[:5]


def test_a_stop_lets_a_request_in_flight_finish(supervisor):
    """A request whose body arrives slowly, over 2 s, while the supervisor stops its server
    (SIGTERM: uvicorn stops accepting and finishes the requests in flight) is answered 200."""
    process, port, state = supervisor
    row = pd.read_csv(TELCO, nrows=1).drop(columns="churn")
    body = json.dumps({"jsonData": json.loads(row.to_json(orient="records"))}).encode()
    pieces = [body[i : i + len(body) // 10 + 1] for i in range(0, len(body), len(body) // 10 + 1)]
    head = (
        f"POST /api/v1.0/predictions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(head + pieces[0])
        time.sleep(0.3)  # the server has read the request line and headers: the request is in flight
        process.send_signal(signal.SIGTERM)
        shutting_down = False
        for piece in pieces[1:]:
            time.sleep(0.2)
            connection.sendall(piece)
            shutting_down = shutting_down or "Shutting down" in (state / "log").read_text()
        assert shutting_down, "the server was not told to stop while the body arrived"
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK", answer[:500]
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["meta"]["tags"]["model_version"] == "1"
    assert process.wait(timeout=30) == 0
    assert port_is_free(port)


def test_the_same_version_is_not_restarted(supervisor, bundles):
    _, port, state = supervisor
    server = active(state)["server_pid"]
    assert switch(state, bundles["1"], "1")["outcome"] == "unchanged"
    assert active(state)["server_pid"] == server


def test_a_killed_server_is_replaced_and_leaves_no_orphans(supervisor):
    _, port, state = supervisor
    server = active(state)["server_pid"]
    os.kill(server, signal.SIGKILL)
    assert wait_for(lambda: active(state).get("outcome") == "restarted", 90), (state / "log").read_text()[
        -3000:
    ]
    assert wait_for(lambda: not group_alive(server), 10), "the killed server's workers and metrics server"
    assert served_version(port) == "1"


def test_a_server_that_keeps_dying_makes_the_supervisor_give_up_and_say_so(bundles, tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "flavors.local_seldon.supervisor", "--port", str(port), "--max-restarts", "2"]
        + ["--state-dir", str(tmp_path), "--bundle", str(bundles["1"]), "--version", "1"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "log", "w"),  # noqa: SIM115 - closed with the process
    )
    try:
        log = lambda: (tmp_path / "log").read_text()[-3000:]  # noqa: E731
        assert wait_for(lambda: active(tmp_path).get("outcome") == "started", 90), log()
        killed = []
        for crash in range(3):  # two are restarted; the third, within a minute, is one too many
            server = active(tmp_path)["server_pid"]
            os.kill(server, signal.SIGKILL)
            killed.append(server)
            if crash < 2:
                assert wait_for(
                    lambda s=server: (
                        active(tmp_path).get("outcome") == "restarted"
                        and active(tmp_path)["server_pid"] not in (s, None)
                    ),
                    90,
                ), log()
                assert served_version(port) == "1"
        assert process.wait(timeout=30) == 4, log()
        state = active(tmp_path)
        assert (
            state["outcome"] == "gave up" and state["server_pid"] is None and state["model_version"] is None
        )
        assert state["error"] == "the server died 3 times within 60 s; giving up"
        assert port_is_free(port) and not any(map(group_alive, killed))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sigterm_stops_everything_and_frees_the_port(supervisor):
    process, port, state = supervisor
    server = active(state)["server_pid"]
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert time.monotonic() - started < 10
    assert port_is_free(port) and not group_alive(server)


def test_killing_the_supervisor_takes_its_servers_down(supervisor):
    process, port, state = supervisor
    server = active(state)["server_pid"]
    process.kill()
    process.wait()
    assert wait_for(lambda: port_is_free(port) and not group_alive(server), 15)


def test_a_fixed_metrics_port_survives_a_swap(bundles, tmp_path):
    """With --metrics-port the supervisor owns the metrics socket: each new server answers on it."""
    port, metrics_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "flavors.local_seldon.supervisor", "--port", str(port)]
        + ["--metrics-port", str(metrics_port), "--state-dir", str(tmp_path)]
        + ["--bundle", str(bundles["1"]), "--version", "1"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "log", "w"),  # noqa: SIM115 - closed with the process
    )

    def counted(version: str) -> bool:
        text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        return any(
            line.startswith("predicted_class_total{") and f'served_model_version="{version}"' in line
            for line in text.splitlines()
        )

    try:
        started = wait_for(lambda: active(tmp_path).get("outcome") == "started", 90)
        assert started, (tmp_path / "log").read_text()[-3000:]
        assert served_version(port) == "1"
        assert wait_for(lambda: counted("1"), 10)
        assert switch(tmp_path, bundles["2"], "2")["outcome"] == "swapped"
        assert served_version(port) == "2"
        assert wait_for(lambda: counted("2") and not counted("1"), 10)  # the new server's own metrics
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert port_is_free(port) and port_is_free(metrics_port)


def test_the_ports_are_closed_before_the_supervisor_returns(tmp_path):
    """ZenML takes a daemon for stopped once its exit handler removed the PID file, which runs
    after ``run`` returns: the ports must be closed by then, not when the process ends."""
    public, metrics = listening_socket("127.0.0.1", 0), listening_socket("127.0.0.1", 0)
    ports = public.getsockname()[1], metrics.getsockname()[1]
    fails_to_start = Supervisor(
        public,
        [sys.executable, "-c", "raise SystemExit(1)"],
        tmp_path,
        dict(os.environ),
        metrics=metrics,
    )
    assert fails_to_start.run(str(tmp_path), "1") == 3
    assert all(port_is_free(port) for port in ports)
    assert json.loads((tmp_path / ACTIVE_FILE).read_text())["outcome"] == "failed"

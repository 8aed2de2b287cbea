"""The request log of real model server processes (and of the local supervisor).

Servers (``python -m serving``, two workers) run on loopback with ``SERVING_REQUEST_LOG_DIR``
set; the rows read back with ``read_request_log`` are compared with what was sent and
answered. The first tests drive :class:`~serving.served_model.ServedModel` in-process, as the
app calls it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from sklearn.linear_model import LogisticRegression

from flavors.local_seldon.supervisor import ACTIVE_FILE, STOP_MARGIN_S, TARGET_FILE
from serving.bundle import save_bundle
from serving.metrics import ServingMetrics
from serving.protocols import seldon
from serving.request_log import LOG_COLUMNS, SHADOW_COLUMNS, read_request_log
from serving.served_model import ServedModel
from serving.settings import SettingsError, load_settings
from tabular_ml.modelling.model import build_model, encode_target
from tests.support.paths import PROJECT_ROOT
from tests.support.processes import free_port, port_is_free, wait_for
from tests.support.servers import ModelServer
from tests.support.serving_model import served_model

pytestmark = pytest.mark.integration


FILE_PID = re.compile(r"^requests-\d{8}T\d{12}Z-(\d+)-")


# ---------------------------------------------------------------------- models and requests


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, params, telco) -> dict[str, Path]:
    """Bundles of versions "1" and "2" (different regularisation: different probabilities)."""
    folder = tmp_path_factory.mktemp("bundles")
    train = telco.iloc[:500]
    paths = {}
    for version, c in (("1", 0.05), ("2", 1.0)):
        model = build_model(
            params.contract, params.preprocessing, params.features, LogisticRegression(C=c, max_iter=500)
        )
        model.fit(train[params.contract.feature_names], encode_target(train["churn"], params.contract))
        paths[version] = save_bundle(folder / f"v{version}", model, params.contract, "churn", version)
    return paths


@pytest.fixture(scope="module")
def rows(params, telco) -> pd.DataFrame:
    """Unseen rows, the first two with a missing ``total_charges``, plus an unknown category."""
    missing = telco[telco["total_charges"].isna()].head(2)
    frame = pd.concat([missing, telco.iloc[600:660]])[params.contract.feature_names].reset_index(drop=True)
    frame.loc[3, "contract"] = "Three year"
    return frame


def as_json(frame: pd.DataFrame) -> list[list]:
    return frame.astype(object).where(frame.notna(), None).to_numpy().tolist()


def ndarray_body(frame: pd.DataFrame, puid: str | None = None) -> dict:
    body: dict = {"data": {"names": list(frame.columns), "ndarray": as_json(frame)}}
    if puid:
        body["meta"] = {"puid": puid}
    return body


def records_body(frame: pd.DataFrame) -> dict:
    return {"jsonData": frame.astype(object).where(frame.notna(), None).to_dict(orient="records")}


def assert_features_equal(logged: pd.DataFrame, sent: pd.DataFrame) -> None:
    """Logged features are the sent ones as the schema parsed them: floats, and text or NaN."""
    for name in sent.columns:
        if sent[name].dtype == object:
            assert logged[name].fillna("<null>").tolist() == sent[name].fillna("<null>").tolist(), name
        else:
            np.testing.assert_array_equal(logged[name].to_numpy(), sent[name].to_numpy(dtype=float), name)


# ---------------------------------------------------------------------- in-process


def counted(served: ServedModel, name: str) -> dict[str, float]:
    """``name``'s samples in the model's registry: served_model_version -> value."""
    return {
        sample.labels["served_model_version"]: sample.value
        for family in served.metrics.registry.collect()
        for sample in family.samples
        if sample.name == name
    }


def test_in_process_rows_go_to_the_log_with_the_answer(clean_env, tmp_path, bundles, rows):
    served = served_model(bundles["1"], request_log_dir=tmp_path)
    try:
        answer = seldon.answer_body(served.meta, served.predict(ndarray_body(rows.head(3)), "caller-7"))
        assert counted(served, "request_log_rows_total") == {"1": 3}
        records = seldon.answer_body(served.meta, served.predict(records_body(rows.iloc[[3]])))
    finally:
        served.close()
    assert answer["meta"]["puid"] == "caller-7"
    assert re.fullmatch(r"[0-9a-f]{32}", records["meta"]["puid"])
    assert counted(served, "request_log_rows_total") == {"1": 4}
    assert counted(served, "request_log_dropped_rows_total") == {}
    log = read_request_log(tmp_path)
    assert len(log) == 4
    assert_features_equal(log, rows.head(4))
    assert log["contract"][3] == "Three year"  # unknown categories are logged as received
    assert log["request_id"].tolist() == ["caller-7"] * 3 + [records["meta"]["puid"]]
    answered = answer["data"]["ndarray"] + records["data"]["ndarray"]
    assert log["prediction"].tolist() == [label for label, _ in answered]
    assert log["probability"].tolist() == [p for _, p in answered]
    assert set(log["model_version"]) == {"1"}


def test_in_process_log_is_off_without_a_directory_and_bad_settings_stop_the_load(
    clean_env, tmp_path, bundles, rows
):
    served = served_model(bundles["1"])
    served.predict(ndarray_body(rows.head(1)))
    assert served.request_log is None
    assert counted(served, "request_log_rows_total") == {}
    assert counted(served, "predicted_class_total")  # the answer was counted, not logged

    clean_env.setenv("SERVING_REQUEST_LOG_DIR", str(tmp_path))
    clean_env.setenv("SERVING_REQUEST_LOG_FLUSH_S", "soon")
    with pytest.raises(SettingsError, match=r"^SERVING_REQUEST_LOG_FLUSH_S='soon': "):
        load_settings()
    clean_env.delenv("SERVING_REQUEST_LOG_FLUSH_S")
    clean_env.setenv("SERVING_REQUEST_LOG_HASHED_COLUMNS", "contract")  # without a key
    with pytest.raises(ValueError, match=r"^hashed_columns \['contract'\] need a hash_key"):
        ServedModel.load(load_settings(model_dir=bundles["1"]), ServingMetrics(environ={}))
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- real servers


def start_server(
    bundle: Path, log_dir: Path, folder: Path, workers: int = 1, flush_s: float = 60
) -> ModelServer:
    env = {
        "SERVING_REQUEST_LOG_DIR": str(log_dir),
        "SERVING_REQUEST_LOG_FLUSH_S": str(flush_s),
        "SERVING_WORKERS": str(workers),
    }
    server = ModelServer(bundle, folder / "server.log", env=env)
    try:
        return server.wait_ready(timeout_s=90)
    except RuntimeError as exc:
        server.kill()
        pytest.fail(str(exc))


def post(url: str, body: dict) -> dict:
    answer = requests.post(url, json=body, timeout=30)
    assert answer.status_code == 200, answer.text[:500]
    return answer.json()


def log_pids(folder: Path) -> set[int]:
    return {int(FILE_PID.match(path.name).group(1)) for path in folder.glob("requests-*.parquet")}


def test_two_workers_log_every_answered_row_once(tmp_path, bundles, rows):
    log_dir = tmp_path / "log"
    server = start_server(bundles["1"], log_dir, tmp_path, workers=2, flush_s=0.5)
    try:
        started = pd.Timestamp.now(tz="UTC")
        sent: dict[str, pd.DataFrame] = {}
        answers: dict[str, dict] = {}

        def one(i: int) -> None:
            frame = rows.iloc[[i % len(rows)]] if i % 3 else rows.iloc[i % 50 : i % 50 + 4]
            body = ndarray_body(frame, puid=f"req-{i}") if i % 2 else records_body(frame)
            answer = post(server.predictions, body)
            sent[answer["meta"]["puid"]] = frame
            answers[answer["meta"]["puid"]] = answer

        with ThreadPoolExecutor(8) as pool:  # rounds until both workers have written
            n = 0
            while n < 2000 and len(log_pids(log_dir)) < 2:
                list(pool.map(one, range(n, n + 80)))
                n += 80
                wait_for(lambda: len(log_pids(log_dir)) == 2, 1.5)
        total = sum(len(frame) for frame in sent.values())
        assert wait_for(lambda: len(read_request_log(log_dir)) >= total, 10)
        time.sleep(1.0)  # and nothing more arrives
        log = read_request_log(log_dir)
        assert len(log) == total and log["request_id"].nunique() == len(sent)
        workers = {
            int(pid) for pid in subprocess.check_output(["pgrep", "-P", str(server.process.pid)]).split()
        }
        assert len(log_pids(log_dir)) == 2 and log_pids(log_dir) <= workers

        assert list(log.columns) == list(rows.columns) + LOG_COLUMNS + SHADOW_COLUMNS
        assert set(log["model_version"]) == {"1"}
        assert log["logged_at"].between(started, pd.Timestamp.now(tz="UTC")).all()
        for request_id, group in log.groupby("request_id", sort=False):
            frame, answer = sent[request_id], answers[request_id]
            assert_features_equal(group, frame)
            assert group["prediction"].tolist() == [label for label, _ in answer["data"]["ndarray"]]
            assert group["probability"].tolist() == [p for _, p in answer["data"]["ndarray"]]
            assert answer["meta"]["tags"]["model_version"] == "1"
        assert {f"req-{i}" for i in range(1, n, 2)} <= set(log["request_id"])  # the callers' puids

        def rows_counted(lines: list[str]) -> float:
            return sum(float(x.rsplit(" ", 1)[1]) for x in lines if x.startswith("request_log_rows_total{"))

        # Every row, summed over both workers (PROMETHEUS_MULTIPROC_DIR, see serving.metrics).
        lines = server.metrics(until=lambda lines: rows_counted(lines) >= total)
        assert rows_counted(lines) == total
        assert not any(line.startswith("request_log_dropped_rows_total{") for line in lines)
    finally:
        server.kill()


def test_sigterm_writes_the_rows_answered_just_before(tmp_path, bundles, rows):
    """SIGTERM to the server (what the supervisor sends) writes what the workers still hold."""
    log_dir = tmp_path / "log"
    server = start_server(bundles["2"], log_dir, tmp_path, workers=2, flush_s=60)
    try:
        post(server.predictions, ndarray_body(rows.head(1)))
        time.sleep(0.5)  # within the flush interval: nothing on disk yet
        assert list(log_dir.glob("requests-*.parquet")) == []
        ids = [
            post(server.predictions, ndarray_body(rows.iloc[i : i + 2]))["meta"]["puid"] for i in range(20)
        ]
        stopping = time.monotonic()
        server.process.send_signal(signal.SIGTERM)  # the leader only, as Server.stop does
        assert wait_for(lambda: not server.group_alive(), 30), server.log_tail()
        stopped_in = time.monotonic() - stopping
        log = read_request_log(log_dir)
        assert len(log) == 41 and set(ids) <= set(log["request_id"])
        # nothing in flight: the server stops at once, well before the supervisor's SIGKILL (its
        # graceful period plus STOP_MARGIN_S)
        assert stopped_in < STOP_MARGIN_S, f"the server took {stopped_in:.1f}s"
        assert "Request log closed" in server.log_tail()
        assert not list(log_dir.glob(".*.tmp"))
    finally:
        server.kill()


# ---------------------------------------------------------------------- the supervisor


def test_a_blue_green_swap_and_the_supervisor_stop_lose_no_logged_row(tmp_path, bundles, rows):
    log_dir, state = tmp_path / "log", tmp_path / "state"
    state.mkdir()
    port = free_port()
    env = {**os.environ, "SERVING_REQUEST_LOG_DIR": str(log_dir), "SERVING_REQUEST_LOG_FLUSH_S": "60"}
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "flavors.local_seldon.supervisor", "--port", str(port), "--workers", "2"]
        + ["--state-dir", str(state), "--bundle", str(bundles["1"]), "--version", "1"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "supervisor.log", "w"),  # noqa: SIM115 - closed with the process
    )

    def active() -> dict:
        try:
            return json.loads((state / ACTIVE_FILE).read_text())
        except (OSError, ValueError):
            return {}

    url = f"http://127.0.0.1:{port}/api/v1.0/predictions"
    versions: dict[str, str] = {}
    failures: list[str] = []
    stop = threading.Event()

    def load() -> None:  # answers keep coming during the swap
        i = 0
        while not stop.is_set():
            try:
                answer = post(url, ndarray_body(rows.iloc[[i % len(rows)]]))
            except Exception as error:
                failures.append(repr(error)[:300])
                continue
            versions[answer["meta"]["puid"]] = answer["meta"]["tags"]["model_version"]
            i += 1

    try:
        assert wait_for(lambda: active().get("outcome") == "started", 90), (
            tmp_path / "supervisor.log"
        ).read_text()
        traffic = threading.Thread(target=load)
        traffic.start()
        time.sleep(1)
        request = {"bundle_dir": str(bundles["2"]), "model_version": "2", "request_id": "swap-1"}
        (state / TARGET_FILE).write_text(json.dumps(request))
        os.kill(supervisor.pid, signal.SIGHUP)
        assert wait_for(lambda: active().get("request_id") == "swap-1", 90)
        assert active()["outcome"] == "swapped"
        time.sleep(1)
        stop.set()
        traffic.join()
        assert failures == []
        old_rows = read_request_log(log_dir)  # the old server wrote its queue when it was stopped
        answered_by_1 = {puid for puid, version in versions.items() if version == "1"}
        assert answered_by_1 and set(old_rows["request_id"]) == answered_by_1
        assert set(old_rows["model_version"]) == {"1"}

        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
        log = read_request_log(log_dir)
        assert dict(zip(log["request_id"], log["model_version"], strict=True)) == versions
        assert len(log) == len(versions) and {"1", "2"} == set(versions.values())
        assert len(log_pids(log_dir)) >= 2  # old and new servers' workers, one directory
        assert port_is_free(port)
    finally:
        stop.set()
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()

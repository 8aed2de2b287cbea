"""The local serving supervisor's bad days: its server killed, itself killed (also mid-swap), a full disk.

What must hold afterwards, for each: production answers again (restarted by the supervisor, or
by starting the supervisor again, as ``python run.py serve`` does through ZenML), no orphaned
server holds the public port, and ``active.json`` is a complete JSON that says what is served.

Real processes: ``python -m flavors.local_seldon.supervisor`` with real model servers
(``python -m serving``) on a loopback port, killed with SIGKILL. The full disk is a 64 KiB
tmpfs under the state directory (needs root to mount; skipped otherwise).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import psutil
import pytest
import requests
from sklearn.linear_model import LogisticRegression

from flavors.local_seldon.supervisor import ACTIVE_FILE, SWAP_LOCK_FILE, TARGET_FILE, SwapFailed, request_swap
from tests.support.paths import PROJECT_ROOT, TELCO_CSV
from tests.support.processes import free_port, group_alive, listeners, port_is_free, wait_for
from tests.support.serving_model import fit_pipeline, save_test_bundle, training_params
from tests.support.small_disk import fill, small_tmpfs

pytestmark = pytest.mark.integration

START_S = 90  # a server's imports on a busy 2-core machine


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    """Bundles of versions 1 and 2 (different models)."""
    folder = tmp_path_factory.mktemp("bundles")
    params = training_params()
    train = pd.read_csv(TELCO_CSV).iloc[:600]
    paths = {}
    for version, c in (("1", 0.01), ("2", 1.0)):
        paths[version] = folder / f"v{version}"
        model = fit_pipeline(params, train, LogisticRegression(C=c, max_iter=500))
        save_test_bundle(paths[version], model, params, version, threshold=0.5)
    return paths


class Production:
    """A supervisor serving a bundle on a fixed port; started again on the same port after a kill."""

    def __init__(self, state: Path, log: Path, port: int, bundle: Path, workers: int) -> None:
        self.state, self.log, self.port, self.bundle, self.workers = state, log, port, bundle, workers
        self.process: subprocess.Popen | None = None

    def start(self) -> Production:
        command = [sys.executable, "-m", "flavors.local_seldon.supervisor", "--port", str(self.port)]
        command += ["--state-dir", str(self.state), "--bundle", str(self.bundle), "--version", "1"]
        command += ["--workers", str(self.workers)]
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=log)
        started = wait_for(
            lambda: (
                self.active().get("supervisor_pid") == self.process.pid
                and self.active().get("outcome") == "started"
            ),
            START_S,
        )
        assert started, self.log.read_text()[-3000:]
        return self

    def active(self) -> dict:
        try:
            return json.loads((self.state / ACTIVE_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def served_version(self) -> str:
        row = pd.read_csv(TELCO_CSV, nrows=1).drop(columns="churn")
        body = {"jsonData": json.loads(row.to_json(orient="records"))}
        answer = requests.post(f"http://127.0.0.1:{self.port}/api/v1.0/predictions", json=body, timeout=10)
        return answer.json()["meta"]["tags"]["model_version"]

    def server_pids(self) -> list[int]:
        """The processes of the server now in ``active.json`` (its process group)."""
        group = self.active()["server_pid"]
        return [p.pid for p in psutil.process_iter() if _pgid(p.pid) == group]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


@pytest.fixture
def production(bundles, tmp_path):
    serving = Production(tmp_path / "state", tmp_path / "log", free_port(), bundles["1"], workers=2)
    serving.state.mkdir()
    yield serving
    serving.stop()


def test_a_killed_server_worker_is_replaced_by_a_whole_new_server(production):
    production.start()
    old_group = production.active()["server_pid"]
    workers = production.server_pids()
    assert len(workers) >= 2  # two workers (plus any process of theirs)
    os.kill(workers[-1], signal.SIGKILL)  # one worker, as the OOM killer would pick it
    assert wait_for(lambda: production.active().get("outcome") == "restarted", START_S), (
        production.log.read_text()[-3000:]
    )
    assert wait_for(lambda: not group_alive(old_group), 10), "the killed server's other worker"
    assert production.active()["server_pid"] != old_group
    assert production.active()["model_version"] == "1"
    assert production.served_version() == "1"
    assert production.process.poll() is None


@pytest.mark.parametrize("also_the_server", [False, True], ids=["supervisor", "supervisor-and-server"])
def test_a_killed_supervisor_frees_the_port_and_a_new_start_serves_again(production, also_the_server):
    production.start()
    group = production.active()["server_pid"]
    if also_the_server:
        os.killpg(group, signal.SIGKILL)
    production.process.kill()
    production.process.wait()
    # Its servers die with it (PR_SET_PDEATHSIG): nothing is left answering, nothing holds the port.
    assert wait_for(lambda: port_is_free(production.port) and not group_alive(group), 15), listeners(
        production.port
    )
    # The state file still names the dead supervisor: whole JSON, not a torn one.
    assert production.active()["model_version"] == "1"
    production.start()  # what `python run.py serve` does through the deployer: the same port again
    assert production.served_version() == "1"
    assert production.active()["supervisor_pid"] == production.process.pid


def test_a_supervisor_killed_mid_swap_leaves_no_server_and_a_whole_state_file(production, bundles):
    """Killed after the new server started and before the old one stopped: both go with it."""
    production.start()
    old_group = production.active()["server_pid"]
    request = {"bundle_dir": str(bundles["2"]), "model_version": "2", "request_id": "mid-swap"}
    (production.state / TARGET_FILE).write_text(json.dumps(request))
    os.kill(production.process.pid, signal.SIGHUP)
    supervisor = psutil.Process(production.process.pid)

    def new_server_started() -> bool:
        return any(_pgid(child.pid) not in (old_group, None) for child in supervisor.children())

    assert wait_for(new_server_started, 30), production.log.read_text()[-3000:]
    groups = {_pgid(child.pid) for child in supervisor.children()} - {None}
    production.process.kill()
    production.process.wait()
    assert wait_for(lambda: port_is_free(production.port) and not any(map(group_alive, groups)), 15), (
        listeners(production.port)
    )
    state = production.active()  # the old complete JSON (or the swap's pre-flight record): never torn
    assert state["model_version"] == "1" and state.get("request_id") != "mid-swap"
    production.start()
    assert production.served_version() == "1"


def test_a_full_state_disk_refuses_the_swap_and_keeps_the_old_server_and_state(bundles, tmp_path):
    with small_tmpfs(tmp_path / "state", "64k") as state:
        serving = Production(state, tmp_path / "log", free_port(), bundles["1"], workers=1)
        try:
            serving.start()
            before = (state / ACTIVE_FILE).read_bytes()
            supervisor = serving.process.pid

            # The disk is full before the request: the caller cannot even write it.
            filler = fill(state)
            with pytest.raises(SwapFailed, match="No space left on device.*version 1 keeps serving"):
                request_swap(state, supervisor, str(bundles["2"]), "2", timeout=30)
            assert (state / ACTIVE_FILE).read_bytes() == before
            assert serving.served_version() == "1"

            # The disk fills between the request and the swap: the supervisor refuses it, since it
            # could not record the outcome, and keeps serving version 1 with its state whole.
            filler.unlink()
            request = {"bundle_dir": str(bundles["2"]), "model_version": "2", "request_id": "full-disk"}
            (state / TARGET_FILE).write_text(json.dumps(request))
            filler = fill(state)
            os.kill(supervisor, signal.SIGHUP)
            assert wait_for(lambda: "refused" in serving.log.read_text(), 30), serving.log.read_text()[-3000:]
            assert (state / ACTIVE_FILE).read_bytes() == before
            assert json.loads(before)["model_version"] == "1"
            assert serving.served_version() == "1"
            assert serving.process.poll() is None
            assert sorted(path.name for path in state.iterdir()) == sorted(
                [ACTIVE_FILE, TARGET_FILE, SWAP_LOCK_FILE, "filler"]
            )

            # Space again: the next swap goes through without any clean-up.
            filler.unlink()
            assert request_swap(state, supervisor, str(bundles["2"]), "2", timeout=START_S) == "swapped"
            assert serving.served_version() == "2"
            assert serving.active()["model_version"] == "2"
        finally:
            serving.stop()

"""Real server processes on a model bundle, for tests that talk HTTP to them.

- :class:`ModelServer`: the project's server (``python -m serving``), as the image runs it;
- :class:`SeldonMicroservice`: ``seldon-core-microservice`` running a thin Seldon class
  (tests/seldon_reference_model.py), the conformance oracle for the Seldon protocol.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from flavors.local_seldon.supervisor import listening_socket
from tests.conftest import PROJECT_ROOT
from tests.processes import free_port

MICROSERVICE = Path(sys.executable).parent / "seldon-core-microservice"
STARTUP_TIMEOUT_S = 60

__all__ = ["MICROSERVICE", "ModelServer", "SeldonMicroservice", "ServerProcess"]


def _clean_env(bundle_dir: Path, env: dict[str, str] | None) -> dict[str, str]:
    full_env = {**os.environ, "MODEL_DIR": str(bundle_dir), "PYTHONPATH": str(PROJECT_ROOT)}
    for name in list(full_env):
        if name.startswith("SERVING_") or name == "PROMETHEUS_MULTIPROC_DIR":
            full_env.pop(name)  # the caller's shell does not configure the server under test
    full_env.update(env or {})
    return full_env


class ServerProcess:
    """A server on free loopback ports (HTTP and metrics), in its own process group.

    Args:
        command: What to run.
        env: Its whole environment.
        log: Where its output goes.
        http_port, metrics_port: The ports it was told to use.
    """

    def __init__(
        self,
        command: list[str],
        env: dict[str, str],
        log: Path,
        http_port: int,
        metrics_port: int,
        pass_fds: tuple[int, ...] = (),
    ):
        self.http_port, self.metrics_port, self.log = http_port, metrics_port, log
        self.base_url = f"http://127.0.0.1:{http_port}"
        self.predictions = f"{self.base_url}/api/v1.0/predictions"
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=pass_fds,
            )

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def metrics(self, until, timeout_s: float = 10) -> list[str]:
        """The metrics port's sample lines once ``until(lines)`` holds; the last lines otherwise."""
        deadline = time.monotonic() + timeout_s
        while True:
            text = requests.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
            lines = [line for line in text.splitlines() if not line.startswith("#")]
            if until(lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.2)

    def group_alive(self) -> bool:
        """Whether any process of the server's group is left."""
        self.process.poll()  # reap the leader: a zombie would keep the group
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        if self.group_alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def wait_ready(self, timeout_s: float = STARTUP_TIMEOUT_S) -> ServerProcess:
        """Wait for ``/health/status``; raise with the log's tail when the server exits or stalls."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.base_url}/health/status", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {timeout_s:g} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self, timeout_s: float = 30) -> None:
        """SIGTERM the leader (it stops its workers), then SIGKILL whatever is left of the group."""
        try:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.group_alive():
            time.sleep(0.1)
        self.kill()


class ModelServer(ServerProcess):
    """``python -m serving`` on ``bundle_dir`` (``env``: ``SERVING_*`` settings), on loopback sockets
    bound here and handed down (no race for a free port with servers started at the same time);
    ``binds=True``: the server binds ``SERVING_HOST``:``SERVING_PORT`` itself, as in the image."""

    def __init__(self, bundle_dir: Path, log: Path, env: dict[str, str] | None = None, binds: bool = False):
        if binds:
            ports = (free_port(), free_port())
            settings = {
                "SERVING_HOST": "127.0.0.1",
                "SERVING_PORT": str(ports[0]),
                "SERVING_METRICS_PORT": str(ports[1]),
            }
            command = [sys.executable, "-m", "serving"]
            super().__init__(command, _clean_env(bundle_dir, {**settings, **(env or {})}), log, *ports)
            return
        http, metrics = listening_socket("127.0.0.1", 0), listening_socket("127.0.0.1", 0)
        settings = {
            "SERVING_HOST": "127.0.0.1",
            "SERVING_LISTEN_FDS": str(http.fileno()),
            "SERVING_METRICS_FD": str(metrics.fileno()),
            "SERVING_METRICS_PORT": str(metrics.getsockname()[1]),
        }
        command = [sys.executable, "-m", "serving"]
        full_env = _clean_env(bundle_dir, {**settings, **(env or {})})
        ports = (http.getsockname()[1], metrics.getsockname()[1])
        super().__init__(command, full_env, log, *ports, pass_fds=(http.fileno(), metrics.fileno()))
        http.close()  # the server holds its own copies
        metrics.close()


class SeldonMicroservice(ServerProcess):
    """``seldon-core-microservice`` with the thin reference class on ``bundle_dir`` (REST only)."""

    def __init__(self, bundle_dir: Path, log: Path, env: dict[str, str] | None = None):
        http_port, metrics_port = free_port(), free_port()
        command = [
            str(MICROSERVICE),
            "tests.seldon_reference_model.ReferenceModel",
            "--service-type",
            "MODEL",
            "--http-port",
            str(http_port),
            "--metrics-port",
            str(metrics_port),
            "--grpc-workers",
            "0",
        ]
        super().__init__(command, _clean_env(bundle_dir, env), log, http_port, metrics_port)

"""A real ``seldon-core-microservice`` process on a model bundle, for tests that talk HTTP to it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import PROJECT_ROOT
from tests.processes import free_port

MICROSERVICE = Path(sys.executable).parent / "seldon-core-microservice"
STARTUP_TIMEOUT_S = 60

__all__ = ["MICROSERVICE", "Microservice"]


class Microservice:
    """``TabularModel`` served on free loopback ports (REST and metrics, no gRPC), own process group.

    Args:
        bundle_dir: The model bundle (``MODEL_DIR``).
        log: Where the process's output goes.
        env: Extra environment variables (``SERVING_*`` settings).
        args: Extra ``seldon-core-microservice`` arguments (``--workers 2``...).
    """

    def __init__(
        self, bundle_dir: Path, log: Path, env: dict[str, str] | None = None, args: list[str] | None = None
    ):
        self.http_port, self.metrics_port = free_port(), free_port()
        self.log = log
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.predictions = f"{self.base_url}/api/v1.0/predictions"
        full_env = {
            **os.environ,
            "MODEL_DIR": str(bundle_dir),
            "SERVING_BIND_HOST": "127.0.0.1",
            "PYTHONPATH": str(PROJECT_ROOT),
        }
        for name in list(full_env):
            if name.startswith("SERVING_") and name != "SERVING_BIND_HOST":
                full_env.pop(name)  # the caller's shell does not configure the server under test
        full_env.update(env or {})
        command = [
            str(MICROSERVICE),
            "serving.model_server.TabularModel",
            "--service-type",
            "MODEL",
            "--http-port",
            str(self.http_port),
            "--metrics-port",
            str(self.metrics_port),
            "--grpc-workers",
            "0",
            *(args or []),
        ]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def metrics(self, until, timeout_s: float = 10) -> list[str]:
        """The metrics port's sample lines once ``until(lines)`` holds (custom metrics reach it
        within ``SERVING_METRICS_FLUSH_S``, see serving.direct_route); the last lines otherwise."""
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

    def wait_ready(self, timeout_s: float = STARTUP_TIMEOUT_S) -> Microservice:
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

    def stop(self) -> None:
        """SIGTERM the process group (gunicorn masters, workers, metrics, manager), then SIGKILL."""
        group = self.process.pid
        try:
            os.killpg(group, signal.SIGTERM)
            self.process.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait(timeout=5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.group_alive():
            time.sleep(0.1)
        self.kill()

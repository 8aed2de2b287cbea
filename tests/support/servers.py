"""Real server processes, for the tests that talk HTTP to them and for the serving benchmarks.

- :class:`ServerProcess`: any server command in its own process group, its output in a file;
- :class:`ModelServer`: the project's server (``python -m serving``), as the image runs it, or
  another command configured the same way (bench/noop_app.py);
- :class:`SeldonMicroservice`: ``seldon-core-microservice`` running a thin Seldon class
  (tests/support/seldon_reference_model.py), the conformance oracle for the Seldon protocol.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from flavors.local_seldon.supervisor import free_port, listening_socket
from tests.support.paths import PROJECT_ROOT

MICROSERVICE = Path(sys.executable).parent / "seldon-core-microservice"
REFERENCE_MODEL = "tests.support.seldon_reference_model.ReferenceModel"
"""The class ``seldon-core-microservice`` loads, by its import path from the project root."""
SERVE = (sys.executable, "-m", "serving")
STARTUP_TIMEOUT_S = 60
PREDICTIONS = "/api/v1.0/predictions"

__all__ = ["MICROSERVICE", "ModelServer", "SeldonMicroservice", "ServerProcess"]


def server_env(env: dict[str, str] | None, bundle_dir: Path | None = None) -> dict[str, str]:
    """This process's environment without the serving settings (the caller's shell does not
    configure the server under test), the project importable, ``MODEL_DIR``, then ``env``."""
    full_env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SERVING_") and name not in ("MODEL_DIR", "PROMETHEUS_MULTIPROC_DIR")
    }
    full_env["PYTHONPATH"] = str(PROJECT_ROOT)
    if bundle_dir is not None:
        full_env["MODEL_DIR"] = str(bundle_dir)
    full_env.update(env or {})
    return full_env


class ServerProcess:
    """A server command in its own process group, run from the project root, its output in ``log``.

    Args:
        command: What to run.
        env: Its whole environment.
        log: Where its output goes.
        http_port: The port it serves HTTP on.
        metrics_port: Its metrics port (``None``: it has none).
        pass_fds: Descriptors it inherits (listening sockets bound by the caller).
        health_path: A GET path that answers 200 once it serves.
    """

    def __init__(
        self,
        command: list[str],
        env: dict[str, str],
        log: Path,
        http_port: int,
        metrics_port: int | None = None,
        pass_fds: tuple[int, ...] = (),
        health_path: str = "/health/status",
    ):
        self.command, self.log, self.health_path = command, log, health_path
        self.http_port, self.metrics_port = http_port, metrics_port
        self.base_url = f"http://127.0.0.1:{http_port}"
        self.predictions = f"{self.base_url}{PREDICTIONS}"
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
        """Wait for the health path; raise with the log's tail when the server exits or stalls."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.base_url}{self.health_path}", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {timeout_s:g} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self, timeout_s: float = 30) -> float:
        """SIGTERM to the leader (as the supervisor does: it stops its workers), SIGKILL to whatever
        is left of the group after ``timeout_s``; returns how long the group took to go."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        while time.monotonic() - started < timeout_s and self.group_alive():
            time.sleep(0.05)
        self.kill()
        return time.monotonic() - started

    def _group(self) -> list[tuple[int, list[str]]]:
        """(pid, /proc/<pid>/stat fields after the name) of each process in the server's group."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            if int(fields[2]) == self.process.pid:  # field 5, pgrp (fields[0] is field 3, state)
                found.append((int(stat.parent.name), fields))
        return found

    def cpu_seconds(self) -> float:
        """User + system CPU time of the processes in the server's group so far (from /proc)."""
        tick = os.sysconf("SC_CLK_TCK")
        return sum(int(fields[11]) + int(fields[12]) for _, fields in self._group()) / tick

    def memory_mb(self) -> list[tuple[str, float, float]]:
        """(command, RSS MB, PSS MB) of each process in the group (PSS shares pages fairly)."""
        rows = []
        for pid, _ in self._group():
            try:
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
            except OSError:
                continue
            kb = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(Rss|Pss):\s+(\d+) kB", rollup, re.M)}
            rows.append((command.strip(), kb.get("Rss", 0) / 1024, kb.get("Pss", 0) / 1024))
        return rows


class ModelServer(ServerProcess):
    """``python -m serving`` on ``bundle_dir`` (``env``: ``SERVING_*`` settings), on loopback sockets
    bound here and handed down (no race for a free port with servers started at the same time);
    ``binds=True``: the server binds ``SERVING_HOST``:``SERVING_PORT`` itself, as in the image.
    ``command``: another server that reads the same settings (bench/noop_app.py)."""

    def __init__(
        self,
        bundle_dir: Path | None,
        log: Path,
        env: dict[str, str] | None = None,
        binds: bool = False,
        command: tuple[str, ...] = SERVE,
    ):
        if binds:
            ports = (free_port(), free_port())
            settings = {
                "SERVING_HOST": "127.0.0.1",
                "SERVING_PORT": str(ports[0]),
                "SERVING_METRICS_PORT": str(ports[1]),
            }
            super().__init__(list(command), server_env({**settings, **(env or {})}, bundle_dir), log, *ports)
            return
        http, metrics = listening_socket("127.0.0.1", 0), listening_socket("127.0.0.1", 0)
        settings = {
            "SERVING_HOST": "127.0.0.1",
            "SERVING_LISTEN_FDS": str(http.fileno()),
            "SERVING_METRICS_FD": str(metrics.fileno()),
            "SERVING_METRICS_PORT": str(metrics.getsockname()[1]),
        }
        full_env = server_env({**settings, **(env or {})}, bundle_dir)
        ports = (http.getsockname()[1], metrics.getsockname()[1])
        super().__init__(list(command), full_env, log, *ports, pass_fds=(http.fileno(), metrics.fileno()))
        http.close()  # the server holds its own copies
        metrics.close()


class SeldonMicroservice(ServerProcess):
    """``seldon-core-microservice`` with the thin reference class on ``bundle_dir`` (REST only)."""

    def __init__(self, bundle_dir: Path, log: Path, env: dict[str, str] | None = None):
        http_port, metrics_port = free_port(), free_port()
        command = [
            str(MICROSERVICE),
            REFERENCE_MODEL,
            "--service-type",
            "MODEL",
            "--http-port",
            str(http_port),
            "--metrics-port",
            str(metrics_port),
            "--grpc-workers",
            "0",
        ]
        super().__init__(command, server_env(env, bundle_dir), log, http_port, metrics_port)

"""What the serving benchmarks share: the model, request bodies, server processes and ``wrk``.

Servers run on loopback in their own process group; ``wrk`` posts request bodies taken in
turn from a file (one JSON body per line, through a Lua script) for a bounded time.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
TELCO = ROOT / "data" / "raw" / "telco_churn.csv"

LUA = """-- POST bodies taken in turn from a file with one JSON body per line
local bodies = {}
for line in io.lines("%(bodies)s") do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
"""


def training_parameters():
    import yaml

    from tabular_ml.configuration.schema import TrainingParameters

    return TrainingParameters.model_validate(
        yaml.safe_load((ROOT / "configs/training.yaml").read_text())["parameters"]
    )


def make_bundle(folder: Path, version: str = "bench") -> Path:
    """The training config's Pipeline with a LogisticRegression fitted on the bundled data, as a
    bundle with reference rows (the first 500 rows)."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from serving.bundle import save_bundle
    from tabular_ml.modelling.model import build_model, encode_target

    params = training_parameters()
    data = pd.read_csv(TELCO)
    model = build_model(
        params.contract, params.preprocessing, params.features, LogisticRegression(max_iter=1000)
    )
    model.fit(
        data[params.contract.feature_names], encode_target(data[params.contract.target], params.contract)
    )
    return save_bundle(
        folder / "bundle", model, params.contract, "churn_classifier", version, reference_rows=data.head(500)
    )


def telco_rows(bundle: Path, rows: int | None = None) -> tuple[list[str], list[list]]:
    """The bundled data's feature columns (the bundle's), as JSON-ready rows (nulls as None)."""
    import pandas as pd

    from serving.bundle import read_bundle_meta

    names = read_bundle_meta(bundle).feature_names
    frame = pd.read_csv(TELCO, nrows=rows)[names]
    return names, frame.astype(object).where(frame.notna(), None).to_numpy().tolist()


def write_bodies(path: Path, bundle: Path, rows: int) -> None:
    """One single-row Seldon request per line (``data.names`` + ``data.ndarray``)."""
    names, values = telco_rows(bundle, rows)
    path.write_text(
        "\n".join(json.dumps({"data": {"names": names, "ndarray": [row]}}) for row in values) + "\n"
    )


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({cpu})"


def wrk_version() -> str:
    return subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("[")[0].strip()


def require_wrk(make_target: str) -> None:
    if subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True).returncode:
        raise SystemExit(f"wrk is not installed: apt-get install -y wrk (make {make_target} does it)")


class ServerProcess:
    """A server command in its own process group, its output in a file.

    Args:
        command: The command line.
        env: Its environment.
        output: The log file.
        url: Its base URL (``http://127.0.0.1:PORT``).
        health_path: A GET path that answers 200 once it serves.
    """

    def __init__(
        self, command: list[str], env: dict[str, str], output: Path, url: str, health_path: str
    ) -> None:
        self.command, self.output, self.url, self.health_path = command, output, url, health_path
        with output.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self, timeout_s: float = 120) -> None:
        import requests

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited: {self.output.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}{self.health_path}", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise SystemExit(f"the server was not ready in {timeout_s:g} s: {self.output.read_text()[-2000:]}")

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

    def stop(self, grace_s: float = 10) -> float:
        """SIGTERM to the leader (as the supervisor does); returns how long the group took to go."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        while time.monotonic() - started < grace_s:
            self.process.poll()
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return time.monotonic() - started
            time.sleep(0.05)
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        return time.monotonic() - started


def seldon_server(
    bundle: Path,
    output: Path,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    model_class: str | None = None,
    keepalive: int | None = None,
) -> ServerProcess:
    """``seldon-core-microservice`` started as the local deployer starts it (4 threads, no
    keep-alive, loopback only); ``model_class`` replaces the project's class, ``keepalive``
    (seconds) the deployer's ``--keepalive 0``."""
    from flavors.local_seldon.supervisor import free_port, microservice_command

    port = free_port()
    command = microservice_command(port, workers=workers, threads=4)
    if model_class:
        command[1] = model_class
    if keepalive is not None:
        command[command.index("--keepalive") + 1] = str(keepalive)
    full_env = {**os.environ, "MODEL_DIR": str(bundle), "SERVING_BIND_HOST": "127.0.0.1"}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), full_env.get("PYTHONPATH")]))
    for name in [name for name in full_env if name.startswith("SERVING_") and name != "SERVING_BIND_HOST"]:
        full_env.pop(name)
    full_env.update(env or {})
    return ServerProcess(command, full_env, output, f"http://127.0.0.1:{port}", "/health/status")


def parse_wrk(text: str) -> dict:
    def seconds(value: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
        return float(number) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]

    result = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        "requests": int(re.search(r"(\d+) requests in", text).group(1)),
        "non_2xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", text)) else 0,
        "socket_errors": m.group(0).strip() if (m := re.search(r"Socket errors:.*", text)) else "none",
    }
    for pct in ("50", "75", "90", "99"):
        result[f"p{pct}_ms"] = seconds(re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M).group(1)) * 1e3
    return result


def run_wrk(url: str, script: Path, seconds: int, connections: int, threads: int) -> tuple[dict, str]:
    """``wrk`` for ``seconds`` against ``url`` (the full URL); its parsed result and command line."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    return parse_wrk(output), shlex.join(command)

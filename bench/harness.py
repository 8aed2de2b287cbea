"""What the serving benchmarks share: the models, request bodies, server processes and ``wrk``.

Servers run on loopback in their own process group (tests/support/servers.py, as the tests run
them); ``wrk`` posts request bodies taken in turn from a file (one JSON body per line, through a
Lua script) for a bounded time.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.paths import PROJECT_ROOT as ROOT
from tests.support.paths import TELCO_CSV as TELCO
from tests.support.servers import ModelServer

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


@dataclass(frozen=True)
class Example:
    """A model the benchmarks serve: a training config's Pipeline with ``estimator`` fitted on
    the config's whole table (as tests/integration/example_tables.py trains the examples)."""

    task: str
    config: str  # relative to ROOT, as ``data``
    data: str
    model_name: str
    estimator: str  # a dotted class path
    params: dict[str, Any]
    about: str  # for the reports

    @property
    def table(self) -> Path:
        return ROOT / self.data

    def make_estimator(self) -> Any:
        module, _, name = self.estimator.rpartition(".")
        return getattr(importlib.import_module(module), name)(**self.params)


BINARY = Example(
    "binary",
    "configs/training.yaml",
    "data/raw/telco_churn.csv",
    "churn_classifier",
    "sklearn.linear_model.LogisticRegression",
    {"max_iter": 1000},
    "configs/training.yaml (preprocessing and derived features) with a LogisticRegression on Telco churn",
)
MULTICLASS = Example(
    "multiclass",
    "configs/training_wine.yaml",
    "data/examples/wine.csv",
    "wine_classifier",
    "sklearn.linear_model.LogisticRegression",
    {"max_iter": 2000},
    "configs/training_wine.yaml with a LogisticRegression on wine (target `cultivar`, 3 classes)",
)
REGRESSION = Example(
    "regression",
    "configs/training_diabetes.yaml",
    "data/examples/diabetes.csv",
    "diabetes_regressor",
    "sklearn.linear_model.Ridge",
    {},
    "configs/training_diabetes.yaml with a Ridge on diabetes (target `progression`)",
)
EXAMPLES = (BINARY, MULTICLASS, REGRESSION)


def training_parameters(config: str = BINARY.config):
    import yaml

    from tabular_ml.configuration.schema import TrainingParameters

    return TrainingParameters.model_validate(yaml.safe_load((ROOT / config).read_text())["parameters"])


def make_bundle(folder: Path, version: str = "bench", example: Example = BINARY) -> Path:
    """The example's Pipeline fitted on its whole table, as a bundle in ``folder/<task>-bundle``
    with reference rows (the first 500 rows)."""
    import pandas as pd

    from serving.bundle import save_bundle
    from tabular_ml.modelling.model import build_model
    from tabular_ml.tasks.target import resolve_target

    params = training_parameters(example.config)
    contract = params.contract
    data = pd.read_csv(example.table)
    labels = data[contract.target]
    target = resolve_target(labels, contract.target, params.task, contract.classes, contract.positive_class)
    model = build_model(contract, params.preprocessing, params.features, example.make_estimator())
    model.fit(data[contract.feature_names], target.encode(labels))
    return save_bundle(
        folder / f"{example.task}-bundle",
        model,
        contract,
        example.model_name,
        version,
        target=target,
        reference_rows=data.head(500),
    )


def table_rows(bundle: Path, rows: int | None = None, table: Path = TELCO) -> tuple[list[str], list[list]]:
    """The first ``rows`` rows of ``table``'s feature columns (the bundle's), JSON-ready (nulls as None)."""
    import pandas as pd

    from serving.bundle import read_bundle_meta

    names = read_bundle_meta(bundle).feature_names
    frame = pd.read_csv(table, nrows=rows)[names]
    return names, frame.astype(object).where(frame.notna(), None).to_numpy().tolist()


def write_bodies(path: Path, bundle: Path, rows: int, table: Path = TELCO) -> None:
    """One single-row Seldon request per line (``data.names`` + ``data.ndarray``)."""
    names, values = table_rows(bundle, rows, table)
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


DEPLOYER = {"SERVING_KEEP_ALIVE_S": "0"}
"""What the local deployer sets besides sockets and ports: no keep-alive (``Connection: close``)."""


def seldon_server(bundle: Path, output: Path, *, env: dict[str, str] | None = None) -> ModelServer:
    """The project's server as the local deployer runs it (no keep-alive), then ``env``'s settings.

    The name is bench/request_log.py's (from when the server was ``seldon-core-microservice``)."""
    return ModelServer(bundle, output, {**DEPLOYER, **(env or {})})


def noop_server(output: Path, http: str) -> ModelServer:
    """bench/noop_app.py (answers any request without work) on uvicorn as the model server is
    configured (the image's settings, 1 worker), with the HTTP parser ``http``."""
    return ModelServer(None, output, command=(sys.executable, "-m", "bench.noop_app", "--http", http))


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


#: The numbers a comparison table also gives as a ratio (the second run's over the first's).
RATIO_KEYS = frozenset({"rps", "p50_ms", "p90_ms", "p99_ms", "cpu_ms"})


def comparison_table(header: str, rows: list[tuple[str, str, str]], first: dict, second: dict) -> list[str]:
    """A Markdown table of two runs' numbers: ``header`` names the columns, each row is
    (title, key, format), and the last column is second / first for :data:`RATIO_KEYS`."""
    table = [header, "|---|---|---|---|"]
    for title, key, fmt in rows:
        ratio = f"{second[key] / first[key]:.3f}" if key in RATIO_KEYS else ""
        table.append(f"| {title} | {fmt.format(first[key])} | {fmt.format(second[key])} | {ratio} |")
    return table

"""The serving image's Dockerfile: its instructions, and its entrypoint run as a local process.

There is no Docker engine here, so the Dockerfile is parsed (continuation lines, comments,
exec-form JSON) and its ENTRYPOINT (``python -m serving``) is started as a plain process, as
close to the image as a process gets: in a venv holding only the distributions of
requirements-serving.txt (linked from this venv), with a working directory holding only what
the Dockerfile copies, and the image's ENV (ports moved to free ones, MODEL_DIR pointing to a
bundle made in tmp_path). So these tests also show that the serving closure is complete, needs
no ZenML, MLflow or seldon-core, and holds nothing that serving does not import.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from sklearn.linear_model import LogisticRegression

from tests.support import dockerfile_parsing
from tests.support.dockerfile_parsing import read_pins
from tests.support.paths import PROJECT_ROOT
from tests.support.processes import free_port, wait_for

pytestmark = pytest.mark.tools

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"
SERVING_REQUIREMENTS = PROJECT_ROOT / "requirements-serving.txt"
LOCK = PROJECT_ROOT / "requirements.lock"
COPIED = {"requirements-serving.txt", "serving/", "tabular_ml/"}
PORT_VARIABLES = ("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "PREDICTIVE_UNIT_METRICS_SERVICE_PORT")
# The seldon-core microservice's stack, gone from the image: seldon-core itself is published
# under the Business Source License (see tests/unit/test_image_licenses.py).
NOT_IN_THE_IMAGE = (
    "seldon-core", "flask", "flask-cors", "flask-opentracing", "gunicorn", "werkzeug", "grpcio",
    "grpcio-opentracing", "grpcio-reflection", "protobuf", "jaeger-client", "opentracing",
    "threadloop", "thrift", "tornado", "requests",
)  # fmt: skip
# What `python -m serving` imports (the image's entry point, and what the Pipeline unpickles),
# including uvicorn's lazily imported parts: the HTTP parsers and the event loop.
SERVE_TIME_MODULES = (
    "serving",  # serving/__main__.py runs serving.server.main: importing it would start a server
    "serving.server",
    "serving.app",
    "serving.served_model",
    "serving.scoring",
    "serving.request_log",
    "tabular_ml.configuration.schema",
    "tabular_ml.modelling.features",
    "tabular_ml.tasks",
    "tabular_ml.data.cleaning",
    "tabular_ml.modelling.explanations",
    "shap",  # imported by the explanations when the served model is a tree ensemble
    "uvicorn.protocols.http.zttp_impl",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.loops.uvloop",
    "uvicorn.lifespan.on",
    "pyarrow.parquet",
    "prometheus_client.multiprocess",
)


# --------------------------------------------------------------------------- parsing


def parse_dockerfile(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    return dockerfile_parsing.parse_dockerfile(path)


def arguments_of(keyword: str, instructions: list[tuple[str, str]] | None = None) -> list[str]:
    return dockerfile_parsing.arguments_of(keyword, instructions or parse_dockerfile())


def exec_form(arguments: str) -> list[str]:
    """The JSON array of an exec-form instruction (shell form is refused)."""
    assert arguments.startswith("["), f"not exec form (a JSON array): {arguments}"
    argv = json.loads(arguments)
    assert isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv), arguments
    return argv


def dockerfile_env(instructions: list[tuple[str, str]] | None = None) -> dict[str, str]:
    return dockerfile_parsing.env_of(instructions or parse_dockerfile())


def entrypoint_argv(instructions: list[tuple[str, str]] | None = None) -> list[str]:
    """ENTRYPOINT plus CMD (both exec form), the command the container runs."""
    instructions = instructions or parse_dockerfile()
    entrypoints = arguments_of("ENTRYPOINT", instructions)
    assert entrypoints, "the Dockerfile has no ENTRYPOINT"
    argv = exec_form(entrypoints[-1])
    commands = arguments_of("CMD", instructions)
    return argv + (exec_form(commands[-1]) if commands else [])


def healthcheck_argv(instructions: list[tuple[str, str]] | None = None) -> list[str]:
    checks = arguments_of("HEALTHCHECK", instructions)
    assert checks, "the Dockerfile has no HEALTHCHECK"
    options, sep, command = checks[-1].partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {checks[-1]}"
    return exec_form(command.strip())


# --------------------------------------------------------------------------- static checks


def test_base_image_is_python_312_slim():
    froms = arguments_of("FROM")
    assert froms, "no FROM"
    assert froms[-1].split()[0] == "python:3.12-slim"


def test_runs_as_a_non_root_user_created_with_that_uid():
    users = arguments_of("USER")
    assert users, "no USER: the server would run as root"
    user, _, group = users[-1].partition(":")
    assert user not in ("root", "0") and group not in ("root", "0")
    assert user.isdigit(), "a numeric USER lets Kubernetes' runAsNonRoot verify it"
    runs = " ".join(arguments_of("RUN"))
    assert f"--uid {user}" in runs, f"no useradd --uid {user} in the RUN steps"


def test_workdir_and_only_the_serving_code_is_copied():
    instructions = parse_dockerfile()
    assert arguments_of("WORKDIR", instructions) == ["/app"]
    sources = set()
    for arguments in arguments_of("COPY", instructions) + arguments_of("ADD", instructions):
        parts = [p for p in shlex.split(arguments) if not p.startswith("--")]
        sources.update(parts[:-1])
    assert sources == COPIED


def test_dockerignore_sends_only_what_is_copied():
    lines = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "the build context should be an allow-list"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    assert allowed == COPIED


def test_requirements_installed_without_resolution_then_checked():
    runs = " ".join(arguments_of("RUN"))
    assert "pip install --no-deps -r requirements-serving.txt" in runs
    assert "pip check" in runs


def test_model_dir_ports_and_workers_come_from_env():
    from seldon_core import microservice  # the test oracle for the names the Seldon operator injects

    from serving.settings import ServingSettings, load_settings

    env = dockerfile_env()
    assert env["MODEL_DIR"] == "/mnt/models"
    # The names seldon-core 1.19 reads (and the operator sets), and the server reads them too.
    assert PORT_VARIABLES == (
        microservice.HTTP_SERVICE_PORT_ENV_NAME,
        microservice.METRICS_SERVICE_PORT_ENV_NAME,
    )
    for field, variable in (("port", PORT_VARIABLES[0]), ("metrics_port", PORT_VARIABLES[1])):
        assert variable in ServingSettings.model_fields[field].validation_alias.choices
    assert env["PREDICTIVE_UNIT_HTTP_SERVICE_PORT"] == str(microservice.DEFAULT_HTTP_PORT) == "9000"
    assert env["PREDICTIVE_UNIT_METRICS_SERVICE_PORT"] == str(microservice.DEFAULT_METRICS_PORT) == "6000"
    exposed = {port.split("/")[0] for arguments in arguments_of("EXPOSE") for port in arguments.split()}
    assert exposed == {"9000", "6000"}, "HTTP and metrics only: the server has no gRPC port"
    assert {env[name] for name in PORT_VARIABLES} == exposed
    assert not [name for name in env if name.startswith("GUNICORN_") or "GRPC" in name], env
    # What the server makes of the image's environment, and nothing else.
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("SERVING_", "PREDICTIVE_UNIT_", "MODEL_DIR"))
    }
    with pytest.MonkeyPatch.context() as patch:
        for key in set(os.environ) - set(clean):
            patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        settings = load_settings()
    assert (str(settings.model_dir), settings.port, settings.metrics_port) == ("/mnt/models", 9000, 6000)
    assert settings.workers == int(env["SERVING_WORKERS"]) == 1
    assert settings.host == "0.0.0.0"  # noqa: S104 - reachable from the pod's network


def test_entrypoint_is_python_m_serving():
    argv = entrypoint_argv()
    assert argv == ["python", "-m", "serving"], argv
    assert not arguments_of("CMD"), "no CMD: nothing for `docker run IMAGE ...` to append to by accident"
    main = (PROJECT_ROOT / "serving" / "__main__.py").read_text(encoding="utf-8")
    assert "from serving.server import main" in main and "sys.exit(main())" in main
    assert "seldon" not in " ".join(argv).lower() and "gunicorn" not in " ".join(argv)


def test_healthcheck_probes_health_status_with_python():
    argv = healthcheck_argv()
    assert argv[0] == "python" and argv[1] == "-c"
    assert "/health/status" in argv[2]
    # the port the server listens on: SERVING_PORT first, as serving.settings reads it
    assert argv[2].index("SERVING_PORT") < argv[2].index("PREDICTIVE_UNIT_HTTP_SERVICE_PORT")


def test_requirements_serving_pins_the_lock_versions():
    lock = read_pins(LOCK)
    serving = read_pins(SERVING_REQUIREMENTS)
    different = {
        name: (version, lock.get(key, (None, "not in the lock"))[1])
        for key, (name, version) in serving.items()
        if lock.get(key, (None, None))[1] != version
    }
    assert not different, f"requirements-serving.txt differs from requirements.lock: {different}"
    for heavy in ("zenml", "mlflow", "mlflow-skinny", "evidently", "pandera", "sqlalchemy"):
        assert heavy not in serving, f"{heavy} does not belong in the serving image"
    for needed in (
        "uvicorn", "zttp", "uvloop", "starlette", "pydantic-settings", "prometheus-client",
        "scikit-learn", "pandas", "numpy", "scipy", "joblib", "pydantic", "pyarrow",
    ):  # fmt: skip
        assert needed in serving, needed


def test_requirements_serving_has_no_seldon_core_flask_or_gunicorn():
    serving = read_pins(SERVING_REQUIREMENTS)
    found = sorted(set(serving) & set(NOT_IN_THE_IMAGE))
    assert not found, f"requirements-serving.txt still pins {found}: the server no longer imports them"


def test_requirements_serving_is_closed_under_dependencies():
    """What pip check in the image checks: every dependency is pinned, at a version it accepts."""
    serving = read_pins(SERVING_REQUIREMENTS)
    problems = []
    for name, version in serving.values():
        dist = metadata.distribution(name)
        assert dist.version == version, f"the venv has {name} {dist.version}, the file pins {version}"
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            pinned = serving.get(canonicalize_name(requirement.name))
            if pinned is None:
                problems.append(f"{name} needs {requirement}, which is not pinned")
            elif not requirement.specifier.contains(pinned[1], prereleases=True):
                problems.append(f"{name} needs {requirement}, pinned {pinned[1]}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- the entrypoint, run


def _serving_environment(root: Path) -> tuple[Path, Path]:
    """What the image holds: a venv with only requirements-serving.txt, and an /app with only the copies.

    The venv's site-packages links the installed files (RECORD) of the pinned distributions
    and nothing else; its console scripts are written for its own interpreter. ``app``
    links ``serving/`` and ``tabular_ml/``, as the Dockerfile's COPY lines put them in WORKDIR.
    """
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    pinned = read_pins(SERVING_REQUIREMENTS)
    for name, _version in pinned.values():
        dist = metadata.distribution(name)
        for file in dist.files or []:
            source = Path(dist.locate_file(file))
            if file.parts[0] == ".." or not source.is_file():
                continue  # console scripts are written below
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.symlink_to(source)
    for entry in metadata.entry_points(group="console_scripts"):
        if entry.dist is not None and canonicalize_name(entry.dist.name) in pinned:
            script = venv / "bin" / entry.name
            script.write_text(
                f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom {entry.module} import {entry.attr}\n"
                f"sys.exit({entry.attr}())\n",
                encoding="utf-8",
            )
            script.chmod(0o755)
    app = root / "app"
    app.mkdir()
    for source in COPIED - {"requirements-serving.txt"}:
        (app / source.rstrip("/")).symlink_to(PROJECT_ROOT / source.rstrip("/"), target_is_directory=True)
    return venv, app


def _tiny_model():
    from tabular_ml.configuration.schema import PreprocessingConfig, RatioFeature
    from tabular_ml.modelling.model import build_model, encode_target
    from tests.support.factories import tiny_contract

    contract = tiny_contract(columns=("tenure", "total", "senior", "contract"))
    rng = np.random.default_rng(7)
    n = 80
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(1, 72, n).astype(float),
            "total": rng.uniform(20, 5000, n).round(2),
            "senior": rng.integers(0, 2, n).astype(float),
            "contract": rng.choice(["Month-to-month", "One year", "Two year"], n),
        }
    )
    labels = np.where(frame["contract"] == "Month-to-month", "Yes", "No")
    # A derived feature, so the pickle refers to tabular_ml.modelling.features (the image must have it).
    features = [RatioFeature(name="avg_monthly", numerator="total", denominator="tenure")]
    pipeline = build_model(contract, PreprocessingConfig(), features, LogisticRegression(max_iter=500))
    pipeline.fit(frame, encode_target(labels, contract))
    return contract, pipeline, frame


@dataclass
class Server:
    url: str
    metrics_url: str
    env: dict[str, str]
    venv: Path
    app: Path
    pipeline: Any
    frame: pd.DataFrame
    log: Path
    process: subprocess.Popen


def _get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _post(url: str, body: dict[str, Any], timeout: float = 10) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    from serving.bundle import save_bundle

    tmp = tmp_path_factory.mktemp("serving-image")
    contract, pipeline, frame = _tiny_model()
    bundle = save_bundle(tmp / "bundle", pipeline, contract, model_name="churn", model_version="3")

    venv, app = _serving_environment(tmp)
    http, metrics = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("PREDICTIVE_UNIT_", "SERVING_", "MODEL_DIR", "PROMETHEUS_", "PYTHON", "VIRTUAL_ENV")
        )
    }
    env.update(dockerfile_env())
    env.update(
        {
            "MODEL_DIR": str(bundle),
            "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": str(http),
            "PREDICTIVE_UNIT_METRICS_SERVICE_PORT": str(metrics),
            "SERVING_HOST": "127.0.0.1",  # HTTP and metrics on loopback only, in a test
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    argv = entrypoint_argv()
    executable = shutil.which(argv[0], path=str(venv / "bin"))
    assert executable, f"{argv[0]} is not installed in the serving environment"
    log = tmp / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [executable, *argv[1:]],
            cwd=app,  # WORKDIR /app
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, with any worker processes
        )
    url, metrics_url = f"http://127.0.0.1:{http}", f"http://127.0.0.1:{metrics}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"the entrypoint exited with {process.returncode}:\n{log.read_text()[-4000:]}")
            try:
                if _get(f"{url}/health/ping", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no answer on /health/ping after 90 s:\n{log.read_text()[-4000:]}")
            time.sleep(0.3)
        yield Server(url, metrics_url, env, venv, app, pipeline, frame, log, process)
    finally:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue


def test_entrypoint_runs_the_asgi_server_on_uvicorn(server):
    log = server.log.read_text()
    assert "uvicorn" in log and "Application startup complete" in log, log[-2000:]
    assert "gunicorn" not in log.lower() and "seldon_core" not in log


def test_entrypoint_answers_the_open_inference_protocol(server):
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/churn/ready"):
        status, body = _get(f"{server.url}{path}")
        assert status == 200, (path, body)


def test_entrypoint_answers_health_ping(server):
    status, body = _get(f"{server.url}/health/ping")
    assert status == 200 and body.strip() == b"pong"


def test_entrypoint_reports_the_bundle_on_health_status(server):
    status, body = _get(f"{server.url}/health/status")
    assert status == 200, body
    assert json.loads(body)["jsonData"] == {"status": "ok", "model_name": "churn", "model_version": "3"}


def test_entrypoint_predicts_what_the_pipeline_predicts(server):
    rows = server.frame.head(5)
    status, body = _post(f"{server.url}/api/v1.0/predictions", {"jsonData": rows.to_dict(orient="records")})
    assert status == 200, body
    assert body["data"]["names"] == ["prediction", "probability"]
    expected = server.pipeline.predict_proba(rows)[:, list(server.pipeline.classes_).index(1)]
    answered = [row[1] for row in body["data"]["ndarray"]]
    np.testing.assert_allclose(answered, expected, rtol=0, atol=1e-12)
    assert [row[0] for row in body["data"]["ndarray"]] == ["Yes" if p >= 0.5 else "No" for p in expected]
    assert body["meta"]["tags"] == {"model_name": "churn", "model_version": "3"}


def test_entrypoint_answers_400_to_a_request_without_a_column(server):
    record = server.frame.head(1).drop(columns=["contract"]).to_dict(orient="records")
    status, body = _post(f"{server.url}/api/v1.0/predictions", {"jsonData": record})
    assert status == 400, body
    assert "contract" in json.dumps(body)
    assert server.process.poll() is None, "a bad request must not stop the server"


def test_metrics_port_serves_the_custom_metrics(server):
    rows = server.frame.head(3).to_dict(orient="records")
    assert _post(f"{server.url}/api/v1.0/predictions", {"jsonData": rows})[0] == 200
    # /metrics, and /prometheus: the path the Seldon operator scrapes.
    scraped = []

    def counted() -> bool:
        scraped.append(_get(f"{server.metrics_url}/metrics"))
        return b"predicted_class_total" in scraped[-1][1]

    assert wait_for(counted, 10), scraped[-1]
    assert scraped[-1][0] == 200
    status, body = _get(f"{server.metrics_url}/prometheus")
    assert status == 200 and b"predicted_class_total" in body


def test_healthcheck_command_passes_on_the_running_server_and_fails_without_one(server):
    argv = healthcheck_argv()
    python = shutil.which(argv[0], path=str(server.venv / "bin"))
    ok = subprocess.run([python, *argv[1:]], env=server.env, capture_output=True, timeout=30)
    assert ok.returncode == 0, ok.stderr.decode()
    down = {**server.env, "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": str(free_port())}
    failed = subprocess.run([python, *argv[1:]], env=down, capture_output=True, timeout=30)
    assert failed.returncode != 0
    # SERVING_PORT, when set, is the server's port (serving.settings), so the check's too
    port = server.env["PREDICTIVE_UNIT_HTTP_SERVICE_PORT"]
    moved = {**down, "SERVING_PORT": port}
    assert subprocess.run([python, *argv[1:]], env=moved, capture_output=True, timeout=30).returncode == 0


def test_the_serving_environment_has_no_zenml_and_no_other_project_code(server):
    """The server above ran without ZenML, MLflow, Evidently, seldon-core and the project's other folders."""
    python = str(server.venv / "bin" / "python")
    modules = ("zenml", "mlflow", "evidently", "pandera", "sqlalchemy", "steps", "stacks", "run")
    for module in (*modules, "seldon_core", "flask", "gunicorn", "werkzeug", "grpc", "yaml", "requests"):
        result = subprocess.run(
            [python, "-c", f"import {module}"],
            cwd=server.app,
            env=server.env,
            capture_output=True,
            timeout=60,
        )
        assert result.returncode != 0 and b"ModuleNotFoundError" in result.stderr, module
    loaded = subprocess.run(
        [python, "-c", "import serving.server, serving.app, serving.served_model, serving.scoring"],
        cwd=server.app,
        env=server.env,
        capture_output=True,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr.decode()


_LOADED_DISTRIBUTIONS = """
import importlib, json, sys
from importlib import metadata
for module in sys.argv[1:]:
    importlib.import_module(module)
owners = metadata.packages_distributions()
print(json.dumps(sorted({d for name in list(sys.modules) for d in owners.get(name.split(".")[0], [])})))
"""


def test_every_pinned_package_is_imported_at_serve_time_or_required_by_one(server):
    """requirements-serving.txt holds the serve-time imports and their dependencies, nothing more."""
    result = subprocess.run(
        [str(server.venv / "bin" / "python"), "-c", _LOADED_DISTRIBUTIONS, *SERVE_TIME_MODULES],
        cwd=server.app,
        env=server.env,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    needed = {canonicalize_name(name) for name in json.loads(result.stdout)}
    pinned = read_pins(SERVING_REQUIREMENTS)
    todo = list(needed)
    while todo:  # add what the imported distributions require
        for text in metadata.distribution(todo.pop()).requires or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            name = canonicalize_name(requirement.name)
            if name not in needed:
                needed.add(name)
                todo.append(name)
    unused, missing = sorted(set(pinned) - needed), sorted(needed - set(pinned))
    assert not unused, f"pinned but neither imported at serve time nor required: {unused}"
    assert not missing, f"imported at serve time (or required) but not pinned: {missing}"

"""A local daemon serving one model bundle with the project's model server (Seldon v1 and OIP v2)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import requests
from zenml.services import (
    HTTPEndpointHealthMonitor,
    HTTPEndpointHealthMonitorConfig,
    ServiceEndpointProtocol,
    ServiceType,
)
from zenml.services.local.local_service import LocalDaemonService, LocalDaemonServiceConfig
from zenml.services.local.local_service_endpoint import (
    LocalDaemonServiceEndpoint,
    LocalDaemonServiceEndpointConfig,
)
from zenml.services.service import BaseDeploymentService

from flavors.local_seldon import LOCAL_SELDON_FLAVOR
from flavors.local_seldon.supervisor import (
    ACTIVE_FILE,
    Supervisor,
    SwapFailed,
    listening_socket,
    read_state,
    request_swap,
    server_command,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PREDICTION_PATH = "api/v1.0/predictions"
READINESS_PATH = "health/status"


class LocalSeldonDeploymentConfig(LocalDaemonServiceConfig):
    """What to serve and how: the bundle folder, worker processes, limits."""

    bundle_dir: str
    port: int | None = None  # preferred; another free port is taken when it is busy
    workers: int = 1
    metrics_port: int | None = None  # Prometheus metrics on 127.0.0.1; None: a free port per server
    ready_timeout_s: float = 120.0
    request_log_dir: str = ""  # SERVING_REQUEST_LOG_DIR of the servers; "" = no request log
    max_body_bytes: int | None = None  # SERVING_MAX_BODY_BYTES; None: the server's default (16 MiB)
    contract_violations: str = "reject"  # SERVING_CONTRACT_VIOLATIONS: reject | flag
    body_timeout_s: float = 10.0  # SERVING_BODY_TIMEOUT_S; a stopped server finishes requests for 5 s more


class LocalSeldonDeploymentService(LocalDaemonService, BaseDeploymentService):
    """The project's model server (``python -m serving``) on 127.0.0.1, swapped blue/green."""

    SERVICE_TYPE = ServiceType(
        name="seldon-local-deployment",
        type="model-serving",
        flavor=LOCAL_SELDON_FLAVOR,
        description="The project's model server (Seldon v1 and OIP v2 protocols) running locally",
    )
    config: LocalSeldonDeploymentConfig
    endpoint: LocalDaemonServiceEndpoint

    def __init__(self, config: LocalSeldonDeploymentConfig | dict[str, Any], **attrs: Any) -> None:
        if not isinstance(config, LocalSeldonDeploymentConfig):
            config = LocalSeldonDeploymentConfig.model_validate(config)
        attrs.setdefault(
            "endpoint",
            LocalDaemonServiceEndpoint(
                config=LocalDaemonServiceEndpointConfig(
                    protocol=ServiceEndpointProtocol.HTTP, ip_address="127.0.0.1", port=config.port
                ),
                monitor=HTTPEndpointHealthMonitor(
                    config=HTTPEndpointHealthMonitorConfig(healthcheck_uri_path=READINESS_PATH)
                ),
            ),
        )
        super().__init__(config=config, **attrs)

    def _get_daemon_cmd(self) -> tuple[list[str], dict[str, str]]:
        # The daemon re-imports this class by its module path: make the project importable.
        command, env = super()._get_daemon_cmd()
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        return command, env

    def run(self) -> None:
        """Supervise the server: own the port, (re)start servers, swap versions on SIGHUP.

        Runs in the ZenML daemon. (Exec-ing the server instead would keep the PID but change
        the command line, which ZenML checks to recognise its own daemons.)
        """
        public = listening_socket("127.0.0.1", self.endpoint.status.port)
        env = {**os.environ}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        for name in (
            "SERVING_REQUEST_LOG_DIR",
            "SERVING_MAX_BODY_BYTES",
            "SERVING_WORKERS",
            "SERVING_BODY_TIMEOUT_S",
        ):
            env.pop(name, None)  # the config decides, not the caller's shell
        if self.config.request_log_dir:
            env["SERVING_REQUEST_LOG_DIR"] = self.config.request_log_dir
        if self.config.max_body_bytes:
            env["SERVING_MAX_BODY_BYTES"] = str(self.config.max_body_bytes)
        env["SERVING_CONTRACT_VIOLATIONS"] = self.config.contract_violations
        env["SERVING_BODY_TIMEOUT_S"] = f"{self.config.body_timeout_s:g}"
        metrics = _metrics_socket(self.config.metrics_port) if self.config.metrics_port else None
        supervisor = Supervisor(
            public,
            server_command(),
            self.status.runtime_path,
            env,
            ready_timeout_s=self.config.ready_timeout_s,
            cwd=PROJECT_ROOT,
            metrics=metrics,
            stop_grace_s=self.config.body_timeout_s + 5.0,
            workers=self.config.workers,
        )
        sys.exit(supervisor.run(self.config.bundle_dir, self.config.model_version))

    def served(self) -> dict[str, Any]:
        """What the supervisor serves now (``active.json``), or {} before it has started."""
        return read_state(Path(self.status.runtime_path or "") / ACTIVE_FILE)

    def switch_to(self, bundle_dir: str, model_version: str, timeout: float) -> str:
        """Ask the running supervisor to serve another bundle, blue/green; returns the outcome.

        Returns ``"swapped"`` or ``"unchanged"``; raises when the new server did not become
        healthy (the old one then keeps serving) or the supervisor did not answer in time.
        """
        try:
            return request_swap(
                Path(self.status.runtime_path), self.status.pid, bundle_dir, model_version, timeout
            )
        except SwapFailed as exc:
            raise RuntimeError(f"{exc}; log: {self.status.log_file}") from None

    @property
    def prediction_url(self) -> str | None:
        if not self.is_running or not self.endpoint.status.uri:
            return None
        return self.endpoint.status.uri.rstrip("/") + "/" + PREDICTION_PATH

    def predict(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one Seldon request to the running server and return its JSON answer."""
        if self.prediction_url is None:
            raise RuntimeError(f"the model server {self.config.service_name} is not running")
        response = requests.post(self.prediction_url, json=request, timeout=30)
        response.raise_for_status()
        return response.json()


def _metrics_socket(port: int) -> Any:
    """The metrics socket on the configured port or, when another server holds it (two models
    on one stack), on a free one: a busy metrics port must not keep a model from serving."""
    try:
        return listening_socket("127.0.0.1", port)
    except OSError as exc:
        sock = listening_socket("127.0.0.1", 0)
        print(
            f"metrics port {port} is taken ({exc.strerror}); metrics on 127.0.0.1:{sock.getsockname()[1]}",
            file=sys.stderr,
            flush=True,
        )
        return sock

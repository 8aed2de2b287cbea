"""A local daemon serving one model bundle with the Seldon Core microservice."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
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

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PREDICTION_PATH = "api/v1.0/predictions"
READINESS_PATH = "health/status"


def _free_local_port() -> int:
    """A port the OS considers free on 127.0.0.1 (never the HTTP port, which is already chosen)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalSeldonDeploymentConfig(LocalDaemonServiceConfig):
    """What to serve and how: the bundle folder, worker processes and threads."""

    bundle_dir: str
    port: int | None = None  # preferred; another free port is taken when it is busy
    workers: int = 1
    threads: int = 4
    metrics_port: int | None = None


class LocalSeldonDeploymentService(LocalDaemonService, BaseDeploymentService):
    """``serving.model_server.TabularModel`` behind the Seldon Core microservice, on 127.0.0.1."""

    SERVICE_TYPE = ServiceType(
        name="seldon-local-deployment",
        type="model-serving",
        flavor=LOCAL_SELDON_FLAVOR,
        description="Seldon Core microservice running the project's serving class locally",
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

    def serving_command(self) -> list[str]:
        """``seldon-core-microservice`` with our class, as the image runs it, minus gRPC.

        REST and metrics bind 127.0.0.1 (``SERVING_BIND_HOST``, see serving.model_server);
        the gRPC server, which seldon-core can only bind to 0.0.0.0, is not started locally.
        """
        microservice = Path(sys.executable).with_name("seldon-core-microservice")
        metrics_port = self.config.metrics_port or _free_local_port()
        return [
            str(microservice),
            "serving.model_server.TabularModel",
            "--service-type",
            "MODEL",
            "--http-port",
            str(self.endpoint.status.port),
            "--metrics-port",
            str(metrics_port),
            "--workers",
            str(self.config.workers),
            "--threads",
            str(self.config.threads),
            "--grpc-workers",
            "0",
        ]

    def run(self) -> None:
        """Run the server as a child of the daemon and stop it when the daemon is told to stop.

        (Exec-ing the server instead would keep the PID but change the command line, which
        ZenML checks to recognise its own daemons.)
        """
        env = {**os.environ, "MODEL_DIR": self.config.bundle_dir, "SERVING_BIND_HOST": "127.0.0.1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        server = subprocess.Popen(self.serving_command(), env=env, cwd=PROJECT_ROOT)

        def stop(signum: int, frame: Any) -> None:
            server.terminate()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        sys.exit(server.wait())

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

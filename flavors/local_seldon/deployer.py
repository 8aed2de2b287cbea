"""The `seldon-local` model deployer: starts, replaces and stops local Seldon daemons."""

from __future__ import annotations

import os
import shutil
import signal
from typing import ClassVar, cast
from uuid import UUID

from zenml.config.global_config import GlobalConfiguration
from zenml.constants import DEFAULT_SERVICE_START_STOP_TIMEOUT
from zenml.model_deployers import BaseModelDeployer, BaseModelDeployerFlavor
from zenml.services.service import BaseService, ServiceConfig

from flavors.local_seldon.flavor import LocalSeldonModelDeployerConfig, LocalSeldonModelDeployerFlavor
from flavors.local_seldon.service import LocalSeldonDeploymentConfig, LocalSeldonDeploymentService


def kill_leftover_server(service: LocalSeldonDeploymentService) -> None:
    """Kill the process group of the last server the supervisor ran, if anything of it is left.

    Servers die with their supervisor; this covers a supervisor killed before it could say so.
    """
    server_pid = service.served().get("server_pid")
    if server_pid:
        try:
            os.killpg(int(server_pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class LocalSeldonModelDeployer(BaseModelDeployer):
    """Runs each deployment as a daemon whose files live under the component's folder."""

    NAME: ClassVar[str] = "Seldon (local)"
    FLAVOR: ClassVar[type[BaseModelDeployerFlavor]] = LocalSeldonModelDeployerFlavor

    @property
    def config(self) -> LocalSeldonModelDeployerConfig:
        return cast(LocalSeldonModelDeployerConfig, self._config)

    @property
    def local_path(self) -> str:
        path = self.config.service_path or os.path.join(GlobalConfiguration().local_stores_path, str(self.id))
        os.makedirs(path, exist_ok=True)
        return path

    @staticmethod
    def get_model_server_info(service_instance: LocalSeldonDeploymentService) -> dict[str, str | None]:  # type: ignore[override]
        served = service_instance.served()  # what the supervisor serves now (a swap changes it in place)
        return {
            "PREDICTION_URL": service_instance.prediction_url,
            "HEALTH_CHECK_URL": service_instance.get_healthcheck_url(),
            "MODEL_NAME": service_instance.config.model_name,
            "MODEL_VERSION": served.get("model_version") or service_instance.config.model_version,
            "BUNDLE_DIR": served.get("bundle_dir") or service_instance.config.bundle_dir,
            "SERVER_PID": str(served.get("server_pid")),
            "SERVICE_PATH": service_instance.status.runtime_path,
            "DAEMON_PID": str(service_instance.status.pid),
        }

    def perform_deploy_model(
        self, id: UUID, config: ServiceConfig, timeout: int = DEFAULT_SERVICE_START_STOP_TIMEOUT
    ) -> BaseService:
        config = cast(LocalSeldonDeploymentConfig, config)
        config.root_runtime_path = self.local_path
        service = LocalSeldonDeploymentService(uuid=id, config=config)
        service.start(timeout=timeout)
        if not service.is_running:
            raise RuntimeError(
                f"the server did not become ready in {timeout}s: {service.status.last_error}; "
                f"log: {service.status.log_file}"
            )
        return service

    def perform_stop_model(
        self, service: BaseService, timeout: int = DEFAULT_SERVICE_START_STOP_TIMEOUT, force: bool = False
    ) -> BaseService:
        service.stop(timeout=timeout, force=force)
        return service

    def perform_start_model(
        self, service: BaseService, timeout: int = DEFAULT_SERVICE_START_STOP_TIMEOUT
    ) -> BaseService:
        service.start(timeout=timeout)
        return service

    def perform_delete_model(
        self, service: BaseService, timeout: int = DEFAULT_SERVICE_START_STOP_TIMEOUT, force: bool = False
    ) -> None:
        service.stop(timeout=timeout, force=force)
        kill_leftover_server(service)
        runtime_path = service.status.runtime_path
        if runtime_path and os.path.isdir(runtime_path):
            shutil.rmtree(runtime_path)

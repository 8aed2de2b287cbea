"""The `seldon-local` model-deployer flavor: its name and configuration."""

from typing import TYPE_CHECKING

from pydantic import Field
from zenml.model_deployers.base_model_deployer import BaseModelDeployerConfig, BaseModelDeployerFlavor

from flavors.local_seldon import LOCAL_SELDON_FLAVOR

if TYPE_CHECKING:
    from flavors.local_seldon.deployer import LocalSeldonModelDeployer


class LocalSeldonModelDeployerConfig(BaseModelDeployerConfig):
    """Where the daemons keep their configuration, PID and log files."""

    service_path: str = Field("", description="Folder for daemon files; ZenML's local store when empty.")

    @property
    def is_local(self) -> bool:
        return True


class LocalSeldonModelDeployerFlavor(BaseModelDeployerFlavor):
    """Seldon Core serving as local processes bound to 127.0.0.1."""

    @property
    def name(self) -> str:
        return LOCAL_SELDON_FLAVOR

    @property
    def config_class(self) -> type[LocalSeldonModelDeployerConfig]:
        return LocalSeldonModelDeployerConfig

    @property
    def implementation_class(self) -> type["LocalSeldonModelDeployer"]:
        from flavors.local_seldon.deployer import LocalSeldonModelDeployer

        return LocalSeldonModelDeployer

"""The `webhook` alerter flavor: its name and configuration."""

from typing import TYPE_CHECKING, Literal

from pydantic import Field
from zenml.alerter.base_alerter import BaseAlerterConfig, BaseAlerterFlavor

from flavors.webhook_alerter import WEBHOOK_ALERTER_FLAVOR

if TYPE_CHECKING:
    from flavors.webhook_alerter.alerter import WebhookAlerter

PayloadFormat = Literal["slack", "teams", "mattermost", "generic"]


class WebhookAlerterConfig(BaseAlerterConfig):
    """Where the webhook URL is kept, what the body looks like, and how hard to try."""

    secret_name: str = Field(description="ZenML secret whose key `url` holds the incoming-webhook URL.")
    payload_format: PayloadFormat = Field(
        "slack", description="Body shape: slack | teams | mattermost ({'text'}) or generic."
    )
    timeout_s: float = Field(
        10.0, gt=0, description="Seconds each connect or read of an attempt may wait for the server."
    )
    deadline_s: float = Field(
        60.0,
        gt=0,
        description="Most seconds one alert may take, every attempt, wait and read included "
        "(a receiver trickling its answer cannot stretch it).",
    )
    retries: int = Field(
        3, ge=0, le=10, description="Retries after the first attempt on 5xx, 429 and connection errors."
    )
    backoff_s: float = Field(
        0.5, ge=0, le=30, description="Backoff factor: waits 0, 2x, 4x ... this between retries."
    )


class WebhookAlerterFlavor(BaseAlerterFlavor):
    """Posts alerts to an incoming-webhook URL read from a ZenML secret."""

    @property
    def name(self) -> str:
        return WEBHOOK_ALERTER_FLAVOR

    @property
    def config_class(self) -> type[WebhookAlerterConfig]:
        return WebhookAlerterConfig

    @property
    def implementation_class(self) -> type["WebhookAlerter"]:
        from flavors.webhook_alerter.alerter import WebhookAlerter

        return WebhookAlerter

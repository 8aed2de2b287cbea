"""The webhook alerter's flavor, and its configuration's defaults and checks
(flavors/webhook_alerter/flavor.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flavors.webhook_alerter.alerter import WebhookAlerter
from flavors.webhook_alerter.flavor import WebhookAlerterFlavor


def test_the_flavor_and_its_config():
    flavor = WebhookAlerterFlavor()
    assert (flavor.name, flavor.type.value) == ("webhook", "alerter")
    assert flavor.implementation_class is WebhookAlerter
    config = flavor.config_class(secret_name="alert_webhook")
    assert (config.payload_format, config.timeout_s, config.deadline_s, config.retries, config.backoff_s) == (
        "slack",
        10.0,
        60.0,
        3,
        0.5,
    )
    with pytest.raises(ValidationError, match="secret_name"):
        flavor.config_class()
    with pytest.raises(ValidationError, match="payload_format"):
        flavor.config_class(secret_name="s", payload_format="discord")

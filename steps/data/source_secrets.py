"""The ZenML secret behind a source config, for the steps that read sources (not a step)."""

from __future__ import annotations

from zenml.client import Client


def source_secrets(source) -> dict[str, str] | None:
    """The values of the source's ZenML secret (``secret: NAME``), or None when it names none."""
    name = getattr(source, "secret", None)
    return dict(Client().get_secret(name).secret_values) if name else None

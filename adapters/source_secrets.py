"""The ZenML secret behind a source or sink config, for the steps and the CLI that read them."""

from __future__ import annotations

from zenml.client import Client


def source_secrets(source) -> dict[str, str] | None:
    """The values of the source's ZenML secret (``secret: NAME``), or None when it names none."""
    name = getattr(source, "secret", None)
    if not name:
        return None
    # exact name only: ZenML otherwise takes a secret whose name merely contains this one
    secret = Client().get_secret(name, allow_partial_name_match=False, allow_partial_id_match=False)
    return dict(secret.secret_values)

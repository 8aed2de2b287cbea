"""Materializers are tested on a ``LocalArtifactStore`` rooted in ``tmp_path`` (which is what ZenML
itself passes when it saves a step output), so the active stack, the client and the global
configuration are never touched."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest


@pytest.fixture(autouse=True)
def _throwaway_zenml_config(tmp_path, monkeypatch):
    # Belt and braces: should anything reach for ZenML's global configuration, it lands here.
    monkeypatch.setenv("ZENML_CONFIG_PATH", str(tmp_path / "zenml_config"))
    monkeypatch.setenv("ZENML_ANALYTICS_OPT_IN", "false")


def local_artifact_store(path: str):
    """A ``LocalArtifactStore`` rooted in ``path``, registered nowhere."""
    from zenml.artifact_stores.local_artifact_store import LocalArtifactStore, LocalArtifactStoreConfig
    from zenml.enums import StackComponentType

    now = datetime.now(UTC)
    return LocalArtifactStore(
        name="test_store",
        id=uuid.uuid4(),
        config=LocalArtifactStoreConfig(path=path),
        flavor="local",
        type=StackComponentType.ARTIFACT_STORE,
        user=None,
        created=now,
        updated=now,
    )


@pytest.fixture()
def artifact_store(tmp_path):
    return local_artifact_store(str(tmp_path / "store"))

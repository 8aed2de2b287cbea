"""The content-hashed pandas materializer, on a ``LocalArtifactStore`` in ``tmp_path`` (no ZenML store)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import numpy as np
import pandas as pd
import psutil
import pyarrow

from materializers.dataframe_materializer import HashedPandasMaterializer
from tests.support.paths import PROJECT_ROOT


def materializer(artifact_store) -> HashedPandasMaterializer:
    uri = os.path.join(artifact_store.path, "step", "output", str(uuid.uuid4()))
    artifact_store.makedirs(uri)
    return HashedPandasMaterializer(uri=uri, artifact_store=artifact_store)


def table(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "n": rng.integers(0, 100, rows),
            "plan": pd.Categorical(rng.choice(["basic", "plus", "pro"], rows)),
        }
    )


def test_equal_frames_store_equal_hashes_and_load_back_equal(artifact_store):
    first, second, other = (
        materializer(artifact_store),
        materializer(artifact_store),
        materializer(artifact_store),
    )
    first.save(table(1000))
    second.save(table(1000))
    other.save(table(1000, seed=1))
    assert first.compute_content_hash(None) == second.compute_content_hash(None)
    assert first.compute_content_hash(None) != other.compute_content_hash(None)
    pd.testing.assert_frame_equal(first.load(pd.DataFrame), table(1000))


def held_by_a_load(store_path: str, uri: str) -> float:
    """Loads the frame stored at ``uri`` in a fresh process's view: memory held after the load,
    as a multiple of the frame's size."""
    from tests.unit.materializers.conftest import local_artifact_store

    loaded_by = HashedPandasMaterializer(uri=uri, artifact_store=local_artifact_store(store_path))
    process = psutil.Process()
    before = process.memory_info().rss
    loaded = loaded_by.load(pd.DataFrame)
    assert pyarrow.total_allocated_bytes() >= 0.9 * loaded.memory_usage(deep=True).sum()  # in Arrow's buffers
    return (process.memory_info().rss - before) / loaded.memory_usage(deep=True).sum()


def test_arrows_buffers_are_handed_back_after_a_load(artifact_store):
    stored = materializer(artifact_store)
    stored.save(table(3_000_000))
    code = (
        "from tests.unit.materializers.test_dataframe_materializer import held_by_a_load; "
        f"print(held_by_a_load({str(artifact_store.path)!r}, {stored.uri!r}))"
    )
    child = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert child.returncode == 0, child.stderr[-2000:]
    held = float(child.stdout.split()[-1])
    # a fresh process, so nothing earlier is reused: without the release, Arrow's converting and
    # decompressing buffers stay as well, about 2.5 times the frame; with it about 1.3 times
    assert 1.0 <= held < 1.7, held

"""Where the project is, for helpers that start processes in it or read its data and configs."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TELCO_CSV = PROJECT_ROOT / "data" / "raw" / "telco_churn.csv"


def docs_image(name: str) -> Path:
    """Where a test's screenshot of a docs image goes: ``docs/images/`` under
    ``UPDATE_DOCS_IMAGES=1`` (``make docs-images``), else ``test-artifacts/docs-images/`` (ignored by
    git), so that a test run leaves the tree as it found it."""
    folder = PROJECT_ROOT / "docs" / "images"
    if os.environ.get("UPDATE_DOCS_IMAGES") != "1":
        folder = PROJECT_ROOT / "test-artifacts" / "docs-images"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name

"""Reference rows kept in a model bundle, to check a server's compiled path against the Pipeline.

``reference_rows.json`` holds up to 500 rows of the data the model was evaluated on, as a
Seldon request body (``{"data": {"names": [...], "ndarray": [[...]]}}``) so the server reads
them with the same parser as any request. A bundle without the file is still served; the
compiled path is then checked on rows made from the schema alone (see :mod:`serving.scoring`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["MAX_REFERENCE_ROWS", "REFERENCE_FILE", "read_reference_request", "reference_request"]

REFERENCE_FILE = "reference_rows.json"
MAX_REFERENCE_ROWS = 500


def reference_request(frame: pd.DataFrame, columns: list[str], max_rows: int = MAX_REFERENCE_ROWS) -> dict:
    """The first ``max_rows`` rows of ``frame``'s ``columns`` as a Seldon ndarray request (nulls as null)."""
    rows = frame[columns].head(max_rows)
    values = rows.astype(object).where(rows.notna(), None).to_numpy().tolist()
    return {"data": {"names": list(columns), "ndarray": values}}


def read_reference_request(directory: str | Path) -> dict[str, Any] | None:
    """The bundle's reference rows as a request body; None when the bundle has none or they are unreadable."""
    path = Path(directory) / REFERENCE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None

"""Every monitoring run's numbers, one time series per model version, in a plain folder.

``<path>/<model>/version-<n>/runs.jsonl`` holds one JSON object a run (appended, never
rewritten); ``realized_windows.json`` the realized windows as the last run left them (see
:mod:`tabular_ml.monitoring.realized_performance`), rewritten whole through
:func:`tabular_ml.data.atomic_files.write_atomically`. A run record is flat enough to plot:
:func:`run_record` builds it from the run's drift summary, data quality and the ``monitoring``
numbers the verdict step recorded.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from tabular_ml.data.atomic_files import write_atomically
from tabular_ml.monitoring.drift import DriftSummary
from tabular_ml.monitoring.quality import DataQualityReport
from tabular_ml.monitoring.realized_performance import HEADLINE_METRICS

__all__ = ["MonitoringHistory", "plotted_values", "run_record"]

logger = logging.getLogger(__name__)

RUNS_FILE = "runs.jsonl"
WINDOWS_FILE = "realized_windows.json"


def run_record(
    numbers: dict[str, Any],
    drift: DriftSummary,
    quality: DataQualityReport,
    windows: list[dict],
    realized: dict[str, float],
    run_name: str,
) -> dict[str, Any]:
    """One run's numbers: the verdict step's (``alert``, ``current_rows``, ``drift_share``,
    ``estimated``, ``realized``, ...), per-column drift scores, per-column quality, and the
    realized windows' totals. ``realized`` (the metrics of every labelled prediction the run
    joined) stands in for the verdict step's when it recorded none."""
    labelled = sum(window["labelled_rows"] for window in windows)
    return {
        "run": run_name,
        "checked_at": numbers.get("checked_at"),
        "model_version": numbers.get("model_version"),
        "alert": numbers.get("alert"),
        "current_rows": numbers.get("current_rows", quality.rows),
        "drift_share": numbers.get("drift_share", drift.drift_share if drift.columns else None),
        "drifted_columns": numbers.get("drifted_columns", drift.drifted_features),
        "prediction_drift_score": numbers.get("prediction_drift_score"),
        "drift_scores": {column.column: column.score for column in drift.columns},
        "quality": {
            column.column: {
                "missing_share": column.missing_share,
                "unseen_share": column.unseen_share,
                "out_of_range_share": column.out_of_range_share,
            }
            for column in quality.columns
        },
        "missing_columns": list(quality.missing_columns),
        "metrics": numbers.get("metrics", {}),
        "estimated": numbers.get("estimated", {}),
        "realized": numbers.get("realized") or realized,
        "realized_windows": {
            "windows": len(windows),
            "predictions": sum(window["predictions"] for window in windows),
            "labelled_rows": labelled,
            "unlabelled_rows": sum(window["unlabelled_rows"] for window in windows),
        },
    }


def plotted_values(record: dict[str, Any]) -> dict[str, float]:
    """A run record's numbers that are drawn over time, by series name: ``drift_share``, row
    counts, ``estimated_<metric>`` with ``_low`` and ``_high``, ``realized_<metric>`` (the
    headline metrics of :data:`HEADLINE_METRICS` only)."""
    values: dict[str, Any] = {
        "drift_share": record.get("drift_share"),
        "current_rows": record.get("current_rows"),
        "labelled_rows": record["realized_windows"]["labelled_rows"],
        "unlabelled_rows": record["realized_windows"]["unlabelled_rows"],
    }
    for metric, estimate in (record.get("estimated") or {}).items():
        values[f"estimated_{metric}"] = estimate.get("value")
        values[f"estimated_{metric}_low"] = estimate.get("low")
        values[f"estimated_{metric}_high"] = estimate.get("high")
    headline = {name for names in HEADLINE_METRICS.values() for name in names}
    for metric, value in (record.get("realized") or {}).items():
        if metric in headline:
            values[f"realized_{metric}"] = value
    return {name: float(value) for name, value in values.items() if isinstance(value, int | float)}


class MonitoringHistory:
    """The history folder of one model version."""

    def __init__(self, root: str | Path, model_name: str, version: str | int):
        self.folder = Path(root) / model_name / f"version-{version}"

    def runs(self) -> list[dict[str, Any]]:
        """Every recorded run, oldest first ([] before the first)."""
        path = self.folder / RUNS_FILE
        if not path.exists():
            return []
        records = []
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line torn by a run killed mid-append: that run is lost
                if line.strip():
                    logger.warning("Skipping a torn line of %s: %.60s", path, line)
        return records

    def append_run(self, record: dict[str, Any]) -> None:
        """Add one run's record (one line, on disk when this returns)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / RUNS_FILE
        torn = path.exists() and path.stat().st_size > 0 and _last_byte(path) != b"\n"
        with open(path, "a") as handle:  # after a torn line, on a line of its own
            handle.write(("\n" if torn else "") + json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def windows(self) -> list[dict]:
        """The realized windows the last run stored ([] before any)."""
        path = self.folder / WINDOWS_FILE
        return json.loads(path.read_text()) if path.exists() else []

    def save_windows(self, windows: list[dict]) -> None:
        """Replace the stored windows (written whole or not at all)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomically(self.folder / WINDOWS_FILE, json.dumps(windows, indent=1).encode())


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1)

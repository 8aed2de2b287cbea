"""The active stack's experiment tracker: tracked steps pointed at it, its local database made whole."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zenml.client import Client

from tabular_ml.data.atomic_files import fsync_directory, fsync_file

SQLITE_PREFIX = "sqlite:///"


def bind_experiment_tracker(config: dict[str, Any]) -> list[str]:
    """Set each tracked step's ``experiment_tracker`` to the active stack's; return the steps left untracked.

    configs/ name the local tracker (`mlflow_tracker`); the prod stack's has another name,
    and a stack without a tracker runs the steps untracked (they log to MLflow only when a
    run is active).
    """
    tracker = Client().active_stack.experiment_tracker
    untracked = []
    for name, step_config in (config.get("steps") or {}).items():
        if "experiment_tracker" not in step_config:
            continue
        if tracker is None:
            del step_config["experiment_tracker"]
            untracked.append(name)
        else:
            step_config["experiment_tracker"] = tracker.name
    return untracked


def create_tracking_database() -> Path | None:
    """Create the active tracker's local SQLite database, if it has one and it is missing; return its path.

    MLflow creates its tables on first use, so a run killed meanwhile leaves a half-made
    database on which every later run fails ("table ... already exists"). Made here before
    the run, under a temporary name and then linked into place, it is whole or absent.
    """
    tracker = Client().active_stack.experiment_tracker
    uri = tracker.get_tracking_uri() if tracker is not None and hasattr(tracker, "get_tracking_uri") else ""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    path = Path(uri.removeprefix(SQLITE_PREFIX))
    if not path.exists():
        create_sqlite_tracking_store(path)
    return path


def create_sqlite_tracking_store(path: Path) -> None:
    """MLflow's tables in a new SQLite file at ``path``, created under a temporary name first."""
    from mlflow import MlflowClient

    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    try:
        MlflowClient(tracking_uri=SQLITE_PREFIX + str(partial)).search_experiments(max_results=1)
        fsync_file(partial)
        try:
            os.link(partial, path)  # never over a database another process made meanwhile
        except FileExistsError:
            pass
        fsync_directory(path.parent)
    finally:
        partial.unlink(missing_ok=True)

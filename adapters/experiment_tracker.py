"""Pointing a run's tracked steps at the active stack's experiment tracker, whatever its name."""

from __future__ import annotations

from typing import Any

from zenml.client import Client


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

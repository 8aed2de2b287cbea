"""Drop ZenML's "Failed to disable MLflow autologging" warning when it is about libraries that
are not installed.

ZenML's MLflow experiment tracker disables autologging for eight frameworks around every
tracked step and warns about each one it could not import. Here that is fastai, which the
project does not use: the warning came twice per training run and said nothing. A warning that
names an installed framework (a real failure) still gets through.
"""

from __future__ import annotations

import importlib.util
import logging
import re

TRACKER_LOGGER = "zenml.integrations.mlflow.experiment_trackers.mlflow_experiment_tracker"
MESSAGE_START = "Failed to disable MLflow autologging for the following frameworks:"
# MLflow's flavor names where the library's import name differs
IMPORT_NAMES = {"pytorch": "torch", "spark": "pyspark"}


def installed(framework: str) -> bool:
    return importlib.util.find_spec(IMPORT_NAMES.get(framework, framework)) is not None


class UninstalledFrameworksOnly(logging.Filter):
    """Keeps every record but the autologging warning that names only uninstalled frameworks."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith(MESSAGE_START):
            return True
        return any(installed(name) for name in re.findall(r"'([\w.]+)'", message))


def quiet_uninstalled_autolog_warning() -> None:
    """Install the filter on the tracker's logger once (idempotent)."""
    tracker_logger = logging.getLogger(TRACKER_LOGGER)
    if not any(isinstance(f, UninstalledFrameworksOnly) for f in tracker_logger.filters):
        tracker_logger.addFilter(UninstalledFrameworksOnly())

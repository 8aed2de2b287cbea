"""ZenML's autologging warning is dropped only when it names nothing that is installed."""

from __future__ import annotations

import logging

import pytest

import adapters.mlflow_tracking  # noqa: F401  (installs the filter, as the tracked steps do)
from adapters.autolog_warning import MESSAGE_START, TRACKER_LOGGER, UninstalledFrameworksOnly, installed


def test_the_import_names_follow_mlflows_flavor_names():
    assert installed("sklearn") and not installed("fastai") and not installed("pytorch")


@pytest.mark.parametrize(
    ("frameworks", "kept"),
    [
        (["fastai"], False),  # not installed: the warning says nothing
        (["fastai", "pytorch", "spark"], False),
        (["sklearn"], True),  # installed and failed: a real problem
        (["fastai", "statsmodels"], True),
    ],
)
def test_only_warnings_about_uninstalled_frameworks_are_dropped(caplog, frameworks, kept):
    with caplog.at_level(logging.WARNING, logger=TRACKER_LOGGER):
        logging.getLogger(TRACKER_LOGGER).warning(f"{MESSAGE_START} {frameworks}.")
    assert (MESSAGE_START in caplog.text) is kept


def test_other_warnings_pass_and_the_filter_is_installed_once():
    tracker_logger = logging.getLogger(TRACKER_LOGGER)
    record = logging.LogRecord(
        TRACKER_LOGGER, logging.WARNING, __file__, 1, "MLflow is unreachable", None, None
    )
    assert UninstalledFrameworksOnly().filter(record)
    adapters.mlflow_tracking.quiet_uninstalled_autolog_warning()
    assert sum(isinstance(f, UninstalledFrameworksOnly) for f in tracker_logger.filters) == 1

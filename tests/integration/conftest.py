"""Fixtures the serving tests share: the training config's parameters and the bundled table,
loaded once per test module."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from tabular_ml.configuration.schema import TrainingParameters
from tests.support.serving_model import TELCO_CSV, training_params


@pytest.fixture(scope="module")
def params() -> TrainingParameters:
    return training_params()


@pytest.fixture(scope="module")
def telco() -> pd.DataFrame:
    return pd.read_csv(TELCO_CSV)


@pytest.fixture
def clean_env(monkeypatch):
    """No serving variable of the calling shell configures what the test builds."""
    for name in list(os.environ):
        if name.startswith(("SERVING_", "PREDICTIVE_UNIT_", "PROMETHEUS_")) or name == "MODEL_DIR":
            monkeypatch.delenv(name)
    return monkeypatch

"""The model the serving tests serve: the training config's Pipeline on Telco rows, and requests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression

from serving.bundle import save_bundle
from serving.metrics import ServingMetrics
from serving.served_model import ServedModel
from serving.settings import load_settings
from tabular_ml.configuration.schema import TrainingParameters
from tabular_ml.modelling.model import build_model, encode_target
from tests.support.paths import PROJECT_ROOT

TELCO_CSV = PROJECT_ROOT / "data/raw/telco_churn.csv"


def training_params() -> TrainingParameters:
    """The ``parameters`` of configs/training.yaml (contract with ranges, features, preprocessing)."""
    config = yaml.safe_load((PROJECT_ROOT / "configs/training.yaml").read_text())
    return TrainingParameters.model_validate(config["parameters"])


def fit_pipeline(params: TrainingParameters, train: pd.DataFrame, estimator: BaseEstimator | None = None):
    """The training config's Pipeline with ``estimator`` (default: logistic regression), fitted."""
    estimator = estimator if estimator is not None else LogisticRegression(max_iter=500)
    model = build_model(params.contract, params.preprocessing, params.features, estimator)
    y = encode_target(train[params.contract.target], params.contract)
    return model.fit(train[params.contract.feature_names], y)


def save_test_bundle(folder: Path, pipeline, params: TrainingParameters, version: str, **kwargs) -> Path:
    return save_bundle(folder, pipeline, params.contract, "churn_classifier", version, **kwargs)


def ndarray_request(frame: pd.DataFrame) -> dict:
    values = frame.astype(object).where(frame.notna(), None).to_numpy().tolist()
    return {"data": {"names": list(frame.columns), "ndarray": values}}


def records_request(frame: pd.DataFrame) -> dict:
    return {"jsonData": frame.astype(object).where(frame.notna(), None).to_dict(orient="records")}


def served_model(bundle: Path, **settings) -> ServedModel:
    """The bundle loaded as a server loads it (``settings``: ServingSettings fields), metrics apart."""
    return ServedModel.load(load_settings(model_dir=bundle, **settings), ServingMetrics(environ={}))

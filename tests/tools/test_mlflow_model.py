"""The MLflow model logged by training: loads without the project on the path, predicts raw CSV rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest

from adapters.mlflow_tracking import log_model_to_mlflow
from tests.support.serving_model import TELCO_CSV, fit_pipeline, training_params

pytestmark = pytest.mark.tools

LOAD_AND_PREDICT = """
import importlib.util, json, sys
import mlflow, pandas as pd
assert importlib.util.find_spec("tabular_ml") is None, "the project is importable"
model = mlflow.pyfunc.load_model(sys.argv[1])
raw = pd.read_csv(sys.argv[2])[sys.argv[3].split(",")]
print(json.dumps(model.predict(raw).tolist()))
"""


@pytest.fixture
def logged(tmp_path):
    params = training_params()
    data = pd.read_csv(TELCO_CSV)
    complete = data.dropna()  # MLflow's schema refuses a missing value in an integer column
    pipeline = fit_pipeline(params, data.iloc[:1000])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run():
            model_uri = log_model_to_mlflow(pipeline, complete[params.contract.feature_names].head(5))
    finally:
        mlflow.set_tracking_uri(None)
    return params, complete, pipeline, uri, model_uri


def test_the_pyfunc_model_predicts_raw_csv_rows_without_the_project(tmp_path, logged):
    params, complete, pipeline, tracking_uri, model_uri = logged
    csv = tmp_path / "raw.csv"
    complete.to_csv(csv, index=False)  # integers stay integers, as in the bundled file
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"MLFLOW_TRACKING_URI": tracking_uri}
    names = ",".join(params.contract.feature_names)
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_PREDICT, model_uri, str(csv), names],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    probabilities = np.asarray(json.loads(done.stdout.strip().splitlines()[-1]))
    assert probabilities.shape == (len(complete), 2)
    expected = pipeline.predict_proba(complete[params.contract.feature_names])
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-12)


def test_the_signature_keeps_integers_and_declares_probabilities(logged):
    params, _, _, tracking_uri, model_uri = logged
    mlflow.set_tracking_uri(tracking_uri)
    try:
        signature = mlflow.models.get_model_info(model_uri).signature
    finally:
        mlflow.set_tracking_uri(None)
    types = {spec.name: spec.type.name for spec in signature.inputs.inputs}
    assert types["tenure"] == "long" and types["female"] == "long"
    assert types["monthly_charges"] == "double" and types["contract"] == "string"
    output = signature.outputs.inputs[0]
    assert (str(output.type), output.shape) == ("float64", (-1, 2))

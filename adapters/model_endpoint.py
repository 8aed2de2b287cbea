"""Scoring rows through a model's running server (`run.py predict`), found on the active stack."""

from __future__ import annotations

import pandas as pd

from serving.client import model_inputs, predict
from tabular_ml.configuration.loading import ConfigError


def deployed_endpoint(model_name: str) -> str:
    """The prediction URL of the running server of ``model_name`` on the active stack.

    Raises:
        ConfigError: The stack has no model deployer, or no server of the model is running.
    """
    from zenml.client import Client  # only without --endpoint: ZenML's logging would join predict's output

    deployer = Client().active_stack.model_deployer
    if deployer is None:
        raise ConfigError("the active stack has no model deployer; pass --endpoint")
    # (find_model_server(model_name=...) matches only the model's *latest* version's servers)
    services = [s for s in deployer.find_model_server(running=True) if s.config.model_name == model_name]
    if not services:
        raise ConfigError(
            f"no running server for {model_name!r} on the active stack; "
            "run `python run.py --config configs/deployment.yaml` or pass --endpoint"
        )
    return services[0].get_prediction_url()


def score_through_endpoint(endpoint: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The server's predictions for ``frame``'s rows, and the columns left out (the model does not take them).

    Raises:
        serving.client.PredictionError: The server cannot be read or answers with an error.
    """
    inputs = model_inputs(endpoint)
    ignored = [name for name in frame.columns if name not in inputs]
    return predict(endpoint, frame.drop(columns=ignored)), ignored

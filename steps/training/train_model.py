"""Hyperparameter search over every configured algorithm; the best (by CV score) is refit."""

from typing import Annotated

import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import ArtifactConfig, log_metadata, step
from zenml.enums import ArtifactType

from tabular_ml.config import DataContract, FeatureSpec, PreprocessingConfig, SearchConfig
from tabular_ml.model import encode_target
from tabular_ml.search import run_search
from tabular_ml.tracking import candidates_table, log_model_to_mlflow, log_search_to_mlflow


@step
def train_model(
    train_data: pd.DataFrame,
    contract: DataContract,
    preprocessing: PreprocessingConfig,
    features: list[FeatureSpec],
    search: SearchConfig,
) -> tuple[
    Annotated[Pipeline, ArtifactConfig(name="model", artifact_type=ArtifactType.MODEL)],
    Annotated[pd.DataFrame, "search_results"],
]:
    """Search, log every candidate to the experiment tracker, return the fitted Pipeline."""
    X = train_data[contract.feature_names]
    y = encode_target(train_data[contract.target], contract)
    result = run_search(X, y, contract, preprocessing, features, search)
    log_search_to_mlflow(result, search.scoring)
    mlflow_model_uri = log_model_to_mlflow(result.best_pipeline, X.head(5))
    log_metadata(
        {
            "algorithm": result.best.algorithm,
            "params": result.best.params,
            f"cv_{search.scoring}": result.best.mean_score,
            "candidates": len(result.candidates),
            "mlflow_model_uri": mlflow_model_uri or "not logged (no MLflow tracker)",
        },
        artifact_name="model",
        infer_artifact=True,
    )
    return result.best_pipeline, candidates_table(result)

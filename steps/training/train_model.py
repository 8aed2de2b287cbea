"""The search merged: the best candidate across the algorithms' branches, refit; its decision threshold."""

from typing import Annotated

import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import ArtifactConfig, log_metadata, step
from zenml.enums import ArtifactType
from zenml.logger import get_logger

from adapters.mlflow_tracking import candidates_table, log_model_to_mlflow, log_search_to_mlflow
from tabular_ml.configuration.schema import (
    DataContract,
    EvaluationConfig,
    FeatureSpec,
    PreprocessingConfig,
    SearchConfig,
)
from tabular_ml.modelling.search import AlgorithmSearch, cv_folds, pick_winner, scoring_of
from tabular_ml.modelling.threshold import choose_threshold, out_of_fold_proba, threshold_sample
from tabular_ml.tasks.target import TargetSpec

logger = get_logger(__name__)


@step
def train_model(
    train_data: pd.DataFrame,
    target: TargetSpec,
    searches: list[AlgorithmSearch],
    contract: DataContract,
    preprocessing: PreprocessingConfig,
    features: list[FeatureSpec],
    search: SearchConfig,
    evaluation: EvaluationConfig,
    id_column: str | None = None,
) -> tuple[
    Annotated[Pipeline, ArtifactConfig(name="model", artifact_type=ArtifactType.MODEL)],
    Annotated[pd.DataFrame, "search_results"],
    Annotated[float, "decision_threshold"],
]:
    """Pick the best candidate of the search_algorithm branches, refit it on every training row,
    log every candidate to the experiment tracker, return the fitted Pipeline.

    A binary model's decision threshold is the configured one, or (``auto``) the one that
    maximises ``threshold_objective`` on out-of-fold probabilities of the chosen
    configuration (the holdout is not looked at; with the split's ``id_column``, its folds keep
    each id's rows together). Other tasks have none: 0.5 is returned and never used.
    """
    X = train_data[contract.feature_names]
    y = target.encode(train_data[contract.target])
    scoring = scoring_of(search, target.task)
    result = pick_winner(searches, X, y, contract, preprocessing, features, search, target.task)
    threshold = 0.5
    if target.task == "binary":
        if evaluation.threshold == "auto":
            groups = train_data[id_column] if id_column else None
            X_t, y_t, g_t = threshold_sample(X, y, evaluation.threshold_max_rows, search.random_state, groups)
            folds = cv_folds(search, target.task, grouped=groups is not None)
            proba = out_of_fold_proba(result.best_pipeline, X_t, y_t, folds, g_t, search.n_jobs)
            threshold = choose_threshold(y_t, proba, evaluation.threshold_objective)
            logger.info(
                "Decision threshold %.4f: the best %s on out-of-fold probabilities of %d training rows",
                threshold,
                evaluation.threshold_objective,
                len(y_t),
            )
        else:
            threshold = float(evaluation.threshold)
    log_search_to_mlflow(result, scoring)
    mlflow_model_uri = log_model_to_mlflow(result.best_pipeline, X.head(5))
    log_metadata(
        {
            "task": target.task,
            "algorithm": result.best.algorithm,
            "params": result.best.params,
            f"cv_{scoring}": result.best.mean_score,
            "candidates": len(result.candidates),
            **(
                {"search_budgets": {a: [b.model_dump() for b in bs] for a, bs in result.budgets.items()}}
                if result.budgets
                else {}
            ),
            "mlflow_model_uri": mlflow_model_uri or "not logged (no MLflow tracker)",
            **({"decision_threshold": threshold} if target.task == "binary" else {}),
        },
        artifact_name="model",
        infer_artifact=True,
    )
    return result.best_pipeline, candidates_table(result), threshold

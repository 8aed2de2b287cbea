"""One algorithm's hyperparameter search: a branch of the training pipeline's fan-out."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

from tabular_ml.configuration.schema import DataContract, FeatureSpec, PreprocessingConfig, SearchConfig
from tabular_ml.modelling.search import AlgorithmSearch, scoring_of
from tabular_ml.modelling.search import search_algorithm as search_one
from tabular_ml.tasks.target import TargetSpec

logger = get_logger(__name__)


@step
def search_algorithm(
    train_data: pd.DataFrame,
    target: TargetSpec,
    contract: DataContract,
    preprocessing: PreprocessingConfig,
    features: list[FeatureSpec],
    search: SearchConfig,
    id_column: str | None = None,
) -> Annotated[AlgorithmSearch, "algorithm_search"]:
    """Search the one algorithm of ``search`` (the pipeline narrows it) and return its candidates.

    Each algorithm is a step of its own, so an orchestrator that runs steps in parallel (the
    Kubernetes one: a pod per step) searches them side by side, and a changed algorithm
    reruns only its own branch. train_model picks the winner across them. With the split's
    ``id_column``, the CV folds keep each id's rows together.
    """
    (spec,) = search.algorithms
    X = train_data[contract.feature_names]
    result = search_one(
        X,
        target.encode(train_data[contract.target]),
        contract,
        preprocessing,
        features,
        search,
        spec,
        target.task,
        groups=train_data[id_column] if id_column else None,
    )
    scores = [c.mean_score for c, final in zip(result.candidates, result.finalists, strict=True) if final]
    log_metadata(
        {
            "algorithm": spec.name,
            "candidates": len(result.candidates),
            f"best_cv_{scoring_of(search, target.task)}": max(scores, default=float("nan")),
            "seconds": round(result.seconds, 2),
            **({"search_budgets": [b.model_dump() for b in result.budgets]} if result.budgets else {}),
        },
        artifact_name="algorithm_search",
        infer_artifact=True,
    )
    return result

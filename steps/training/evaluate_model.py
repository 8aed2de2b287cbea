"""Evaluate the chosen Pipeline on the holdout and apply the quality gates."""

from typing import Annotated

import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import get_step_context, log_metadata, step
from zenml.logger import get_logger

from materializers import EvaluationReportMaterializer
from tabular_ml.config import DataContract, EvaluationConfig
from tabular_ml.evaluation import EvaluationReport, QualityGateError, check_gates, evaluate_classifier
from tabular_ml.model import encode_target, feature_importances
from tabular_ml.tracking import log_metrics_to_mlflow, selected_candidate

logger = get_logger(__name__)


@step(output_materializers=EvaluationReportMaterializer)
def evaluate_model(
    model: Pipeline,
    test_data: pd.DataFrame,
    search_results: pd.DataFrame,
    contract: DataContract,
    evaluation: EvaluationConfig,
) -> Annotated[EvaluationReport, "evaluation_report"]:
    """Holdout metrics, CV mean/std of the chosen configuration, importances; gate failures stop the run."""
    X = test_data[contract.feature_names]
    y = encode_target(test_data[contract.target], contract)
    algorithm, params, cv_metrics = selected_candidate(search_results)
    context = get_step_context()
    report = evaluate_classifier(
        y,
        model.predict_proba(X)[:, 1],
        evaluation.threshold,
        model_name=context.model.name if context.model else "model",
        algorithm=algorithm,
        positive_class=contract.positive_class,
        cv_metrics=cv_metrics,
        feature_importances=feature_importances(model, top=20, X=X, y=y),
        best_params=params,
    )
    log_metrics_to_mlflow({f"holdout_{k}": v for k, v in report.metrics.items()})
    failures = check_gates(report.metrics, evaluation.gates)
    log_metadata(
        {
            "holdout": report.metrics,
            "cv": cv_metrics,
            "algorithm": algorithm,
            "quality_gates": "failed: " + "; ".join(failures) if failures else "passed",
        },
        infer_model=True,
    )
    if failures:
        raise QualityGateError(failures)
    logger.info("Holdout: %s", ", ".join(f"{k} {v:.4f}" for k, v in report.metrics.items()))
    return report

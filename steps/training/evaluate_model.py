"""Evaluate the chosen Pipeline on the holdout, beside a trivial baseline, and apply the quality gates."""

from typing import Annotated

import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import get_step_context, log_metadata, step
from zenml.logger import get_logger

from adapters.mlflow_tracking import log_metrics_to_mlflow, selected_candidate
from materializers import EvaluationReportMaterializer
from tabular_ml.configuration.schema import DataContract, EvaluationConfig
from tabular_ml.modelling.evaluation import EvaluationReport, QualityGateError, baseline_metrics, check_gates
from tabular_ml.modelling.explanation_summary import ExplanationSummary, explanation_summary
from tabular_ml.modelling.explanations import BACKGROUND_ROWS
from tabular_ml.modelling.model import feature_importances
from tabular_ml.modelling.trained_model import evaluation_report, scores_of
from tabular_ml.tasks.target import TargetSpec

logger = get_logger(__name__)


@step(output_materializers=EvaluationReportMaterializer)
def evaluate_model(
    model: Pipeline,
    test_data: pd.DataFrame,
    train_data: pd.DataFrame,
    search_results: pd.DataFrame,
    target: TargetSpec,
    decision_threshold: float,
    contract: DataContract,
    evaluation: EvaluationConfig,
) -> Annotated[EvaluationReport, "evaluation_report"]:
    """Holdout metrics, CV mean/std of the chosen configuration, importances; gate failures stop the run.

    The baseline (the training prior or mean, scored on the same holdout) is what
    ``gates.beat_baseline`` compares with, so a new table needs no hand-tuned floor.
    """
    X = test_data[contract.feature_names]
    y = target.encode(test_data[contract.target])
    algorithm, params, cv_metrics = selected_candidate(search_results)
    context = get_step_context()
    baseline = baseline_metrics(
        target.task, target.encode(train_data[contract.target]), y, class_count=len(target.classes)
    )
    report = evaluation_report(
        model,
        X,
        y,
        target,
        decision_threshold,
        model_name=context.model.name if context.model else "model",
        algorithm=algorithm,
        baseline_metrics=baseline,
        cv_metrics=cv_metrics,
        feature_importances=feature_importances(model, top=20, X=X, y=y, task=target.task),
        explanations=_explanations(model, X, target),
        best_params=params,
    )
    log_metrics_to_mlflow({f"holdout_{k}": v for k, v in report.metrics.items()})
    failures = check_gates(report.metrics, evaluation.gates, baseline, task=target.task)
    log_metadata(
        {
            "task": target.task,
            "holdout": report.metrics,
            "baseline": baseline,
            "cv": cv_metrics,
            "algorithm": algorithm,
            "quality_gates": "failed: " + "; ".join(failures) if failures else "passed",
        },
        infer_model=True,
    )
    if failures:
        raise QualityGateError(failures)
    logger.info("Holdout: %s", ", ".join(f"{k} {v:.4f}" for k, v in report.metrics.items()))
    logger.info("Baseline: %s", ", ".join(f"{k} {v:.4f}" for k, v in baseline.items()))
    return report


def _explanations(model: Pipeline, X: pd.DataFrame, target: TargetSpec) -> ExplanationSummary | None:
    """Mean |contribution| on the holdout and its extreme rows explained; None (logged) when the
    model cannot be explained. The background rows are the holdout's first, as the server's."""
    try:
        return explanation_summary(model, X, scores_of(model, X, target), target, X.head(BACKGROUND_ROWS))
    except ValueError as exc:
        logger.warning("No explanations in the report: %s", exc)
        return None

"""A registered model version as its consumers use it: the Pipeline plus what training decided.

Promotion, batch scoring, serving and monitoring read one thing back from a model version:
the fitted Pipeline, its contract and cleaning, the resolved target (task, classes in the
model's order) and, for a binary model, the decision threshold. Versions registered before
task types existed carry no ``target`` metadata: they are binary models of the contract's
classes with the configured threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tabular_ml.configuration.schema import CleaningConfig, DataContract
from tabular_ml.modelling.evaluation import (
    EvaluationReport,
    evaluate_classifier,
    evaluate_multiclass,
    evaluate_regression,
)
from tabular_ml.tasks.target import TargetSpec, binary_target

__all__ = ["TrainedModel", "evaluation_report", "predicted_labels", "scores_of", "target_of_version"]


def target_of_version(run_metadata: Mapping[str, Any]) -> TargetSpec:
    """The version's resolved target; for a version from before task types, the binary contract's."""
    if "target" in run_metadata:
        return TargetSpec(**run_metadata["target"])
    contract = run_metadata["parameters"]["contract"]
    return binary_target(contract["target"], contract["classes"], contract["positive_class"])


def threshold_of_version(run_metadata: Mapping[str, Any]) -> float:
    """The binary decision threshold training chose (or the configured one of an older version)."""
    if "decision_threshold" in run_metadata:
        return float(run_metadata["decision_threshold"])
    configured = run_metadata["parameters"].get("evaluation", {}).get("threshold", 0.5)
    return 0.5 if configured == "auto" else float(configured)


def scores_of(pipeline: Any, features: pd.DataFrame, target: TargetSpec) -> np.ndarray:
    """What the model outputs per row: the positive class's probability (binary), the class
    probabilities (multiclass, one column per class in the target's order), or the value."""
    if target.task == "regression":
        return np.asarray(pipeline.predict(features), dtype=float)
    proba = pipeline.predict_proba(features)
    return proba[:, 1] if target.task == "binary" else proba


def predicted_labels(scores: np.ndarray, target: TargetSpec, threshold: float) -> np.ndarray:
    """Class labels (text) for classification scores; regression scores are returned as they are."""
    if target.task == "regression":
        return scores
    classes = np.asarray(target.classes, dtype=object)
    codes = (scores >= threshold).astype(int) if target.task == "binary" else np.argmax(scores, axis=1)
    return classes[codes]


def evaluation_report(
    pipeline: Any, features: pd.DataFrame, y: np.ndarray, target: TargetSpec, threshold: float, **context: Any
) -> EvaluationReport:
    """The task's evaluation of ``pipeline`` on rows ``features`` with encoded labels ``y``.

    ``context`` fills the report's descriptive fields (model_name, algorithm, baseline_metrics...).
    """
    scores = scores_of(pipeline, features, target)
    if target.task == "regression":
        return evaluate_regression(y, scores, **context)
    if target.task == "multiclass":
        return evaluate_multiclass(y, scores, target.classes, **context)
    return evaluate_classifier(y, scores, threshold, class_names=target.classes, **context)


@dataclass(frozen=True)
class TrainedModel:
    """A fitted Pipeline with what its training run decided: contract, cleaning, target, threshold."""

    pipeline: Any
    contract: DataContract
    cleaning: CleaningConfig
    target: TargetSpec
    threshold: float
    name: str
    version: str

    @classmethod
    def from_metadata(
        cls, pipeline: Any, run_metadata: Mapping[str, Any], name: str, version: str
    ) -> TrainedModel:
        """From a model version's run metadata (``parameters``, ``target``, ``decision_threshold``)."""
        parameters = run_metadata["parameters"]
        return cls(
            pipeline=pipeline,
            contract=DataContract(**parameters["contract"]),
            cleaning=CleaningConfig(**parameters.get("cleaning", {})),
            target=target_of_version(run_metadata),
            threshold=threshold_of_version(run_metadata),
            name=name,
            version=version,
        )

    @classmethod
    def of_version(cls, version: Any) -> TrainedModel:
        """From a ZenML model version (its ``model`` artifact and run metadata)."""
        return cls.from_metadata(
            version.get_artifact("model").load(),
            version.run_metadata,
            version.model.name,
            str(version.number),
        )

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        """See :func:`scores_of`; ``frame`` may hold more columns than the features."""
        return scores_of(self.pipeline, frame[self.contract.feature_names], self.target)

    def labels(self, scores: np.ndarray) -> np.ndarray:
        """See :func:`predicted_labels`."""
        return predicted_labels(scores, self.target, self.threshold)

    def evaluate(self, frame: pd.DataFrame, **context: Any) -> EvaluationReport:
        """The task's evaluation on labelled rows (features and the target column)."""
        y = self.target.encode(frame[self.contract.target])
        features = frame[self.contract.feature_names]
        return evaluation_report(self.pipeline, features, y, self.target, self.threshold, **context)

"""A registered model version as its consumers use it: the Pipeline plus what training decided.

Promotion, batch scoring, serving and monitoring read one thing back from a model version:
the fitted Pipeline, its contract and cleaning, the resolved target (task, classes in the
model's order) and, for a binary model, the decision threshold. A version registered by an
earlier version of this project, before task types, carries no ``target``: it is retrained,
not read as a guess.
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
from tabular_ml.tasks.target import TargetSpec

__all__ = [
    "ModelVersionError",
    "TrainedModel",
    "evaluation_report",
    "predicted_labels",
    "scores_of",
    "target_of_version",
]

_RETRAIN = "retrain it: a model of an earlier version of this project is not migrated"


class ModelVersionError(ValueError):
    """A model version lacks what training records (one line, saying to retrain)."""


def target_of_version(run_metadata: Mapping[str, Any]) -> TargetSpec:
    """The version's resolved target (task, classes in the model's order), recorded by training.

    Raises:
        ModelVersionError: When the version has none (registered before task types).
    """
    if "target" not in run_metadata:
        raise ModelVersionError(f"the model version has no 'target' in its run metadata; {_RETRAIN}")
    return TargetSpec(**run_metadata["target"])


def threshold_of_version(run_metadata: Mapping[str, Any], target: TargetSpec) -> float:
    """A binary version's decision threshold, chosen by training; 0.5 (unused) for other tasks.

    Raises:
        ModelVersionError: When a binary version has none.
    """
    if target.task != "binary":
        return 0.5
    if "decision_threshold" not in run_metadata:
        raise ModelVersionError(
            f"the binary model version has no 'decision_threshold' in its run metadata; {_RETRAIN}"
        )
    return float(run_metadata["decision_threshold"])


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
        """From a model version's run metadata (``parameters``, ``target``, ``decision_threshold``).

        Raises:
            ModelVersionError: When the metadata lacks the target or a binary model's threshold:
                the message names the model version and says to retrain it.
        """
        parameters = run_metadata["parameters"]
        try:
            target = target_of_version(run_metadata)
            threshold = threshold_of_version(run_metadata, target)
        except ModelVersionError as exc:
            raise ModelVersionError(f"{name} version {version}: {exc}") from None
        return cls(
            pipeline=pipeline,
            contract=DataContract(**parameters["contract"]),
            cleaning=CleaningConfig(**parameters.get("cleaning", {})),
            target=target,
            threshold=threshold,
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

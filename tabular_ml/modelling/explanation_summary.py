"""The evaluation report's explanations: global importance as the mean absolute contribution on
holdout rows, and why the most and the least likely rows were scored so (no ZenML here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.pipeline import Pipeline

from tabular_ml.modelling.explanations import Explainer
from tabular_ml.tasks.target import TargetSpec

__all__ = ["ExplainedRow", "ExplanationSummary", "explanation_summary"]

#: Holdout rows whose contributions are averaged (a 300-tree forest takes 50-100 ms a row here).
MAX_ROWS = 200


class ExplainedRow(BaseModel):
    """One holdout row's explanation, as the report draws it."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(description="which row: the most or the least likely")
    output: float = Field(description="the model's output in the summary's space")
    base_value: float
    contributions: list[tuple[str, float]] = Field(
        description="(column, contribution), largest by size first"
    )
    explained_class: str | None = Field(None, description="multiclass: the class explained")


class ExplanationSummary(BaseModel):
    """Per-row contributions summed up over holdout rows (see :mod:`tabular_ml.modelling.explanations`)."""

    model_config = ConfigDict(extra="forbid")

    space: str = Field(description="log_odds, logit, probability or value")
    method: str = Field(description="exact or approximate")
    rows: int = Field(ge=0, description="holdout rows averaged over")
    mean_abs_contribution: list[tuple[str, float]] = Field(
        default_factory=list, description="(column, mean |contribution|), largest first"
    )
    explained_rows: list[ExplainedRow] = Field(default_factory=list)


def explanation_summary(
    pipeline: Pipeline,
    features: pd.DataFrame,
    scores: np.ndarray,
    target: TargetSpec,
    background: pd.DataFrame | None,
    *,
    max_rows: int = MAX_ROWS,
    random_state: int = 0,
) -> ExplanationSummary:
    """The summary on ``features`` (holdout rows of the client's columns): mean |contribution| on
    at most ``max_rows`` of them (a seeded sample), and the most and the least likely rows by
    ``scores`` (what ``trained_model.scores_of`` gives: P(positive class), class probabilities or
    values; multiclass rows rank by their predicted class's probability).

    Raises:
        ValueError: When the Pipeline cannot be explained (one line).
    """
    columns = list(features.columns)
    explainer = Explainer(pipeline, target, columns, background)
    sample = features
    if len(features) > max_rows:
        picked = np.random.default_rng(random_state).choice(len(features), size=max_rows, replace=False)
        sample = features.iloc[np.sort(picked)]
    found = explainer.attribute_frame(sample)
    mean_abs = np.abs(found.contributions).mean(axis=(0, 2))
    order = np.argsort(-mean_abs, kind="stable")
    likeliness = scores.max(axis=1) if scores.ndim == 2 else scores
    extremes = features.iloc[[int(np.argmax(likeliness)), int(np.argmin(likeliness))]]
    rows = []
    for label, row in zip(
        ("most likely", "least likely"), explainer.explain(extremes, top_k=len(columns)), strict=True
    ):
        key = row.explained_class
        rows.append(
            ExplainedRow(
                label=label,
                output=row.output[key] if isinstance(row.output, dict) else row.output,
                base_value=row.base_value[key] if isinstance(row.base_value, dict) else row.base_value,
                contributions=row.top,
                explained_class=key,
            )
        )
    return ExplanationSummary(
        space=explainer.space,
        method=explainer.method,
        rows=len(sample),
        mean_abs_contribution=[(columns[j], float(mean_abs[j])) for j in order],
        explained_rows=rows,
    )

"""Production and a challenger scored in shadow, compared on the same live rows of the request log.

The server logs, beside each answered row's ``prediction`` and ``probability`` (production's),
what the shadow predicted for it: ``shadow_prediction``, ``shadow_probability``,
``shadow_model_version`` (serving/request_log.py). On Kubernetes a Seldon shadow predictor
logs its own rows instead, under its own version: :func:`paired_rows` pairs them with
production's by ``request_id`` and position, giving the same columns.

:func:`compare_predictions` says how much the two agree (share of equal classes; mean absolute
difference of the logged score: the positive class's probability, the predicted class's, or the
predicted value) and, given each model's estimated metrics on those rows
(:mod:`tabular_ml.monitoring.performance_estimation`), puts them side by side. Its
:meth:`ShadowComparison.as_metadata` is what the monitoring run records on the challenger's
version as ``shadow_evidence``, which a promotion gate reads (``promotion.require_shadow``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "SHADOW_COLUMNS",
    "ShadowComparison",
    "compare_predictions",
    "paired_rows",
    "shadow_rows",
]

#: The request log's shadow columns (as serving/request_log.py names them).
SHADOW_COLUMNS = ("shadow_prediction", "shadow_probability", "shadow_model_version")


@dataclass(frozen=True)
class ShadowComparison:
    """Production against one shadow version on the rows both scored."""

    production_version: str
    shadow_version: str
    requests: int
    rows: int
    agreement: float | None  # share of rows with the same class; None for regression
    mean_abs_difference: float
    estimated: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # side -> metric -> value

    def as_metadata(self) -> dict[str, Any]:
        """JSON-ready, for the run's and the challenger version's metadata."""
        return {
            "production_version": self.production_version,
            "shadow_version": self.shadow_version,
            "requests": self.requests,
            "rows": self.rows,
            "agreement": self.agreement,
            "mean_abs_difference": self.mean_abs_difference,
            "estimated": self.estimated,
        }


def shadow_rows(log: pd.DataFrame, shadow_version: str | None = None) -> pd.DataFrame:
    """The logged rows a shadow scored: of ``shadow_version``, or of the latest logged one.

    Empty when the log has no shadow predictions (a log written before shadows, or none served).
    """
    if "shadow_model_version" not in log.columns:
        return log.iloc[0:0]
    scored = log[log["shadow_model_version"].notna()]
    if scored.empty:
        return scored
    if shadow_version is None:
        shadow_version = str(scored["shadow_model_version"].iloc[-1])  # the log is oldest first
    return scored[scored["shadow_model_version"].astype(str) == str(shadow_version)]


def paired_rows(log: pd.DataFrame, production_version: str, shadow_version: str) -> pd.DataFrame:
    """Production's rows with the shadow's columns from the shadow's own rows of the same request.

    For a shadow that logged separately (a Seldon shadow predictor, which receives a copy of each
    request): its rows pair with production's by ``request_id`` (the client's ``meta.puid``, the
    same in both copies) and their position in the request. Rows without a partner are left out.
    """
    versions = log["model_version"].astype(str)
    own = [*[c for c in log.columns if c not in SHADOW_COLUMNS]]
    production = log.loc[versions == str(production_version), own]
    shadow = log.loc[versions == str(shadow_version), ["request_id", "prediction", "probability"]]
    production = production.assign(_position=production.groupby("request_id").cumcount())
    shadow = shadow.assign(_position=shadow.groupby("request_id").cumcount()).rename(
        columns={"prediction": "shadow_prediction", "probability": "shadow_probability"}
    )
    paired = production.merge(shadow, on=["request_id", "_position"], how="inner", validate="one_to_one")
    return paired.drop(columns="_position").assign(shadow_model_version=str(shadow_version))


def compare_predictions(
    rows: pd.DataFrame,
    task: str,
    estimated: dict[str, dict[str, dict[str, float]]] | None = None,
) -> ShadowComparison:
    """How production and the shadow compare on ``rows`` (:func:`shadow_rows` or :func:`paired_rows`).

    Args:
        rows: Logged rows with production's ``prediction``/``probability``/``model_version`` and
            the shadow's columns, all of one shadow version.
        task: ``binary``, ``multiclass`` or ``regression``.
        estimated: ``{"production": {metric: {value, low, high}}, "shadow": {...}}``, each model's
            estimated metrics on these rows (or {} when they could not be estimated).

    Raises:
        ValueError: When ``rows`` is empty or holds several shadow versions.
    """
    if rows.empty:
        raise ValueError("no logged row has a shadow prediction: nothing to compare")
    shadow_versions = sorted(rows["shadow_model_version"].astype(str).unique())
    if len(shadow_versions) > 1:
        raise ValueError(f"rows of several shadow versions {shadow_versions}: compare one at a time")
    production_versions = rows["model_version"].astype(str)
    difference = np.abs(
        rows["probability"].to_numpy(dtype=float) - rows["shadow_probability"].to_numpy(dtype=float)
    )
    agreement = None
    if task != "regression":
        agreement = float((rows["prediction"].astype(str) == rows["shadow_prediction"].astype(str)).mean())
    return ShadowComparison(
        production_version=str(production_versions.iloc[-1]),
        shadow_version=shadow_versions[0],
        requests=int(rows["request_id"].nunique()),
        rows=len(rows),
        agreement=agreement,
        mean_abs_difference=float(np.nanmean(difference)) if np.isfinite(difference).any() else float("nan"),
        estimated=dict(estimated or {}),
    )

"""The monitoring verdict: which thresholds the current data crossed, in words a person reads."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

from tabular_ml.configuration.schema import MonitoringThresholds
from tabular_ml.modelling.evaluation import HIGHER_IS_BETTER
from tabular_ml.monitoring.drift import DriftSummary
from tabular_ml.monitoring.quality import DataQualityReport


class MonitoringVerdict(BaseModel):
    """Whether to alert, and every reason (one line each)."""

    alert: bool
    reasons: list[str]
    model_version: str
    current_rows: int
    drifted_columns: list[str] = []
    drift_share: float | None = None
    prediction_drift_score: float | None = None
    metrics: dict[str, float] = {}
    estimated: dict[str, dict[str, float]] = {}  # {metric: {value, low, high}}, no labels needed
    realized: dict[str, float] = {}  # {metric: value, labelled_rows: n}, with labels
    checked_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    note: str | None = None


def quality_reasons(quality: DataQualityReport, thresholds: MonitoringThresholds) -> list[str]:
    """Missing columns, more missing values, unknown categories, out-of-range values."""
    reasons = []
    if quality.missing_columns:
        reasons.append(f"columns missing from the current data: {', '.join(quality.missing_columns)}")
    for column in quality.columns:
        if column.missing_increase > thresholds.missing_share_increase:
            reasons.append(
                f"{column.column}: missing share {column.missing_share:.3f} vs "
                f"{column.reference_missing_share:.3f} in the reference "
                f"(allowed increase {thresholds.missing_share_increase:g})"
            )
        if column.unseen_share > thresholds.unseen_category_share:
            reasons.append(
                f"{column.column}: {column.unseen_share:.1%} of values are categories the contract does "
                f"not know (e.g. {', '.join(column.unseen_examples)}; "
                f"allowed {thresholds.unseen_category_share:.1%})"
            )
        if column.out_of_range_share > thresholds.out_of_range_share:
            reasons.append(
                f"{column.column}: {column.out_of_range_share:.1%} of values outside the contract's range "
                f"(allowed {thresholds.out_of_range_share:.1%})"
            )
    return reasons


def drift_reasons(drift: DriftSummary, thresholds: MonitoringThresholds) -> list[str]:
    """Drifted feature columns (by count or share) and a drifted prediction."""
    reasons = []
    scored = {column.column: column for column in drift.columns}
    if (
        len(drift.drifted_features) >= thresholds.drifted_columns
        or drift.drift_share >= thresholds.drift_share
    ):
        details = ", ".join(
            f"{name} ({scored[name].test} {scored[name].score:.3f} > {scored[name].threshold:g})"
            for name in drift.drifted_features
        )
        reasons.append(
            f"{len(drift.drifted_features)} of {drift.features} feature columns drifted "
            f"({drift.drift_share:.0%}): {details}"
        )
    if thresholds.prediction_drift and drift.prediction is not None and drift.prediction.drifted:
        reasons.append(
            f"the {drift.prediction.column.replace('_', ' ')} drifted "
            f"({drift.prediction.test} {drift.prediction.score:.3f} "
            f"> {drift.prediction.threshold:g})"
        )
    return reasons


def _fall(name: str, holdout: float, value: float) -> float:
    """How far ``value`` is worse than the holdout's (negative: better)."""
    return (holdout - value) if HIGHER_IS_BETTER.get(name, True) else (value - holdout)


def metric_reasons(
    metrics: dict[str, float], holdout: dict[str, float], thresholds: MonitoringThresholds
) -> list[str]:
    """Realized metrics on labelled current rows that fell further below the holdout's than allowed."""
    reasons = []
    for name, allowed in thresholds.metric_drop.items():
        if name in metrics and name in holdout:
            drop = _fall(name, holdout[name], metrics[name])
            if drop > allowed:
                reasons.append(
                    f"{name} {metrics[name]:.4f} realized on the labelled current rows vs "
                    f"{holdout[name]:.4f} on the holdout (a drop of {drop:.4f}, allowed {allowed:g})"
                )
    return reasons


def estimated_reasons(
    estimated: dict[str, dict[str, float]], holdout: dict[str, float], thresholds: MonitoringThresholds
) -> list[str]:
    """Estimated metrics whose whole interval lies further below the holdout's than allowed."""
    reasons = []
    for name, allowed in thresholds.estimated_drop.items():
        if name in estimated and name in holdout:
            estimate = estimated[name]
            # the interval's end nearest the holdout: its top for a score, its bottom for an error
            nearest = estimate["high"] if HIGHER_IS_BETTER.get(name, True) else estimate["low"]
            if _fall(name, holdout[name], nearest) > allowed:
                reasons.append(
                    f"estimated {name} {estimate['value']:.4f} (interval {estimate['low']:.4f} to "
                    f"{estimate['high']:.4f}, without labels) vs {holdout[name]:.4f} on the holdout: "
                    f"the whole interval is worse by more than the allowed {allowed:g}"
                )
    return reasons


def decide(
    model_version: str,
    drift: DriftSummary | None,
    quality: DataQualityReport,
    thresholds: MonitoringThresholds,
    metrics: dict[str, float] | None = None,
    holdout_metrics: dict[str, float] | None = None,
    note: str | None = None,
    estimated: dict[str, dict[str, float]] | None = None,
    labelled_rows: int = 0,
) -> MonitoringVerdict:
    """Check every threshold; ``drift`` is None when there were too few rows to judge it.

    ``metrics`` are realized on ``labelled_rows`` labelled current rows; ``estimated`` maps a
    metric to ``{value, low, high}`` estimated without labels.
    """
    reasons = quality_reasons(quality, thresholds)
    if drift is not None:
        reasons += drift_reasons(drift, thresholds)
    if holdout_metrics:
        reasons += estimated_reasons(estimated or {}, holdout_metrics, thresholds)
        reasons += metric_reasons(metrics or {}, holdout_metrics, thresholds)
    return MonitoringVerdict(
        alert=bool(reasons),
        reasons=reasons,
        model_version=model_version,
        current_rows=quality.rows,
        drifted_columns=drift.drifted_features if drift else [],
        drift_share=drift.drift_share if drift else None,
        prediction_drift_score=drift.prediction.score if drift and drift.prediction else None,
        metrics=metrics or {},
        estimated=estimated or {},
        realized={**metrics, "labelled_rows": labelled_rows} if metrics else {},
        note=note,
    )

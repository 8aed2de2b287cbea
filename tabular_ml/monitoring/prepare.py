"""Getting current and reference rows ready to compare: cleaning, sampling, predictions, labels,
and the model's performance on them: estimated from its probabilities, realized where labelled."""

from __future__ import annotations

import re
from datetime import timedelta

import pandas as pd
from pydantic import BaseModel

from tabular_ml.configuration.schema import CleaningConfig, DataContract
from tabular_ml.data.cleaning import clean_frame
from tabular_ml.modelling.trained_model import TrainedModel
from tabular_ml.monitoring.drift import PREDICTION_COLUMNS, sample
from tabular_ml.monitoring.performance_estimation import MIN_HOLDOUT_ROWS, fit_performance_estimator

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_window(text: str) -> timedelta:
    """``30m``, ``24h``, ``7d`` as a timedelta."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if not match:
        raise ValueError(f"a time window looks like 30m, 24h or 7d, got {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def clean_current(raw: pd.DataFrame, cleaning: CleaningConfig, contract: DataContract) -> pd.DataFrame:
    """The training cleaning, except that duplicates stay: they are part of the distribution."""
    cleaned, _ = clean_frame(raw, cleaning, contract.model_copy(update={"duplicates": "keep"}))
    return cleaned


def with_prediction(frame: pd.DataFrame, model: TrainedModel) -> pd.DataFrame:
    """``frame``'s feature columns plus the model's output (see ``PREDICTION_COLUMNS``)."""
    features = frame[model.contract.feature_names].reset_index(drop=True)
    scores = model.scores(features)
    output = model.labels(scores) if model.target.task == "multiclass" else scores
    return features.assign(**{PREDICTION_COLUMNS[model.target.task]: output})


def comparison_samples(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    model: TrainedModel | None,
    contract: DataContract,
    rows: int,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Samples of both sides (at most ``rows`` each) with the model's predictions added.

    The reference is scored by the same model, so prediction drift compares like with like.
    Without every feature column the current rows cannot be scored: then neither side gets
    a prediction column, and only the columns both have are compared.
    """
    if set(contract.feature_names) <= set(current.columns):
        return (
            with_prediction(sample(reference, rows, seed), model),
            with_prediction(sample(current, rows, seed), model),
        )
    shared = [name for name in contract.feature_names if name in current.columns]
    return sample(reference[shared], rows, seed), sample(current[shared], rows, seed)


def labelled_rows(
    current: pd.DataFrame, labels: pd.DataFrame | None, key_column: str | None, target: str
) -> pd.DataFrame:
    """The current rows that have a label: the target column itself, or labels joined on the key."""
    if labels is not None:
        for name, frame in (("current data", current), ("labels", labels)):
            if key_column not in frame.columns:
                raise ValueError(f"key_column {key_column!r} is not a column of the {name}")
        if target not in labels.columns:
            raise ValueError(f"the labels have no target column {target!r}")
        current = current.drop(columns=[target], errors="ignore").merge(
            labels[[key_column, target]].drop_duplicates(key_column), on=key_column, how="inner"
        )
    if target not in current.columns:
        return current.iloc[0:0]
    return current[current[target].notna()]


def labelled_metrics(labelled: pd.DataFrame, model: TrainedModel) -> dict[str, float]:
    """The production model's metrics on labelled current rows ({} without any)."""
    if labelled.empty:
        return {}
    return model.evaluate(labelled).metrics


class CurrentPerformance(BaseModel):
    """The production model on the current rows: estimated (no labels needed) and realized."""

    estimated: dict[str, dict[str, float]] = {}  # {metric: {value, low, high}}
    realized: dict[str, float] = {}  # the task's metrics on the labelled rows
    labelled_rows: int = 0
    note: str | None = None  # why nothing was estimated


def estimated_performance(
    model: TrainedModel, holdout: pd.DataFrame, current: pd.DataFrame, seed: int = 0
) -> dict[str, dict[str, float]]:
    """The task's metrics expected on ``current``, calibrated on the version's ``holdout`` rows.

    Intervals are for a batch of ``current``'s size (see ``performance_estimation``); {} when the
    holdout has fewer than ``MIN_HOLDOUT_ROWS`` rows to calibrate on.
    """
    if len(holdout) < MIN_HOLDOUT_ROWS:
        return {}
    features = model.contract.feature_names
    estimator = fit_performance_estimator(
        model.target.task,
        model.scores(holdout),
        model.target.encode(holdout[model.contract.target]),
        threshold=model.threshold,
        holdout_features=holdout[features],
        seed=seed,
    )
    estimates = estimator.estimate(model.scores(current), current[features])
    return {name: estimate.as_dict() for name, estimate in estimates.items()}

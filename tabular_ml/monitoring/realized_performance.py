"""Realized performance: late labels joined to the predictions that were served, per time window.

The predictions are a frame with a key (the request log's ``request_id``, which is the
answer's ``meta.puid``, or a business key), ``logged_at`` (when each was served),
``prediction`` (the label or value, as text) and ``probability`` (the positive class's,
binary). Labels arrive later, keyed alike. Each run joins all the labels it can read to the
predictions it can read and recomputes every window; :func:`merge_windows` then updates the
stored windows, so labels that arrive after a window was first checked change its numbers on
the next run.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from tabular_ml.modelling.task_metrics import binary_scores, regression_scores
from tabular_ml.modelling.trained_model import TrainedModel
from tabular_ml.monitoring.prepare import parse_window
from tabular_ml.tasks.target import TargetSpec

__all__ = [
    "HEADLINE_METRICS",
    "PREDICTION_FRAME_COLUMNS",
    "join_labels",
    "logged_predictions",
    "merge_windows",
    "scored_predictions",
    "served_metrics",
    "window_numbers",
]

#: The columns of a predictions frame after its key column.
PREDICTION_FRAME_COLUMNS = ["logged_at", "prediction", "probability"]
_LABEL = "__label__"
#: The metrics a run's history records and draws, per task (the windows keep them all).
HEADLINE_METRICS = {
    "binary": ["roc_auc", "f1", "accuracy"],
    "multiclass": ["f1_macro", "accuracy"],
    "regression": ["rmse", "mae"],
}


def logged_predictions(log: pd.DataFrame, key_column: str, model_version: str) -> pd.DataFrame:
    """The request log's rows that ``model_version`` answered: the key (``request_id``, the
    answer's ``meta.puid``, or a logged column), then :data:`PREDICTION_FRAME_COLUMNS`."""
    if key_column not in log.columns:
        raise ValueError(f"key_column {key_column!r} is not a column of the request log (use request_id)")
    served = log[log["model_version"].astype(str) == str(model_version)]
    return served[[key_column, *PREDICTION_FRAME_COLUMNS]].reset_index(drop=True)


def scored_predictions(
    frame: pd.DataFrame, model: TrainedModel, key_column: str, timestamp_column: str | None, now: datetime
) -> pd.DataFrame:
    """A source's rows scored by ``model`` as the server would answer them, in the request log's
    form; ``logged_at`` from ``timestamp_column``, else ``now`` for every row."""
    missing = [name for name in (key_column, timestamp_column) if name and name not in frame.columns]
    if missing:
        raise ValueError(
            f"column(s) {missing} named by key_column/timestamp_column are not in the current data"
        )
    scores = model.scores(frame)
    task = model.target.task
    if task == "regression":
        prediction, probability = [str(value) for value in scores], np.full(len(frame), np.nan)
    else:  # the log keeps the positive class's probability (binary) or the predicted class's
        prediction = list(model.labels(scores))
        probability = scores if task == "binary" else scores.max(axis=1)
    logged = (
        pd.to_datetime(frame[timestamp_column], utc=True).to_numpy()
        if timestamp_column
        else pd.Timestamp(now)
    )
    return pd.DataFrame(
        {
            key_column: frame[key_column].to_numpy(),
            "logged_at": logged,
            "prediction": prediction,
            "probability": probability,
        }
    )


def join_labels(
    predictions: pd.DataFrame, labels: pd.DataFrame, key_column: str, target: str
) -> pd.DataFrame:
    """``predictions`` with a ``label`` column (NaN where no label has arrived yet).

    A key given twice in ``labels`` keeps its last row (a corrected label replaces the first);
    a label whose key matches no prediction is ignored. Every row of a request shares its key.

    Raises:
        ValueError: When ``key_column`` or ``target`` is missing from the side that needs it.
    """
    for name, frame in (("predictions", predictions), ("labels", labels)):
        if key_column not in frame.columns:
            raise ValueError(f"key_column {key_column!r} is not a column of the {name}")
    if target not in labels.columns:
        raise ValueError(f"the labels have no target column {target!r}")
    known = labels[[key_column, target]].dropna(subset=[key_column, target])
    known = known.assign(**{key_column: known[key_column].astype(str)}).drop_duplicates(
        key_column, keep="last"
    )
    keys = predictions[key_column].astype(str)
    joined = predictions.assign(**{_LABEL: keys.map(known.set_index(key_column)[target])})
    return joined.rename(columns={_LABEL: "label"})


def served_metrics(
    target: TargetSpec, labels: pd.Series, predictions: pd.Series, probabilities: pd.Series
) -> dict:
    """The task's metrics of the served answers against the labels ({} without a label).

    Binary: every metric of the holdout's (ROC AUC needs both classes among the labels);
    multiclass: accuracy and F1 macro, from the served class (the log keeps one probability);
    regression: RMSE, MAE and the rest, from the served value.
    """
    if labels.empty:
        return {}
    y = target.encode(labels.reset_index(drop=True))
    if target.task == "regression":
        values, _ = regression_scores(y, pd.to_numeric(predictions, errors="coerce").to_numpy(np.float64))
        return values
    predicted = target.encode(predictions.reset_index(drop=True))
    if target.task == "binary":
        values, _ = binary_scores(y, predicted, probabilities.to_numpy(np.float64))
        return values
    return {
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "f1_macro": float(skm.f1_score(y, predicted, average="macro", zero_division=0)),
    }


def window_numbers(joined: pd.DataFrame, target: TargetSpec, window: str) -> list[dict]:
    """Per window of ``logged_at`` (UTC, aligned on the epoch), oldest first: its bounds, how many
    predictions it holds, how many have a label and how many do not yet, and the metrics of
    the labelled ones."""
    width = pd.Timedelta(parse_window(window))
    if joined.empty:
        return []
    logged = pd.to_datetime(joined["logged_at"], utc=True)
    starts = logged.dt.floor(width)
    out = []
    for start, rows in joined.groupby(starts, sort=True):
        labelled = rows[rows["label"].notna()]
        out.append(
            {
                "window_start": start.isoformat(),
                "window_end": (start + width).isoformat(),
                "predictions": len(rows),
                "labelled_rows": len(labelled),
                "unlabelled_rows": len(rows) - len(labelled),
                "metrics": served_metrics(
                    target, labelled["label"], labelled["prediction"], labelled["probability"]
                ),
            }
        )
    return out


def merge_windows(stored: list[dict], fresh: list[dict], now: datetime | None = None) -> list[dict]:
    """The stored windows updated by this run's, sorted by start.

    A recomputed window replaces the stored one unless it saw fewer predictions (the request
    log's retention deleted some of its rows: the stored numbers are then the better ones).
    Each window keeps when it was first checked; ``updated_at`` changes when its labels did.
    """
    moment = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    merged = {window["window_start"]: window for window in stored}
    for window in fresh:
        before = merged.get(window["window_start"])
        if before is not None and window["predictions"] < before["predictions"]:
            continue
        first = before["first_checked_at"] if before else moment
        changed = before is None or (before["labelled_rows"], before["predictions"]) != (
            window["labelled_rows"],
            window["predictions"],
        )
        updated = moment if changed else before["updated_at"]
        merged[window["window_start"]] = {**window, "first_checked_at": first, "updated_at": updated}
    return [merged[start] for start in sorted(merged)]

"""The monitoring history as one self-contained HTML page of SVG charts (the ZenML dashboard's
visualization of the monitoring run's ``monitoring_trend`` artifact).

Charts, each over the runs of one model version (x: when each was checked): drift share;
each estimated metric with its interval as a band and the realized value beside it; and the
realized windows (the metric per window, and how many of its predictions have a label).
Drawn with matplotlib's object API (no pyplot), as the evaluation report's charts are.
"""

from __future__ import annotations

import html
import io
from datetime import datetime
from typing import Any

from matplotlib.figure import Figure

from tabular_ml.monitoring.history import plotted_values
from tabular_ml.monitoring.realized_performance import HEADLINE_METRICS

__all__ = ["render_trend_html"]

_BLUE, _ORANGE, _GREY = "#2563eb", "#ea580c", "#9ca3af"


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _axes(title: str):
    fig = Figure(figsize=(6.4, 2.8), dpi=100)
    ax = fig.add_subplot()
    ax.set_title(title, loc="left", fontsize=11)
    ax.grid(alpha=0.3)
    ax.margins(x=0.1, y=0.15)  # room for the first and last points and the windows' counts
    fig.autofmt_xdate()
    return fig, ax


def _when(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["checked_at"])


def _metric_chart(runs: list[dict[str, Any]], metric: str) -> str:
    fig, ax = _axes(f"{metric}: estimated (band: interval) and realized")
    points = [(_when(run), plotted_values(run)) for run in runs]
    estimated = [(when, v) for when, v in points if f"estimated_{metric}" in v]
    if estimated:
        xs = [when for when, _ in estimated]
        ax.plot(xs, [v[f"estimated_{metric}"] for _, v in estimated], "o-", color=_BLUE, label="estimated")
        if all(f"estimated_{metric}_low" in v and f"estimated_{metric}_high" in v for _, v in estimated):
            low = [v[f"estimated_{metric}_low"] for _, v in estimated]
            high = [v[f"estimated_{metric}_high"] for _, v in estimated]
            ax.fill_between(xs, low, high, color=_BLUE, alpha=0.15, label="interval")
    realized = [(when, v[f"realized_{metric}"]) for when, v in points if f"realized_{metric}" in v]
    if realized:
        ax.plot(*zip(*realized, strict=True), "s--", color=_ORANGE, label="realized")
    ax.legend(fontsize=8)
    return _svg(fig)


def _drift_chart(runs: list[dict[str, Any]]) -> str:
    fig, ax = _axes("Share of drifted feature columns")
    points = [(_when(run), run["drift_share"]) for run in runs if run.get("drift_share") is not None]
    if points:
        ax.plot(*zip(*points, strict=True), "o-", color=_BLUE)
    ax.set_ylim(0, 1)
    return _svg(fig)


def _windows_chart(windows: list[dict], metric: str | None) -> str:
    fig, ax = _axes(f"Realized {metric or 'metric'} per window (labels: labelled / predictions)")
    starts = [datetime.fromisoformat(window["window_start"]) for window in windows]
    values = [window["metrics"].get(metric) if metric else None for window in windows]
    shown = [(start, value) for start, value in zip(starts, values, strict=True) if value is not None]
    if shown:
        ax.plot(*zip(*shown, strict=True), "s-", color=_ORANGE)
    for start, window in zip(starts, windows, strict=True):
        ax.annotate(
            f"{window['labelled_rows']}/{window['predictions']}",
            (start, 0),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            color=_GREY,
            ha="center",
            va="bottom",
        )
    return _svg(fig)


def render_trend_html(model_name: str, version: str, runs: list[dict[str, Any]], windows: list[dict]) -> str:
    """The page: a header, then the charts (the headline metrics the latest run estimated or realized)."""
    latest = runs[-1] if runs else {}
    metrics = list(dict.fromkeys([*(latest.get("estimated") or {}), *(latest.get("realized") or {})]))
    headline = {name for names in HEADLINE_METRICS.values() for name in names}
    metrics = [name for name in metrics if name in headline]
    window_metric = next((name for name in metrics if any(name in w["metrics"] for w in windows)), None)
    charts = [_drift_chart(runs), *(_metric_chart(runs, name) for name in metrics[:3])]
    if windows:
        charts.append(_windows_chart(windows, window_metric))
    title = html.escape(f"Monitoring history: {model_name} version {version}")
    summary = html.escape(
        f"{len(runs)} run(s); {len(windows)} realized window(s), "
        f"{sum(w['unlabelled_rows'] for w in windows)} prediction(s) still without a label"
    )
    body = "\n".join(f"<div class='chart'>{svg}</div>" for svg in charts)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>body{{font-family:sans-serif;margin:16px}}"
        ".chart{display:inline-block;margin:4px}</style></head>"
        f"<body><h2>{title}</h2><p>{summary}</p>{body}</body></html>"
    )

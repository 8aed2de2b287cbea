"""The charts of the evaluation report as inline SVG, drawn by matplotlib (ZenML-free).

Figures are built with the object-oriented ``matplotlib.figure.Figure`` API, never
``pyplot``: no global figure registry to leak into, no GUI backend needed, and the
process-wide backend choice of the caller (e.g. a notebook) is left alone. Each function
returns ``None`` when the report has nothing to draw.
"""

from __future__ import annotations

import io

from matplotlib import rc_context
from matplotlib.figure import Figure

from tabular_ml.modelling.evaluation import EvaluationReport

__all__ = ["report_charts"]

_BLUE, _ORANGE, _GREY = "#2563eb", "#ea580c", "#9ca3af"


def _svg(fig: Figure) -> str:
    """The figure as an inline ``<svg>`` element (XML prolog and DOCTYPE stripped)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _mpl_text(text: str) -> str:
    """Text from data shown literally by matplotlib: ``$`` would start mathtext."""
    return text.replace("$", r"\$")


def _axes(title: str, width: float = 4.6, height: float = 4.0):
    # A bare Figure, not pyplot: nothing is registered globally, so nothing needs closing.
    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot()
    ax.set_title(title, loc="left", fontsize=11)
    ax.grid(True, color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _plain_numbers(ax) -> None:
    """Tick labels as plain numbers up to 10 million: a "1e6" above the axis is easily missed."""
    ax.ticklabel_format(style="sci", scilimits=(-4, 7), useOffset=False)


def _labelled(label: str, metric: float | None, name: str) -> str:
    return f"{label} ({name} {metric:.3f})" if metric is not None else label


def _roc_svg(report: EvaluationReport) -> str | None:
    fpr, tpr = report.roc_curve.get("fpr", []), report.roc_curve.get("tpr", [])
    if not fpr:
        return None
    fig, ax = _axes("ROC curve")
    ax.plot([0, 1], [0, 1], linestyle="--", color=_GREY, linewidth=1, label="chance")
    ax.plot(
        fpr, tpr, color=_BLUE, linewidth=2, label=_labelled("model", report.metrics.get("roc_auc"), "AUC")
    )
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="false positive rate", ylabel="true positive rate")
    ax.legend(loc="lower right", frameon=False)
    return _svg(fig)


def _pr_svg(report: EvaluationReport) -> str | None:
    precision, recall = report.pr_curve.get("precision", []), report.pr_curve.get("recall", [])
    if not precision:
        return None
    fig, ax = _axes("Precision-recall curve")
    if report.prevalence is not None:
        ax.axhline(report.prevalence, linestyle="--", color=_GREY, linewidth=1, label="chance (prevalence)")
    label = _labelled("model", report.metrics.get("pr_auc"), "AP")
    ax.step(recall, precision, where="post", color=_ORANGE, linewidth=2, label=label)
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision")
    ax.legend(loc="lower left", frameon=False)
    return _svg(fig)


def _reliability_svg(report: EvaluationReport) -> str | None:
    predicted = report.reliability.get("mean_predicted", [])
    if not predicted:
        return None
    observed, counts = report.reliability["observed_rate"], report.reliability["count"]
    fig, ax = _axes("Reliability (calibration)")
    ax.plot([0, 1], [0, 1], linestyle="--", color=_GREY, linewidth=1, label="perfectly calibrated")
    label = _labelled("model", report.metrics.get("brier"), "Brier")
    ax.plot(predicted, observed, color=_BLUE, linewidth=1.5, label=label)
    # Marker area follows the rows in the bin, so a point resting on a handful of rows looks it.
    largest = max(counts)
    sizes = [12 + 60 * count / largest for count in counts]
    ax.scatter(predicted, observed, s=sizes, color=_BLUE, zorder=3)
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.02),
        xlabel="mean predicted probability (bin)",
        ylabel="observed share positive",
    )
    ax.legend(loc="upper left", frameon=False)
    return _svg(fig)


def _predicted_vs_actual_svg(report: EvaluationReport) -> str | None:
    actual, predicted = report.residuals.get("actual", []), report.residuals.get("predicted", [])
    if not actual:
        return None
    shown = f"{len(actual)} of {report.n_samples} rows" if len(actual) < report.n_samples else "all rows"
    fig, ax = _axes(f"Predicted vs actual ({shown})")
    low, high = min(*actual, *predicted), max(*actual, *predicted)
    ax.plot([low, high], [low, high], linestyle="--", color=_GREY, linewidth=1, label="perfect prediction")
    ax.scatter(actual, predicted, s=14, alpha=0.6, color=_BLUE, edgecolors="none", label="holdout rows")
    ax.set(xlabel="actual", ylabel="predicted")
    _plain_numbers(ax)
    ax.legend(loc="upper left", frameon=False)
    return _svg(fig)


def _residual_histogram_svg(report: EvaluationReport) -> str | None:
    edges, counts = report.residuals.get("histogram_edges", []), report.residuals.get("histogram_counts", [])
    if not counts:
        return None
    fig, ax = _axes("Residuals (actual − predicted)")
    ax.stairs(counts, edges, fill=True, color=_BLUE, alpha=0.75)
    ax.axvline(0, color="#374151", linewidth=1, linestyle="--", label="no error")
    ax.set(xlabel="residual", ylabel="rows")
    _plain_numbers(ax)
    ax.legend(loc="upper right", frameon=False)
    return _svg(fig)


def _bars(ax, pairs: list[tuple[str, float]]) -> None:
    """Horizontal bars, the first pair on top; negative values orange."""
    names = [_mpl_text(name if len(name) <= 40 else name[:39] + "…") for name, _ in pairs][::-1]
    values = [value for _, value in pairs][::-1]
    ax.barh(range(len(values)), values, color=[_BLUE if v >= 0 else _ORANGE for v in values], height=0.65)
    ax.set_yticks(range(len(values)), names)
    ax.grid(False, axis="y")


def _importance_svg(report: EvaluationReport, top: int = 20) -> str | None:
    pairs = report.feature_importances[:top]
    if not pairs:
        return None
    fig, ax = _axes(f"Top {len(pairs)} feature importances", 7.5, 0.6 + 0.32 * len(pairs))
    _bars(ax, pairs)
    if any(v < 0 for _, v in pairs):
        ax.axvline(0, color="#374151", linewidth=0.8)
    ax.set_xlabel("importance")
    return _svg(fig)


def _contribution_importance_svg(report: EvaluationReport, top: int = 20) -> str | None:
    summary = report.explanations
    if summary is None or not summary.mean_abs_contribution:
        return None
    pairs = summary.mean_abs_contribution[:top]
    fig, ax = _axes(f"Mean |contribution| on {summary.rows} holdout rows", 7.5, 0.6 + 0.32 * len(pairs))
    _bars(ax, pairs)
    ax.set_xlabel(f"mean |contribution| ({summary.space.replace('_', '-')})")
    return _svg(fig)


def _explained_rows_svg(report: EvaluationReport, top: int = 8) -> str | None:
    summary = report.explanations
    if summary is None or not summary.explained_rows:
        return None
    rows = summary.explained_rows
    fig = Figure(figsize=(7.5, 0.9 + 0.3 * top * len(rows)), dpi=100)
    for i, row in enumerate(rows):
        ax = fig.add_subplot(len(rows), 1, i + 1)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.set_axisbelow(True)
        ax.grid(True, color="#e5e7eb", linewidth=0.8)
        about = f" (class {_mpl_text(row.explained_class)})" if row.explained_class else ""
        total = f"{row.output:.3g} = base {row.base_value:.3g} + contributions"
        ax.set_title(
            f"{row.label.capitalize()} row{about}: {total}",
            loc="left",
            fontsize=10,
        )
        _bars(ax, row.contributions[:top])
        ax.axvline(0, color="#374151", linewidth=0.8)
    fig.axes[-1].set_xlabel(f"contribution ({summary.space.replace('_', '-')})")
    fig.tight_layout()
    return _svg(fig)


_CHARTS = {
    "roc": _roc_svg,
    "pr": _pr_svg,
    "reliability": _reliability_svg,
    "predicted_vs_actual": _predicted_vs_actual_svg,
    "residual_histogram": _residual_histogram_svg,
    "importances": _importance_svg,
    "contribution_importances": _contribution_importance_svg,
    "explained_rows": _explained_rows_svg,
}


def report_charts(report: EvaluationReport) -> dict[str, str | None]:
    """Every chart the report can show, by name, as SVG text (None: nothing to draw)."""
    # Text stays text in the SVG (small, selectable, escaped by matplotlib); a fixed hash
    # salt makes the element ids, hence the page, reproducible.
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "evaluation-report", "font.size": 9}):
        return {name: draw(report) for name, draw in _CHARTS.items()}

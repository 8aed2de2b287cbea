"""A self-contained HTML page for an ``EvaluationReport`` (ZenML-free).

No external assets and no JavaScript: styling is an inline ``<style>`` block,
charts are inline SVG drawn by matplotlib. Figures are built with the
object-oriented ``matplotlib.figure.Figure`` API, never ``pyplot``: no global
figure registry to leak into, no GUI backend needed, and the process-wide
backend choice of the caller (e.g. a notebook) is left alone.
"""

from __future__ import annotations

import io
from html import escape

from matplotlib import rc_context
from matplotlib.figure import Figure

from tabular_ml.evaluation import HIGHER_IS_BETTER, METRIC_NAMES, EvaluationReport

__all__ = ["render_report_html"]

_METRIC_LABELS = {
    "accuracy": "share of correct predictions",
    "balanced_accuracy": "mean of the recall of each class",
    "precision": "of the predicted positives, the share truly positive",
    "recall": "of the true positives, the share found",
    "f1": "harmonic mean of precision and recall",
    "roc_auc": "area under the ROC curve (threshold-free)",
    "pr_auc": "average precision: area under the PR curve",
    "log_loss": "cross-entropy of the probabilities",
    "brier": "mean squared error of the probabilities",
}

_BLUE, _ORANGE, _GREY = "#2563eb", "#ea580c", "#9ca3af"

_CSS = """
:root { --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --accent: #2563eb; --bg: #f9fafb; }
* { box-sizing: border-box; }
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0; padding: 24px; line-height: 1.45; }
main { max-width: 1100px; margin: 0 auto; }
h1 { font-size: 1.5rem; margin: 0 0 4px; }
h2 { font-size: 1.05rem; margin: 0 0 12px; color: var(--fg); }
.sub { color: var(--muted); margin: 0 0 20px; }
.sub b { color: var(--fg); font-weight: 600; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(330px, 1fr)); gap: 16px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 16px 18px;
          margin-bottom: 16px; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.92rem; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 0.8rem; text-transform: uppercase;
     letter-spacing: .03em; }
td.num { text-align: right; font-variant-numeric: tabular-nums;
         font-family: ui-monospace, Menlo, Consolas, monospace; }
td.desc { color: var(--muted); font-size: 0.85rem; }
.arrow { color: var(--muted); font-size: 0.8rem; }
table.cm { width: auto; margin-top: 4px; }
table.cm td.cell { text-align: center; min-width: 110px; padding: 10px; border: 1px solid var(--line); }
table.cm td.ok { background: #ecfdf5; }
table.cm td.err { background: #fef2f2; }
table.cm .count { font-size: 1.3rem; font-weight: 600; display: block; }
table.cm .share { color: var(--muted); font-size: 0.8rem; }
.chart svg { width: 100%; height: auto; display: block; }
.empty { color: var(--muted); font-style: italic; margin: 0; }
ul.notes { margin: 0; padding-left: 20px; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.88em; }
"""


def _num(value: float) -> str:
    return f"{value:.4f}"


def _svg(fig: Figure) -> str:
    """The figure as an inline ``<svg>`` element (XML prolog and DOCTYPE stripped)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _mpl_text(text: str) -> str:
    """Text from data shown literally by matplotlib: ``$`` would start mathtext."""
    return text.replace("$", r"\$")


def _figure(width: float, height: float) -> Figure:
    # A bare Figure, not pyplot: nothing is registered globally, so nothing needs closing.
    return Figure(figsize=(width, height), dpi=100)


def _style_axes(ax) -> None:
    ax.grid(True, color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _roc_svg(report: EvaluationReport) -> str | None:
    fpr, tpr = report.roc_curve.get("fpr", []), report.roc_curve.get("tpr", [])
    if not fpr:
        return None
    fig = _figure(4.6, 4.0)
    ax = fig.add_subplot()
    auc = report.metrics.get("roc_auc")
    label = f"model (AUC {auc:.3f})" if auc is not None else "model"
    ax.plot([0, 1], [0, 1], linestyle="--", color=_GREY, linewidth=1, label="chance")
    ax.plot(fpr, tpr, color=_BLUE, linewidth=2, label=label)
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="false positive rate", ylabel="true positive rate")
    ax.set_title("ROC curve", loc="left", fontsize=11)
    _style_axes(ax)
    ax.legend(loc="lower right", frameon=False)
    return _svg(fig)


def _pr_svg(report: EvaluationReport) -> str | None:
    precision, recall = report.pr_curve.get("precision", []), report.pr_curve.get("recall", [])
    if not precision:
        return None
    fig = _figure(4.6, 4.0)
    ax = fig.add_subplot()
    ap = report.metrics.get("pr_auc")
    label = f"model (AP {ap:.3f})" if ap is not None else "model"
    if report.prevalence is not None:
        ax.axhline(report.prevalence, linestyle="--", color=_GREY, linewidth=1, label="chance (prevalence)")
    ax.step(recall, precision, where="post", color=_ORANGE, linewidth=2, label=label)
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision")
    ax.set_title("Precision-recall curve", loc="left", fontsize=11)
    _style_axes(ax)
    ax.legend(loc="lower left", frameon=False)
    return _svg(fig)


def _importance_svg(report: EvaluationReport, top: int = 20) -> str | None:
    pairs = report.feature_importances[:top]
    if not pairs:
        return None
    names = [_mpl_text(name if len(name) <= 40 else name[:39] + "…") for name, _ in pairs][::-1]
    values = [value for _, value in pairs][::-1]
    fig = _figure(7.5, 0.6 + 0.32 * len(pairs))
    ax = fig.add_subplot()
    ax.barh(range(len(values)), values, color=[_BLUE if v >= 0 else _ORANGE for v in values], height=0.65)
    ax.set_yticks(range(len(values)), names)
    if any(v < 0 for v in values):
        ax.axvline(0, color="#374151", linewidth=0.8)
    ax.set_xlabel("importance")
    ax.set_title(f"Top {len(pairs)} feature importances", loc="left", fontsize=11)
    _style_axes(ax)
    ax.grid(False, axis="y")
    return _svg(fig)


def _charts(report: EvaluationReport) -> tuple[str | None, str | None, str | None]:
    # Text stays text in the SVG (small, selectable, escaped by matplotlib); a fixed hash
    # salt makes the element ids, hence the page, reproducible.
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "evaluation-report", "font.size": 9}):
        return _roc_svg(report), _pr_svg(report), _importance_svg(report)


def _metric_table(report: EvaluationReport) -> str:
    if not report.metrics:
        return '<p class="empty">No holdout metrics.</p>'
    order = [m for m in METRIC_NAMES if m in report.metrics] + sorted(set(report.metrics) - set(METRIC_NAMES))
    rows = []
    for name in order:
        arrow = "↑" if HIGHER_IS_BETTER.get(name, True) else "↓"
        rows.append(
            f'<tr><td><code>{escape(name)}</code> <span class="arrow" title="better">{arrow}</span></td>'
            f'<td class="num">{_num(report.metrics[name])}</td>'
            f'<td class="desc">{escape(_METRIC_LABELS.get(name, ""))}</td></tr>'
        )
    head = "<table><thead><tr><th>metric</th><th>value</th><th></th></tr></thead><tbody>"
    return head + "".join(rows) + "</tbody></table>"


def _cv_table(report: EvaluationReport) -> str:
    if not report.cv_metrics:
        return '<p class="empty">No cross-validation scores recorded.</p>'
    rows = []
    for name, stats in report.cv_metrics.items():
        mean, std = stats.get("mean"), stats.get("std")
        mean_s = _num(mean) if mean is not None else "&ndash;"
        std_s = f" ± {_num(std)}" if std is not None else ""
        rows.append(f'<tr><td><code>{escape(name)}</code></td><td class="num">{mean_s}{std_s}</td></tr>')
    return (
        "<table><thead><tr><th>metric</th><th>mean ± std over folds</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _confusion_table(report: EvaluationReport) -> str:
    tn, fp, fn, tp = report.tn_fp_fn_tp
    total = tn + fp + fn + tp
    pos = escape(report.positive_class)

    def cell(count: int, label: str, ok: bool) -> str:
        share = f"{count / total:.1%}" if total else "&ndash;"
        return (
            f'<td class="cell {"ok" if ok else "err"}" title="{label}"><span class="count">{count}</span>'
            f'<span class="share">{label} · {share}</span></td>'
        )

    return (
        '<table class="cm"><thead><tr><th></th>'
        f"<th>predicted not {pos}</th><th>predicted {pos}</th></tr></thead><tbody>"
        f"<tr><th>actual not {pos}</th>{cell(tn, 'TN', True)}{cell(fp, 'FP', False)}</tr>"
        f"<tr><th>actual {pos}</th>{cell(fn, 'FN', False)}{cell(tp, 'TP', True)}</tr>"
        "</tbody></table>"
        f'<p class="sub" style="margin:10px 0 0">{total} samples, predicted positive when the '
        f"probability is ≥ {report.threshold:g}</p>"
    )


def _params_table(report: EvaluationReport) -> str:
    if not report.best_params:
        return '<p class="empty">No hyperparameters recorded.</p>'
    rows = "".join(
        f'<tr><td><code>{escape(str(k))}</code></td><td class="num">{escape(repr(v))}</td></tr>'
        for k, v in sorted(report.best_params.items())
    )
    return f"<table><thead><tr><th>parameter</th><th>value</th></tr></thead><tbody>{rows}</tbody></table>"


def _section(title: str, body: str, css: str = "") -> str:
    return f'<section class="{css}"><h2>{escape(title)}</h2>{body}</section>'


def _chart_section(title: str, svg: str | None, missing: str) -> str:
    return _section(title, svg if svg else f'<p class="empty">{escape(missing)}</p>', "chart")


def render_report_html(report: EvaluationReport) -> str:
    """A complete, self-contained HTML page describing ``report``."""
    roc, pr, importances = _charts(report)
    title = f"Evaluation: {report.model_name}"
    algorithm = f" · algorithm <b>{escape(report.algorithm)}</b>" if report.algorithm else ""
    subtitle = (
        f"{report.n_samples} holdout samples · positive class <b>{escape(report.positive_class)}</b>"
        f" · threshold <b>{report.threshold:g}</b>{algorithm}"
    )
    notes = ""
    if report.notes:
        notes = _section(
            "Notes", '<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in report.notes) + "</ul>"
        )
    body = (
        f'<h1>{escape(title)}</h1><p class="sub">{subtitle}</p>'
        + notes
        + '<div class="grid">'
        + _section("Holdout metrics", _metric_table(report))
        + _section("Cross-validation (training folds)", _cv_table(report))
        + "</div>"
        + '<div class="grid">'
        + _section("Confusion matrix (holdout)", _confusion_table(report))
        + _section("Best hyperparameters", _params_table(report))
        + "</div>"
        + '<div class="grid">'
        + _chart_section("ROC curve", roc, "Not available: the holdout holds a single class.")
        + _chart_section("Precision-recall curve", pr, "Not available: the holdout holds a single class.")
        + "</div>"
        + _chart_section("Feature importances", importances, "No feature importances recorded.")
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )

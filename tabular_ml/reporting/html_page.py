"""A self-contained HTML page for an ``EvaluationReport`` of any task (ZenML-free).

No external assets and no JavaScript: styling is an inline ``<style>`` block,
charts are inline SVG (:mod:`tabular_ml.reporting.charts`). Every task shows its metrics
beside the trivial baseline's, the cross-validation scores and the hyperparameters;
then binary: the confusion matrix, ROC, PR and reliability curves; multiclass: the
k x k confusion matrix and per-class scores; regression: predicted against actual
values and the residual histogram.
"""

from __future__ import annotations

from html import escape

from tabular_ml.modelling.evaluation import HIGHER_IS_BETTER, EvaluationReport, metric_names
from tabular_ml.reporting.charts import report_charts

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
    "precision_macro": "precision of each class, averaged with equal weights",
    "recall_macro": "recall of each class, averaged with equal weights",
    "f1_macro": "F1 of each class, averaged with equal weights",
    "f1_weighted": "F1 of each class, averaged by its number of rows",
    "roc_auc_ovr": "one-vs-rest ROC AUC of each class, averaged",
    "rmse": "root mean squared error",
    "mae": "mean absolute error",
    "median_ae": "median absolute error",
    "max_error": "largest absolute error",
    "r2": "share of the variance explained (1 perfect, 0 the mean)",
}

_BASELINES = {
    "binary": "always the training majority class, with the training class shares as probabilities",
    "multiclass": "always the training majority class, with the training class shares as probabilities",
    "regression": "always the training mean",
}

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
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 480px), 1fr)); gap: 16px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 16px 18px;
          margin-bottom: 16px; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.92rem; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 0.8rem; text-transform: uppercase;
     letter-spacing: .03em; }
th.num { text-align: right; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap;
         font-family: ui-monospace, Menlo, Consolas, monospace; }
td.base { color: var(--muted); }
td.name { white-space: nowrap; }
/* The holdout table: its card spans the grid's row; each description takes the width the name and
   numbers leave (at least a phrase wide) and wraps between words, as a sentence. */
.grid > section.wide { grid-column: 1 / -1; }
table.metrics td.desc { color: var(--muted); font-size: 0.85rem; width: 100%; min-width: 14rem;
                        white-space: normal; word-break: normal; overflow-wrap: normal; hyphens: manual; }
/* A frame too narrow for four columns: each description goes on a line of its own, under its
   metric's name and numbers, as wide as the card. */
@media (max-width: 41rem) {
  table.metrics, table.metrics thead, table.metrics tbody { display: block; }
  table.metrics tr { display: grid; grid-template-columns: minmax(0, 1fr) 6rem;
                     border-bottom: 1px solid var(--line); }
  table.metrics.vs tr { grid-template-columns: minmax(0, 1fr) 6rem 6rem; }
  table.metrics th, table.metrics td { border-bottom: 0; }
  table.metrics thead th:last-child { display: none; }
  table.metrics td.desc { grid-column: 1 / -1; width: auto; min-width: 0; padding-top: 0; }
}
.arrow { color: var(--muted); font-size: 0.8rem; }
.caption { color: var(--muted); font-size: 0.85rem; margin: 10px 0 0; }
table.cm { width: auto; margin-top: 4px; }
table.cm td.cell { text-align: center; min-width: 110px; padding: 10px; border: 1px solid var(--line); }
table.cm td.ok { background: #ecfdf5; }
table.cm td.err { background: #fef2f2; }
table.cm .count { font-size: 1.3rem; font-weight: 600; display: block; }
table.cm .share { color: var(--muted); font-size: 0.8rem; }
table.cmk td.cell { min-width: 56px; padding: 6px; }
table.cmk .count { font-size: 1.05rem; }
table.cmk th { text-transform: none; letter-spacing: 0; max-width: 150px; overflow-wrap: anywhere; }
table.cmk thead th { max-width: 88px; vertical-align: bottom; }
.chart svg { width: 100%; height: auto; display: block; }
.empty { color: var(--muted); font-style: italic; margin: 0; }
ul.notes { margin: 0; padding-left: 20px; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.88em; }
"""


def _num(value: float) -> str:
    text = f"{value:.4f}"
    return "0.0000" if text == "-0.0000" else text  # a baseline R² of -4e-7 is zero


def _table(headers: list[str], rows: list[str], numeric_from: int = 1, css: str = "") -> str:
    head = "".join(
        f'<th class="num">{h}</th>' if i >= numeric_from else f"<th>{h}</th>" for i, h in enumerate(headers)
    )
    table = f'<table class="{css}">' if css else "<table>"
    return f"{table}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _metric_table(report: EvaluationReport) -> str:
    if not report.metrics:
        return '<p class="empty">No holdout metrics.</p>'
    known = [m for m in metric_names(report.task) if m in report.metrics]
    order = known + sorted(set(report.metrics) - set(known))
    baseline = report.baseline_metrics
    rows = []
    for name in order:
        arrow = "↑" if HIGHER_IS_BETTER.get(name, True) else "↓"
        base = ""
        if baseline:
            base = f'<td class="num base">{_num(baseline[name]) if name in baseline else "&ndash;"}</td>'
        rows.append(
            f'<tr><td class="name"><code>{escape(name)}</code> '
            f'<span class="arrow" title="better">{arrow}</span></td>'
            f'<td class="num">{_num(report.metrics[name])}</td>{base}'
            f'<td class="desc">{escape(_METRIC_LABELS.get(name, ""))}</td></tr>'
        )
    headers = ["metric", "model", *(["baseline"] if baseline else []), ""]
    table = _table(headers, rows, css="metrics vs" if baseline else "metrics")
    if baseline:
        table += f'<p class="caption">Baseline: a trivial model predicting {_BASELINES[report.task]}, '
        table += "scored on the same holdout.</p>"
    return table


def _cv_table(report: EvaluationReport) -> str:
    if not report.cv_metrics:
        return '<p class="empty">No cross-validation scores recorded.</p>'
    rows = []
    for name, stats in report.cv_metrics.items():
        mean, std = stats.get("mean"), stats.get("std")
        mean_s = _num(mean) if mean is not None else "&ndash;"
        std_s = f" ± {_num(std)}" if std is not None else ""
        rows.append(f'<tr><td><code>{escape(name)}</code></td><td class="num">{mean_s}{std_s}</td></tr>')
    return _table(["metric", "mean ± std over folds"], rows)


def _cell(count: int, title: str, caption: str, css: str = "", style: str = "") -> str:
    """A confusion matrix cell: the count large, a caption below, ``title`` on hover."""
    return (
        f'<td class="cell {css}" title="{title}"{style}><span class="count">{count}</span>'
        f'<span class="share">{caption}</span></td>'
    )


def _binary_confusion_table(report: EvaluationReport) -> str:
    tn, fp, fn, tp = report.tn_fp_fn_tp
    total = tn + fp + fn + tp
    pos = escape(report.positive_class)

    def cell(count: int, label: str, ok: bool) -> str:
        share = f" · {count / total:.1%}" if total else ""
        return _cell(count, label, label + share, "ok" if ok else "err")

    return (
        '<table class="cm"><thead><tr><th></th>'
        f"<th>predicted not {pos}</th><th>predicted {pos}</th></tr></thead><tbody>"
        f"<tr><th>actual not {pos}</th>{cell(tn, 'TN', True)}{cell(fp, 'FP', False)}</tr>"
        f"<tr><th>actual {pos}</th>{cell(fn, 'FN', False)}{cell(tp, 'TP', True)}</tr>"
        "</tbody></table>"
        f'<p class="caption">{total} samples, predicted positive when the '
        f"probability is ≥ {report.threshold:g}</p>"
    )


def _multiclass_confusion_table(report: EvaluationReport) -> str:
    names = [escape(name) for name in report.class_names]
    rows = []
    for actual, counts in enumerate(report.confusion_matrix):
        total = sum(counts)
        cells = []
        for predicted, count in enumerate(counts):
            share = count / total if total else 0.0
            # The tint deepens with the share of the actual class's rows: the errors that matter stand out.
            colour = "16, 185, 129" if actual == predicted else "239, 68, 68"
            style = f' style="background: rgba({colour}, {0.06 + 0.5 * share:.2f})"' if count else ""
            title = f"actual {names[actual]}, predicted {names[predicted]}"
            cells.append(_cell(count, title, f"{share:.0%} of row" if total else "", style=style))
        rows.append(f"<tr><th>{names[actual]}</th>{''.join(cells)}</tr>")
    head = "".join(f"<th>{name}</th>" for name in names)
    total = sum(map(sum, report.confusion_matrix))
    return (
        f'<table class="cm cmk"><thead><tr><th>actual ↓ predicted →</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        f'<p class="caption">{total} samples; each row is an actual class, each column the predicted '
        "one (the most probable class); the share is of the row.</p>"
    )


def _per_class_table(report: EvaluationReport) -> str:
    if not report.per_class:
        return '<p class="empty">No per-class scores recorded.</p>'
    rows = [
        f"<tr><td><code>{escape(name)}</code></td>"
        + "".join(
            f'<td class="num">{_num(scores.get(key, 0.0))}</td>' for key in ("precision", "recall", "f1")
        )
        + f'<td class="num">{int(scores.get("support", 0))}</td></tr>'
        for name, scores in report.per_class.items()
    ]
    return _table(["class", "precision", "recall", "f1", "rows"], rows)


def _reliability_table(report: EvaluationReport) -> str:
    bins = report.reliability
    if not bins.get("count"):
        return '<p class="empty">No reliability bins recorded.</p>'
    rows = [
        f'<tr><td class="num">{int(count)}</td><td class="num">{_num(p)}</td><td class="num">{_num(o)}</td>'
        "</tr>"
        for p, o, count in zip(bins["mean_predicted"], bins["observed_rate"], bins["count"], strict=True)
    ]
    n = sum(bins["count"])
    mean_p = sum(p * c for p, c in zip(bins["mean_predicted"], bins["count"], strict=True)) / n
    observed = sum(o * c for o, c in zip(bins["observed_rate"], bins["count"], strict=True)) / n
    brier = report.metrics.get("brier")
    summary = f"Brier score <b>{_num(brier)}</b> · " if brier is not None else ""
    return (
        f'<p class="sub" style="margin:0 0 8px">{summary}mean predicted probability <b>{_num(mean_p)}</b> '
        f"against an observed positive share of <b>{_num(observed)}</b></p>"
        + _table(["rows", "mean predicted", "observed share"], rows, numeric_from=0)
    )


def _params_table(report: EvaluationReport) -> str:
    if not report.best_params:
        return '<p class="empty">No hyperparameters recorded.</p>'
    rows = [
        f'<tr><td><code>{escape(str(k))}</code></td><td class="num">{escape(repr(v))}</td></tr>'
        for k, v in sorted(report.best_params.items())
    ]
    return _table(["parameter", "value"], rows)


def _section(title: str, body: str, css: str = "") -> str:
    return f'<section class="{css}"><h2>{escape(title)}</h2>{body}</section>'


def _chart_section(title: str, svg: str | None, missing: str) -> str:
    return _section(title, svg if svg else f'<p class="empty">{escape(missing)}</p>', "chart")


def _grid(*sections: str) -> str:
    return '<div class="grid">' + "".join(sections) + "</div>"


def _subtitle(report: EvaluationReport) -> str:
    parts = [f"{report.n_samples} holdout samples"]
    if report.task == "binary":
        parts += [
            f"positive class <b>{escape(report.positive_class)}</b>",
            f"threshold <b>{report.threshold:g}</b>",
        ]
    elif report.task == "multiclass":
        shown = ", ".join(escape(name) for name in report.class_names[:12])
        more = f" and {len(report.class_names) - 12} more" if len(report.class_names) > 12 else ""
        parts.append(f"{len(report.class_names)} classes: <b>{shown}</b>{more}")
    else:
        parts.append("<b>regression</b>")
    if report.algorithm:
        parts.append(f"algorithm <b>{escape(report.algorithm)}</b>")
    return " · ".join(parts)


def _task_sections(report: EvaluationReport, charts: dict[str, str | None]) -> str:
    single_class = "Not available: the holdout holds a single class."
    if report.task == "binary":
        return (
            _grid(
                _section("Confusion matrix (holdout)", _binary_confusion_table(report)),
                _section("Best hyperparameters", _params_table(report)),
            )
            + _grid(
                _chart_section("ROC curve", charts["roc"], single_class),
                _chart_section("Precision-recall curve", charts["pr"], single_class),
            )
            + _grid(
                _chart_section("Reliability curve", charts["reliability"], "No reliability bins recorded."),
                _section("Calibration by probability bin", _reliability_table(report)),
            )
        )
    if report.task == "multiclass":
        return _section("Confusion matrix (holdout)", _multiclass_confusion_table(report)) + _grid(
            _section("Per-class scores (holdout)", _per_class_table(report)),
            _section("Best hyperparameters", _params_table(report)),
        )
    return _grid(
        _chart_section("Predicted vs actual", charts["predicted_vs_actual"], "No points recorded."),
        _chart_section("Residuals", charts["residual_histogram"], "No residuals recorded."),
    ) + _section("Best hyperparameters", _params_table(report))


def render_report_html(report: EvaluationReport) -> str:
    """A complete, self-contained HTML page describing ``report``."""
    charts = report_charts(report)
    title = f"Evaluation: {report.model_name}"
    notes = ""
    if report.notes:
        notes = _section(
            "Notes", '<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in report.notes) + "</ul>"
        )
    body = (
        f'<h1>{escape(title)}</h1><p class="sub">{_subtitle(report)}</p>'
        + notes
        + _grid(
            _section("Holdout metrics", _metric_table(report), "wide"),
            _section("Cross-validation (training folds)", _cv_table(report)),
        )
        + _task_sections(report, charts)
        + _grid(
            _chart_section("Feature importances", charts["importances"], "No feature importances recorded."),
            _chart_section(
                "Mean absolute contribution (per input column)",
                charts["contribution_importances"],
                "No explanations recorded.",
            ),
        )
        + _chart_section(
            "Why: the most and the least likely holdout rows",
            charts["explained_rows"],
            "No explanations recorded.",
        )
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )

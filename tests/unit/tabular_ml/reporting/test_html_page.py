"""The HTML report of each task: what a reader needs to see is there, with the right numbers."""

from __future__ import annotations

import re

import numpy as np

from tabular_ml.modelling.evaluation import (
    baseline_metrics,
    evaluate_classifier,
    evaluate_multiclass,
    evaluate_regression,
)
from tabular_ml.reporting.html_page import render_report_html
from tests.support.evaluation_examples import CLASSES, P3, Y3


def _cells(html: str) -> list[str]:
    return re.findall(r'<span class="count">(\d+)</span>', html)


def test_multiclass_page_shows_the_k_by_k_matrix_per_class_scores_and_baseline():
    baseline = baseline_metrics("multiclass", [0, 0, 1, 2], Y3, class_count=3)
    report = evaluate_multiclass(Y3, P3, CLASSES, model_name="iris", baseline_metrics=baseline)
    html = render_report_html(report)
    assert _cells(html) == ["2", "1", "0", "0", "1", "1", "0", "0", "1"]  # row by row, actual class first
    header = re.search(r'<table class="cm cmk"><thead><tr>(.*?)</tr>', html).group(1)
    assert re.findall(r"<th>([^<]*)</th>", header)[1:] == CLASSES
    assert 'title="actual setosa, predicted versicolor"' in html
    assert "67% of row" in html  # setosa: 2 of its 3 rows right
    # Per-class table: setosa precision 1, recall 2/3, f1 0.8, 3 rows.
    row = re.search(r"<tr><td><code>setosa</code></td>(.*?)</tr>", html).group(1)
    assert re.findall(r'<td class="num">([^<]*)</td>', row) == ["1.0000", "0.6667", "0.8000", "3"]
    for name, value in report.metrics.items():
        assert f"<code>{name}</code>" in html and f"{value:.4f}" in html
    assert f'<td class="num base">{baseline["f1_macro"]:.4f}</td>' in html
    assert "3 classes: <b>setosa, versicolor, virginica</b>" in html
    assert "<svg" not in html  # no importances given, and no multiclass curves
    assert "ROC curve" not in html and "Reliability" not in html


def test_regression_page_shows_scatter_histogram_and_baseline():
    rng = np.random.default_rng(0)
    y = rng.normal(100, 20, 300)
    pred = y + rng.normal(0, 5, 300)
    baseline = baseline_metrics("regression", y[:200], y)
    report = evaluate_regression(
        y, pred, model_name="houses", baseline_metrics=baseline, feature_importances={"rooms": 0.7}
    )
    html = render_report_html(report)
    assert html.count("<svg") == 3  # predicted vs actual, residuals, importances
    assert "Predicted vs actual (200 of 300 rows)" in html
    assert "Residuals (actual − predicted)" in html
    assert f'<td class="num base">{baseline["rmse"]:.4f}</td>' in html
    assert "always the training mean" in html
    assert "Confusion" not in html and "threshold" not in html


def test_binary_page_shows_the_baseline_beside_the_model():
    y = [1, 1, 1, 0, 0, 0, 0, 0]
    baseline = baseline_metrics("binary", [0, 0, 1], y)
    report = evaluate_classifier(y, [0.9, 0.6, 0.3, 0.8, 0.55, 0.4, 0.2, 0.1], baseline_metrics=baseline)
    html = render_report_html(report)
    assert '<th class="num">baseline</th>' in html
    assert f'<td class="num base">{baseline["roc_auc"]:.4f}</td>' in html  # 0.5000
    assert _cells(html) == ["3", "2", "1", "2"]


def test_class_names_from_the_data_are_escaped():
    hostile = ["<script>alert(1)</script>", "a&b", '"><img src=x>']
    html = render_report_html(evaluate_multiclass(Y3, P3, hostile))
    assert "<script" not in html.lower() and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "a&amp;b" in html


def test_task_pages_are_reproducible():
    report = evaluate_regression([1.0, 2.0, 3.0, 5.0], [1.5, 2.0, 2.5, 4.0])
    assert render_report_html(report) == render_report_html(report)


def _css_rule(html: str, selector: str, within: str = "") -> dict[str, str]:
    """The declarations of the page's rule for ``selector``: outside any ``@media`` block, or inside
    the one for ``within``."""
    css = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    media = re.compile(rf"@media {re.escape(within) if within else '[^{{]*'} {{(.*?)\n}}", re.S)
    css = media.search(css).group(1) if within else media.sub("", css)
    (body,) = re.findall(rf"(?:^|\n)\s*{re.escape(selector)} {{([^}}]*)}}", css)
    return dict(
        (name.strip(), value.strip())
        for name, value in (part.split(":", 1) for part in body.split(";") if part.strip())
    )


def test_the_holdout_tables_descriptions_wrap_as_sentences_and_its_numbers_never():
    y = [1, 1, 1, 0, 0, 0, 0, 0]
    with_baseline = evaluate_classifier(
        y, [0.9, 0.6, 0.3, 0.8, 0.55, 0.4, 0.2, 0.1], baseline_metrics=baseline_metrics("binary", [0, 1], y)
    )
    html = render_report_html(with_baseline)
    # The card spans the grid's row; the table is the styled one, with 3 columns of names and numbers.
    assert '<section class="wide"><h2>Holdout metrics</h2><table class="metrics vs">' in html
    assert _css_rule(html, ".grid > section.wide") == {"grid-column": "1 / -1"}
    description = _css_rule(html, "table.metrics td.desc")
    assert {name: description[name] for name in ("width", "min-width", "white-space", "word-break")} == {
        "width": "100%",  # the rest of the row: the name and number columns keep their own width
        "min-width": "14rem",  # a phrase, never a word per line
        "white-space": "normal",
        "word-break": "normal",
    }
    for selector in ("td.num", "th.num", "td.name"):
        assert _css_rule(html, selector)["white-space"] == "nowrap", selector
    # Too narrow a frame for four columns: the description gets a line of its own, the card's width.
    narrow = "(max-width: 41rem)"
    assert _css_rule(html, "table.metrics td.desc", within=narrow) == {
        "grid-column": "1 / -1",
        "width": "auto",
        "min-width": "0",
        "padding-top": "0",
    }
    assert _css_rule(html, "table.metrics.vs tr", within=narrow)["grid-template-columns"] == (
        "minmax(0, 1fr) 6rem 6rem"
    )
    row = re.search(r"<tr><td class=\"name\"><code>accuracy</code>.*?</tr>", html).group(0)
    assert row.endswith('<td class="desc">share of correct predictions</td></tr>')
    without_baseline = render_report_html(evaluate_regression([1.0, 2.0, 3.0], [1.5, 2.0, 2.5]))
    assert '<table class="metrics">' in without_baseline and "metrics vs" not in without_baseline

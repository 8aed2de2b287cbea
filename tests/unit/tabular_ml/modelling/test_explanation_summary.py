"""The report's explanations: mean |contribution| per input column on holdout rows, and the most
and the least likely rows explained; the report keeps them through JSON and draws them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from tabular_ml.configuration.schema import PreprocessingConfig
from tabular_ml.modelling.evaluation import EvaluationReport, evaluate_classifier
from tabular_ml.modelling.explanation_summary import explanation_summary
from tabular_ml.modelling.explanations import Explainer
from tabular_ml.modelling.model import build_model
from tabular_ml.modelling.trained_model import scores_of
from tabular_ml.reporting.html_page import render_report_html
from tabular_ml.tasks.target import TargetSpec
from tests.support.factories import TINY_FEATURES, tiny_contract, tiny_frame

COLUMNS = tiny_contract().feature_names
BINARY = TargetSpec(column="churn", task="binary", classes=["No", "Yes"])


@pytest.fixture(scope="module")
def model_and_holdout():
    frame = tiny_frame(600, seed=4)
    y = (frame["tenure"] + np.random.default_rng(4).normal(0, 8, 600) > 36).astype(int).to_numpy()
    pipeline = build_model(tiny_contract(), PreprocessingConfig(), TINY_FEATURES, LogisticRegression())
    pipeline.fit(frame[COLUMNS].iloc[:400], y[:400])
    return pipeline, frame[COLUMNS].iloc[400:], y[400:]


def test_mean_absolute_contribution_ranks_the_driving_column_first_and_the_extremes_are_explained(
    model_and_holdout,
):
    pipeline, holdout, _ = model_and_holdout
    scores = scores_of(pipeline, holdout, BINARY)
    summary = explanation_summary(pipeline, holdout, scores, BINARY, holdout, max_rows=150)
    assert (summary.space, summary.method, summary.rows) == ("log_odds", "exact", 150)
    assert summary.mean_abs_contribution[0][0] == "tenure"
    assert [name for name, _ in summary.mean_abs_contribution] != COLUMNS  # ranked, not listed
    most, least = summary.explained_rows
    assert (most.label, least.label) == ("most likely", "least likely")
    explainer = Explainer(pipeline, BINARY, COLUMNS, holdout)
    (expected,) = explainer.explain(holdout.iloc[[int(np.argmax(scores))]], top_k=len(COLUMNS))
    assert most.output == pytest.approx(expected.output) and most.contributions == expected.top
    assert most.output > least.output
    assert most.base_value + sum(v for _, v in most.contributions) == pytest.approx(most.output, abs=1e-9)


def test_a_multiclass_summary_explains_the_predicted_class_of_each_extreme_row():
    frame = tiny_frame(300, seed=5)
    y = np.digitize(frame["tenure"], [24, 48])
    target = TargetSpec(column="churn", task="multiclass", classes=["short", "mid", "long"])
    pipeline = build_model(
        tiny_contract(), PreprocessingConfig(), [], HistGradientBoostingClassifier(max_iter=20)
    )
    pipeline.fit(frame[COLUMNS], y)
    scores = scores_of(pipeline, frame[COLUMNS], target)
    summary = explanation_summary(pipeline, frame[COLUMNS], scores, target, None)
    assert summary.space == "logit" and summary.mean_abs_contribution[0][0] == "tenure"
    assert {row.explained_class for row in summary.explained_rows} <= set(target.classes)


def test_the_report_keeps_the_summary_through_json_and_draws_both_charts(model_and_holdout):
    pipeline, holdout, y = model_and_holdout
    scores = scores_of(pipeline, holdout, BINARY)
    summary = explanation_summary(pipeline, holdout, scores, BINARY, holdout)
    report = evaluate_classifier(y, scores, 0.5, class_names=BINARY.classes, explanations=summary)
    assert EvaluationReport.model_validate_json(report.model_dump_json()).explanations == summary
    page = render_report_html(report)
    assert "Mean absolute contribution (per input column)" in page
    assert "Most likely row" in page and "Least likely row" in page
    assert "No explanations recorded." not in page
    assert "No explanations recorded." in render_report_html(evaluate_classifier(y, scores, 0.5))

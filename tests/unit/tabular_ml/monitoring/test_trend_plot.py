from tabular_ml.monitoring.trend_plot import render_trend_html


def test_the_trend_page_draws_drift_each_metric_and_the_windows(three_runs):
    windows = [
        {
            "window_start": "2026-01-01T00:00:00+00:00",
            "predictions": 30,
            "labelled_rows": 20,
            "unlabelled_rows": 10,
            "metrics": {"roc_auc": 0.8},
        },
    ]
    page = render_trend_html("churn", "3", three_runs, windows)
    assert "Monitoring history: churn version 3" in page
    assert "3 run(s); 1 realized window(s), 10 prediction(s) still without a label" in page
    assert page.count("<svg") == 3  # drift share, roc_auc estimated vs realized, the windows
    assert (
        "Share of drifted feature columns" in page
        and "roc_auc: estimated (band: interval) and realized" in page
    )
    assert "20/30" in page


def test_a_first_run_without_labels_draws_drift_and_estimates_only(three_runs):
    page = render_trend_html("churn", "3", three_runs[:1], [])
    assert page.count("<svg") == 2 and "0 realized window(s)" in page

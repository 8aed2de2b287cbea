from datetime import datetime

from evidently.ui.workspace import Workspace

from tabular_ml.monitoring.evidently_history import add_run_snapshot, panels_for
from tabular_ml.monitoring.history import plotted_values


def test_each_run_adds_a_snapshot_to_the_models_one_project_whose_panels_are_added_once(tmp_path, three_runs):
    for record in three_runs:
        when = datetime.fromisoformat(record["checked_at"]).replace(tzinfo=None)
        add_run_snapshot(str(tmp_path), "churn", "3", plotted_values(record), when, record["run"])
    workspace = Workspace(str(tmp_path))
    (project,) = workspace.search_project("churn")
    assert len(workspace.list_runs(project.id)) == 3
    titles = [panel.title for panel in project.dashboard.model().panels]
    assert titles == ["Drift share", "Rows", "Realized performance", "Estimated roc_auc"]
    snapshots = sorted(
        (workspace.get_run(project.id, run) for run in workspace.list_runs(project.id)),
        key=lambda s: s.timestamp,
    )
    assert [s.tags for s in snapshots] == [["version 3"]] * 3
    assert [s.name for s in snapshots] == ["run-1 (version 3)", "run-2 (version 3)", "run-3 (version 3)"]
    drift = [
        next(r.value for r in s.metric_results.values() if r.display_name == "Mean value of 'drift_share'")
        for s in snapshots
    ]
    assert drift == [0.1, 0.2, 0.6]


def test_panels_follow_the_numbers_a_run_has():
    assert [panel.title for panel in panels_for({"current_rows": 10.0})] == ["Rows"]
    estimated = panels_for(
        {"drift_share": 0.1, "estimated_f1": 0.5, "estimated_f1_low": 0.4, "estimated_f1_high": 0.6}
    )
    assert [panel.title for panel in estimated] == ["Drift share", "Rows", "Estimated f1"]
    assert [series.legend for series in estimated[2].values] == ["estimate", "low", "high"]
    assert estimated[2].values[1].metric_labels == {"column": "estimated_f1_low"}

"""The monitoring history in Evidently's self-hosted UI: a local workspace, a project per model.

Each monitoring run becomes one snapshot: an Evidently ``Report`` of ``MeanValue`` metrics run
on a one-row frame of the run's plotted numbers (see
:func:`tabular_ml.monitoring.history.plotted_values`), stamped with the run's time and tagged
with the model version. The project's dashboard draws each number over the snapshots: drift
share, row counts, every estimated metric with its interval, and the realized metrics.
``evidently ui --workspace <path>`` (``make monitoring-ui``) serves it.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from evidently import Report
from evidently.metrics import MeanValue
from evidently.sdk.models import DashboardPanelPlot, PanelMetric
from evidently.sdk.panels import line_plot_panel
from evidently.ui.workspace import Project, Workspace

__all__ = ["add_run_snapshot", "model_project", "panels_for"]

TAB = "Monitoring history"


def _series(column: str, legend: str) -> PanelMetric:
    return PanelMetric(legend=legend, metric="MeanValue", metric_labels={"column": column})


def panels_for(values: dict[str, float]) -> list[DashboardPanelPlot]:
    """The panels that draw ``values``' series: drift share, rows, the realized metrics, and one
    per estimated metric (value, low, high)."""
    panels = []
    if "drift_share" in values:
        panels.append(
            line_plot_panel("Drift share", [_series("drift_share", "share of drifted features")], size="half")
        )
    legends = {
        "current_rows": "current rows",
        "labelled_rows": "served, labelled (all windows)",
        "unlabelled_rows": "served, no label yet (all windows)",
    }
    rows = [_series(name, legend) for name, legend in legends.items() if name in values]
    panels.append(line_plot_panel("Rows", rows, size="half"))
    realized = sorted(name for name in values if name.startswith("realized_"))
    if realized:
        series = [_series(name, name.removeprefix("realized_")) for name in realized]
        panels.append(line_plot_panel("Realized performance", series, size="half"))
    estimated = sorted(
        name.removeprefix("estimated_")
        for name in values
        if name.startswith("estimated_") and not name.endswith(("_low", "_high"))
    )
    for metric in estimated:
        series = [
            _series(f"estimated_{metric}{suffix}", legend)
            for suffix, legend in (("", "estimate"), ("_low", "low"), ("_high", "high"))
        ]
        panels.append(line_plot_panel(f"Estimated {metric}", series, size="half"))
    return panels


def model_project(workspace: Workspace, model_name: str) -> Project:
    """The model's project (created on first use)."""
    found = workspace.search_project(model_name)
    if found:
        return found[0]
    return workspace.create_project(model_name, description=f"Monitoring history of model {model_name}")


def add_run_snapshot(
    path: str, model_name: str, version: str, values: dict[str, float], checked_at: datetime, run_name: str
) -> str:
    """Add one run's snapshot to the model's project, adding the panels it needs; returns its id."""
    workspace = Workspace(path)
    project = model_project(workspace, model_name)
    drawn = {panel.title for panel in project.dashboard.model().panels}
    for panel in panels_for(values):
        if panel.title not in drawn:
            project.dashboard.add_panel(panel, tab=TAB)
    frame = pd.DataFrame({name: [value] for name, value in values.items()})
    report = Report([MeanValue(column=name) for name in values], tags=[f"version {version}"])
    snapshot = report.run(frame, None, timestamp=checked_at, name=f"{run_name} (version {version})")
    return str(workspace.add_run(project.id, snapshot).id)

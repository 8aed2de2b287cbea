"""Late labels and the monitoring history, for real: request-log rows written by the serving
writer, labels arriving in two installments, three monitoring runs through run.py, the history
folder, the trend artifact, and Evidently's UI (a real ``evidently ui`` process) read in
headless Chromium.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sklearn import metrics as skm
from zenml.client import Client
from zenml.enums import ModelStages

from serving.bundle import FeatureColumn
from serving.request_log import RequestLogWriter
from tabular_ml.modelling.trained_model import TrainedModel
from tabular_ml.monitoring.prepare import clean_current
from tests.integration.cli import activate_local_stack, ok, run_cli, small_training_args
from tests.support.browser import HeadlessChromium, chromium_binary
from tests.support.paths import PROJECT_ROOT, docs_image
from tests.support.processes import free_port, port_is_free, wait_for
from tests.support.services import skip_or_fail

pytestmark = pytest.mark.integration

MODEL = "churn_history"
LR = (
    "parameters.search.algorithms=[{name: lr, estimator: sklearn.linear_model.LogisticRegression, "
    "params: {max_iter: 500}, search_space: {C: [0.1]}}]"
)
ROWS_A_DAY = 300
SCREENSHOT = docs_image("monitoring-history.png")
# Per panel of the Evidently dashboard: the number of points drawn per series (MUI chart marks).
POINTS_PER_PANEL = """
(() => {
  const marked = (node) => node.querySelectorAll('circle[class*="MuiMarkElement-root"]').length;
  const out = {};
  for (const svg of document.querySelectorAll('svg')) {
    const marks = svg.querySelectorAll('circle[class*="MuiMarkElement-root"]');
    if (!marks.length) continue;
    let panel = svg;  // up to the largest element holding this chart alone: the panel, title first
    while (panel.parentElement && marked(panel.parentElement) === marks.length) panel = panel.parentElement;
    const title = (panel.innerText || '').trim().split('\\n')[0];
    const series = {};
    for (const mark of marks) {
      const id = [...mark.classList].find((c) => c.startsWith('MuiMarkElement-series-'));
      series[id] = (series[id] || 0) + 1;
    }
    out[title] = Object.values(series);
  }
  return JSON.stringify(out);
})()
"""


def _day(days_ago: int) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago) + timedelta(hours=6)


def _write_request_log(folder: Path, rows: pd.DataFrame, days: list[datetime]) -> pd.DataFrame:
    """Serve ``rows`` as the production version would (one request each, two days back and one
    day back) through the server's request log writer; returns id, prediction and label per row."""
    model = TrainedModel.of_version(Client().get_model_version(MODEL, 1))
    features = clean_current(rows, model.cleaning, model.contract)[model.contract.feature_names]
    scores = model.scores(features)
    predicted = model.labels(scores)
    columns = [FeatureColumn(name=name, kind=spec.kind) for name, spec in model.contract.columns.items()]
    writer = RequestLogWriter(folder, columns, start=False)
    served = []
    for i in range(len(rows)):
        when = days[i // ROWS_A_DAY] + timedelta(seconds=i)
        request_id = f"req-{i:04d}"
        writer.append(features.iloc[[i]], [predicted[i]], [scores[i]], "1", request_id, logged_at=when)
        served.append((request_id, predicted[i], scores[i], rows["churn"].iloc[i]))
    writer.close()
    return pd.DataFrame(served, columns=["request_id", "prediction", "probability", "churn"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A production version; 600 served rows over two days; three monitoring runs: after the first
    labels (150 of day one's), after the second installment (the rest of day one, 100 of day two),
    and on a drifted file batch without labels. Yields what each run left."""
    folder = tmp_path_factory.mktemp("history")
    data = pd.read_csv(PROJECT_ROOT / "data/raw/telco_churn.csv").sample(frac=1.0, random_state=11)
    data.iloc[:3000].to_csv(folder / "sample.csv", index=False)
    activate_local_stack()
    ok(run_cli(folder, *small_training_args(folder, MODEL, LR, "parameters.evaluation.gates.min={}")))
    version = Client().get_model_version(MODEL, 1)
    Client().update_model_version(version.model.id, version.id, stage=ModelStages.PRODUCTION, force=True)
    days = [_day(2), _day(1)]  # fixed now: the tests may run after midnight
    served = _write_request_log(folder / "log", data.iloc[3000 : 3000 + 2 * ROWS_A_DAY], days)
    data.iloc[4000:5000].assign(monthly_charges=lambda f: f["monthly_charges"] * 1.5).to_csv(
        folder / "drifted.csv", index=False
    )
    (folder / "labels").mkdir()
    history = folder / "history"
    common = [
        "--config",
        str(PROJECT_ROOT / "configs/monitoring.yaml"),
        f"model.name={MODEL}",
        f"parameters.history.path={history}",
        "parameters.min_current_rows=100",
    ]
    from_log = [
        f"parameters.current={{type: request_log, since: 30d, path: {folder / 'log'}}}",
        f"parameters.labels={{type: file, path: '{folder / 'labels'}/*.csv'}}",
        "parameters.key_column=request_id",
    ]
    left = {"served": served, "days": days, "history": history}
    installments = [
        served.iloc[:150],
        pd.concat([served.iloc[150:ROWS_A_DAY], served.iloc[ROWS_A_DAY : ROWS_A_DAY + 100]]),
    ]
    for number, labels in enumerate(installments, start=1):
        labels[["request_id", "churn"]].to_csv(folder / "labels" / f"part-{number}.csv", index=False)
        result = run_cli(folder, *common, *from_log)
        assert result.returncode in (0, 3), result.stdout[-2000:] + result.stderr[-4000:]
        left[f"windows_{number}"] = json.loads(
            (history / MODEL / "version-1" / "realized_windows.json").read_text()
        )
    result = run_cli(folder, *common, f"parameters.current.path={folder / 'drifted.csv'}")
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-4000:]
    yield left
    deployer = Client().active_stack.model_deployer
    for service in deployer.find_model_server():
        if service.config.model_name == MODEL:
            deployer.delete_model_server(service.uuid, timeout=60)


def _realized(served: pd.DataFrame) -> dict[str, float]:
    y = (served["churn"] == "Yes").astype(int)
    return {
        "accuracy": skm.accuracy_score(y, (served["prediction"] == "Yes").astype(int)),
        "roc_auc": skm.roc_auc_score(y, served["probability"]),
    }


def test_labels_arriving_in_two_installments_update_their_windows(runs):
    served = runs["served"]
    first, second = runs["windows_1"], runs["windows_2"]
    assert [w["window_start"][:10] for w in second] == [day.date().isoformat() for day in runs["days"]]
    counts = [
        [(w["predictions"], w["labelled_rows"], w["unlabelled_rows"]) for w in run] for run in (first, second)
    ]
    assert counts == [[(300, 150, 150), (300, 0, 300)], [(300, 300, 0), (300, 100, 200)]]
    expected_first = _realized(served.iloc[:150])
    expected_day_one = _realized(served.iloc[:ROWS_A_DAY])
    for name in ("accuracy", "roc_auc"):
        assert first[0]["metrics"][name] == pytest.approx(expected_first[name])
        assert second[0]["metrics"][name] == pytest.approx(expected_day_one[name])
    assert first[1]["metrics"] == {}
    assert second[1]["metrics"]["accuracy"] == pytest.approx(
        _realized(served.iloc[ROWS_A_DAY : ROWS_A_DAY + 100])["accuracy"]
    )
    assert second[0]["first_checked_at"] == first[0]["first_checked_at"]
    assert second[0]["updated_at"] >= first[0]["updated_at"]


def test_every_run_is_in_the_versions_history_and_the_trend_artifact(runs):
    records = [
        json.loads(line)
        for line in (runs["history"] / MODEL / "version-1" / "runs.jsonl").read_text().splitlines()
    ]
    assert len(records) == 3
    assert [r["realized_windows"]["labelled_rows"] for r in records] == [150, 400, 400]
    assert records[2]["alert"] is True and records[2]["drift_scores"]["monthly_charges"] > 0
    assert set(records[0]["drift_scores"]) >= {"tenure", "contract", "monthly_charges"}
    run = Client().list_pipeline_runs(sort_by="desc:created", size=1, pipeline_name="monitoring").items[0]
    trend = run.steps["record_monitoring_history"].outputs["monitoring_trend"][0]
    assert "3 run(s); 2 realized window(s), 200 prediction(s) still without a label" in trend.load()
    assert trend.visualizations  # the dashboard shows it as the artifact's visualization


@pytest.fixture
def evidently_ui(runs):
    """``evidently ui`` on the history's workspace, on a free loopback port; stopped by its PID."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "evidently"),
            "ui",
            "--workspace",
            str(runs["history"] / "evidently"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/projects", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    try:
        assert wait_for(answers, 90), "evidently ui did not answer within 90 s"
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        assert wait_for(lambda: port_is_free(port), 10)


def test_the_evidently_ui_draws_three_points_per_panel(runs, evidently_ui, tmp_path):
    binary = chromium_binary()
    if binary is None:
        skip_or_fail("headless Chromium not found: `apt-get install chromium` (.ci/run installs it)")
    with urllib.request.urlopen(f"{evidently_ui}/api/projects", timeout=10) as answer:
        (project,) = [p for p in json.load(answer) if p["name"] == MODEL]
    browser = HeadlessChromium(binary, tmp_path / "chromium", width=1400, height=1500)
    try:
        browser.open(f"{evidently_ui}/projects/{project['id']}")
        browser.wait_for_text("Drift share", "Rows", "Realized performance", seconds=60)
        points: dict = {}

        def drawn() -> bool:
            points.update(json.loads(browser.evaluate(POINTS_PER_PANEL)))
            return {"Drift share", "Rows"} <= set(points)

        assert wait_for(drawn, 30, every=1), points
        time.sleep(1)  # the marks animate in
        browser.screenshot(SCREENSHOT, full_page=False)
    finally:
        browser.close()
    assert points["Drift share"] == [3]
    assert points["Rows"] == [3, 3, 3]  # current, labelled, unlabelled
    # roc_auc, f1 and accuracy: the drifted batch carries its churn column, so it has them too
    assert points["Realized performance"] == [3, 3, 3]
    for title, series in points.items():
        if title.startswith("Estimated "):
            assert set(series) == {3}, (title, series)
    assert SCREENSHOT.stat().st_size < 300_000

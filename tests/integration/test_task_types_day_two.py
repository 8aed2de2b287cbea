"""The second day of a multiclass and a regression model, for real, on the local Seldon stack.

For each example table (wine: multiclass, diabetes: regression; see example_tables.py), the
story of "Operating it: the second day" in docs/operations.md, every step a real run.py process
against the throwaway store:

1. day one: a weak first model (a depth-1 tree, an over-regularised ridge) on 75 % of the
   rows is trained, promoted and served;
2. the other rows are appended to the file and a real model is trained on it: nothing after
   ingest_data comes from the cache, and every earlier holdout row is still a holdout row;
3. the deployment pipeline promotes it on the task's own metric (f1_macro, rmse) with the
   paired bootstrap, and the running server swaps to it (its answers are the new Pipeline's);
4. a model trained on shuffled targets is refused on the same metric; production stays;
5. monitoring: clean rows raise nothing (exit 0), a drifted copy exits 3 naming exactly the
   shifted columns, and the model's output is compared as a category or a number.

A rollback, and the next deployment keeping it, is the same for every task: the binary model's
story tests it (test_deployment_pipeline.py), and the swap to another task's model is step 3's.

Along the way, the real model's version records its task and metrics, the server answers in
the task's shape (every class probability, or the value) to both Seldon payload forms, and
the inference pipeline scores the whole table with the production version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from zenml.client import Client
from zenml.enums import ExecutionStatus, ModelStages

from tabular_ml.data.splitting import row_keys
from tabular_ml.modelling.trained_model import TrainedModel
from tabular_ml.monitoring.drift_simulation import simulate_drift
from tests.integration.cli import activate_local_stack, ok, output, run_cli
from tests.integration.example_tables import EXAMPLES, example_table, example_training_args
from tests.support.paths import PROJECT_ROOT
from tests.support.processes import free_port, listeners, port_is_free

pytestmark = pytest.mark.integration

DAY_TWO = {
    "multiclass": {
        "model": "wine_day_two",
        "weak": "{name: stump, estimator: sklearn.tree.DecisionTreeClassifier, params: {max_depth: 1}}",
        "metric": "f1_macro",
        "watched": "f1_macro",  # configs/monitoring.yaml's metric_drop for this task
        "drift": {"alcohol": "+1", "proline": "x1.5"},
        "prediction": ("predicted_class", "cat"),
    },
    "regression": {
        "model": "diabetes_day_two",
        "weak": "{name: stiff_ridge, estimator: sklearn.linear_model.Ridge, params: {alpha: 3000}}",
        "metric": "rmse",
        "watched": "r2",
        "drift": {"bmi": "x1.3", "s5": "+0.5"},
        "prediction": ("predicted_value", "num"),
    },
}
FIRST_SHARE = 0.75  # of the table's rows on day one; the rest arrives on day two
# The example tables' holdouts hold 35 (wine) and 85 (diabetes) rows: fewer than the default
# 100 rows promotion compares on, and the 200 rows monitoring judges drift on.
SMALL_TABLE_PROMOTION = "parameters.promotion.min_compared_rows=30"
SMALL_TABLE_MONITORING = "parameters.min_current_rows=30"


@dataclass
class Story:
    """One task's model, its working folder and port, and run.py for it."""

    task: str
    folder: Path
    appended: pd.DataFrame  # the table's rows that arrive on day two
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)

    @property
    def spec(self) -> dict:
        return DAY_TWO[self.task]

    @property
    def model(self) -> str:
        return self.spec["model"]

    def train(self, data: Path, *extra: str, algorithm: str = ""):
        """A training run on ``data``; returns (the run, its model version)."""
        arguments = example_training_args(self.task, self.model, data, *extra, algorithm=algorithm)
        ok(run_cli(self.folder, *arguments))
        run = Client().get_pipeline("training").runs[0]
        return run, self.version(run.model_version.number)

    def serving(self) -> list[str]:
        return [
            f"model.name={self.model}",
            f"parameters.serving.port={self.port}",
            f"parameters.serving.metrics_port={self.metrics_port}",
        ]

    def deploy(self) -> str:
        config = str(PROJECT_ROOT / "configs/deployment.yaml")
        return output(ok(run_cli(self.folder, "--config", config, *self.serving(), SMALL_TABLE_PROMOTION)))

    def monitor(self, current: str):
        config = str(PROJECT_ROOT / "configs/monitoring.yaml")
        overrides = [f"model.name={self.model}", f"parameters.current.path={self.folder / current}"]
        return run_cli(self.folder, "--config", config, *overrides, SMALL_TABLE_MONITORING)

    def version(self, number: int):
        return Client().get_model_version(self.model, number)

    def production(self) -> int:
        return Client().get_model_version(self.model, ModelStages.PRODUCTION).number

    def scores(self, number: int, rows: pd.DataFrame) -> np.ndarray:
        """What version ``number``'s Pipeline outputs: class probabilities or values."""
        return TrainedModel.of_version(self.version(number)).scores(rows)

    def served(self, rows: pd.DataFrame) -> tuple[str, np.ndarray]:
        """The served version and its answers (class probabilities or values) for ``rows``."""
        features = rows.drop(columns=EXAMPLES[self.task]["target"])
        body = {"jsonData": json.loads(features.to_json(orient="records"))}
        url = f"http://127.0.0.1:{self.port}/api/v1.0/predictions"
        response = requests.post(url, json=body, timeout=30)
        assert response.status_code == 200, response.text
        answer = response.json()
        numbers = [row[1:] if self.task == "multiclass" else row[0] for row in answer["data"]["ndarray"]]
        return answer["meta"]["tags"]["model_version"], np.array(numbers, dtype=float)

    def assert_serves(self, number: int, rows: pd.DataFrame) -> None:
        version, answers = self.served(rows)
        assert version == str(number)
        np.testing.assert_allclose(answers, self.scores(number, rows), rtol=1e-9, atol=1e-12)

    def last_drift_summary(self):
        runs = Client().list_pipeline_runs(sort_by="desc:created", size=1, pipeline_name="monitoring").items
        return runs[0].steps["check_drift"].outputs["drift_summary"][0].load()


@pytest.fixture(scope="module")
def stack():
    activate_local_stack()


@pytest.fixture(scope="module", params=sorted(DAY_TWO))
def story(request, stack, tmp_path_factory):
    """Day one: a weak first version on 75 % of the table, promoted and served (stopped at the end)."""
    table = example_table(request.param)
    first = table.sample(frac=FIRST_SHARE, random_state=3)
    story = Story(request.param, tmp_path_factory.mktemp(request.param), table.drop(index=first.index))
    first.to_csv(story.folder / "table.csv", index=False)
    try:
        story.train(story.folder / "table.csv", algorithm=story.spec["weak"])
        story.deploy()
        yield story
    finally:
        deployer = Client().active_stack.model_deployer
        for service in deployer.find_model_server():
            if service.config.model_name == story.model:
                deployer.delete_model_server(service.uuid, timeout=60)
    assert port_is_free(story.port), (
        f"stopping the server must free port {story.port}; listening: {listeners(story.port)}"
    )


@pytest.fixture(scope="module")
def retrained(story):
    """The rest of the table appended to the same file; a real model trained on all of it."""
    story.appended.to_csv(story.folder / "table.csv", mode="a", header=False, index=False)
    return story.train(story.folder / "table.csv")


@pytest.fixture(scope="module")
def promoted(retrained, story):
    return story.deploy()


@pytest.fixture(scope="module")
def refused(promoted, story):
    """A challenger trained on version 2's training rows with their targets shuffled, then deployed."""
    target = EXAMPLES[story.task]["target"]
    train = story.version(2).get_artifact("train_data").load()
    holdout = story.version(2).get_artifact("test_data").load()
    shuffled = train.assign(**{target: np.random.default_rng(5).permutation(train[target].to_numpy())})
    pd.concat([shuffled, holdout]).to_csv(story.folder / "shuffled.csv", index=False)
    story.train(story.folder / "shuffled.csv", "parameters.evaluation.gates={}")  # past training's gates
    return story.deploy()


def holdout_rows(story: Story, number: int) -> pd.DataFrame:
    return story.version(number).get_artifact("test_data").load()


def test_day_one_serves_the_weak_first_version(story):
    assert story.production() == 1
    story.assert_serves(1, example_table(story.task).head(20))


def test_appended_rows_retrain_without_the_cache_and_keep_every_holdout_row(story, retrained):
    run, version = retrained
    first = story.version(1)
    assert version.number == 2
    for step in ("ingest_data", "clean_data", "validate_data", "split_data", "train_model", "evaluate_model"):
        assert run.steps[step].status == ExecutionStatus.COMPLETED, step
    assert version.run_metadata["data_rows"] == len(example_table(story.task))
    assert version.run_metadata["data_fingerprint"] != first.run_metadata["data_fingerprint"]
    features = [c for c in example_table(story.task).columns if c != EXAMPLES[story.task]["target"]]
    keys = {
        (number, side): row_keys(story.version(number).get_artifact(f"{side}_data").load(), features)
        for number in (1, 2)
        for side in ("train", "test")
    }
    assert np.isin(keys[1, "test"], keys[2, "test"]).all()  # day one's holdout rows are still holdout rows
    assert np.isin(keys[1, "train"], keys[2, "train"]).all()
    assert not np.isin(keys[2, "test"], keys[1, "train"]).any()
    assert len(keys[2, "test"]) > len(keys[1, "test"])  # appended rows reached the holdout too


def test_a_better_challenger_is_promoted_on_the_tasks_metric_and_served(story, promoted):
    metric = story.spec["metric"]
    holdout = holdout_rows(story, 2)
    decision = story.version(2).run_metadata["promotion"]
    assert decision["promote"] is True and decision["metric"] == metric, decision["reason"]
    assert decision["champion_version"] == "1" and decision["improvement_interval"][0] > 0
    # every holdout row is compared: version 1 trained on none of them
    assert (decision["compared_rows"], decision["excluded_rows"]) == (len(holdout), 0)
    assert decision["challenger_score"] == pytest.approx(story.version(2).run_metadata["metrics"][metric])
    assert decision["reason"].startswith(f"challenger {metric} ")
    assert story.version(2).run_metadata["decision"]["status"] == "promoted"
    assert story.production() == 2
    assert f"127.0.0.1:{story.port}/api/v1.0/predictions (swapped)" in promoted
    story.assert_serves(2, holdout)
    _, answers = story.served(holdout)
    assert not np.allclose(answers, story.scores(1, holdout))  # the swap changed the answers


def test_the_real_model_records_its_task_and_metrics(story, retrained):
    recorded = story.version(2).run_metadata
    assert recorded["task"] == story.task and "decision_threshold" not in recorded
    if story.task == "multiclass":
        assert recorded["target"]["classes"] == ["0", "1", "2"]
        assert {"accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr"} <= set(recorded["metrics"])
        assert recorded["metrics"]["f1_macro"] > 0.85  # wine is easy: the baseline's f1_macro is ~0.17
    else:
        assert recorded["target"]["classes"] == []
        assert {"rmse", "mae", "r2"} <= set(recorded["metrics"])
        assert 0.3 < recorded["metrics"]["r2"] < 0.7  # diabetes: a linear model explains about half


def test_the_server_answers_in_the_tasks_shape_to_an_ndarray_payload(story, promoted):
    rows = example_table(story.task).head(30)
    features = rows.drop(columns=EXAMPLES[story.task]["target"])
    body = {"data": {"names": list(features.columns), "ndarray": features.to_numpy().tolist()}}
    url = f"http://127.0.0.1:{story.port}/api/v1.0/predictions"
    response = requests.post(url, json=body, timeout=30)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    scores = story.scores(2, features)
    if story.task == "multiclass":
        assert data["names"] == ["prediction", "probability_0", "probability_1", "probability_2"]
        probabilities = np.array([row[1:] for row in data["ndarray"]], dtype=float)
        np.testing.assert_allclose(probabilities, scores, atol=1e-9)
        labels = [row[0] for row in data["ndarray"]]
        assert labels == [str(code) for code in probabilities.argmax(axis=1)]
        assert np.mean(np.array(labels) == rows["cultivar"].astype(str).to_numpy()) > 0.9
    else:
        assert data["names"] == ["prediction"]
        np.testing.assert_allclose([row[0] for row in data["ndarray"]], scores, rtol=1e-9)


def test_batch_scoring_follows_the_task(story, promoted):
    sink = story.folder / "predictions.csv"
    config = str(PROJECT_ROOT / "configs/inference.yaml")
    data = PROJECT_ROOT / EXAMPLES[story.task]["data"]
    ok(
        run_cli(
            story.folder,
            "--config",
            config,
            f"model.name={story.model}",
            f"parameters.source.path={data}",
            f"parameters.sink.path={sink}",
        )
    )
    written, table = pd.read_csv(sink), example_table(story.task)
    model = TrainedModel.of_version(story.version(2))
    assert len(written) == len(table)
    scores = model.scores(table)
    if story.task == "regression":
        np.testing.assert_allclose(written["prediction"], scores, rtol=1e-9)
    else:
        assert written["prediction"].astype(str).tolist() == model.labels(scores).tolist()
        np.testing.assert_allclose(written["probability"], scores.max(axis=1), atol=1e-9)


def test_a_challenger_trained_on_shuffled_targets_is_refused_and_production_stays(story, refused):
    metric = story.spec["metric"]
    decision = story.version(3).run_metadata["promotion"]
    assert decision["promote"] is False and decision["metric"] == metric
    assert decision["champion_version"] == "2" and decision["improvement_interval"][1] < 0, decision["reason"]
    assert (
        decision["reason"].startswith(f"challenger {metric} ")
        and "does not improve significantly" in (decision["reason"])
    )
    assert story.version(3).run_metadata["decision"]["status"] == "rejected"
    assert story.production() == 2
    assert f"127.0.0.1:{story.port}/api/v1.0/predictions (unchanged)" in refused
    story.assert_serves(2, holdout_rows(story, 2))


def test_monitoring_clean_rows_raises_no_alert(story, refused):
    holdout = holdout_rows(story, 2)  # rows production never trained on
    holdout.to_csv(story.folder / "clean.csv", index=False)
    result = ok(story.monitor("clean.csv"))
    assert f"Monitoring of version 2 on {len(holdout)} rows: no threshold crossed" in result.stdout
    verdict = story.version(2).run_metadata["last_monitoring"]
    assert verdict["alert"] is False and verdict["drifted_columns"] == []
    metric = story.spec["metric"]  # the rows carry their labels: the same rows, the same metric
    assert verdict["metrics"][metric] == pytest.approx(story.version(2).run_metadata["metrics"][metric])
    summary = story.last_drift_summary()
    column, kind = story.spec["prediction"]
    assert (summary.prediction.column, summary.prediction.kind) == (column, kind)
    assert not summary.prediction.drifted and summary.current_rows == len(holdout)


def test_monitoring_drifted_rows_exits_3_naming_the_shifted_columns(story, refused):
    clean = pd.read_csv(story.folder / "clean.csv")
    drifted, manifest = simulate_drift(clean, numeric_shift=story.spec["drift"], seed=7)
    drifted.to_csv(story.folder / "drifted.csv", index=False)
    shifted = sorted(story.spec["drift"])
    assert manifest["changed_columns"] == shifted
    result = story.monitor("drifted.csv")
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-3000:]
    assert f"Monitoring of version 2 on {len(clean)} rows: ALERT" in result.stdout
    features = len(example_table(story.task).columns) - 1
    assert f"{len(shifted)} of {features} feature columns drifted" in result.stdout
    assert sorted(story.version(2).run_metadata["last_monitoring"]["drifted_columns"]) == shifted
    # the rows keep their labels: the task's metric fell on the shifted features, and says so
    watched = story.spec["watched"]
    (line,) = [line for line in result.stdout.splitlines() if line.startswith(f"  - {watched} ")]
    assert " on the labelled current rows vs " in line, line
    summary = story.last_drift_summary()
    column, kind = story.spec["prediction"]
    assert (summary.prediction.column, summary.prediction.kind) == (column, kind)
    assert {c.column: c.kind for c in summary.columns}[column] == kind

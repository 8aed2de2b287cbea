"""A challenger tried in shadow, end to end on the local stack: deployment with serving.shadow, the
real server answering with production and logging both predictions, monitoring's agreement from
that log, and the promotion gate (promotion.require_shadow) refusing, then passing.

Everything is real: run.py in subprocesses, the throwaway ZenML store with the `local` stack, the
seldon-local supervisor and its `python -m serving` process on 127.0.0.1, the request log on disk.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import requests
from zenml.client import Client
from zenml.enums import ModelStages

from tests.integration.cli import output
from tests.integration.deployment_runs import (
    deploy,
    monitor_request_log,
    served_version,
    stack_folder_with_port,
    train_with,
)

pytestmark = pytest.mark.integration

MODEL = "churn_shadow"
GOOD = (
    "{name: lr, estimator: sklearn.linear_model.LogisticRegression, "
    "params: {class_weight: balanced, max_iter: 500}, search_space: {C: [1.0]}}"
)
WEAK = "{name: stump, estimator: sklearn.tree.DecisionTreeClassifier, params: {max_depth: 1}}"
REQUESTS, ROWS_EACH = 50, 4
GATE = "parameters.promotion.require_shadow={min_requests: 40, max_estimated_drop: 0.5}"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from stack_folder_with_port(tmp_path_factory, "shadow", seed=11)


@pytest.fixture(scope="module")
def shadowed(env):
    """Version 1 (a depth-1 tree) in production; version 2 (a logistic regression) deployed in its
    shadow by a deployment that requires shadow evidence, which version 2 does not have yet."""
    folder, port = env
    train_with(folder, MODEL, WEAK)
    deploy(folder, port, MODEL)
    train_with(folder, MODEL, GOOD)
    result = deploy(folder, port, MODEL, "parameters.serving.shadow=2", GATE)
    return folder, port, output(result)


def scores_of(version: int, rows: pd.DataFrame) -> np.ndarray:
    from tabular_ml.modelling.trained_model import TrainedModel

    return TrainedModel.of_version(Client().get_model_version(MODEL, version)).scores(rows)


def test_without_evidence_the_gate_refuses_and_the_challenger_waits_in_shadow(shadowed):
    _, port, text = shadowed
    assert (
        "version 2 has no shadow evidence (promotion.require_shadow): serve it with serving.shadow=2" in text
    )
    assert Client().get_model_version(MODEL, ModelStages.PRODUCTION).number == 1
    assert "decision" not in Client().get_model_version(MODEL, 2).run_metadata  # still undecided
    assert "(swapped)" in text and served_version(port) == "1"


@pytest.fixture(scope="module")
def logged(shadowed):
    """``REQUESTS`` requests answered by the server, and the request log's rows of them."""
    from serving.request_log import read_request_log

    folder, port, _ = shadowed
    started = datetime.now(UTC)
    rows = pd.read_csv(folder / "sample.csv").iloc[: REQUESTS * ROWS_EACH].drop(columns="churn")
    answers = []
    for i in range(REQUESTS):
        chunk = rows.iloc[i * ROWS_EACH : (i + 1) * ROWS_EACH]
        body = {"jsonData": chunk.astype(object).where(chunk.notna(), None).to_dict(orient="records")}
        body["meta"] = {"puid": f"shadow-test-{i}"}
        answer = requests.post(f"http://127.0.0.1:{port}/api/v1.0/predictions", json=body, timeout=10)
        assert answer.status_code == 200, answer.text
        answers.append(answer.json())
    log_dir = folder / "data/request_log" / MODEL
    deadline = time.monotonic() + 60
    while len(read_request_log(log_dir, since=started)) < len(rows) and time.monotonic() < deadline:
        time.sleep(0.5)  # the writer scores the shadow and writes every few seconds
    return rows, answers, read_request_log(log_dir, since=started)


def test_the_answer_is_productions_and_the_log_holds_both_predictions(logged):
    rows, answers, log = logged
    assert {answer["meta"]["tags"]["model_version"] for answer in answers} == {"1"}
    answered = np.array([row[1] for answer in answers for row in answer["data"]["ndarray"]], dtype=float)
    np.testing.assert_allclose(answered, scores_of(1, rows), atol=1e-9)  # production's, not the shadow's
    assert len(log) == len(rows) and log["request_id"].nunique() == REQUESTS
    assert set(log["model_version"]) == {"1"} and set(log["shadow_model_version"]) == {"2"}
    np.testing.assert_allclose(log["probability"], scores_of(1, rows), atol=1e-9)
    np.testing.assert_allclose(log["shadow_probability"], scores_of(2, rows), atol=1e-9)
    assert log["shadow_prediction"].isin(["Yes", "No"]).all()


@pytest.fixture(scope="module")
def monitored(shadowed, logged):
    monitor_request_log(shadowed[0], MODEL)
    return Client().get_model_version(MODEL, 2).run_metadata["shadow_evidence"]


def test_monitoring_records_agreement_and_both_estimates_on_the_challenger(logged, monitored):
    _, _, log = logged
    evidence = monitored
    shadowed_rows = log[log["shadow_model_version"].notna()]
    assert evidence["production_version"] == "1" and evidence["shadow_version"] == "2"
    assert evidence["requests"] >= REQUESTS and evidence["rows"] >= len(shadowed_rows)
    if evidence["rows"] == len(shadowed_rows):  # only this test's rows in the hour's window
        agreement = (shadowed_rows["prediction"] == shadowed_rows["shadow_prediction"]).mean()
        difference = (shadowed_rows["probability"] - shadowed_rows["shadow_probability"]).abs().mean()
        assert evidence["agreement"] == pytest.approx(agreement)
        assert evidence["mean_abs_difference"] == pytest.approx(difference)
    assert 0 <= evidence["agreement"] < 1  # a depth-1 tree and a logistic regression differ somewhere
    for side in ("production", "shadow"):
        estimate = evidence["estimated"][side]["roc_auc"]
        assert 0.5 < estimate["value"] <= 1 and estimate["low"] <= estimate["value"] <= estimate["high"]


def test_too_few_requests_are_refused_then_enough_evidence_promotes(shadowed, monitored):
    folder, port, _ = shadowed
    requests_seen = monitored["requests"]
    strict = f"parameters.promotion.require_shadow={{min_requests: {requests_seen + 1000}}}"
    refused = output(deploy(folder, port, MODEL, "parameters.serving.shadow=2", strict))
    assert (
        f"version 2 scored {requests_seen} requests in shadow; promotion.require_shadow.min_requests"
        in refused
    )
    assert Client().get_model_version(MODEL, ModelStages.PRODUCTION).number == 1

    promoted = output(deploy(folder, port, MODEL, GATE))  # no shadow any more: version 2 alone
    decision = Client().get_model_version(MODEL, 2).run_metadata["promotion"]
    assert decision["promote"] is True, decision["reason"]
    assert Client().get_model_version(MODEL, ModelStages.PRODUCTION).number == 2
    assert "(swapped)" in promoted and served_version(port) == "2"

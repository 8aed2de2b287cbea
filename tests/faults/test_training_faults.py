"""Training killed with ``kill -9`` in its longest step (the search), then run again.

What must hold afterwards: the killed run left at most a model version without metrics, which
the deployment never takes for a challenger; the next run succeeds without any clean-up, does not
take the killed step from the cache, and records a complete version that is the challenger.

Everything is real: ``python run.py`` in a subprocess on the throwaway ZenML store with the
``local`` stack, killed (its whole process group) with SIGKILL while ``train_model`` runs.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest
from zenml.client import Client
from zenml.utils.pagination_utils import depaginate

from tabular_ml.model_management.decisions import choose_challenger, is_trained
from tests.integration.cli import ok, run_cli, small_training_args, write_sample
from tests.support.paths import PROJECT_ROOT
from tests.support.processes import group_alive, wait_for

pytestmark = pytest.mark.integration

MODEL = "churn_killed_training"


def versions() -> dict[int, dict]:
    """The model's versions as {number: run_metadata}."""
    try:
        listed = Client().list_model_versions(MODEL, size=100)
    except KeyError:
        return {}
    return {version.number: dict(version.run_metadata) for version in listed}


def running(step: str) -> bool:
    return Client().list_run_steps(name=step, status="running", size=1).total > 0


def step_runs(step: str) -> dict:
    """The store's runs of ``step`` as {id: status}, oldest first (other tests' are in it too)."""
    listed = depaginate(Client().list_run_steps, name=step, sort_by="asc:created")
    return {run.id: run.status.value for run in listed}


def mlflow_run_started() -> bool:
    """Whether the local MLflow store holds a run: its tables are created (past MLflow's first-time set-up).

    A kill while MLflow creates its SQLite tables is a fault of its own (see the report); here the
    search is the target.
    """
    uri = Client().active_stack.experiment_tracker.get_tracking_uri()
    path = uri.removeprefix("sqlite:///")
    if not os.path.exists(path):
        return False
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return db.execute("SELECT count(*) FROM runs").fetchone()[0] > 0
    except sqlite3.Error:
        return False


def test_a_training_run_killed_in_its_search_leaves_nothing_the_next_run_or_deployment_trips_on(tmp_path):
    write_sample(tmp_path, seed=5)
    ok(run_cli(tmp_path, "stack", "local"))
    args = small_training_args(tmp_path, MODEL, "parameters.search.cv=5")  # a search long enough to catch
    earlier = step_runs("train_model")
    with open(tmp_path / "killed.log", "w") as log:
        killed = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "run.py"), *args],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the run and anything it started
        )
    try:
        caught = wait_for(
            lambda: killed.poll() is None and running("train_model") and mlflow_run_started(), 300, every=0.5
        )
        assert caught, (tmp_path / "killed.log").read_text()[-3000:]
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    finally:
        if killed.poll() is None:
            os.killpg(killed.pid, signal.SIGKILL)
    assert wait_for(lambda: not group_alive(killed.pid), 10)

    half = versions()
    assert all(not is_trained(metadata) for metadata in half.values()), half  # no metrics recorded
    assert choose_challenger(half.items()) is None  # nothing a deployment would promote

    rerun = ok(run_cli(tmp_path, *args))
    assert "Traceback" not in rerun.stderr
    after = versions()
    complete = [number for number, metadata in after.items() if is_trained(metadata)]
    assert len(complete) == 1 and complete[0] > max(half, default=0)
    assert choose_challenger(after.items()) == complete[0]
    assert set(after) - set(half) == set(complete)  # the killed version stays untrained, apart
    # The killed step ran again in the rerun (its partial work was never cached); the killed run's
    # step is the one left "running" for ever (nothing is left to mark it failed).
    ours = [status for step_id, status in step_runs("train_model").items() if step_id not in earlier]
    assert ours == ["running", "completed"]

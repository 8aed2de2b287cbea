"""The local MLflow database is created whole, under a temporary name, or not at all."""

import os

from mlflow import MlflowClient

from adapters.experiment_tracker import SQLITE_PREFIX, create_sqlite_tracking_store


def test_the_database_made_is_one_mlflow_can_track_runs_in(tmp_path):
    path = tmp_path / "mlflow.db"
    create_sqlite_tracking_store(path)

    client = MlflowClient(tracking_uri=SQLITE_PREFIX + str(path))
    experiment_id = client.create_experiment("churn")
    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "roc_auc", 0.83)
    assert client.get_run(run.info.run_id).data.metrics == {"roc_auc": 0.83}
    assert sorted(os.listdir(tmp_path)) == ["mlflow.db"]  # no temporary file left


def test_a_database_another_process_made_meanwhile_is_kept(tmp_path):
    path = tmp_path / "mlflow.db"
    path.write_bytes(b"made by another process")
    stale = tmp_path / f".mlflow.db.{os.getpid()}.partial"
    stale.write_bytes(b"left by a creator killed mid-way")

    create_sqlite_tracking_store(path)

    assert path.read_bytes() == b"made by another process"
    assert sorted(os.listdir(tmp_path)) == ["mlflow.db"]

"""Recording training: the search candidates table, MLflow runs and metrics."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

import tabular_ml
from adapters.autolog_warning import quiet_uninstalled_autolog_warning
from tabular_ml.modelling.search import Candidate, SearchResult

logger = logging.getLogger(__name__)
quiet_uninstalled_autolog_warning()  # the steps that import this module are the tracked ones

# What loading and calling a logged Pipeline needs. Named here because MLflow would otherwise
# infer them by loading the model in a subprocess (about 8 s per training run), and pick up
# whatever the training process had imported (pytest, rich) besides.
MODEL_REQUIREMENTS = ("scikit-learn", "skops", "pandas", "numpy", "scipy", "pydantic")  # + the packaged code


def candidates_table(result: SearchResult) -> pd.DataFrame:
    """One row per candidate, best first; ``selected`` marks the chosen one.

    Parameters are a JSON string so the table stores as Parquet whatever the value types.
    """
    rows = []
    for candidate in result.candidates:
        row = {
            "algorithm": candidate.algorithm,
            "params": json.dumps(candidate.params, sort_keys=True, default=str),
            "mean_score": candidate.mean_score,
            "std_score": candidate.std_score,
            "selected": candidate is result.best,
        }
        for metric, (mean, std) in candidate.cv_metrics.items():
            row[f"cv_{metric}_mean"], row[f"cv_{metric}_std"] = mean, std
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values(["mean_score", "std_score"], ascending=[False, True], ignore_index=True)


def _metrics_of(candidate: Candidate) -> dict[str, float]:
    metrics = {"mean_score": candidate.mean_score, "std_score": candidate.std_score}
    for metric, (mean, std) in candidate.cv_metrics.items():
        metrics[f"cv_{metric}_mean"], metrics[f"cv_{metric}_std"] = mean, std
    return metrics


def log_search_to_mlflow(result: SearchResult, scoring: str) -> None:
    """Log every candidate as a nested MLflow run and the choice on the active run.

    Does nothing when no MLflow run is active (e.g. a stack without an MLflow tracker).
    """
    import mlflow

    if mlflow.active_run() is None:
        logger.info("No active MLflow run: the search is recorded in ZenML only")
        return
    for index, candidate in enumerate(result.candidates):
        with mlflow.start_run(run_name=f"{candidate.algorithm}-{index:03d}", nested=True):
            mlflow.log_params({"algorithm": candidate.algorithm, **candidate.params})
            mlflow.log_metrics(_metrics_of(candidate))
            mlflow.set_tag("selected", str(candidate is result.best).lower())
    mlflow.log_params(
        {
            "algorithm": result.best.algorithm,
            "scoring": scoring,
            **{f"best_{k}": v for k, v in result.best.params.items()},
        }
    )
    mlflow.log_metrics({f"best_{k}": v for k, v in _metrics_of(result.best).items()})


def selected_candidate(table: pd.DataFrame) -> tuple[str, dict, dict[str, dict[str, float]]]:
    """Algorithm, parameters and CV metrics (``{metric: {mean, std}}``) of the selected row."""
    selected = table[table["selected"]]
    if len(selected) != 1:
        raise ValueError(f"the search results mark {len(selected)} candidates as selected, expected 1")
    row = selected.iloc[0]
    metrics = sorted(
        {name[3:-5] for name in table.columns if name.startswith("cv_") and name.endswith("_mean")}
    )
    cv_metrics = {m: {"mean": float(row[f"cv_{m}_mean"]), "std": float(row[f"cv_{m}_std"])} for m in metrics}
    return str(row["algorithm"]), json.loads(row["params"]), cv_metrics


def log_metrics_to_mlflow(metrics: dict[str, float]) -> None:
    """Log metrics on the active MLflow run, if there is one."""
    import mlflow

    if mlflow.active_run() is not None:
        mlflow.log_metrics(metrics)


def log_model_to_mlflow(pipeline: Any, input_example: pd.DataFrame) -> str | None:
    """Log the chosen Pipeline as the run's MLflow model; return its model URI.

    The model loads with ``mlflow.pyfunc.load_model`` where this project is not importable:
    the ``tabular_ml`` package (the Pipeline's feature transformers) is packaged with it
    (``code_paths``). Its signature takes the raw feature columns with the types the data has
    (integers as integers: the raw CSV predicts as it is; a missing value in an integer column
    is refused by MLflow's schema check) and returns ``predict_proba``'s probabilities (a
    classifier) or ``predict``'s values (a regressor).

    MLflow 3 stores scikit-learn models with skops, which refuses to load types it does not
    know (our feature transformers, numpy dtypes, ...) unless they are trusted when the
    model is logged: we trust exactly the types this model contains, found by skops itself.
    """
    from importlib.metadata import version

    import mlflow
    import skops.io
    from mlflow.models import infer_signature

    if mlflow.active_run() is None:
        return None
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(pipeline))
    with warnings.catch_warnings():
        # MLflow's hint that integer columns cannot hold missing values: intended, see above.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        predict_fn = "predict_proba" if hasattr(pipeline, "predict_proba") else "predict"
        signature = infer_signature(input_example, getattr(pipeline, predict_fn)(input_example))
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            serialization_format="skops",
            skops_trusted_types=trusted,
            signature=signature,
            input_example=input_example,
            pyfunc_predict_fn=predict_fn,
            code_paths=[str(Path(tabular_ml.__file__).resolve().parent)],
            pip_requirements=[f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS],
        )
    logger.info("Logged the model to MLflow: %s", info.model_uri)
    return info.model_uri


def set_mlflow_alias(
    registered_name: str, model_uri: str, zenml_version: str, alias: str = "production"
) -> str:
    """Point the MLflow registry alias at the MLflow version of a ZenML model version.

    The ZenML version is registered in MLflow once (found again by its ``zenml_version`` tag),
    so promotion and rollback keep both registries in step. Returns the MLflow version.
    """
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    existing = client.search_model_versions(
        f"name = '{registered_name}' and tags.zenml_version = '{zenml_version}'"
    )
    if existing:
        mlflow_version = existing[0].version
    else:
        registered = mlflow.register_model(model_uri, registered_name, tags={"zenml_version": zenml_version})
        mlflow_version = registered.version
    client.set_registered_model_alias(registered_name, alias, mlflow_version)
    logger.info(
        "MLflow: %s@%s -> version %s (ZenML version %s)",
        registered_name,
        alias,
        mlflow_version,
        zenml_version,
    )
    return str(mlflow_version)

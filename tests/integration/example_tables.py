"""The example tables (data/examples, written by data/make_examples.py) as the integration tests train them.

Each task's drafted config, its data, its target and one small algorithm that trains in a
second or two (3 folds, one process), for tests that run the pipelines on every task type.
"""

from __future__ import annotations

import pandas as pd

from tests.support.paths import PROJECT_ROOT

EXAMPLES = {
    "multiclass": {
        "config": "configs/training_wine.yaml",
        "data": "data/examples/wine.csv",
        "target": "cultivar",
        "algorithm": "{name: lr, estimator: sklearn.linear_model.LogisticRegression, "
        "params: {max_iter: 2000}, search_space: {C: [0.1, 1.0]}}",
    },
    "regression": {
        "config": "configs/training_diabetes.yaml",
        "data": "data/examples/diabetes.csv",
        "target": "progression",
        "algorithm": "{name: ridge, estimator: sklearn.linear_model.Ridge, params: {}, "
        "search_space: {alpha: [0.1, 1.0]}}",
    },
}


def example_table(task: str) -> pd.DataFrame:
    return pd.read_csv(PROJECT_ROOT / EXAMPLES[task]["data"])


def example_training_args(task: str, model: str, data, *extra: str, algorithm: str = "") -> list[str]:
    """``run.py`` arguments: the task's drafted config on the CSV ``data`` with a fast search."""
    spec = EXAMPLES[task]
    return [
        "--config",
        str(PROJECT_ROOT / spec["config"]),
        f"model.name={model}",
        f"parameters.source.path={data}",
        f"parameters.search.algorithms=[{algorithm or spec['algorithm']}]",
        "parameters.search.cv=3",
        "parameters.search.n_jobs=1",
        *extra,
    ]

"""Running run.py for real from an integration test, and local ports."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.support.paths import PROJECT_ROOT


def run_cli(cwd, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python run.py ARGS`` in ``cwd`` (not the project: its .zen must stay untouched), with
    this process's environment or ``env``."""
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ.copy() if env is None else env,
    )


def activate_local_stack() -> None:
    """Register (idempotently) and activate the `local` stack as `run.py stack local` does, in this
    process: the same code without starting a process (15-20 s each on the 2-core machine). The
    processes a test starts read the active stack from the store they share with this one."""
    from zenml.client import Client

    from stacks.register import register_stack

    register_stack(PROJECT_ROOT / "configs/stacks/local.yaml", activate=False)
    Client().activate_stack("local")  # also when another module's process switched the stack away


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """Fail with the command's output tail unless it exited 0."""
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def output(result: subprocess.CompletedProcess) -> str:
    """stdout and stderr together, without the colour codes of ZenML's log lines."""
    return re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)


def write_sample(folder, seed: int, rows: int = 1200) -> None:
    """A stratification-free random sample of the bundled data as ``folder/sample.csv``."""
    import pandas as pd

    data = pd.read_csv(PROJECT_ROOT / "data/raw/telco_churn.csv")
    data.sample(rows, random_state=seed).to_csv(folder / "sample.csv", index=False)


def small_training_args(folder, model: str, *overrides: str) -> list[str]:
    """The training config on ``folder/sample.csv`` with a fast 3-fold single-process search."""
    return [
        "--config",
        str(PROJECT_ROOT / "configs/training.yaml"),
        f"parameters.source.path={folder / 'sample.csv'}",
        f"model.name={model}",
        "parameters.search.cv=3",
        "parameters.search.n_jobs=1",
        *overrides,
    ]


def training_steps(*algorithms: str) -> tuple[str, ...]:
    """The steps of a training run searching ``algorithms`` (a search_<name> branch each), in order,
    as the dashboard draws them and the stacks' pod settings name them."""
    return (
        "ingest_data",
        "clean_data",
        "validate_data",
        "split_data",
        *(f"search_{name}" for name in algorithms),
        "train_model",
        "evaluate_model",
        "record_model_version",
    )


# The search's branches with configs/training.yaml: a search_algorithm step per algorithm.
SEARCH_STEPS = ("search_logistic_regression", "search_random_forest", "search_hist_gradient_boosting")
TRAINING_STEPS = training_steps("logistic_regression", "random_forest", "hist_gradient_boosting")

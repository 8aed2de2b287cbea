"""Benchmark: training on tables of 100,000 rows and more, against a plain scikit-learn script.

Each table is made from the bundled Telco table (7,043 rows) by class-conditional column
mixing, so that its rows are new combinations rather than copies: the originals are first
given their side (training or holdout) by the project's own split on an id column,
``source_row``; a generated row then starts from a random base original, and each of its
feature columns is, with probability ``MIX`` (one half), replaced by that column of another
random original of the same class and side; numeric columns are then jittered (about 5 %).
The row keeps its base's ``source_row``, so it lands on its base's side: holdout rows are made
of holdout originals only, and the training config's ``split.id_column: source_row`` groups
the CV folds by base, as the project does for any table with an id.

Why mixing: a table of jittered copies (about 14 of each original at 100,000 rows) let every
model score rows whose near-copies it trained on: the CV ROC AUC read 0.994 against a holdout
of 0.81, and gradient boosting's early stopping never stopped (its validation rows were
copies of its training rows). With mixing, at 100,000 rows, HistGradientBoosting's 3-fold CV
ROC AUC is 0.935 (plain, not grouped, folds) against 0.941 on the holdout, and early stopping
ends at 74-175 of 500 iterations. Mixing within a class keeps each column's class-conditional
distribution but weakens the interactions between columns, so these tables are easier to
separate than Telco itself (holdout ROC AUC about 0.94 rather than 0.84).

For each table, in separate processes (so that each one's peak memory is its own):

- ``project``: what the training pipeline's steps do, stage by stage, with the config that
  ``draft-config`` writes for the table (successive halving over 30 candidates at 100,000 rows
  and more): ingest the CSV, clean, validate, split, the search one algorithm at a time (the
  pipeline's ``search_*`` branches) and the winner's refit (``train_model``), the decision
  threshold on a bounded sample, the holdout's metrics. ZenML is not run: its overhead per
  step (artifacts written and read) is not in these numbers.
- ``plain``: a plain scikit-learn script on the same rows: ``pandas.read_csv``, a
  ColumnTransformer (text one-hot, or as codes for the trees where the drafted config says
  ``categorical_encoding: auto``), ``HalvingGridSearchCV`` over the same candidates and folds,
  the best finalist refit, the same threshold cross-validation on a sample of the same size.
- ``exhaustive`` (``--exhaustive-at ROWS``): the same candidates searched by ``GridSearchCV``
  with 5 folds on every row, to compare the chosen model's holdout ROC AUC with halving's.
- ``pipeline`` (``--pipeline``): the same drafted config through ``run.py`` on a throwaway ZenML
  store with the local stack, as a user runs it: every step's artifacts written and read, the
  model logged to MLflow; wall time per step from the store, and the peak of run.py's
  processes while each step ran.

Peak memory is the largest sum of the resident memory of the process and all its children
(joblib's workers), sampled every 0.1 s with psutil.

Run: ``make bench-scale`` (100,000, 300,000 and 1,000,000 rows), or
``.venv/bin/python -m bench.scale --rows 100000 [--ten-million] [--exhaustive-at 300000]``;
results go to bench/results/scale.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from tests.support.paths import PROJECT_ROOT as ROOT

DATA = ROOT / "data/raw/telco_churn.csv"
RESULTS = ROOT / "bench/results/scale.md"
ID = "source_row"
NUMERIC = ("tenure", "monthly_charges", "total_charges")
JITTER = 0.05
#: the chance that a generated row takes a column from another original row of its class and side
MIX = 0.5


# --------------------------------------------------------------------------- measuring


class PeakMemory:
    """The largest resident memory of a process (this one by default) and its children, sampled
    in a thread."""

    def __init__(self, interval: float = 0.1, pid: int | None = None) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.stage_peaks: dict[str, int] = {}
        self.samples: list[tuple[float, int]] = []  # (epoch seconds, bytes): peaks of windows later
        self.stage = "start"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _rss(self) -> int:
        import psutil

        try:
            processes = [self.process, *self.process.children(recursive=True)]
        except psutil.Error:  # the process ended
            return 0
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.Error:  # a worker that just ended
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self._rss()
            self.samples.append((time.time(), rss))
            self.peak = max(self.peak, rss)
            self.stage_peaks[self.stage] = max(self.stage_peaks.get(self.stage, 0), rss)
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak

    def peak_between(self, start: float, end: float) -> int:
        """The largest sample taken from ``start`` to ``end`` (epoch seconds); 0 if none was."""
        return max((rss for at, rss in self.samples if start <= at <= end), default=0)


class Stages:
    """Wall time and peak memory per stage."""

    def __init__(self) -> None:
        self.memory = PeakMemory()
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        self.memory.stage = name
        started = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - started

    def summary(self) -> dict:
        peak = self.memory.stop()
        return {
            "seconds": self.seconds,
            "total_seconds": sum(self.seconds.values()),
            "peak_bytes": peak,
            "stage_peak_bytes": {k: v for k, v in self.memory.stage_peaks.items() if k in self.seconds},
        }


# --------------------------------------------------------------------------- the table


def original_sides() -> dict[int, bool]:
    """Each bundled row's side (True: holdout), decided by the project's split on its id."""
    import pandas as pd

    from tabular_ml.data.splitting import in_holdout, key_columns, row_keys

    frame = pd.read_csv(DATA)
    frame[ID] = range(len(frame))
    split = split_config()
    keys = row_keys(frame, key_columns(frame, telco_contract(), split))
    return dict(zip(frame[ID].tolist(), in_holdout(keys, split).tolist(), strict=True))


def split_config():
    from tabular_ml.configuration.schema import SplitConfig

    return SplitConfig(test_size=0.2, random_state=42, id_column=ID)


def telco_contract():
    from tabular_ml.configuration.loading import read_yaml
    from tabular_ml.configuration.schema import DataContract

    return DataContract.model_validate(read_yaml(ROOT / "configs/training.yaml")["parameters"]["contract"])


def make_table(rows: int, path: Path, seed: int = 0) -> None:
    """``rows`` new rows made from the bundled table's, written to ``path`` (see the module docstring).

    Each row starts from a base original row, drawn at random; every feature column is then,
    with probability ``MIX``, taken from another original row of the base's class and side
    instead, and numeric columns are jittered. The row keeps its base's ``source_row``, so the
    split (on that id) puts it on its base's side: holdout rows are made of holdout originals only.
    """
    import numpy as np
    import pandas as pd

    original = pd.read_csv(DATA)
    sides = original_sides()
    target = telco_contract().target
    features = [c for c in original.columns if c != target]
    # the originals of each (side, class) pool, concatenated; a base's pool is [start, start + size)
    pool_key = np.array([f"{sides[i]}|{label}" for i, label in enumerate(original[target])])
    order = np.argsort(pool_key, kind="stable")
    keys, starts, sizes = np.unique(pool_key[order], return_index=True, return_counts=True)
    pool_of = np.searchsorted(keys, pool_key)
    rng = np.random.default_rng(seed)
    chunk = 1_000_000  # written in pieces: 10 million rows never sit in memory at once
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        base = rng.integers(0, len(original), n)
        table = original.iloc[base].reset_index(drop=True)
        table.insert(0, ID, base)
        pool = pool_of[base]
        for column in features:
            mixed = rng.random(n) < MIX
            donors = order[starts[pool] + (rng.random(n) * sizes[pool]).astype(np.int64)]
            values = table[column].to_numpy(copy=True)
            values[mixed] = original[column].to_numpy()[donors[mixed]]
            table[column] = values
        for column in NUMERIC:
            values = pd.to_numeric(table[column], errors="coerce")
            jittered = (values * rng.normal(1.0, JITTER, n)).clip(lower=0)
            table[column] = jittered.round(0 if column == "tenure" else 2)
        table.to_csv(path, mode="w" if start == 0 else "a", header=start == 0, index=False)


# --------------------------------------------------------------------------- the project's way


def drafted_config(path: Path) -> dict:
    """The whole config draft-config writes for the table (model, parameters, tracked steps), with
    the split on ``source_row`` and its parameters validated."""
    from tabular_ml.configuration.schema import FileSource, TrainingParameters
    from tabular_ml.data.sources import load_data
    from tabular_ml.drafting.draft_config import draft_training_config

    frame = load_data(FileSource(path=str(path)))
    document = draft_training_config(
        frame, "churn", {"type": "file", "path": str(path)}, "scale", None, str(path)
    ).document
    parameters = document["parameters"]
    parameters["contract"]["columns"].pop(ID, None)  # an id, never a model input
    parameters["split"] = split_config().model_dump()
    document["parameters"] = TrainingParameters.model_validate(parameters)
    return document


def drafted_parameters(path: Path):
    """The drafted config's parameters, with the split on ``source_row``."""
    return drafted_config(path)["parameters"]


def run_project(path: Path, exhaustive: bool = False) -> dict:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from tabular_ml.data.cleaning import clean_frame
    from tabular_ml.data.contract import validate_frame
    from tabular_ml.data.sources import load_data
    from tabular_ml.modelling.search import check_algorithm_names, cv_folds, pick_winner, search_algorithm
    from tabular_ml.modelling.threshold import choose_threshold, out_of_fold_proba, threshold_sample
    from tabular_ml.tasks.target import resolve_target

    parameters = drafted_parameters(path)  # not timed: draft-config runs once, before training
    search = parameters.search
    if exhaustive:
        search = search.model_copy(update={"strategy": "grid", "cv": 5})
    contract = parameters.contract
    stages = Stages()
    with stages.stage("ingest"):
        raw = load_data(parameters.source)
    with stages.stage("clean"):
        cleaned, _ = clean_frame(raw, parameters.cleaning, contract)
        del raw
    with stages.stage("validate"):
        report = validate_frame(cleaned, contract)
        target = resolve_target(
            cleaned[contract.target],
            contract.target,
            parameters.task,
            contract.classes,
            contract.positive_class,
        )
    assert report.passed, report
    with stages.stage("split"):
        train, test = split_frame_checked(cleaned, parameters)
        del cleaned
    X, y = train[contract.feature_names], target.encode(train[contract.target])
    groups = train[ID].to_numpy()  # the split's id_column: the folds keep an original's rows together
    branches, candidates = [], 0
    for name in check_algorithm_names(search):
        (spec,) = [s for s in search.algorithms if s.name == name]
        with stages.stage(f"search {name}"):
            found = search_algorithm(
                X,
                y,
                contract,
                parameters.preprocessing,
                parameters.features,
                search,
                spec,
                target.task,
                groups,
            )
        branches.append(found)
        candidates += len(found.candidates)
    with stages.stage("refit the winner"):
        result = pick_winner(
            branches, X, y, contract, parameters.preprocessing, parameters.features, search, target.task
        )
    with stages.stage("threshold"):
        X_t, y_t, g_t = threshold_sample(
            X, y, parameters.evaluation.threshold_max_rows, search.random_state, groups
        )
        folds = cv_folds(search, target.task, grouped=True)
        proba = out_of_fold_proba(result.best_pipeline, X_t, y_t, folds, g_t, search.n_jobs)
        threshold = choose_threshold(y_t, proba, parameters.evaluation.threshold_objective)
    with stages.stage("evaluate"):
        y_test = target.encode(test[contract.target])
        holdout = result.best_pipeline.predict_proba(test[contract.feature_names])[:, 1]
        auc = float(roc_auc_score(y_test, holdout))
    return {
        **stages.summary(),
        "train_rows": len(train),
        "holdout_rows": len(test),
        "columns": len(contract.feature_names),
        "strategy": search.strategy,
        "cv": search.cv,
        "candidates": candidates,
        "budgets": {a: [(b.candidates, b.rows) for b in bs] for a, bs in result.budgets.items()},
        "best": f"{result.best.algorithm} {result.best.params}",
        "cv_score": result.best.mean_score,
        "threshold": threshold,
        "threshold_rows": len(y_t),
        "holdout_roc_auc": auc,
        "holdout_positive_share": float(np.mean(y_test)),
    }


def run_pipeline(path: Path) -> dict:
    """The training pipeline through ``run.py``, as a user runs it, on a throwaway ZenML store:
    the drafted config (split on ``source_row``), the local stack, every artifact written."""
    import yaml

    document = drafted_config(path)  # not timed: draft-config runs once, before training
    document["parameters"] = document["parameters"].model_dump(mode="json", exclude_none=True)
    with tempfile.TemporaryDirectory() as store:
        env = {
            **os.environ,
            "ZENML_CONFIG_PATH": f"{store}/config",
            "ZENML_REPOSITORY_PATH": f"{store}/repo",
            "ZENML_ANALYTICS_OPT_IN": "false",
            "ZENML_LOGGING_COLORS_DISABLED": "true",
        }
        Path(store, "repo").mkdir()
        config = Path(store, "training.yaml")
        config.write_text(yaml.safe_dump(document, sort_keys=False))
        run_py = [sys.executable, str(ROOT / "run.py")]
        subprocess.run([*run_py, "stack", "local"], cwd=store, env=env, check=True, capture_output=True)
        log = Path(store, "run.log")
        started = time.perf_counter()
        with log.open("w") as output:
            process = subprocess.Popen(
                [*run_py, "--config", str(config)], cwd=store, env=env, stdout=output, stderr=output
            )
            memory = PeakMemory(pid=process.pid)  # run.py and its workers, not this process
            returncode = process.wait()
        seconds = time.perf_counter() - started
        peak = memory.stop()
        if returncode != 0:
            raise RuntimeError(f"run.py failed:\n{log.read_text()[-4000:]}")
        recorded = subprocess.run(
            [sys.executable, "-m", "bench.scale", "--child", "recorded"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    run = json.loads(recorded.stdout.splitlines()[-1])
    run["step_peak_bytes"] = {
        step: memory.peak_between(*window) for step, window in run.pop("windows").items()
    }
    return {"total_seconds": seconds, "peak_bytes": peak, **run}


def recorded_training_run() -> dict:
    """What the store (ZENML_CONFIG_PATH) recorded of its one training run: step times and the version."""
    from zenml.client import Client

    run = Client().get_pipeline("training").runs[0]
    steps = sorted(run.steps.items(), key=lambda item: item[1].start_time)
    metadata = run.model_version.run_metadata
    model = run.steps["train_model"].outputs["model"][0].run_metadata
    return {
        "seconds": {name: (step.end_time - step.start_time).total_seconds() for name, step in steps},
        "windows": {name: [_epoch(step.start_time), _epoch(step.end_time)] for name, step in steps},
        "candidates": model["candidates"],
        "best": f"{model['algorithm']} {model['params']}",
        "cv_score": model["cv_roc_auc"],
        "holdout_roc_auc": metadata["metrics"]["roc_auc"],
        "train_rows": metadata["train_rows"],
        "holdout_rows": metadata["test_rows"],
    }


def _epoch(moment: datetime) -> float:
    """Epoch seconds of a datetime the store recorded (naive ones are UTC)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def split_frame_checked(cleaned, parameters):
    """The project's split, and a check that no original row has copies on both sides."""
    from tabular_ml.data.splitting import split_frame

    train, test = split_frame(cleaned, parameters.contract, parameters.split)
    assert not set(train[ID]) & set(test[ID]), "an original row on both sides"
    return train, test


# --------------------------------------------------------------------------- a plain script


def run_plain(path: Path) -> dict:
    """The same candidates, folds and threshold sample, in plain scikit-learn and pandas."""
    import numpy as np
    import pandas as pd
    from sklearn.base import clone
    from sklearn.compose import ColumnTransformer
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.impute import SimpleImputer
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import HalvingGridSearchCV, StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
    from sklearn.utils import resample

    from tabular_ml.modelling.model import encodes_categories_as_codes, make_estimator

    parameters = drafted_parameters(path)  # the same candidates (not timed)
    search, contract = parameters.search, parameters.contract
    holdout_ids = {row for row, holdout in original_sides().items() if holdout}
    numeric = [c for c, spec in contract.columns.items() if spec.kind == "numeric"]
    other = [c for c in contract.feature_names if c not in numeric]
    stages = Stages()
    with stages.stage("read and split"):
        table = pd.read_csv(path)
        test_rows = table[ID].isin(holdout_ids)
        train, test = table[~test_rows], table[test_rows]
        X, y = train[contract.feature_names], (train["churn"] == "Yes").to_numpy().astype(int)

    def preprocess(estimator) -> ColumnTransformer:
        """One-hot text columns, or codes where the drafted config gives trees codes."""
        encoder = (
            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
            if encodes_categories_as_codes(parameters.preprocessing, estimator)
            else OneHotEncoder(handle_unknown="ignore")
        )
        return ColumnTransformer(
            [
                ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
                (
                    "other",
                    make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"), encoder),
                    other,
                ),
            ]
        )

    folds = StratifiedGroupKFold(search.cv, shuffle=True, random_state=search.random_state)
    groups = train[ID].to_numpy()
    finalists, candidates = [], 0
    for spec in search.algorithms:
        estimator = make_estimator(spec, search.random_state)
        model = Pipeline([("preprocess", preprocess(estimator)), ("model", estimator)])
        grid = {f"model__{k}": v for k, v in spec.search_space.items()}
        with stages.stage(f"search {spec.name}"):
            halving = HalvingGridSearchCV(
                model,
                grid,
                factor=search.halving_factor,
                min_resources="exhaust",
                max_resources=min(search.halving_max_rows or len(y), len(y)),
                scoring="roc_auc",
                cv=folds,
                n_jobs=search.n_jobs,
                refit=False,
                random_state=search.random_state,
            ).fit(X, y, groups=groups)
        results = halving.cv_results_
        last = np.flatnonzero(np.asarray(results["iter"]) == halving.n_iterations_ - 1)
        best = last[np.argmax(np.asarray(results["mean_test_score"])[last])]
        finalists.append((results["mean_test_score"][best], model, results["params"][best]))
        candidates += halving.n_candidates_[0]
    score, model, params = max(finalists, key=lambda f: f[0])
    with stages.stage("refit the winner"):
        best_model = clone(model).set_params(**params).fit(X, y)
    with stages.stage("threshold"):
        rows = min(len(y), parameters.evaluation.threshold_max_rows)
        X_t, y_t, g_t = resample(
            X, y, groups, replace=False, n_samples=rows, stratify=y, random_state=search.random_state
        )
        cross_val_predict(
            clone(best_model), X_t, y_t, groups=g_t, cv=folds, method="predict_proba", n_jobs=search.n_jobs
        )
    with stages.stage("evaluate"):
        proba = best_model.predict_proba(test[contract.feature_names])[:, 1]
        auc = float(roc_auc_score((test["churn"] == "Yes").astype(int), proba))
    return {
        **stages.summary(),
        "candidates": int(candidates),
        "cv_score": float(score),
        "best": f"{params}",
        "holdout_roc_auc": auc,
    }


# --------------------------------------------------------------------------- the driver


def in_child(mode: str, path: Path) -> dict:
    """Run one mode in a process of its own (its peak memory is then its own); its JSON result."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--child", mode, "--data", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s" if seconds >= 60 else f"{seconds:.1f} s"


def write_results(runs: list[dict], command: str, started: str, load: str) -> None:
    lines = [
        "# Training at scale: 100,000 rows and more",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{_memory_total()}, Python {platform.python_version()}, {platform.platform()}.",
        f"Command: `{command}` (started {started}).",
        "**The machine was shared**: other jobs ran during the benchmark (load average at the",
        f"start: {load}); times are upper bounds of what the same work takes on an idle machine.",
        "",
        "Tables: the bundled Telco rows split first (the project's split on `source_row`), then new",
        f"rows made by class-conditional column mixing (each column, with probability {MIX:.0%}, from",
        "another original of the row's class and side) and numeric columns jittered by "
        f"{JITTER:.0%}: holdout rows",
        "come from holdout originals only; the CV folds are grouped by `source_row` (the split's",
        "`id_column`). Config: what `draft-config` writes for the table. `project`: the",
        "training steps' library code stage by stage, in one process, without ZenML; `plain`: a plain",
        "scikit-learn script (ColumnTransformer, HalvingGridSearchCV) on the same rows with the same",
        "candidates, folds and threshold sample. Peak memory: the process and its joblib workers.",
        "",
        "| rows (train + holdout) | run | candidates | wall time | peak memory | chosen "
        "| CV ROC AUC | holdout ROC AUC |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        for mode in ("project", "plain", "exhaustive", "pipeline"):
            if mode not in run:
                continue
            r = run[mode]
            sides = f" ({r['train_rows']:,} + {r['holdout_rows']:,})" if "train_rows" in r else ""
            lines.append(
                f"| {run['rows']:,}{sides} | {mode} | {r['candidates']} | {minutes(r['total_seconds'])} "
                f"| {gib(r['peak_bytes'])} | {r['best']} | {r['cv_score']:.4f} | {r['holdout_roc_auc']:.4f} |"
            )
        if "plain" in run:
            ratio = run["project"]["total_seconds"] / run["plain"]["total_seconds"]
            lines.append(f"| | project / plain | | **{ratio:.2f}x** | | | | |")
        if "exhaustive" in run:
            gap = run["exhaustive"]["holdout_roc_auc"] - run["project"]["holdout_roc_auc"]
            lines.append(f"| | exhaustive - halving (holdout ROC AUC) | | | | | | **{gap:+.4f}** |")
        if "pipeline" in run and "plain" in run:
            ratio = run["pipeline"]["total_seconds"] / run["plain"]["total_seconds"]
            lines.append(f"| | pipeline / plain | | **{ratio:.2f}x** | | | | |")
    lines += ["", "Wall time and peak memory per stage (`project`):", ""]
    for run in runs:
        r = run["project"]
        lines.append(
            f"- {run['rows']:,} rows ({r['columns']} feature columns, {r['strategy']}, {r['cv']}-fold; "
            f"threshold on {r['threshold_rows']:,} rows; row budgets "
            + "; ".join(f"{a}: " + ", ".join(f"{c} x {n:,}" for c, n in bs) for a, bs in r["budgets"].items())
            + "): "
            + ", ".join(
                f"{stage} {minutes(sec)} ({gib(r['stage_peak_bytes'].get(stage, 0))})"
                for stage, sec in r["seconds"].items()
            )
        )
    pipelines = [run for run in runs if "pipeline" in run]
    if pipelines:
        lines += [
            "",
            "Wall time and peak memory per step (`pipeline`: run.py on a throwaway ZenML store, local "
            "stack; the peak of run.py's processes while the step ran):",
            "",
        ]
    for run in pipelines:
        r = run["pipeline"]
        peaks = r.get("step_peak_bytes", {})
        lines.append(
            f"- {run['rows']:,} rows: "
            + ", ".join(
                f"{s} {minutes(t)}" + (f" ({gib(peaks[s])})" if s in peaks else "")
                for s, t in r["seconds"].items()
            )
        )
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _memory_total() -> str:
    import psutil

    return f"{psutil.virtual_memory().total / 2**30:.0f} GB RAM"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--ten-million", action="store_true", help="also 10,000,000 rows")
    parser.add_argument(
        "--exhaustive-at", type=int, nargs="*", default=[], help="row counts to also search exhaustively"
    )
    parser.add_argument(
        "--pipeline", action="store_true", help="also train each table through run.py (ZenML, end to end)"
    )
    parser.add_argument(
        "--child", choices=["project", "plain", "exhaustive", "pipeline", "recorded"], help=argparse.SUPPRESS
    )
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child == "recorded":
            result = recorded_training_run()
        elif args.child == "exhaustive":
            result = run_project(args.data, exhaustive=True)
        else:
            modes = {"project": run_project, "plain": run_plain, "pipeline": run_pipeline}
            result = modes[args.child](args.data)
        print(json.dumps(result))
        return
    command = "python -m bench.scale " + " ".join(sys.argv[1:])
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    rows = args.rows + ([10_000_000] if args.ten_million else [])
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for n in rows:
            path = Path(folder) / f"table_{n}.csv"
            make_table(n, path)
            run = {"rows": n}
            exhaustive = ["exhaustive"] if n in args.exhaustive_at else []
            for mode in ("project", "plain", *exhaustive, *(["pipeline"] if args.pipeline else [])):
                run[mode] = in_child(mode, path)
                print(n, mode, json.dumps(run[mode]), flush=True)
            runs.append(run)
            path.unlink()
            write_results(runs, command, started, load)
    print(f"results: {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

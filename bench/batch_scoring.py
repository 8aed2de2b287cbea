"""Benchmark: batch scoring's chunked path against the fitted Pipeline's own predict_proba.

Setup: the default training config's model (logistic regression, C = 0.1, its contract,
cleaning and features) is fitted on the bundled 7,043 rows, and the bundled rows are
resampled with fixed seeds into a 1M-row Parquet file, a 1M-row CSV file and a 5M-row CSV
file. Each measurement then runs in its own process (its peak memory, VmHWM, is its own):

- ``in-memory``: the 1M rows already in a DataFrame (reading is not timed), then
  ``pipeline.predict_proba`` on all of them, as one would call the model directly;
- ``chunked``: :func:`tabular_ml.inference.batch_scoring.run_batch_scoring`, what the inference step runs:
  read the file in chunks of 100,000 rows, clean, check the contract (a reader process),
  score (a scorer process), write every prediction to a Parquet sink and again to Parquet
  parts in an "artifact store" folder (the scoring process itself).

Throughput measurements alternate over ``--rounds`` rounds (the machine is shared; the
median is reported). Memory: the chunked path on the 1M-row and the 5M-row CSV, the main
process and its workers separately (the workers' peak is ``ru_maxrss`` of the children: the
larger of the two; their CPU time is the sum). Run ``make bench-batch``; results go to
bench/results/batch_scoring.md.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.support.paths import PROJECT_ROOT as ROOT

CHUNK_ROWS = 100_000


def peak_memory_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --------------------------------------------------------------------------- setup


def prepare(workdir: Path, rows: int, big_rows: int) -> None:
    """Fit the default-config model and write the resampled input files."""
    import pandas as pd
    import yaml

    from tabular_ml.configuration.schema import TrainingParameters
    from tabular_ml.data.cleaning import clean_frame
    from tabular_ml.modelling.model import build_model, encode_target, make_estimator

    config = yaml.safe_load((ROOT / "configs/training.yaml").read_text())["parameters"]
    parameters = TrainingParameters(**config)
    data = pd.read_csv(ROOT / "data/raw/telco_churn.csv")
    cleaned, _ = clean_frame(data, parameters.cleaning, parameters.contract)
    spec = parameters.search.algorithms[0]  # logistic regression, the default search's winner
    estimator = make_estimator(spec.model_copy(update={"params": {**spec.params, "C": 0.1}}))
    pipeline = build_model(parameters.contract, parameters.preprocessing, parameters.features, estimator)
    contract = parameters.contract
    pipeline.fit(cleaned[contract.feature_names], encode_target(cleaned[contract.target], contract))
    with open(workdir / "model.pkl", "wb") as handle:
        pickle.dump((pipeline, parameters.model_dump(mode="json")), handle)

    sample = data.sample(rows, replace=True, random_state=1, ignore_index=True)
    sample.to_parquet(workdir / "rows_1m.parquet", index=False)
    sample.to_csv(workdir / "rows_1m.csv", index=False)
    with open(workdir / "rows_5m.csv", "w", newline="") as handle:  # written a million rows at a time
        for part in range(big_rows // rows):
            piece = data.sample(rows, replace=True, random_state=10 + part, ignore_index=True)
            piece.to_csv(handle, index=False, header=part == 0)


# --------------------------------------------------------------------------- measurements


def measure(kind: str, workdir: Path, path: str) -> dict:
    """One measurement in this process: seconds, rows, CPU seconds and peak memory."""
    import pandas as pd

    from tabular_ml.configuration.schema import FileSink, FileSource
    from tabular_ml.inference.batch_scoring import run_batch_scoring
    from tabular_ml.modelling.trained_model import TrainedModel

    with open(workdir / "model.pkl", "rb") as handle:
        pipeline, parameters = pickle.load(handle)
    if kind == "in-memory":
        features = pd.read_parquet(workdir / path).drop(columns=parameters["contract"]["target"])
        started, cpu = time.perf_counter(), time.process_time()
        rows = len(pipeline.predict_proba(features))
    else:
        model = TrainedModel.from_metadata(pipeline, {"parameters": parameters}, "churn_classifier", "1")
        out = workdir / f"out-{os.getpid()}"
        started, cpu = time.perf_counter(), time.process_time()
        result = run_batch_scoring(
            model,
            FileSource(path=str(workdir / path)),
            FileSink(path=str(out / "predictions.parquet")),
            chunk_rows=CHUNK_ROWS,
            key_column=None,
            run_tag="bench",
            store_dir=str(out / "store"),
            progress=False,
        )
        rows = result.rows
    seconds, main_cpu = time.perf_counter() - started, time.process_time() - cpu
    worker = resource.getrusage(resource.RUSAGE_CHILDREN)
    if kind != "in-memory":
        shutil.rmtree(out)
    return {
        "kind": kind,
        "path": path,
        "rows": rows,
        "seconds": seconds,
        "main_cpu_s": main_cpu,
        "worker_cpu_s": worker.ru_utime + worker.ru_stime,
        "peak_mb": peak_memory_mb(),
        "worker_peak_mb": worker.ru_maxrss / 1024,
    }


def run_measure(kind: str, workdir: Path, path: str) -> dict:
    command = [sys.executable, "-m", "bench.batch_scoring", "--measure", kind, "--workdir", str(workdir)]
    command += ["--path", path]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"measurement {kind} {path} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    worker = f" (+ workers {result['worker_peak_mb']:.0f} MB)" if kind == "chunked" else ""
    print(
        f"  {kind:9s} {path:15s} {result['seconds']:6.1f} s  "
        f"{result['rows'] / result['seconds']:9.0f} rows/s  peak {result['peak_mb']:.0f} MB{worker}",
        flush=True,
    )
    return result


# --------------------------------------------------------------------------- report


def report(throughput: dict[str, list[dict]], memory: list[dict], command: str, loads: list) -> str:
    def median(kind: str, key: str) -> float:
        return statistics.median(result[key] for result in throughput[kind])

    def rate(kind: str) -> float:
        return statistics.median(result["rows"] / result["seconds"] for result in throughput[kind])

    base = rate("in-memory")
    rounds = len(throughput["in-memory"])
    lines = [
        f"Batch scoring of 1,000,000 rows (19 feature columns; chunks of {CHUNK_ROWS:,} rows), "
        f"median of {rounds} alternating rounds.",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, load average "
        f"{' / '.join(f'{value:.2f}' for value in loads[0])} at the start, "
        f"{' / '.join(f'{value:.2f}' for value in loads[1])} at the end (a shared machine), "
        f"Python {platform.python_version()}.",
        f"Command: `{command}`",
        "",
        "| | seconds | rows/s | vs in-memory | CPU s (main + workers) |",
        "|---|---|---|---|---|",
    ]
    labels = {
        "in-memory": "`pipeline.predict_proba` on 1M rows in memory",
        "chunked-parquet": "chunked path, 1M-row Parquet file -> Parquet sink + artifact parts",
        "chunked-csv": "chunked path, 1M-row CSV file -> Parquet sink + artifact parts",
    }
    for kind, label in labels.items():
        cpu = f"{median(kind, 'main_cpu_s'):.1f}"
        if kind != "in-memory":
            cpu += f" + {median(kind, 'worker_cpu_s'):.1f}"
        lines.append(
            f"| {label} | {median(kind, 'seconds'):.1f} | {rate(kind):,.0f} | "
            f"{rate(kind) / base:.2f}x | {cpu} |"
        )
    lines += [
        "",
        "Peak memory (VmHWM of the scoring process; the larger peak of its two forked workers,",
        "reader and scorer, separately, which counts the pages they share with the scoring process):",
        "",
        "| input | rows | seconds | main process (MB) | a worker (MB) |",
        "|---|---|---|---|---|",
    ]
    for result in memory:
        lines.append(
            f"| `{result['path']}` | {result['rows']:,} | {result['seconds']:.1f} | "
            f"{result['peak_mb']:.0f} | {result['worker_peak_mb']:.0f} |"
        )
    in_memory_peak = median("in-memory", "peak_mb")
    lines += [
        "",
        f"For comparison, the in-memory measurement (1M rows loaded, then predict_proba) peaks at "
        f"{in_memory_peak:.0f} MB.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="where the data goes (default: a temporary folder)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.workdir, args.path)))
        return

    import tempfile

    command = " ".join([".venv/bin/python", "-m", "bench.batch_scoring", *sys.argv[1:]])
    if os.environ.get("MAKELEVEL"):
        command = "make bench-batch"
    loads = [os.getloadavg()]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-batch-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"Preparing the model and {args.rows:,} / {args.big_rows:,}-row files in {workdir} ...", flush=True)
    prepare(workdir, args.rows, args.big_rows)
    print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    throughput: dict[str, list[dict]] = {"in-memory": [], "chunked-parquet": [], "chunked-csv": []}
    for round_number in range(1, args.rounds + 1):
        print(f"Round {round_number}/{args.rounds}:", flush=True)
        throughput["in-memory"].append(run_measure("in-memory", workdir, "rows_1m.parquet"))
        throughput["chunked-parquet"].append(run_measure("chunked", workdir, "rows_1m.parquet"))
        throughput["chunked-csv"].append(run_measure("chunked", workdir, "rows_1m.csv"))
    print("Peak memory:", flush=True)
    memory = [run_measure("chunked", workdir, name) for name in ("rows_1m.csv", "rows_5m.csv")]
    loads.append(os.getloadavg())
    text = report(throughput, memory, command, loads)
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "batch_scoring.md").write_text(text)
    print()
    print(text)
    print(f"Total {time.perf_counter() - started:.0f} s; written to bench/results/batch_scoring.md")
    if not args.workdir:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()

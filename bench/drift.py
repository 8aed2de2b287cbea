"""Benchmark: the monitoring drift check against Evidently's DataDriftPreset called directly.

Both sides get the same frames: a reference and a current set of ``--rows`` rows each,
resampled from the bundled Telco data with a seed, the current one with two columns
shifted (monthly charges x1.3, a third of contracts turned month-to-month). Each
measurement runs in its own process, so its peak memory (VmHWM) is its own:

- ``direct``: ``Report([DataDriftPreset()]).run(reference, current)`` on every row, as a
  user would call Evidently;
- ``monitoring``: what the monitoring step does - data quality on every current row, then
  the same Evidently preset on seeded samples of at most ``--sample`` rows per side.

The per-column verdicts of both are compared. Run: ``make bench-drift`` (or
``.venv/bin/python -m bench.drift --rows 1000000``); results go to bench/results/drift.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from tests.support.paths import PROJECT_ROOT as ROOT


def frames(rows: int):
    import pandas as pd
    import yaml

    from tabular_ml.configuration.schema import DataContract

    contract = DataContract(
        **yaml.safe_load((ROOT / "configs/training.yaml").read_text())["parameters"]["contract"]
    )
    data = pd.read_csv(ROOT / "data/raw/telco_churn.csv").drop(columns=contract.target)
    reference = data.sample(rows, replace=True, random_state=1).reset_index(drop=True)
    current = data.sample(rows, replace=True, random_state=2).reset_index(drop=True)
    current["monthly_charges"] = current["monthly_charges"] * 1.3
    flip = current.sample(frac=1 / 3, random_state=3).index
    current.loc[flip, "contract"] = "Month-to-month"
    return contract, reference, current


def peak_memory_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(kind: str, rows: int, sample_rows: int) -> dict:
    """One measurement, in this process: seconds, peak memory and the per-column verdicts."""
    from evidently.legacy.metric_preset import DataDriftPreset
    from evidently.legacy.pipeline.column_mapping import ColumnMapping
    from evidently.legacy.report import Report

    from tabular_ml.monitoring.drift import column_roles, sample, summarise_drift
    from tabular_ml.monitoring.quality import data_quality

    contract, reference, current = frames(rows)
    baseline = peak_memory_mb()
    mapping = ColumnMapping(**column_roles(contract, with_prediction=False))
    started = time.perf_counter()
    if kind == "monitoring":
        data_quality(current, reference, contract)
        reference, current = sample(reference, sample_rows, 0), sample(current, sample_rows, 0)
    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=reference, current_data=current, column_mapping=mapping)
    summary = summarise_drift(report.as_dict(), contract.feature_names, len(reference), len(current))
    seconds = time.perf_counter() - started
    return {
        "kind": kind,
        "seconds": seconds,
        "peak_mb": peak_memory_mb(),
        "data_mb": baseline,
        "verdicts": {column.column: column.drifted for column in summary.columns},
        "scores": {column.column: column.score for column in summary.columns},
    }


def run_child(kind: str, rows: int, sample_rows: int) -> dict:
    command = [sys.executable, "-m", "bench.drift", "--child", kind, "--rows", str(rows)]
    command += ["--sample", str(sample_rows)]
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return json.loads(output.strip().splitlines()[-1])


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}, Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=100_000)
    parser.add_argument("--child")
    parser.add_argument("--out", default=str(ROOT / "bench/results/drift.md"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.rows, args.sample)))
        return
    print(f"drift check on {args.rows:,} x 19 rows per side ({machine()})", flush=True)
    direct = run_child("direct", args.rows, args.sample)
    print(f"direct Evidently: {direct['seconds']:.1f} s", flush=True)
    ours = run_child("monitoring", args.rows, args.sample)
    print(f"monitoring check: {ours['seconds']:.1f} s", flush=True)
    disagree = [name for name in direct["verdicts"] if direct["verdicts"][name] != ours["verdicts"].get(name)]
    drifted = sorted(name for name, drifted in direct["verdicts"].items() if drifted)
    gap = max(abs(direct["scores"][name] - ours["scores"][name]) for name in direct["scores"])
    table = "\n".join(
        [
            f"Drift check on {args.rows:,} rows per side (19 columns), sample {args.sample:,} rows per side.",
            f"Machine: {machine()}.",
            f"Command: `.venv/bin/python -m bench.drift --rows {args.rows} --sample {args.sample}`",
            "",
            "| | seconds | peak memory (MB) | of which the frames (MB) |",
            "|---|---|---|---|",
            f"| Evidently DataDriftPreset, direct | {direct['seconds']:.1f} | {direct['peak_mb']:.0f} "
            f"| {direct['data_mb']:.0f} |",
            f"| monitoring check (quality on all rows + preset on samples) | {ours['seconds']:.1f} "
            f"| {ours['peak_mb']:.0f} | {ours['data_mb']:.0f} |",
            f"| ratio (monitoring / direct) | {ours['seconds'] / direct['seconds']:.2f} "
            f"| {ours['peak_mb'] / direct['peak_mb']:.2f} | |",
            "",
            f"Drifted columns (direct): {', '.join(drifted) or 'none'}. Per-column verdicts that differ: "
            f"{', '.join(disagree) or 'none'} (of {len(direct['verdicts'])}); largest drift-score gap "
            f"{gap:.4f}.",
        ]
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()

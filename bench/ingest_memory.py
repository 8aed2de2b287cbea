"""Peak memory of the training's data steps on a large CSV: loading, cleaning, the contract, the split.

    python -m bench.ingest_memory --rows 1000000            (the table from bench.scale.make_table)
    python -m bench.ingest_memory --csv big.csv --project ../older-checkout   (another version's code)

Each stage runs in a fresh process (``resource.getrusage``'s ``ru_maxrss``: the process's peak
resident memory), after the previous stages, so a line is the peak of the steps up to it in one
process; the first line is the process with the library imported and nothing loaded. Writes a
Markdown table to stdout.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.paths import PROJECT_ROOT

STAGES = ("imported", "load_data", "clean_frame", "validate_frame", "split_frame")

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {project!r})
from tabular_ml.configuration.run_config import resolve_config
from tabular_ml.configuration.schema import FileSource, TrainingParameters
from tabular_ml.data.cleaning import clean_frame
from tabular_ml.data.contract import validate_frame
from tabular_ml.data.sources import load_data
from tabular_ml.data.splitting import split_frame

config = resolve_config({config!r}, [], "training", False)
params = TrainingParameters(**config["parameters"])
stages = {stages!r}
started = time.perf_counter()
frame = None
if stages.index({stage!r}) >= 1:
    frame = load_data(FileSource(path={csv!r}))
if stages.index({stage!r}) >= 2:
    frame, _ = clean_frame(frame, params.cleaning, params.contract)
if stages.index({stage!r}) >= 3:
    validate_frame(frame, params.contract)
if stages.index({stage!r}) >= 4:
    train, test = split_frame(frame, params.contract, params.split)
size = 0 if frame is None else int(frame.memory_usage(deep=True).sum())
print(json.dumps({{"peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "seconds": time.perf_counter() - started, "frame": size,
                  "shape": None if frame is None else list(frame.shape)}}))
"""


def measure(csv: Path, project: Path) -> list[dict]:
    rows = []
    for stage in STAGES:
        code = CHILD.format(
            project=str(project),
            config=str(PROJECT_ROOT / "configs/training.yaml"),
            stages=STAGES,
            stage=stage,
            csv=str(csv),
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=project
        )
        rows.append({"stage": stage, **json.loads(result.stdout.strip().splitlines()[-1])})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the generated table")
    parser.add_argument("--csv", type=Path, help="an existing CSV instead of a generated one")
    parser.add_argument("--project", type=Path, default=PROJECT_ROOT, help="whose tabular_ml to run")
    args = parser.parse_args()
    csv = args.csv
    if csv is None:
        from bench.scale import make_table

        csv = Path(tempfile.mkdtemp()) / f"table-{args.rows}.csv"
        make_table(args.rows, csv)
    rows = measure(csv, args.project.resolve())
    print(
        f"{csv} on {platform.node()} ({platform.processor() or platform.machine()}), code of {args.project}\n"
    )
    print("| stage (and those before it) | peak RSS | frame in memory | shape | seconds |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['stage']} | {row['peak'] / 2**20:,.0f} MiB | {row['frame'] / 2**20:,.0f} MiB | "
            f"{row['shape']} | {row['seconds']:.1f} |"
        )


if __name__ == "__main__":
    main()

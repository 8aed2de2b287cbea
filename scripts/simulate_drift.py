"""Write a clean held-out slice of a data set and a drifted copy of it, for testing monitors.

    python -m scripts.simulate_drift --input data/raw/telco_churn.csv --out-dir data/drift --seed 7 \\
        [--rows 2000] [--numeric-shift tenure=1.5,monthly_charges=+20] \\
        [--category-mix contract=Month-to-month:0.8] [--missing total_charges=0.2] \\
        [--concept-drift tenure:0.5 --target churn] [--label-key row_id [--labels-arrived 0.6]]

Writes to --out-dir:

- ``holdout_clean.csv``: --rows rows of the input drawn without replacement (input order kept).
  They are disjoint by position from the rest of the input, so a drift check of this file
  against a reference drawn from the rest should not alarm.
- ``drifted.csv``: the same rows, in the same order, with the requested drift applied: only
  the named columns change, cell by cell (tabular_ml/monitoring/drift_simulation.py has the rules).
- ``drift_manifest.json``: the seed, the input, the holdout's row positions in the input,
  ``changed_columns`` (read from the data: the columns with a differing cell) and one
  entry per change with its before/after figures.

Shifts: ``1.5``/``x1.5`` multiplies, ``+20``/``-5`` adds. Mixes: COLUMN=CATEGORY:SHARE, the
column named again for a second category (``contract=Month-to-month:0.6,contract=Two year:0.3``).
Missing: COLUMN=SHARE of the column's cells. Each option may be repeated.

Concept drift (``--concept-drift COLUMN:SHARE`` or ``COLUMN=CATEGORY:SHARE``, with ``--target``):
in drifted.csv, SHARE of the rows above COLUMN's median (or of that category) get another label;
no input column changes. Label delay (``--label-key KEY``): drifted.csv holds KEY (added as row
numbers when the data has none) and no target; ``labels.csv`` holds KEY and the target of the
``--labels-arrived`` share of the rows (default all), the labels released later.

Without any of the input-drift options or --concept-drift the default scenario runs:
monthly_charges x1.3, contract Month-to-month 0.8, total_charges 5 % missing. Exit 2 with one
line on a bad option. Run it from the project folder (``make drift-data`` runs the default
scenario).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_SCENARIO = {
    "numeric_shift": "monthly_charges=1.3",
    "category_mix": "contract=Month-to-month:0.8",
    "missing": "total_charges=0.05",
}


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    from tabular_ml.monitoring.drift_simulation import (
        DriftSpecError,
        changed_columns,
        parse_category_mix,
        parse_missing,
        parse_numeric_shift,
        parse_share,
        simulate_drift,
        split_holdout,
    )
    from tabular_ml.monitoring.label_simulation import (
        delay_labels,
        parse_concept_drift,
        simulate_concept_drift,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, type=Path, help="CSV file to draw from")
    parser.add_argument("--out-dir", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rows", type=int, default=2000, help="rows of the holdout (default 2000)")
    parser.add_argument("--numeric-shift", action="append", default=[], metavar="COL=FACTOR|+AMOUNT,...")
    parser.add_argument("--category-mix", action="append", default=[], metavar="COL=CATEGORY:SHARE,...")
    parser.add_argument("--missing", action="append", default=[], metavar="COL=SHARE,...")
    parser.add_argument("--concept-drift", metavar="COL:SHARE|COL=CATEGORY:SHARE")
    parser.add_argument("--target", default="churn", help="the label column (default churn)")
    parser.add_argument("--label-key", metavar="KEY", help="write the labels apart, keyed by KEY")
    parser.add_argument("--labels-arrived", type=float, default=1.0, metavar="SHARE")
    args = parser.parse_args(argv)

    requested = {
        "numeric_shift": ",".join(args.numeric_shift),
        "category_mix": ",".join(args.category_mix),
        "missing": ",".join(args.missing),
    }
    scenario = requested if any(requested.values()) or args.concept_drift else DEFAULT_SCENARIO
    labels = None
    try:
        if not args.input.is_file():
            raise DriftSpecError(f"input file not found: {args.input}")
        frame = pd.read_csv(args.input)
        holdout, _, positions = split_holdout(frame, args.rows, args.seed)
        drifted, manifest = simulate_drift(
            holdout,
            numeric_shift=parse_numeric_shift(scenario["numeric_shift"]),
            category_mix=parse_category_mix(scenario["category_mix"]),
            missing=parse_missing(scenario["missing"]),
            seed=args.seed,
        )
        if args.concept_drift:
            column, category, share = parse_concept_drift(args.concept_drift)
            drifted, entry = simulate_concept_drift(drifted, args.target, column, share, args.seed, category)
            manifest["changes"].append(entry)
            changed = changed_columns(holdout, drifted)  # the target now too
            unchanged = [str(c) for c in holdout.columns if str(c) not in changed]
            manifest.update(changed_columns=changed, unchanged_columns=unchanged)
        if args.label_key:
            arrived = parse_share(args.labels_arrived, "--labels-arrived")
            drifted, labels, entry = delay_labels(drifted, args.target, args.label_key, arrived, args.seed)
            manifest["changes"].append(entry)
    except DriftSpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    args.out_dir.mkdir(parents=True, exist_ok=True)
    holdout.to_csv(args.out_dir / "holdout_clean.csv", index=False)
    drifted.to_csv(args.out_dir / "drifted.csv", index=False)
    if labels is not None:
        labels.to_csv(args.out_dir / "labels.csv", index=False)
    manifest = {
        "input": str(args.input),
        "input_rows": len(frame),
        "holdout_file": "holdout_clean.csv",
        "drifted_file": "drifted.csv",
        **({"labels_file": "labels.csv"} if labels is not None else {}),
        "default_scenario": scenario is DEFAULT_SCENARIO,
        **manifest,
        "holdout_positions": positions,
    }
    (args.out_dir / "drift_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    changed = ", ".join(manifest["changed_columns"]) or "none"
    print(
        f"{len(holdout)} of {len(frame)} rows -> {args.out_dir}/holdout_clean.csv and drifted.csv "
        f"(changed: {changed}); manifest: {args.out_dir}/drift_manifest.json"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

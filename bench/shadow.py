"""Benchmark: what a challenger in shadow adds to a single-row prediction server's latency.

The same server (``python -m serving`` as the local deployer runs it: 1 worker, no keep-alive,
loopback, request log on) is started on the production bundle alone, then on the same bundle
with a challenger in its ``shadow/`` folder (scoring the logged rows in batches in the request
log's writer thread, never answering: serving/shadow.py), ``--rounds`` times in the order alone-shadow,
shadow-alone... (a shared machine's load drifts; alternating evens it out). Each server is
warmed up, then ``wrk`` posts single-row requests over ``--connections`` connections for
``--seconds`` seconds (Telco rows in turn).

Production: the training config's Pipeline with a LogisticRegression fitted on the bundled
Telco data; the challenger (``--challenger``): the same with ``C=0.05`` (a retrained version of
the same kind: the usual case), or a random forest of 50 trees of depth 8 (``forest``). Both
serve on the compiled path.

Reported: throughput (mean of rounds), latency percentiles (median of the rounds'), server CPU
per request, the ratios shadow / alone (goal: p99 at most 1.2x), the rows logged with a shadow
prediction; and, in this process without HTTP, ``ServedModel.predict`` of one row and the
shadow's cost per row when it scores a batch as the writer does (microseconds).
Results: bench/results/shadow.md. Needs ``wrk`` (``make bench-shadow`` installs it).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import (
    LUA,
    ROOT,
    comparison_table,
    machine,
    make_bundle,
    require_wrk,
    run_wrk,
    seldon_server,
    write_bodies,
    wrk_version,
)
from bench.request_log import combine

RESULTS = ROOT / "bench" / "results" / "shadow.md"
CHALLENGERS = {
    "logistic": "the same Pipeline with LogisticRegression(C=0.05)",
    "forest": "the same Pipeline with RandomForestClassifier(n_estimators=50, max_depth=8)",
}


def challenger_bundle(folder: Path, kind: str) -> Path:
    from bench.harness import BINARY

    if kind == "logistic":
        example = dataclasses.replace(BINARY, params={**BINARY.params, "C": 0.05})
    else:
        example = dataclasses.replace(
            BINARY,
            estimator="sklearn.ensemble.RandomForestClassifier",
            params={"n_estimators": 50, "max_depth": 8, "random_state": 0, "n_jobs": 1},
        )
    return make_bundle(folder, "challenger", example)


def measure(bundle: Path, label: str, script: Path, args, folder: Path, round_: int) -> dict:
    log_dir = folder / f"log-{label}-{round_}"
    server = seldon_server(
        bundle, folder / f"server-{label}-{round_}.log", env={"SERVING_REQUEST_LOG_DIR": str(log_dir)}
    )
    try:
        server.wait_ready()
        warm, _ = run_wrk(server.predictions, script, args.warmup, args.connections, args.threads)
        cpu_before = server.cpu_seconds()
        result, command = run_wrk(server.predictions, script, args.seconds, args.connections, args.threads)
        result["cpu_ms"] = (server.cpu_seconds() - cpu_before) / result["requests"] * 1e3
    finally:
        result_stop = server.stop()
    from serving.request_log import read_request_log

    logged = read_request_log(log_dir)
    result.update(
        command=command,
        server=shlex.join(server.command),
        warmup_requests=warm["requests"],
        stop_s=result_stop,
        logged_rows=len(logged),
        shadow_rows=int(logged["shadow_prediction"].notna().sum()),
    )
    print(
        f"round {round_ + 1}, {label}: {result['rps']:.1f} req/s, p50 {result['p50_ms']:.2f} ms, "
        f"p99 {result['p99_ms']:.2f} ms, server CPU {result['cpu_ms']:.3f} ms/request"
    )
    return result


def in_process(shadowed: Path, rows: int) -> dict[str, float]:
    """In this process, microseconds per row: production's ``predict`` of one row (its scoring on
    the request path) and the shadow scoring the same rows as the log's writer does, in one batch."""
    import pandas as pd

    from bench.harness import TELCO
    from serving.metrics import ServingMetrics
    from serving.served_model import ServedModel
    from serving.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="bench-shadow-log-") as log:
        settings = load_settings(model_dir=shadowed, request_log_dir=log)
        served = ServedModel.load(settings, ServingMetrics(environ={}))
        names = served.meta.feature_names
        frame = pd.read_csv(TELCO, nrows=rows)[names]
        values = frame.astype(object).where(frame.notna(), None).to_numpy().tolist()
        bodies = [{"data": {"names": names, "ndarray": [row]}} for row in values]
        batch = served.schema.parse({"data": {"names": names, "ndarray": values}})

        def per_row(work, count: int) -> float:
            best = float("inf")
            for _ in range(5):
                started = time.perf_counter()
                work()
                best = min(best, (time.perf_counter() - started) / count * 1e6)
            return best

        one = per_row(lambda: [served.predict(body) for body in bodies], len(bodies))
        shadow = per_row(lambda: served.shadow.score_rows(batch.numeric, batch.text), len(bodies))
        served.close()
    return {"predict": one, "shadow": shadow}


def report(alone: dict, shadow: dict, micros: dict, args, load: tuple) -> str:
    ratio = shadow["p99_ms"] / alone["p99_ms"]
    rows = [
        ("requests/s", "rps", "{:.1f}"),
        ("latency p50 (ms)", "p50_ms", "{:.2f}"),
        ("latency p90 (ms)", "p90_ms", "{:.2f}"),
        ("latency p99 (ms)", "p99_ms", "{:.2f}"),
        ("server CPU per request (ms)", "cpu_ms", "{:.3f}"),
        ("requests measured", "requests", "{:,}"),
        ("non-2xx answers", "non_2xx", "{}"),
        ("socket errors", "socket_errors", "{}"),
        ("rows logged", "logged_rows", "{:,}"),
        ("rows logged with a shadow prediction", "shadow_rows", "{:,}"),
    ]
    table = comparison_table("| | production alone | with the shadow | shadow / alone |", rows, alone, shadow)
    per_round = ", ".join(
        f"{a:.2f} / {b:.2f}" for a, b in zip(alone["rounds_p99"], shadow["rounds_p99"], strict=True)
    )
    return "\n".join(
        [
            "# A challenger in shadow: what it adds to production's latency",
            "",
            f"Single-row predictions, {args.seconds} s per server run after a {args.warmup} s warm-up, "
            f"{args.connections} connections, {args.rounds} rounds (alone-shadow, shadow-alone, ...); "
            f"measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
            f"Machine: {machine()}, shared with other work (load average "
            f"{' / '.join(f'{x:.2f}' for x in load[0])} before, {' / '.join(f'{x:.2f}' for x in load[1])} "
            f"after); Python {platform.python_version()}, {wrk_version()}.",
            "Production: the training config's Pipeline with a LogisticRegression fitted on the bundled "
            f"Telco data; the shadow: {CHALLENGERS[args.challenger]}; both on the compiled path.",
            f"Server: `{alone['server']}` (the local deployer's settings, request log on; with the "
            "shadow: the same bundle with the challenger in its `shadow/` folder).",
            f"Load: `{alone['command']}`.",
            f"Run: `{' '.join(['.venv/bin/python', '-m', 'bench.shadow', *sys.argv[1:]])}`",
            "",
            *table,
            "",
            f"p99 per round (alone / shadow, ms): {per_round}; requests/s is the mean over rounds, "
            "latencies the median of the rounds' percentiles.",
            "",
            f"With the shadow, production's p99 is **{ratio:.3f}x** its p99 alone "
            f"(goal <= 1.2x: {'met' if ratio <= 1.2 else 'NOT met'}).",
            f"In process (no HTTP, best of 5): production's `ServedModel.predict` of one row takes "
            f"{micros['predict']:.1f} us (on the request path); the shadow scoring the same {args.rows} "
            f"rows in one batch, as the log's writer thread does, {micros['shadow']:.2f} us a row "
            "(off the request path).",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per server")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per server")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (the server gets the other core)")
    parser.add_argument("--rows", type=int, default=500, help="distinct request bodies, sent in turn")
    parser.add_argument("--rounds", type=int, default=4, help="alone/shadow pairs, in turn")
    parser.add_argument("--challenger", choices=sorted(CHALLENGERS), default="logistic")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    require_wrk("bench-shadow")

    from serving.bundle import SHADOW_DIR

    with tempfile.TemporaryDirectory(prefix="bench-shadow-") as tmp:
        folder = Path(tmp)
        alone = make_bundle(folder / "production")
        challenger = challenger_bundle(folder / "challenger", args.challenger)
        shadowed = folder / "shadowed"
        shutil.copytree(alone, shadowed)
        shutil.copytree(challenger, shadowed / SHADOW_DIR)
        bodies = folder / "bodies.jsonl"
        write_bodies(bodies, alone, args.rows)
        script = folder / "post.lua"
        script.write_text(LUA % {"bodies": bodies})
        load_before = os.getloadavg()
        micros = in_process(shadowed, args.rows)
        sides: dict[str, list[dict]] = {"alone": [], "shadow": []}
        for round_ in range(args.rounds):
            for label in ("alone", "shadow") if round_ % 2 == 0 else ("shadow", "alone"):
                bundle = shadowed if label == "shadow" else alone
                sides[label].append(measure(bundle, label, script, args, folder, round_))
        combined = {}
        for label, results in sides.items():
            combined[label] = combine(results)
            combined[label]["rounds_p99"] = [r["p99_ms"] for r in results]
            combined[label]["shadow_rows"] = sum(r["shadow_rows"] for r in results)
        load_after = os.getloadavg()
    text = report(combined["alone"], combined["shadow"], micros, args, (load_before, load_after))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

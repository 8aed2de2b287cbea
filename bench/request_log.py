"""Benchmark: what the serving request log costs a single-row prediction server.

The same ``seldon-core-microservice`` (the local deployer's command: 1 worker, 4 threads,
no keep-alive, loopback only) is started on one model bundle with the request log off, then
on (``SERVING_REQUEST_LOG_DIR`` = a temporary folder, default flush period and file size),
``--rounds`` times (default 3), in the order off-on, on-off, off-on... (a shared machine's
load drifts; alternating the order evens it out). Each server is warmed up, then ``wrk``
posts single-row requests over ``--connections`` connections for ``--seconds`` seconds
(rows taken in turn from the bundled Telco data; a Lua script builds the bodies).

Reported: requests per second (mean of the rounds), latency percentiles (median of the
rounds), errors, the CPU time the server's processes used per request (from /proc: less
sensitive to other work on the machine than throughput), the ratios log-on / log-off (goal:
throughput >= 0.9x), and, for the log-on servers, the rows found on disk after their
SIGTERM against the requests they answered.

The bundle: ``--bundle DIR`` (e.g. ``<artifact store>/serving_bundles/<model>/<version>``),
else the training config's preprocessing and features with a logistic regression fitted on
the bundled data. Needs ``wrk`` (``make bench-request-log`` installs it). Results go to
bench/results/request_log.md and stdout.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import sys
import tempfile
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

RESULTS = ROOT / "bench" / "results" / "request_log.md"


def measure(bundle: Path, log_dir: Path | None, script: Path, args, folder: Path, round_: int) -> dict:
    label = "on" if log_dir else "off"
    env = {"SERVING_REQUEST_LOG_DIR": str(log_dir)} if log_dir else {}
    server = seldon_server(bundle, folder / f"server-{label}-{round_}.log", env=env)
    url = server.predictions
    try:
        server.wait_ready()
        warm, _ = run_wrk(url, script, args.warmup, args.connections, args.threads)
        cpu_before = server.cpu_seconds()
        result, command = run_wrk(url, script, args.seconds, args.connections, args.threads)
        result["cpu_ms"] = (server.cpu_seconds() - cpu_before) / result["requests"] * 1e3
    finally:
        stop_s = server.stop()
    result.update(command=command, server=shlex.join(server.command), warmup_requests=warm["requests"])
    result["stop_s"] = stop_s
    if log_dir is not None:
        from serving.request_log import read_request_log

        logged = read_request_log(log_dir)
        result["logged_rows"] = len(logged)
        result["log_files"] = len(list(log_dir.glob("requests-*.parquet")))
        closed = re.findall(r"Request log closed: .* (\d+) dropped", server.log.read_text())
        result["dropped"] = int(closed[-1]) if closed else None
    print(
        f"round {round_ + 1}, log {label}: {result['rps']:.1f} req/s, "
        f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
        f"server CPU {result['cpu_ms']:.2f} ms/request"
    )
    return result


def combine(results: list[dict]) -> dict:
    """Rounds of one side: mean throughput, median percentiles, sums of counts."""
    import statistics

    out = dict(results[0])
    out["rps"] = statistics.fmean(r["rps"] for r in results)
    out["rounds_rps"] = [r["rps"] for r in results]
    for key in ("p50_ms", "p75_ms", "p90_ms", "p99_ms"):
        out[key] = statistics.median(r[key] for r in results)
    out["cpu_ms"] = sum(r["cpu_ms"] * r["requests"] for r in results) / sum(r["requests"] for r in results)
    for key in ("requests", "non_2xx", "warmup_requests", "logged_rows", "log_files", "dropped"):
        if key in out:
            out[key] = sum(r[key] or 0 for r in results)
    out["stop_s"] = max(r["stop_s"] for r in results)
    out["socket_errors"] = "; ".join(sorted({r["socket_errors"] for r in results}))
    return out


def report(off: dict, on: dict, args, load_before, load_after, bundle_note: str) -> str:
    ratio = on["rps"] / off["rps"]
    answered = on["warmup_requests"] + on["requests"]
    rows = [
        ("requests/s", "rps", "{:.1f}"),
        ("latency p50 (ms)", "p50_ms", "{:.2f}"),
        ("latency p75 (ms)", "p75_ms", "{:.2f}"),
        ("latency p90 (ms)", "p90_ms", "{:.2f}"),
        ("latency p99 (ms)", "p99_ms", "{:.2f}"),
        ("server CPU per request (ms)", "cpu_ms", "{:.2f}"),
        ("requests measured", "requests", "{:,}"),
        ("non-2xx answers", "non_2xx", "{}"),
        ("socket errors", "socket_errors", "{}"),
        ("stop after SIGTERM (s)", "stop_s", "{:.1f}"),
    ]
    table = comparison_table("| | log off | log on | on / off |", rows, off, on)
    verdict = "met" if ratio >= 0.9 else "NOT met"
    if args.rounds > 1:
        per_round = ", ".join(
            f"{a:.1f} / {b:.1f}" for a, b in zip(off["rounds_rps"], on["rounds_rps"], strict=True)
        )
        rounds = [
            f"{args.rounds} rounds (off-on, on-off, ...): requests/s is the mean over rounds "
            f"(off / on per round: {per_round}), latencies the median of the rounds' percentiles.",
            "",
        ]
    else:
        rounds = []
    return "\n".join(
        [
            "# Request log overhead",
            "",
            f"Single-row predictions, {args.seconds} s per server run after a {args.warmup} s warm-up, "
            f"{args.connections} connections; measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
            f"Machine: {machine()}, load average "
            f"{' / '.join(f'{x:.2f}' for x in load_before)} before, "
            f"{' / '.join(f'{x:.2f}' for x in load_after)} after; Python {platform.python_version()}, "
            f"{wrk_version()}.",
            f"Model: {bundle_note}.",
            f"Server: `{off['server']}` (the local deployer's command; log on: "
            "`SERVING_REQUEST_LOG_DIR` set, defaults otherwise).",
            f"Load: `{off['command']}`.",
            f"Run: `{' '.join(['.venv/bin/python', '-m', 'bench.request_log', *sys.argv[1:]])}`",
            "",
            *table,
            "",
            *rounds,
            f"Throughput with the log on is **{ratio:.3f}x** the log-off throughput "
            f"(goal >= 0.9x: {verdict}).",
            f"Log on: {on['logged_rows']:,} rows on disk in {on['log_files']} files after the server's "
            "SIGTERM, "
            f"for {answered:,} requests wrk counted as answered (warm-up included; a request in flight "
            "when wrk stops is answered and logged but not counted by wrk); rows dropped by the writer: "
            f"{on['dropped']}.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="measured seconds per server")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds per server")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (the server gets the other core)")
    parser.add_argument("--rows", type=int, default=500, help="distinct request bodies, sent in turn")
    parser.add_argument("--rounds", type=int, default=3, help="off/on pairs, in turn")
    parser.add_argument("--bundle", type=Path, help="a model bundle directory (default: fit one)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    require_wrk("bench-request-log")

    with tempfile.TemporaryDirectory(prefix="bench-request-log-") as tmp:
        folder = Path(tmp)
        if args.bundle:
            bundle, note = args.bundle, f"the bundle in {args.bundle}"
        else:
            bundle = make_bundle(folder)
            note = (
                "the training config's preprocessing and features with a LogisticRegression fitted on the "
                "bundled Telco data (19 raw columns), served by the fast path"
            )
        bodies = folder / "bodies.jsonl"
        write_bodies(bodies, bundle, args.rows)
        script = folder / "post.lua"
        script.write_text(LUA % {"bodies": bodies})
        load_before = os.getloadavg()
        offs, ons = [], []
        for round_ in range(args.rounds):  # off-on, on-off, off-on...: drifting load hits both sides
            for log_on in (False, True) if round_ % 2 == 0 else (True, False):
                log_dir = folder / f"request_log-{round_}" if log_on else None
                (ons if log_on else offs).append(measure(bundle, log_dir, script, args, folder, round_))
        off, on = combine(offs), combine(ons)
        load_after = os.getloadavg()
    text = report(off, on, args, load_before, load_after, note)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

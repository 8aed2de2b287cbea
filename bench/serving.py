"""Benchmark: single-row serving against named peers, one after the other in one run.

The servers are started on loopback, all at once; then, ``--rounds`` times, each in turn is warmed
up and ``wrk`` posts single-row requests (rows of the bundled Telco data in turn) over
``--connections`` connections for ``--seconds`` seconds (rounds, rather than one long run per
server, so that every server meets a shared machine's other load alike; the round with the median
throughput is reported, with the range):

- the project's endpoint: ``seldon-core-microservice`` with ``TabularModel`` as the local
  deployer runs it (4 threads, no keep-alive: one connection per request), fast path on, on the
  project's gunicorn worker (``serving/fast_worker.py``) at 1 and 2 workers, and at 1 worker
  with keep-alive (``--keepalive 2``, as the image runs on Kubernetes);
- the same server on gunicorn's own worker (``SERVING_FAST_WORKER=off``), 1 worker;
- the same server with ``SERVING_FAST_PATH=off`` (the scikit-learn Pipeline scores);
- the same Seldon server with a model class that does no work (``bench/noop_model.py``):
  the floor of the HTTP layer, on the project's worker and on gunicorn's;
- ``mlflow models serve`` of the same fitted Pipeline, logged as training logs it, 1 worker;

and, in this process (no HTTP), parse + score one row at a time for ``--seconds`` seconds with
the Pipeline and with the fast path. Also checked: the fast path's probabilities against the
Pipeline's on the whole bundled data (max difference, labels). Memory: PSS of each server's
processes after its run; per worker = the 2-worker total minus the 1-worker total. Server CPU
per request: user + system time of the server's processes during the measured run, divided
by the requests answered.

Results: bench/results/serving.md (table) and bench/results/serving.png (plot), and stdout.
Needs ``wrk`` (``make bench-serving`` installs it).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import (  # bench/, the script's folder, is on sys.path
    LUA,
    ROOT,
    TELCO,
    ServerProcess,
    machine,
    make_bundle,
    require_wrk,
    run_wrk,
    seldon_server,
    telco_rows,
    write_bodies,
    wrk_version,
)

RESULTS = ROOT / "bench" / "results"
PREDICTIONS = "/api/v1.0/predictions"


def log_mlflow_model(bundle: Path, folder: Path) -> tuple[str, str]:
    """The bundle's Pipeline logged to a throwaway MLflow store as training logs it.

    Returns:
        The tracking URI and the model URI.
    """
    import joblib
    import mlflow
    import pandas as pd

    from adapters.mlflow_tracking import log_model_to_mlflow
    from serving.bundle import MODEL_FILE, read_bundle_meta

    tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking_uri)
    names = read_bundle_meta(bundle).feature_names
    example = pd.read_csv(TELCO)[names].dropna().head(5)
    with mlflow.start_run():
        model_uri = log_model_to_mlflow(joblib.load(bundle / MODEL_FILE), example)
    return tracking_uri, model_uri


def mlflow_server(tracking_uri: str, model_uri: str, output: Path) -> ServerProcess:
    from flavors.local_seldon.supervisor import free_port

    port = free_port()
    mlflow_cli = str(Path(sys.executable).with_name("mlflow"))
    command = [mlflow_cli, "models", "serve", "-m", model_uri, "--env-manager", "local"]
    command += ["-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the model packages its code
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return ServerProcess(command, env, output, f"http://127.0.0.1:{port}", "/ping")


def write_mlflow_bodies(path: Path, bundle: Path, rows: int) -> None:
    names, values = telco_rows(bundle, rows)
    bodies = [json.dumps({"dataframe_split": {"columns": names, "data": [row]}}) for row in values]
    path.write_text("\n".join(bodies) + "\n")


def measure_servers(peers: list[tuple[str, ServerProcess, str, Path]], args) -> list[dict]:
    """``wrk`` on each server in turn, ``--rounds`` times round-robin (all servers up meanwhile),
    so that every server meets the machine's other load alike; per server, the round with the
    median throughput, with the lowest and highest throughput of its rounds.

    Args:
        peers: (name, server, request path, wrk script) per server, started.
    """
    runs: dict[str, list[dict]] = {name: [] for name, *_ in peers}
    for _, server, *_ in peers:
        server.wait_ready()
    for round_ in range(1, args.rounds + 1):
        for name, server, path, script in peers:
            url = f"{server.url}{path}"
            run_wrk(url, script, args.warmup, args.connections, args.threads)
            cpu_before = server.cpu_seconds()
            result, command = run_wrk(url, script, args.seconds, args.connections, args.threads)
            result["cpu_ms"] = (server.cpu_seconds() - cpu_before) / max(result["requests"], 1) * 1e3
            result.update(name=name, command=command, server=shlex.join(server.command))
            runs[name].append(result)
            print(
                f"round {round_}, {name}: {result['rps']:.1f} req/s, p50 {result['p50_ms']:.2f} ms, "
                f"p99 {result['p99_ms']:.2f} ms, non-2xx {result['non_2xx']}, "
                f"server CPU {result['cpu_ms']:.2f} ms/request, load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    results = []
    for name, server, *_ in peers:
        ordered = sorted(runs[name], key=lambda run: run["rps"])
        chosen = dict(ordered[len(ordered) // 2])
        chosen["rps_range"] = (ordered[0]["rps"], ordered[-1]["rps"])
        chosen["non_2xx"] = sum(run["non_2xx"] for run in ordered)
        chosen["memory"] = server.memory_mb()
        results.append(chosen)
    return results


def measure_in_process(name: str, score_one, requests: list[dict], seconds: float) -> dict:
    """Parse and score one row at a time, single thread, for ``seconds``: rows/s and latencies."""
    for request in requests[:50]:
        score_one(request)  # warm-up
    latencies = []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for request in requests:
            t0 = time.perf_counter()
            score_one(request)
            latencies.append(time.perf_counter() - t0)
            if time.perf_counter() - started >= seconds:
                break
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    result = {"name": name, "rps": len(latencies) / elapsed, "requests": len(latencies), "non_2xx": 0}
    result.update({f"p{p}_ms": quantiles[p - 1] * 1e3 for p in (50, 75, 90, 99)})
    print(f"{name}: {result['rps']:.1f} rows/s, p50 {result['p50_ms']:.3f} ms, p99 {result['p99_ms']:.3f} ms")
    return result


def in_process(bundle: Path, rows: int, seconds: float) -> tuple[list[dict], dict]:
    """The in-process peers, and the fast path against the Pipeline on the whole bundled data."""
    import numpy as np

    from serving.bundle import load_bundle
    from serving.fast_path import choose_scorer
    from serving.reference_rows import read_reference_request
    from serving.request_schema import RequestSchema

    loaded = load_bundle(bundle)
    names, values = telco_rows(bundle)
    schema = RequestSchema(loaded.meta.features, max_rows=len(values), violations="flag")
    scorer = choose_scorer(
        loaded.pipeline, schema, loaded.positive_column, loaded.meta.threshold, read_reference_request(bundle)
    )
    if scorer.fast is None:
        raise SystemExit(f"the fast path does not serve this bundle: {scorer.reason}")
    whole = schema.parse({"data": {"names": names, "ndarray": values}})
    expected = loaded.pipeline.predict_proba(whole.frame)[:, loaded.positive_column]
    got = scorer.fast.positive_probability(whole)
    threshold = loaded.meta.threshold
    agreement = {
        "rows": len(values),
        "max_difference": float(np.abs(got - expected).max()),
        "labels_equal": bool(np.array_equal(got >= threshold, expected >= threshold)),
    }
    singles = [{"data": {"names": names, "ndarray": [row]}} for row in values[:rows]]
    pipeline = loaded.pipeline
    positive = loaded.positive_column
    peers = [
        measure_in_process(
            "in-process Pipeline (parse + predict_proba)",
            lambda request: pipeline.predict_proba(schema.parse(request).frame)[:, positive],
            singles,
            seconds,
        ),
        measure_in_process(
            "in-process fast path (parse + score)",
            lambda request: scorer.fast.positive_probability(schema.parse(request)),
            singles,
            seconds,
        ),
    ]
    return peers, agreement


def group_pss(result: dict) -> float:
    return sum(pss for _, _, pss in result.get("memory", []))


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["name"] for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.5 * len(names) + 1.5), sharey=True)
    left.barh(names, [r["rps"] for r in results], color="tab:blue")
    left.set_xscale("log")
    left.set_xlabel("requests (rows) per second, log scale")
    right.barh(names, [r["p99_ms"] for r in results], color="tab:orange")
    right.set_xscale("log")
    right.set_xlabel("p99 latency (ms), log scale")
    left.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


FAST_1 = "project endpoint, 1 worker"
FAST_2 = "project endpoint, 2 workers"
FAST_KEEPALIVE = "project endpoint, keep-alive (--keepalive 2), 1 worker"
STOCK_1 = "project endpoint on gunicorn's worker (SERVING_FAST_WORKER=off), 1 worker"
PIPELINE_1 = "project endpoint, Pipeline (SERVING_FAST_PATH=off), 1 worker"
NOOP_FAST = "no-op model (floor), 1 worker"
NOOP_STOCK = "no-op model (floor) on gunicorn's worker, 1 worker"
MLFLOW = "mlflow models serve, 1 worker"
NOOP = "bench.noop_model.NoopModel"
STOCK = {"SERVING_FAST_WORKER": "off"}


def servers(bundle: Path) -> list[tuple[str, Any]]:
    """The Seldon servers measured: (name, a function of the log path that starts it)."""
    return [
        (FAST_1, lambda log: seldon_server(bundle, log, workers=1)),
        (FAST_2, lambda log: seldon_server(bundle, log, workers=2)),
        (FAST_KEEPALIVE, lambda log: seldon_server(bundle, log, keepalive=2)),
        (STOCK_1, lambda log: seldon_server(bundle, log, env=STOCK)),
        (PIPELINE_1, lambda log: seldon_server(bundle, log, env={"SERVING_FAST_PATH": "off"})),
        (NOOP_FAST, lambda log: seldon_server(bundle, log, model_class=NOOP)),
        (NOOP_STOCK, lambda log: seldon_server(bundle, log, model_class=NOOP, env=STOCK)),
    ]


def report(results: list[dict], agreement: dict, args, load_before, load_after, note: str) -> str:
    by_name = {r["name"]: r for r in results}
    project, mlflow, stock = by_name[FAST_1], by_name[MLFLOW], by_name[STOCK_1]
    floor, stock_floor = by_name[NOOP_FAST], by_name[NOOP_STOCK]
    keepalive, two = by_name[FAST_KEEPALIVE], by_name[FAST_2]
    table = [
        "| | requests/s | rounds' range | p50 (ms) | p75 (ms) | p90 (ms) | p99 (ms) "
        "| server CPU/request (ms) | non-2xx | PSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cpu = f"{r['cpu_ms']:.2f}" if "cpu_ms" in r else "-"
        pss = f"{group_pss(r):.0f}" if r.get("memory") else "-"
        low, high = r.get("rps_range", (None, None))
        spread = f"{low:,.0f}-{high:,.0f}" if low is not None else "-"
        table.append(
            f"| {r['name']} | {r['rps']:,.1f} | {spread} | {r['p50_ms']:.2f} | {r['p75_ms']:.2f} "
            f"| {r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {cpu} | {r['non_2xx']} | {pss} |"
        )

    def times_mlflow(name: str) -> str:
        return f"{by_name[name]['rps'] / mlflow['rps']:.1f}x"

    ratio = project["rps"] / mlflow["rps"]
    labels = "identical" if agreement["labels_equal"] else "DIFFERENT"
    per_worker = group_pss(two) - group_pss(project)
    socket_errors = sorted({r["socket_errors"] for r in results if r.get("socket_errors", "none") != "none"})
    lines = [
        "# Serving: single-row throughput and latency against named peers",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in one run: all servers up, {args.rounds} rounds "
        f"over them, each server in turn getting {args.warmup} s of warm-up then {args.seconds} s of `wrk`; "
        f"{args.connections} connections, {args.threads} wrk thread, one row per request ({args.rows} Telco "
        "rows in turn), loopback. Each row is the server's round with the median throughput (p50-p99 and "
        "CPU of that round), with the lowest and highest throughput of its rounds; PSS after the last "
        "round, with all servers up (shared library pages are split among them).",
        f"Machine: {machine()}, load average {' / '.join(f'{x:.2f}' for x in load_before)} before, "
        f"{' / '.join(f'{x:.2f}' for x in load_after)} after (the machine is shared: compare rows of one "
        f"table, not tables); Python {sys.version.split()[0]}, {wrk_version()}.",
        f"Model: {note}.",
        f"Run: `{' '.join(['.venv/bin/python', 'bench/serving.py', *sys.argv[1:]])}` (`make bench-serving`).",
        "",
        *table,
        "",
        f"- The project's endpoint answers **{ratio:.1f}x** the single-row throughput of "
        f"`mlflow models serve` of the same model (goal >= 30x: {'met' if ratio >= 30 else 'NOT met'}); "
        f"p99 {project['p99_ms']:.2f} ms at {args.connections} connections "
        f"(goal < 10 ms: {'met' if project['p99_ms'] < 10 else 'NOT met'}).",
        f"- Times `mlflow models serve`: the project's worker {times_mlflow(FAST_1)} (keep-alive "
        f"{times_mlflow(FAST_KEEPALIVE)}, 2 workers {times_mlflow(FAST_2)}), gunicorn's worker "
        f"{times_mlflow(STOCK_1)}; the no-op floor {times_mlflow(NOOP_FAST)} on the project's worker, "
        f"{times_mlflow(NOOP_STOCK)} on gunicorn's.",
        f"- The project's worker: {project['rps'] / stock['rps']:.1f}x gunicorn's worker on the same server "
        f"({project['cpu_ms']:.2f} vs {stock['cpu_ms']:.2f} ms of server CPU per request), "
        f"{project['rps'] / floor['rps']:.0%} of its no-op floor (gunicorn's worker: "
        f"{stock['rps'] / stock_floor['rps']:.0%} of its own); keep-alive "
        f"{keepalive['rps'] / project['rps']:.2f}x one connection per request.",
        f"- 2 workers: {two['rps'] / project['rps']:.2f}x the 1-worker throughput; memory per worker "
        f"(PSS of the 2-worker server minus the 1-worker one): {per_worker:.0f} MB.",
        f"- Fast path vs the Pipeline on the whole bundled data ({agreement['rows']:,} rows): largest "
        f"probability difference {agreement['max_difference']:.2e}, labels {labels}.",
        f"- wrk socket errors: {'; '.join(socket_errors) if socket_errors else 'none'}.",
        "- Servers: the project's is the local deployer's command "
        f"(`{project['server'].replace(f'{ROOT}/', '')}`); "
        "MLflow's: `mlflow models serve -m <model> --env-manager local -w 1`.",
        "",
        "![throughput and p99 per peer](serving.png)",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="measured seconds per server and round")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up seconds per server and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all servers (median reported)")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (the server gets the other core)")
    parser.add_argument("--rows", type=int, default=500, help="distinct request bodies, sent in turn")
    parser.add_argument("--output", type=Path, default=RESULTS / "serving.md")
    args = parser.parse_args(argv)
    for option in ("seconds", "warmup", "rounds", "connections", "threads", "rows"):
        if getattr(args, option) < 1:
            parser.error(f"--{option} must be at least 1, not {getattr(args, option)}")
    require_wrk("bench-serving")

    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        folder = Path(tmp)
        bundle = make_bundle(folder)
        note = (
            "the training config's preprocessing and features with a LogisticRegression fitted on the "
            "bundled Telco data (19 raw columns)"
        )
        seldon_script, mlflow_script = folder / "seldon.lua", folder / "mlflow.lua"
        write_bodies(folder / "seldon.jsonl", bundle, args.rows)
        write_mlflow_bodies(folder / "mlflow.jsonl", bundle, args.rows)
        seldon_script.write_text(LUA % {"bodies": folder / "seldon.jsonl"})
        mlflow_script.write_text(LUA % {"bodies": folder / "mlflow.jsonl"})
        tracking_uri, model_uri = log_mlflow_model(bundle, folder)

        load_before = os.getloadavg()
        peers = []
        try:
            for index, (name, start) in enumerate(servers(bundle)):
                peers.append((name, start(folder / f"server-{index}.log"), PREDICTIONS, seldon_script))
            mlflow = mlflow_server(tracking_uri, model_uri, folder / "mlflow.log")
            peers.append((MLFLOW, mlflow, "/invocations", mlflow_script))
            results = measure_servers(peers, args)
        finally:
            for _, server, *_ in peers:
                server.stop()
        in_process_peers, agreement = in_process(bundle, args.rows, args.seconds)
        results += in_process_peers
        load_after = os.getloadavg()

    text = report(results, agreement, args, load_before, load_after, note)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    plot(results, args.output.with_suffix(".png"))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

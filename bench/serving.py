"""Benchmark: single-row serving of a binary, a multiclass and a regression model, side by side.

The models (bench/harness.py ``EXAMPLES``), each a training config's Pipeline fitted on its whole
table and bundled with reference rows: binary (configs/training.yaml on Telco churn, a
LogisticRegression), multiclass (configs/training_wine.yaml on wine, a LogisticRegression),
regression (configs/training_diabetes.yaml on diabetes, a Ridge).

The servers, started on loopback all at once:

- per model, the project's server (``python -m serving``, configured by ``SERVING_*`` variables):
  1 worker with the image's settings (keep-alive on), the same with ``SERVING_KEEP_ALIVE_S=0``
  (as the local deployer runs it: ``Connection: close`` on every answer), 2 workers
  (``SERVING_WORKERS=2``) with and without keep-alive, and for the binary model the Pipeline scoring
  (``SERVING_FAST_PATH=off``);
- per model, ``mlflow models serve`` of the same fitted Pipeline, logged as training logs it,
  1 worker;
- the HTTP floor: a no-op app (bench/noop_app.py: reads the body, answers a fixed small JSON) on
  the model server's uvicorn configuration, 1 worker, with the ``zttp`` parser the server uses,
  and with ``h11`` and ``httptools`` for the record.

Then, ``--rounds`` times, each server in turn is warmed up and ``wrk`` posts single-row requests
(its model's table's rows in turn) over ``--connections`` connections for ``--seconds`` seconds
(rounds, rather than one long run per server, so that every server meets a shared machine's
other load alike; the round with the median throughput is reported, with the range). Server CPU
per request: user + system time of the server's processes during the measured run, divided by
the requests answered. Memory: PSS of each server's processes after the last round (and by
process for the binary model's 2-worker server).

In this process (no HTTP), per model: parse + score one row at a time for ``--seconds`` seconds,
compiled path vs Pipeline; and the compiled path's scores against the Pipeline's on the model's
whole table (largest difference; labels equal, for the classifiers).

Reported per model against the goals: throughput >= 30x ``mlflow models serve``, p99 < 5 ms at
4 connections on 1 worker, 2 workers >= 1.6x one worker; and the share of the no-op floor the
server keeps. Scaling is judged with a connection per request: with keep-alive, wrk's 4
connections stay with whichever worker accepted them, and how evenly the kernel hands them out
varies from run to run (that ratio is shown too). Results: bench/results/serving.md (tables) and
bench/results/serving.png (plot), and stdout. Needs ``wrk`` (``make bench-serving`` installs it).
The default run (19 servers, 3 rounds of 1 + 5 s each) takes about 8 minutes.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import (
    BINARY,
    DEPLOYER,
    EXAMPLES,
    LUA,
    ROOT,
    Example,
    machine,
    make_bundle,
    noop_server,
    require_wrk,
    run_wrk,
    table_rows,
    write_bodies,
    wrk_version,
)
from tests.support.servers import ModelServer, ServerProcess

RESULTS = ROOT / "bench" / "results"
PREDICTIONS = "/api/v1.0/predictions"
OLD_RESULTS = "serving-seldon-core-2026-11-26.md"
STARTUP_TIMEOUT_S = 300  # 16 servers start at once on a small machine

ONE = "1 worker"
CLOSED = "no keep-alive (SERVING_KEEP_ALIVE_S=0), 1 worker"
TWO = "2 workers"
TWO_CLOSED = "2 workers, no keep-alive"
PIPELINE = "Pipeline (SERVING_FAST_PATH=off), 1 worker"
MLFLOW = "mlflow models serve, 1 worker"
VARIANTS = {
    ONE: {},
    CLOSED: DEPLOYER,
    TWO: {"SERVING_WORKERS": "2"},
    TWO_CLOSED: {**DEPLOYER, "SERVING_WORKERS": "2"},
    PIPELINE: {"SERVING_FAST_PATH": "off"},
}
FLOOR = "no-op app"
PARSERS = ("zttp", "h11", "httptools")  # zttp first: the model server's


def floor_variant(parser: str) -> str:
    return f"{parser}, 1 worker"


# ---------------------------------------------------------------------- models and servers


@dataclass(frozen=True)
class Model:
    """One example, bundled, with its wrk scripts (Seldon and MLflow bodies) and its MLflow model."""

    example: Example
    bundle: Path
    seldon_script: Path
    mlflow_script: Path
    mlflow_model: str


@dataclass(frozen=True)
class Peer:
    """A started server and what ``wrk`` posts to it."""

    model: str  # the example's task, or FLOOR
    variant: str
    server: ServerProcess
    path: str
    script: Path

    @property
    def name(self) -> str:
        return f"{self.model}: {self.variant}"


def log_mlflow_model(bundle: Path, table: Path) -> str:
    """The bundle's Pipeline logged to the current MLflow store as training logs it; its model URI."""
    import joblib
    import mlflow
    import pandas as pd

    from adapters.mlflow_tracking import log_model_to_mlflow
    from serving.bundle import MODEL_FILE, read_bundle_meta

    names = read_bundle_meta(bundle).feature_names
    example = pd.read_csv(table)[names].dropna().head(5)
    with mlflow.start_run():
        return log_model_to_mlflow(joblib.load(bundle / MODEL_FILE), example)


def write_mlflow_bodies(path: Path, bundle: Path, rows: int, table: Path) -> None:
    names, values = table_rows(bundle, rows, table)
    bodies = [json.dumps({"dataframe_split": {"columns": names, "data": [row]}}) for row in values]
    path.write_text("\n".join(bodies) + "\n")


def prepare(example: Example, folder: Path, rows: int) -> Model:
    """Fit and bundle the example, write its request bodies and log it to MLflow."""
    bundle = make_bundle(folder, example=example)
    scripts = {}
    for kind, write in (("seldon", write_bodies), ("mlflow", write_mlflow_bodies)):
        bodies = folder / f"{example.task}-{kind}.jsonl"
        write(bodies, bundle, rows, example.table)
        scripts[kind] = folder / f"{example.task}-{kind}.lua"
        scripts[kind].write_text(LUA % {"bodies": bodies})
    model_uri = log_mlflow_model(bundle, example.table)
    return Model(example, bundle, scripts["seldon"], scripts["mlflow"], model_uri)


def mlflow_server(tracking_uri: str, model_uri: str, output: Path) -> ServerProcess:
    from flavors.local_seldon.supervisor import free_port

    port = free_port()
    mlflow_cli = str(Path(sys.executable).with_name("mlflow"))
    command = [mlflow_cli, "models", "serve", "-m", model_uri, "--env-manager", "local"]
    command += ["-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the model packages its code
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return ServerProcess(command, env, output, port, health_path="/ping")


def start_peers(models: list[Model], tracking_uri: str, folder: Path, peers: list[Peer]) -> None:
    """Start every server, appending each to ``peers`` as it starts (so the caller stops them all)."""
    for model in models:
        task = model.example.task
        for variant, env in VARIANTS.items():
            if variant != PIPELINE or model.example is BINARY:
                server = ModelServer(model.bundle, folder / f"{task}-{len(peers)}.log", env)
                peers.append(Peer(task, variant, server, PREDICTIONS, model.seldon_script))
        server = mlflow_server(tracking_uri, model.mlflow_model, folder / f"{task}-mlflow.log")
        peers.append(Peer(task, MLFLOW, server, "/invocations", model.mlflow_script))
    for parser in PARSERS:
        server = noop_server(folder / f"noop-{parser}.log", parser)
        peers.append(Peer(FLOOR, floor_variant(parser), server, PREDICTIONS, models[0].seldon_script))


# ---------------------------------------------------------------------- measuring


def measure_servers(peers: list[Peer], args) -> list[dict]:
    """``wrk`` on each server in turn, ``--rounds`` times round-robin (all servers up meanwhile),
    so that every server meets the machine's other load alike; per server, the round with the
    median throughput, with the lowest and highest throughput of its rounds."""
    runs: dict[str, list[dict]] = {peer.name: [] for peer in peers}
    for peer in peers:
        peer.server.wait_ready(STARTUP_TIMEOUT_S)
    for round_ in range(1, args.rounds + 1):
        for peer in peers:
            url = f"{peer.server.base_url}{peer.path}"
            run_wrk(url, peer.script, args.warmup, args.connections, args.threads)
            cpu_before = peer.server.cpu_seconds()
            result, command = run_wrk(url, peer.script, args.seconds, args.connections, args.threads)
            result["cpu_ms"] = (peer.server.cpu_seconds() - cpu_before) / max(result["requests"], 1) * 1e3
            result.update(model=peer.model, variant=peer.variant, name=peer.name, command=command)
            result["server"] = shlex.join(peer.server.command)
            runs[peer.name].append(result)
            print(
                f"round {round_}, {peer.name}: {result['rps']:.1f} req/s, p50 {result['p50_ms']:.2f} ms, "
                f"p99 {result['p99_ms']:.2f} ms, non-2xx {result['non_2xx']}, "
                f"server CPU {result['cpu_ms']:.2f} ms/request, load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    return [median_round(runs[peer.name], peer.server) for peer in peers]


def median_round(rounds: list[dict], server: ServerProcess) -> dict:
    ordered = sorted(rounds, key=lambda run: run["rps"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["rps_range"] = (ordered[0]["rps"], ordered[-1]["rps"])
    chosen["non_2xx"] = sum(run["non_2xx"] for run in ordered)
    chosen["memory"] = server.memory_mb()
    return chosen


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


def agreement(compiled, pipeline, parsed, threshold: float) -> dict:
    """The compiled path's scores against the Pipeline's on the same parsed rows."""
    import numpy as np

    from tabular_ml.modelling.trained_model import predicted_labels

    got, expected = compiled.scores(parsed), pipeline.scores(parsed)
    target = compiled.target
    labels = [predicted_labels(scores, target, threshold) for scores in (got, expected)]
    return {
        "rows": len(got),
        "max_difference": float(np.abs(got - expected).max()),
        "labels_equal": None if target.task == "regression" else bool(np.array_equal(*labels)),
    }


def in_process(model: Model, rows: int, seconds: float) -> tuple[list[dict], dict]:
    """Per single row, parse + score with the Pipeline and with the compiled path (the server's
    request schema); and the compiled path against the Pipeline on the model's whole table."""
    from serving.bundle import load_bundle
    from serving.reference_rows import read_reference_request
    from serving.request_schema import RequestSchema
    from serving.scoring import choose_scorer

    loaded = load_bundle(model.bundle)
    meta, task = loaded.meta, model.example.task
    threshold = meta.threshold or 0.5
    schema = RequestSchema(meta.features)  # the server's defaults
    reference = read_reference_request(model.bundle)
    compiled = choose_scorer(loaded.pipeline, schema, meta.target_spec, threshold, reference)
    if compiled.path != "compiled":
        raise SystemExit(f"the compiled path does not serve the {task} model: {compiled.reason}")
    pipeline = choose_scorer(loaded.pipeline, schema, meta.target_spec, threshold, reference, enabled=False)

    names, values = table_rows(model.bundle, None, model.example.table)
    whole = RequestSchema(meta.features, max_rows=len(values), violations="flag")
    parsed = whole.parse({"data": {"names": names, "ndarray": values}})
    agreed = agreement(compiled, pipeline, parsed, threshold)
    singles = [{"data": {"names": names, "ndarray": [row]}} for row in values[:rows]]
    results = []
    for scorer in (pipeline, compiled):
        result = measure_in_process(
            f"{task}: in-process {scorer.path} (parse + score)",
            lambda request, scorer=scorer: scorer.scores(schema.parse(request)),
            singles,
            seconds,
        )
        results.append({**result, "model": task, "variant": scorer.path})
    return results, agreed


# ---------------------------------------------------------------------- reporting


def group_pss(result: dict) -> float:
    return sum(pss for _, _, pss in result.get("memory", []))


def processes_pss(result: dict) -> str:
    """Each of a server's processes with its PSS: the main one (uvicorn's supervisor with 2
    workers), the workers it spawned, multiprocessing's resource tracker."""
    kinds = {"spawn_main": "worker", "resource_tracker": "resource tracker"}
    named = [
        (next((kind for key, kind in kinds.items() if key in command), "main"), pss)
        for command, _, pss in result["memory"]
    ]
    return ", ".join(f"{name} {pss:.0f}" for name, pss in sorted(named))


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["name"] for r in results]
    groups = list(dict.fromkeys(r["model"] for r in results))
    colors = [f"C{groups.index(r['model'])}" for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 0.32 * len(names) + 1.5), sharey=True)
    left.barh(names, [r["rps"] for r in results], color=colors)
    left.set_xscale("log")
    left.set_xlabel("requests (rows) per second, log scale")
    right.barh(names, [r["p99_ms"] for r in results], color=colors)
    right.set_xscale("log")
    right.set_xlabel("p99 latency (ms), log scale")
    left.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def servers_table(results: list[dict]) -> list[str]:
    table = [
        "| model | server | requests/s | rounds' range | p50 (ms) | p75 (ms) | p90 (ms) | p99 (ms) "
        "| server CPU/request (ms) | non-2xx | PSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        low, high = r["rps_range"]
        table.append(
            f"| {r['model']} | {r['variant']} | {r['rps']:,.1f} | {low:,.0f}-{high:,.0f} "
            f"| {r['p50_ms']:.2f} | {r['p75_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['cpu_ms']:.2f} | {r['non_2xx']} | {group_pss(r):.0f} |"
        )
    return table


def in_process_table(results: list[dict]) -> list[str]:
    table = ["| model | scoring | rows/s | p50 (ms) | p90 (ms) | p99 (ms) |", "|---|---|---|---|---|---|"]
    for r in results:
        table.append(
            f"| {r['model']} | {r['variant']} | {r['rps']:,.1f} | {r['p50_ms']:.3f} | {r['p90_ms']:.3f} "
            f"| {r['p99_ms']:.3f} |"
        )
    return table


def goals_table(by_name: dict[str, dict], agreements: dict[str, dict]) -> list[str]:
    floor = by_name[f"{FLOOR}: {floor_variant(PARSERS[0])}"]
    table = [
        "| model | x `mlflow models serve` (goal >= 30x) | p99, 1 worker (goal < 5 ms) "
        "| 2 workers / 1 (goal >= 1.6x): a connection per request; keep-alive "
        "| share of the no-op floor | no keep-alive / keep-alive "
        "| PSS, 1 / 2 workers (MB) | in process: compiled / Pipeline | compiled vs Pipeline, whole table |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for task, agreed in agreements.items():
        one, two, closed, two_closed = (by_name[f"{task}: {v}"] for v in (ONE, TWO, CLOSED, TWO_CLOSED))
        times_mlflow = one["rps"] / by_name[f"{task}: {MLFLOW}"]["rps"]
        scaling = two_closed["rps"] / closed["rps"]
        in_process = by_name[f"{task}: compiled"]["rps"] / by_name[f"{task}: pipeline"]["rps"]
        labels = {None: "", True: ", labels equal", False: ", labels DIFFERENT"}[agreed["labels_equal"]]
        table.append(
            f"| {task} | **{times_mlflow:.1f}x** ({verdict(times_mlflow >= 30)}) "
            f"| **{one['p99_ms']:.2f} ms** ({verdict(one['p99_ms'] < 5)}) "
            f"| **{scaling:.2f}x** ({verdict(scaling >= 1.6)}); {two['rps'] / one['rps']:.2f}x "
            f"| {one['rps'] / floor['rps']:.0%} "
            f"| {closed['rps'] / one['rps']:.2f}x | {group_pss(one):.0f} / {group_pss(two):.0f} "
            f"| {in_process:.0f}x | {agreed['max_difference']:.1e} on {agreed['rows']:,} rows{labels} |"
        )
    return table


def floor_line(by_name: dict[str, dict]) -> str:
    floors = [by_name[f"{FLOOR}: {floor_variant(parser)}"] for parser in PARSERS]
    zttp = floors[0]
    others = ", ".join(
        f"`{parser}` {r['rps']:,.0f} req/s ({r['rps'] / zttp['rps']:.2f}x, p99 {r['p99_ms']:.2f} ms)"
        for parser, r in zip(PARSERS[1:], floors[1:], strict=True)
    )
    return (
        f"- The HTTP floor (the no-op app on the server's uvicorn configuration, 1 worker, keep-alive): "
        f"`zttp` {zttp['rps']:,.0f} req/s (p99 {zttp['p99_ms']:.2f} ms, {zttp['cpu_ms']:.3f} ms of CPU per "
        f"request); {others}. The server uses `zttp` for its speed and because it bounds a request's "
        "header block, which uvicorn's `httptools` protocol does not (serving/server.py)."
    )


def report(results: list[dict], agreements: dict[str, dict], args, load: tuple, note: list[str]) -> str:
    by_name = {f"{r['model']}: {r['variant']}": r for r in results}
    servers = [r for r in results if "rps_range" in r]
    socket_errors = sorted({r["socket_errors"] for r in servers if r.get("socket_errors", "none") != "none"})
    before, after = (" / ".join(f"{x:.2f}" for x in values) for values in load)
    return "\n".join(
        [
            "# Serving: single-row throughput and latency of three models against named peers",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in one run: all servers up, "
            f"{args.rounds} round{'s' * (args.rounds != 1)} over them, each server in turn getting "
            f"{args.warmup} s of warm-up then {args.seconds} s of `wrk`; {args.connections} connections, "
            f"{args.threads} wrk thread, one row per request (up to {args.rows} rows of the model's table "
            "in turn), loopback. Each row is the server's round "
            "with the median throughput (p50-p99 and CPU of that round), with the lowest and highest "
            "throughput of its rounds; PSS after the last round, with all servers up (shared library "
            "pages are split among them).",
            f"Machine: {machine()}, load average {before} before, {after} after (compare rows of one "
            f"table, not tables); Python {sys.version.split()[0]}, {wrk_version()}.",
            *note,
            f"Run: `{shlex.join(['.venv/bin/python', '-m', 'bench.serving', *sys.argv[1:]])}` "
            "(`make bench-serving`).",
            "",
            f"The old figures kept for comparison: [{OLD_RESULTS}]({OLD_RESULTS}), the binary model on the "
            "previous server (`seldon-core-microservice` on the project's gunicorn worker, no keep-alive): "
            "53.4x `mlflow models serve`, p99 2.41 ms, 2,677 req/s.",
            "",
            "## Against the goals (the project's server, image settings, unless said)",
            "",
            *goals_table(by_name, agreements),
            "",
            "## Servers",
            "",
            *servers_table(servers),
            "",
            "## In process (no HTTP): parse + score one row",
            "",
            *in_process_table([r for r in results if "rps_range" not in r]),
            "",
            floor_line(by_name),
            f"- Memory (PSS, MB) of the binary model's 2-worker server by process: "
            f"{processes_pss(by_name[f'{BINARY.task}: {TWO}'])}.",
            f"- wrk socket errors: {'; '.join(socket_errors) if socket_errors else 'none'}.",
            "- Servers: the project's is `python -m serving` (settings in the environment: `SERVING_HOST`, "
            "`SERVING_LISTEN_FDS` and `SERVING_METRICS_FD`: loopback sockets bound by the benchmark, "
            "`MODEL_DIR` and the row's variables); the no-op app "
            "`python -m bench.noop_app --http <parser>`; MLflow's `mlflow models serve -m <model> "
            "--env-manager local -w 1`.",
            "",
            "![throughput and p99 per peer](serving.png)",
            "",
        ]
    )


# ---------------------------------------------------------------------- the run


def model_note(model: Model) -> str:
    from serving.bundle import read_bundle_meta

    meta = read_bundle_meta(model.bundle)
    return f"- {model.example.task}: {model.example.about}, {len(meta.features)} raw columns."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="measured seconds per server and round")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up seconds per server and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all servers (median reported)")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (the server gets the other core)")
    parser.add_argument("--rows", type=int, default=500, help="request bodies per model, in turn")
    parser.add_argument("--output", type=Path, default=RESULTS / "serving.md")
    args = parser.parse_args(argv)
    for option in ("seconds", "warmup", "rounds", "connections", "threads", "rows"):
        if getattr(args, option) < 1:
            parser.error(f"--{option} must be at least 1, not {getattr(args, option)}")
    require_wrk("bench-serving")

    import mlflow

    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        folder = Path(tmp)
        tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
        mlflow.set_tracking_uri(tracking_uri)
        models = [prepare(example, folder, args.rows) for example in EXAMPLES]
        load_before = os.getloadavg()
        peers: list[Peer] = []
        try:
            start_peers(models, tracking_uri, folder, peers)
            results = measure_servers(peers, args)
        finally:
            for peer in peers:
                peer.server.stop()
        agreements = {}
        for model in models:
            in_process_results, agreements[model.example.task] = in_process(model, args.rows, args.seconds)
            results += in_process_results
        load_after = os.getloadavg()
        note = ["Models, each fitted on its whole table:", *map(model_note, models)]

    text = report(results, agreements, args, (load_before, load_after), note)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    plot(results, args.output.with_suffix(".png"))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

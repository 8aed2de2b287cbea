"""Training killed with ``kill -9`` in each of its steps in turn, then run to the end.

Run 1 is killed in its first step; run 2, which takes the steps run 1 finished from the cache,
reruns the killed one and is killed in the next; and so on until a run completes. The steps are
the ones the runs start (their log's "Step `...` has started."), not a list kept here, so a
pipeline with more or other steps is covered as it is.

Each kill lands while the step writes its outputs (a new file in its output folders in the
artifact store, the step not finished): its work is done, a partial artifact is on disk, and the
store does not know it yet - the worst moment for the cache. Steps as short as 0.1 s are caught
there deterministically: from the moment the log says the step started, the run's process group
is stopped (SIGSTOP) and let on (SIGCONT) in 5 ms slices, and the SIGKILL is sent while it is
stopped.

What must hold after every kill: the killed step is left unfinished (never completed, so never a
cache hit); no version looks trained without all its provenance (record_model_version writes the
metrics, which make a version trained, last); the deployment's choice of challenger is nothing or
a complete version. The failure hook (``discard_model_version``) cannot run under SIGKILL, so the
killed runs' versions stay: untrained ones the deployment skips, or, killed once
record_model_version had written, a complete one (superseded by the next run's). After the last kill, a run
completes with no clean-up: it reruns the step killed last (not from the cache) and records a
complete version that is the challenger.

Everything is real: ``python run.py`` in a subprocess on the throwaway ZenML store with the
``local`` stack.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from zenml.client import Client
from zenml.utils.pagination_utils import depaginate

from tabular_ml.model_management.decisions import choose_challenger, is_trained
from tests.integration.cli import activate_local_stack, small_training_args, write_sample
from tests.support.paths import PROJECT_ROOT
from tests.support.processes import group_alive, wait_for

pytestmark = pytest.mark.integration

MODEL = "churn_killed_training"
STARTED = re.compile(r"Step `?([\w.-]+)`? has started\.")
COLOURS = re.compile(r"\x1b\[[0-9;]*m")
SLICE = 0.005  # seconds a stopped run is let on between two looks at its outputs
RUN_TIMEOUT = 300
ONE_CANDIDATE = (
    "{name: lr, estimator: sklearn.linear_model.LogisticRegression, "
    "params: {max_iter: 500}, search_space: {C: [0.3]}}"
)


def versions() -> dict[int, dict]:
    """The model's versions as {number: run_metadata}."""
    try:
        listed = Client().list_model_versions(MODEL, size=100)
    except KeyError:
        return {}
    return {version.number: dict(version.run_metadata) for version in listed}


def run_ids() -> set:
    return {run.id for run in depaginate(Client().list_pipeline_runs)}


def outputs(store: Path, step: str = "*") -> set[Path]:
    """The files in the artifact store's output folders (``<step>/<output>/<id>/``) of ``step`` or
    of every step. ZenML makes a step's (empty) folders as it launches the step; the files come
    when the step's function has returned and its outputs are written."""
    return set(store.glob(f"{step}/*/*/*"))


def first_new_step(child: subprocess.Popen, log: Path, done: list[str]) -> str | None:
    """The first step the run starts that is not in ``done``; None when the run exits first."""
    deadline = time.monotonic() + RUN_TIMEOUT
    with open(log, errors="replace") as lines:
        pending = ""
        while time.monotonic() < deadline:
            exited = child.poll() is not None
            pending += lines.read()
            *complete, pending = pending.split("\n")
            for line in complete:
                started = STARTED.search(COLOURS.sub("", line))
                if started and started[1] not in done:
                    return started[1]
            if exited:
                return None
            time.sleep(0.005)
    raise AssertionError(f"no new step started within {RUN_TIMEOUT} s: {log.read_text()[-3000:]}")


def kill_while_writing_outputs(child: subprocess.Popen, store: Path, step: str, before: set[Path]) -> None:
    """Stop the run's process group, let it on in slices until ``step`` writes a new output file,
    and SIGKILL it there."""
    group = child.pid
    os.killpg(group, signal.SIGSTOP)
    deadline = time.monotonic() + RUN_TIMEOUT
    while not outputs(store, step) - before:
        assert child.poll() is None and time.monotonic() < deadline, f"{step} wrote no output"
        os.killpg(group, signal.SIGCONT)
        time.sleep(SLICE)
        os.killpg(group, signal.SIGSTOP)
    os.killpg(group, signal.SIGKILL)
    child.wait()


def step_statuses(run_ids_now: set, earlier: set) -> dict[str, str]:
    """{step: status} of the one pipeline run in ``run_ids_now`` and not in ``earlier``."""
    (run_id,) = run_ids_now - earlier
    return {name: step.status.value for name, step in Client().get_pipeline_run(run_id).steps.items()}


def run_training(args: list[str], cwd: Path, store: Path, killed: list[str], log: Path):
    """``python run.py`` training, killed (kill -9) while the first step it starts that is not in
    ``killed`` writes its outputs. Returns that step (None: the run completed first) and the run's
    {step: status}."""
    before, earlier = outputs(store), run_ids()
    with open(log, "w") as out:
        child = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "run.py"), *args],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # its own process group: the run and anything it started
        )
    try:
        step = first_new_step(child, log, killed)
        if step is not None:
            kill_while_writing_outputs(child, store, step, before)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    assert wait_for(lambda: not group_alive(child.pid), 10)
    assert step is not None or child.returncode == 0, log.read_text()[-4000:]
    return step, step_statuses(run_ids(), earlier)


def complete(metadata: dict, keys: set[str]) -> bool:
    return keys <= set(metadata)


def test_a_training_run_killed_in_any_step_leaves_nothing_the_next_run_or_deployment_trips_on(tmp_path):
    write_sample(tmp_path, seed=5)
    activate_local_stack()
    store = Path(Client().active_stack.artifact_store.path)
    # One algorithm with one candidate: the kills need each kind of step, not a long search or three
    # search_<name> branches of the same step (each branch is one more killed run, ~15 s).
    args = small_training_args(tmp_path, MODEL, f"parameters.search.algorithms=[{ONE_CANDIDATE}]")
    killed: list[str] = []  # in the order the runs reached them
    challengers = []  # (the step killed, the deployment's challenger then, the versions then)
    seconds = []  # each run's, for the report
    while True:
        started = time.monotonic()
        log = tmp_path / f"run-{len(killed) + 1}.log"
        step, statuses = run_training(args, tmp_path, store, killed, log)
        seconds.append(round(time.monotonic() - started, 1))
        if step is None:
            break
        assert statuses[step] == "running", (step, statuses)  # killed mid-step: it never finished
        if killed:  # the step killed last time ran again: its partial outputs were not cached
            assert statuses[killed[-1]] == "completed", (killed[-1], statuses)
        killed.append(step)
        now = versions()
        challengers.append((step, choose_challenger(now.items()), now))

    assert "Traceback" not in log.read_text()
    assert set(statuses) == set(killed), (statuses, killed)  # every step was killed once
    assert statuses[killed[-1]] == "completed"  # rerun, not taken from the cache
    after = versions()
    final = max(after)
    record = set(after[final])
    assert is_trained(after[final]) and choose_challenger(after.items()) == final
    assert len(after) == len(killed) + 1  # no failure hook ran under SIGKILL: each killed run's version stays
    # A killed run's version is untrained (the deployment skips it) or, killed after its record
    # was written, complete: never trained with half its record.
    assert all(complete(metadata, record) for metadata in after.values() if is_trained(metadata)), after
    for step, challenger, then in challengers:
        assert challenger is None or complete(then[challenger], record), (step, then)
    print(f"killed in turn: {killed}; each run's seconds, the completed one last: {seconds}")
